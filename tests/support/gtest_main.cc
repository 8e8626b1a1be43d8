// gtest main for every test binary. It ends the process with _exit() after flushing: library
// threads (gRPC's, once cpprestsdk's pplx pool) and OpenSSL can keep running while static
// destructors tear their globals down, which corrupted the heap at exit now and then
// (facts.md: "rare abort/hang at process exit"). Everything a test checks has happened before
// this point.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  _exit(rc);
}
