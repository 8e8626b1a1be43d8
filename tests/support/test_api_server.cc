#include "support/test_api_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "kube/kubeconfig.h"

namespace keygate::testing {
namespace {

std::vector<TestUser> builtinUsers() {
  return {{"admin", {"system:masters", "system:authenticated"}},
          {"alice", {"system:authenticated"}},
          {"bob", {"system:authenticated"}},
          {"carol", {"system:authenticated"}},
          {"dave", {"system:authenticated"}},
          {"erin", {"system:authenticated", "security-officers"}},
          {"system:serviceaccount:keygate-system:keygate",
           {"system:serviceaccounts", "system:serviceaccounts:keygate-system", "system:authenticated"}}};
}

std::string joinComma(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::string base64(const std::string& in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += tbl[v >> 6 & 63];
    out += tbl[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += tbl[v >> 18 & 63];
    out += tbl[v >> 12 & 63];
    out += tbl[v >> 6 & 63];
    out += '=';
  }
  return out;
}

}  // namespace

std::string TestApiServer::sanitize(const std::string& user) {
  std::string s;
  for (char c : user) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  return s;
}

Result<std::unique_ptr<TestApiServer>> TestApiServer::start(TestApiServerOptions options) {
  std::unique_ptr<TestApiServer> srv(new TestApiServer());
  const std::string src = sourceDir();
  const std::string server = src + "/tests/support/testapiserver/server.py";
  if (!std::filesystem::exists(server)) return makeError(ErrorCode::kNotFound, "test API server missing: " + server);

  std::string tokens;
  auto users = builtinUsers();
  users.insert(users.end(), options.extraUsers.begin(), options.extraUsers.end());
  for (const auto& u : users)
    tokens += srv->tokenFor(u.name) + "," + u.name + ",uid-" + sanitize(u.name) + ",\"" + joinComma(u.groups) + "\"\n";
  std::string tokenFile = srv->dir_.write("tokens.csv", tokens);

  if (options.crds.empty()) {
    if (std::filesystem::exists(src + "/crds")) options.crds.push_back(src + "/crds");
    std::string widget = envOr("KEYGATE_SAMPLES_DIR", src + "/tests/fidelity/samples") + "/00-crd-widget.yaml";
    if (std::filesystem::exists(widget)) options.crds.push_back(widget);
  }

  std::vector<std::string> args = {envOr("KEYGATE_PYTHON", "/usr/bin/python3"), server, "--tokens", tokenFile,
                                   "--tls-dir", srv->dir_.path() + "/tls", "--host", "127.0.0.1", "--port", "0",
                                   "--bookmark-interval", std::to_string(options.bookmarkIntervalSeconds),
                                   "--watch-cache-size", std::to_string(options.watchCacheSize),
                                   "--namespaces", joinComma(options.namespaces)};
  for (const auto& c : options.crds) {
    args.push_back("--crd");
    args.push_back(c);
  }
  if (!options.rbac) args.push_back("--no-rbac");
  if (!options.admissionControlConfigFile.empty()) {
    args.push_back("--admission-control-config-file");
    args.push_back(options.admissionControlConfigFile);
  }

  int out[2];
  if (pipe(out) != 0) return makeError(ErrorCode::kInternal, "pipe failed");
  std::string errLog = srv->dir_.path() + "/server.stderr";
  pid_t pid = fork();
  if (pid < 0) return makeError(ErrorCode::kInternal, "fork failed");
  if (pid == 0) {
    dup2(out[1], 1);
    int errFd = open(errLog.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (errFd >= 0) dup2(errFd, 2);
    close(out[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  srv->pid_ = pid;

  // Wait for "READY <url> <ca>" (20 s: a cold Python start plus certificate generation).
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{out[0], POLLIN, 0};
    if (poll(&pfd, 1, 100) > 0) {
      char tmp[512];
      ssize_t n = read(out[0], tmp, sizeof tmp);
      if (n <= 0) break;
      buf.append(tmp, static_cast<size_t>(n));
      auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::istringstream line(buf.substr(0, nl));
        std::string word;
        line >> word >> srv->url_ >> srv->caFile_;
        if (word == "READY") break;
        srv->url_.clear();
        buf.erase(0, nl + 1);
      }
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      srv->pid_ = -1;
      break;
    }
  }
  close(out[0]);  // the server never writes to stdout again
  if (srv->url_.empty())
    return makeError(ErrorCode::kUnavailable, "test API server did not become ready: " + srv->stderrLog());
  return srv;
}

TestApiServer::~TestApiServer() { stop(); }

void TestApiServer::stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  for (int i = 0; i < 50; ++i) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string TestApiServer::stderrLog() const {
  auto r = kube::readFile(dir_.path() + "/server.stderr");
  if (!r.ok()) return "";
  std::string s = *r;
  if (s.size() > 4000) s = "..." + s.substr(s.size() - 4000);
  return s;
}

std::string TestApiServer::caPem() const {
  auto r = kube::readFile(caFile_);
  return r.ok() ? *r : "";
}

kube::TransportConfig TestApiServer::transportFor(const std::string& user) const {
  kube::TransportConfig cfg;
  cfg.server = url_;
  cfg.caPem = caPem();
  std::string token = tokenFor(user);
  cfg.tokenSource = [token]() -> Result<std::string> { return token; };
  cfg.userAgent = "keygate-test/0.1.0";
  return cfg;
}

kube::ClientPtr TestApiServer::clientFor(const std::string& user, kube::RestClientOptions options) const {
  auto t = kube::makeHttpTransport(transportFor(user));
  if (!t.ok()) return nullptr;
  return std::make_shared<kube::RestClient>(*t, std::move(options));
}

std::string TestApiServer::writeKubeconfig(const std::string& user) const {
  std::string yaml = "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: test\n  cluster:\n"
                     "    server: " + url_ + "\n    certificate-authority-data: " + base64(caPem()) +
                     "\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: u\n    namespace: tenant-a\n"
                     "users:\n- name: u\n  user:\n    token: " + tokenFor(user) + "\n";
  return dir_.write("kubeconfig-" + sanitize(user), yaml);
}

Result<Json> TestApiServer::control(const std::string& method, const std::string& path, const Json& body) {
  auto t = kube::makeHttpTransport(transportFor("admin"));
  if (!t.ok()) return t.takeError();
  kube::HttpRequest req{method, path, {{"Content-Type", "application/json"}}, body.is_null() ? "" : dumpJson(body)};
  ASSIGN_OR_RETURN(kube::HttpResponse resp, (*t)->send(req));
  if (resp.status >= 300)
    return makeError(ErrorCode::kInternal, "control " + path + ": HTTP " + std::to_string(resp.status) + " " + resp.body);
  if (resp.body.empty()) return Json();
  return parseJson(resp.body);
}

}  // namespace keygate::testing
