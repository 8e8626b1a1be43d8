#include "support/pykmip_server.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/free_port.h"

namespace keygate::testing {
namespace {

Status sh(const std::string& cmd) {
  if (std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) != 0)
    return makeError(ErrorCode::kInternal, "command failed: " + cmd);
  return okStatus();
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// key + CSR, then the CA signs it with `ext` (an openssl x509 extfile).
Status issue(const std::string& dir, const std::string& name, const std::string& cn, const std::string& ext,
             const std::string& caCert, const std::string& caKey) {
  const std::string p = dir + "/" + name;
  {
    std::ofstream f(p + ".ext");
    f << ext;
  }
  RETURN_IF_ERROR(sh("openssl req -newkey rsa:2048 -nodes -subj /CN=" + cn + " -keyout " + p + ".key -out " + p + ".csr"));
  return sh("openssl x509 -req -in " + p + ".csr -CA " + caCert + " -CAkey " + caKey + " -CAcreateserial -days 2 -extfile " +
            p + ".ext -out " + p + ".crt");
}

}  // namespace

Result<std::unique_ptr<PyKmipServer>> PyKmipServer::start() {
  std::unique_ptr<PyKmipServer> s(new PyKmipServer());
  const std::string d = s->dir_.path();
  s->caFile_ = d + "/ca.crt";
  s->caKey_ = d + "/ca.key";
  RETURN_IF_ERROR(sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=keygate-test-kmip-ca -keyout " + s->caKey_ +
                     " -out " + s->caFile_));
  RETURN_IF_ERROR(issue(d, "server", "127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
                        s->caFile_, s->caKey_));
  RETURN_IF_ERROR(sh("mkdir -p " + d + "/policies"));
  s->port_ = freePort();
  s->dir_.write("server.conf", "[server]\nhostname=127.0.0.1\nport=" + std::to_string(s->port_) +
                                   "\ncertificate_path=" + d + "/server.crt\nkey_path=" + d + "/server.key\nca_path=" +
                                   s->caFile_ + "\nauth_suite=TLS1.2\nenable_tls_client_auth=True\npolicy_path=" + d +
                                   "/policies\ndatabase_path=" + d + "/pykmip.db\n");
  RETURN_IF_ERROR(s->launch());
  return s;
}

Status PyKmipServer::launch() {
  const std::string d = dir_.path();
  const std::string logFile = d + "/server.log";
  const size_t logBefore = slurp(logFile).size();
  pid_t pid = fork();
  if (pid == 0) {
    // Its own process group: PyKMIP runs its policy-directory monitor as a second process
    // (multiprocessing), which stop() must end too.
    setpgid(0, 0);
    freopen((d + "/stdout.log").c_str(), "w", stdout);
    freopen((d + "/stdout.log").c_str(), "a", stderr);
    execlp("pykmip-server", "pykmip-server", "-f", (d + "/server.conf").c_str(), "-l", logFile.c_str(), nullptr);
    _exit(127);
  }
  if (pid > 0) setpgid(pid, pid);  // also here, so stop() can never race the child's own call
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = slurp(logFile);
    if (log.size() > logBefore && log.find("Starting connection service", logBefore) != std::string::npos) return okStatus();
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid_ = -1;
      return makeError(ErrorCode::kUnavailable, "pykmip-server exited: " + slurp(d + "/stdout.log") + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return makeError(ErrorCode::kDeadlineExceeded, "pykmip-server did not start in 30 s: " + slurp(logFile));
}

void PyKmipServer::stop() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGINT);
  bool exited = false;
  for (int i = 0; i < 100 && !exited; ++i) {
    exited = waitpid(pid_, nullptr, WNOHANG) == pid_;
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Whatever is left of the group (the monitor process, or the server if SIGINT did not end
  // it) goes now; the monitor is re-parented away from us, so only the server is reaped here.
  kill(-pid_, SIGKILL);
  if (!exited) waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

Status PyKmipServer::restart() {
  stop();
  return launch();
}

PyKmipServer::~PyKmipServer() { stop(); }

Result<KmipClientCert> PyKmipServer::clientCert(const std::string& identity) {
  const std::string d = dir_.path();
  RETURN_IF_ERROR(issue(d, "client-" + identity, identity, "extendedKeyUsage=clientAuth\n", caFile_, caKey_));
  return KmipClientCert{d + "/client-" + identity + ".crt", d + "/client-" + identity + ".key"};
}

Result<KmipClientCert> PyKmipServer::strangerCert() {
  const std::string d = dir_.path();
  RETURN_IF_ERROR(sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=stranger-ca -keyout " + d +
                     "/stranger-ca.key -out " + d + "/stranger-ca.crt"));
  RETURN_IF_ERROR(issue(d, "stranger", "stranger", "extendedKeyUsage=clientAuth\n", d + "/stranger-ca.crt", d + "/stranger-ca.key"));
  return KmipClientCert{d + "/stranger.crt", d + "/stranger.key"};
}

std::string PyKmipServer::log() const { return slurp(dir_.path() + "/server.log"); }

}  // namespace keygate::testing
