#pragma once
// Unit tests use the in-memory client under its test name.
#include "kube/memory_client.h"

namespace keygate::testing {
using FakeClient = kube::MemoryClient;
using FakeCall = kube::MemoryCall;
using FakeInterceptor = kube::MemoryInterceptor;
}  // namespace keygate::testing
