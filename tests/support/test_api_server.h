#pragma once
// Starts the project's test API server (tests/support/testapiserver/server.py, a faithful
// stand-in for kube-apiserver v1.28) as a child process on 127.0.0.1:0 over HTTPS, with
// bearer-token users, and hands out clients for those users.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/result.h"
#include "kube/client.h"
#include "kube/rest_client.h"
#include "support/temp_dir.h"

namespace keygate::testing {

struct TestUser {
  std::string name;
  std::vector<std::string> groups;
};

struct TestApiServerOptions {
  // CRD files/dirs; empty = <source>/crds (if present) + the samples' Widget CRD.
  std::vector<std::string> crds;
  double bookmarkIntervalSeconds = 60;
  int watchCacheSize = 1000;
  bool rbac = true;
  std::vector<std::string> namespaces{"default", "kube-system", "keygate-system", "tenant-a", "tenant-b"};
  // Added to the built-in users: admin (system:masters), alice, bob, carol, dave, erin and
  // the operator's service account system:serviceaccount:keygate-system:keygate.
  std::vector<TestUser> extraUsers;
  // kube-apiserver's --admission-control-config-file: credentials for admission webhooks.
  std::string admissionControlConfigFile;
};

class TestApiServer {
 public:
  static Result<std::unique_ptr<TestApiServer>> start(TestApiServerOptions options = {});
  ~TestApiServer();

  const std::string& url() const { return url_; }
  const std::string& caFile() const { return caFile_; }
  std::string caPem() const;
  std::string tokenFor(const std::string& user) const { return "token-" + sanitize(user); }

  kube::ClientPtr adminClient(kube::RestClientOptions options = {}) const { return clientFor("admin", std::move(options)); }
  kube::ClientPtr clientFor(const std::string& user, kube::RestClientOptions options = {}) const;
  kube::TransportConfig transportFor(const std::string& user) const;
  // A kubeconfig file for `user` (token auth, the server's CA embedded as data).
  std::string writeKubeconfig(const std::string& user) const;

  // /__test control endpoints (as admin): faults, compact, storage, requests.
  Result<Json> control(const std::string& method, const std::string& path, const Json& body = Json());

  pid_t pid() const { return pid_; }
  const TempDir& dir() const { return dir_; }
  std::string stderrLog() const;  // the server's stderr so far, for failure messages
  void stop();

 private:
  TestApiServer() = default;
  static std::string sanitize(const std::string& user);

  TempDir dir_{"keygate-apiserver"};
  pid_t pid_ = -1;
  std::string url_;
  std::string caFile_;
};

}  // namespace keygate::testing
