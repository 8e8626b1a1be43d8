// `keygate kms-plugin` with bad flags: a clear one-line message naming the flag and exit 2,
// before anything listens or connects.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace {

struct PluginRun {
  int exitCode = -1;
  std::string output;
};

PluginRun kmsPlugin(const std::string& args) {
  std::string cmd = "'" + std::string(KEYGATE_BINARY) + "' kms-plugin " + args + " 2>&1";
  PluginRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 512> buf{};
  while (p && std::fgets(buf.data(), buf.size(), p)) r.output += buf.data();
  int st = p ? ::pclose(p) : -1;
  r.exitCode = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(KmsPluginFlags, BadFlagsAreClearErrors) {
  const std::string ok = " --key kms/etcd-kek --server 127.0.0.1:1 --ca-file /nonexistent/ca.crt";
  struct Case {
    std::string args;
    std::string message;
  } cases[] = {
      {"--listen tcp://127.0.0.1:9000" + ok + " --token-file /t", "--listen must be a unix socket"},
      {"--listen unix://relative.sock" + ok + " --token-file /t", "absolute socket path"},
      {"--listen unix:///tmp/k.sock --key etcd-kek --server 127.0.0.1:1 --token-file /t", "--key must name one EncryptionKey as NAMESPACE/NAME"},
      {"--listen unix:///tmp/k.sock --key kms/etcd-kek@2 --server 127.0.0.1:1 --token-file /t", "no @VERSION"},
      {"--listen unix:///tmp/k.sock" + ok, "no credentials"},
      {"--listen unix:///tmp/k.sock --key kms/etcd-kek --server 127.0.0.1:1 --token-file /t", "--ca-file is required"},
      {"--listen unix:///tmp/k.sock" + ok + " --cert-file /nonexistent/c.crt --key-file /nonexistent/c.key", "--ca-file: cannot read /nonexistent/ca.crt"},
      {"--listen unix:///tmp/k.sock --key kms/etcd-kek --server 127.0.0.1:1 --ca-file /etc/hostname --cert-file /nonexistent/c.crt",
       "needs both --cert-file and --key-file"},
      {"--listen unix:///tmp/k.sock --key kms/etcd-kek --server 127.0.0.1:1 --ca-file /etc/hostname --cert-file /nonexistent/c.crt "
       "--key-file /nonexistent/c.key",
       "--cert-file: cannot read /nonexistent/c.crt"},
      {"--listen unix:///tmp/k.sock" + ok + " --token-file /t --log-level loud", "--log-level: must be"},
      {"--listen unix:///tmp/k.sock" + ok + " --token-file /t --probe-interval 120", "must not exceed the health TTL"},
      {"--listen unix:///tmp/k.sock" + ok + " --token-file /t --timeout-ms 5", "--timeout-ms"},
  };
  for (const auto& c : cases) {
    PluginRun r = kmsPlugin(c.args);
    EXPECT_NE(r.exitCode, 0) << c.args;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.args << "\n" << r.output;
    EXPECT_EQ(r.output.find("terminate called"), std::string::npos) << r.output;
  }
}

}  // namespace
