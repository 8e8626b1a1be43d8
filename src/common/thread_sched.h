#pragma once
// Thread names and scheduler hints for the operator's long-lived threads.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace keygate {

// Names the calling thread (Linux keeps 15 characters) so `top -H`, /proc and profilers
// tell the operator's threads apart: kg-worker, kg-hsm-create, kg-reflector, ...
void nameThisThread(const std::string& name);

// A std::thread that names itself, then runs fn.
std::thread startNamedThread(std::string name, std::function<void()> fn);

// CPU time (user + system) of the calling thread (CLOCK_THREAD_CPUTIME_ID), in ns.
int64_t threadCpuNs();

// Asks the kernel for a short time slice for the calling thread (EEVDF custom slice:
// sched_setattr's sched_runtime for SCHED_OTHER, Linux >= 6.12). A thread with a short
// slice gets an earlier virtual deadline, so it preempts a running thread when it wakes
// instead of waiting for that thread's slice to end. It does not raise the thread's
// share of the CPU (weight and nice stay as they are) and needs no privilege.
//
// For a thread that blocks many times per unit of work (SoftHSM's file store waits ~65
// times per token-object create) the wake-up delays add up whenever the other cores are
// busy. Best effort: returns a reason when the call was refused (another scheduling
// policy, a seccomp filter, no such syscall), empty otherwise; kernels before 6.12 accept
// the call and ignore the slice.
std::string requestShortSchedulerSlice(std::chrono::nanoseconds slice = std::chrono::microseconds(100));

}  // namespace keygate
