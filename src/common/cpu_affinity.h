#pragma once
// CPUs set aside for HSM object creation (`keygate operator --hsm-cpus`).
//
// A token's creator thread (backends/pkcs11 Token::runExclusive) makes every key of that
// tenant, one after another. SoftHSM's file store blocks ~30 times per create waiting for
// the disk, so the create rate depends on how fast that thread is back on a CPU after each
// I/O completion. When the reconcile workers, the HTTP I/O threads (or, on a small node,
// other pods) share its CPU, every wake-up competes with them. Reserving CPUs gives the
// creator threads CPUs of their own: all other threads of the process run on the rest.
// Off by default; meant for nodes where the operator has exclusive CPUs (Kubernetes static
// CPU manager, a Guaranteed pod) — see docs/configuration.md.

#include <string>
#include <vector>

#include "common/result.h"

namespace keygate {

// "1", "0-1,3": CPU numbers as Linux writes them (cpuset.cpus, taskset -c). Sorted, no
// duplicates. An empty list is an error; so is a number above 1023.
Result<std::vector<int>> parseCpuList(const std::string& text);

// The reverse: consecutive CPUs collapse into ranges ("0-2,5").
std::string formatCpuList(const std::vector<int>& cpus);

// The CPUs the calling thread may run on (sched_getaffinity).
Result<std::vector<int>> allowedCpus();

// Sets `cpus` aside for threads that call moveToReservedCpus(). Every thread of the process
// that exists now is moved onto the other allowed CPUs, and threads started later inherit
// that from their parent. Fails before changing anything when a CPU is not allowed for
// this process (its cpuset) or when no CPU would be left for the other threads. Call once,
// early (before the HTTP and worker threads start is best; later ones are moved too).
Status reserveCpus(std::vector<int> cpus);

// The reserved CPUs; empty when none were reserved.
std::vector<int> reservedCpus();

// Moves the calling thread onto the reserved CPUs. Empty when it was moved or nothing is
// reserved; otherwise the reason it could not be (the thread keeps running where it was).
std::string moveToReservedCpus();

}  // namespace keygate
