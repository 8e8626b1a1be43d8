#include "kube/kubeconfig.h"

#include "common/file.h"
#include "common/yaml_load.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace keygate::kube {
namespace {

Result<std::string> base64Decode(const std::string& in, const std::string& what) {
  std::string clean;
  for (char c : in)
    if (c != '\n' && c != '\r' && c != ' ') clean += c;
  if (clean.size() % 4 != 0) return makeError(ErrorCode::kInvalidArgument, what + " is not valid base64");
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) return makeError(ErrorCode::kInvalidArgument, what + " is not valid base64");
  size_t pad = 0;
  if (!clean.empty() && clean.back() == '=') ++pad;
  if (clean.size() > 1 && clean[clean.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

std::string resolve(const std::string& baseDir, const std::string& p) {
  if (p.empty() || p[0] == '/' || baseDir.empty()) return p;
  return baseDir + "/" + p;
}

// Finds the entry named `name` in a kubeconfig list (clusters/users/contexts).
YAML::Node findNamed(const YAML::Node& list, const std::string& name) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list) {
    if (item.IsMap() && item["name"] && item["name"].IsScalar() && item["name"].Scalar() == name) return item;
  }
  return YAML::Node();
}

std::string scalar(const YAML::Node& n, const char* key) {
  if (!n || !n.IsMap()) return "";
  auto v = n[key];
  if (!v || !v.IsScalar()) return "";
  return v.Scalar();
}

// Loads "<field>" (a path) or "<field>-data" (base64) into PEM text.
Result<std::string> pemFrom(const YAML::Node& n, const std::string& field, const std::string& baseDir,
                            const std::string& ctx) {
  std::string data = scalar(n, (field + "-data").c_str());
  if (!data.empty()) {
    auto d = base64Decode(data, ctx + ": " + field + "-data");
    return d;
  }
  std::string path = scalar(n, field.c_str());
  if (path.empty()) return std::string();
  auto f = readFile(resolve(baseDir, path));
  if (!f.ok()) return makeError(ErrorCode::kInvalidArgument, ctx + ": " + field + ": " + f.error().message);
  return f;
}

}  // namespace

Result<std::string> readFile(const std::string& path) { return readWholeFile(path); }

Result<ClientConfig> parseKubeconfig(const std::string& text, const std::string& contextName, const std::string& baseDir,
                                     const std::string& src) {
  const std::string where = "kubeconfig " + src;
  YAML::Node root;
  try {
    root = yamlsafe::load(text);
  } catch (const YAML::Exception& e) {
    return makeError(ErrorCode::kInvalidArgument, where + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  if (!root.IsMap()) return makeError(ErrorCode::kInvalidArgument, where + ": not a kubeconfig (expected a mapping)");
  std::string ctxName = contextName.empty() ? scalar(root, "current-context") : contextName;
  if (ctxName.empty()) return makeError(ErrorCode::kInvalidArgument, where + ": no current-context and no --context given");
  YAML::Node ctx = findNamed(root["contexts"], ctxName);
  if (!ctx) return makeError(ErrorCode::kInvalidArgument, where + ": context \"" + ctxName + "\" not found");
  YAML::Node c = ctx["context"];
  std::string clusterName = scalar(c, "cluster"), userName = scalar(c, "user");
  YAML::Node clusterEntry = findNamed(root["clusters"], clusterName);
  if (!clusterEntry || !clusterEntry["cluster"])
    return makeError(ErrorCode::kInvalidArgument, where + ": cluster \"" + clusterName + "\" not found");
  YAML::Node cluster = clusterEntry["cluster"];

  ClientConfig out;
  out.context = ctxName;
  out.ns = scalar(c, "namespace");
  if (out.ns.empty()) out.ns = "default";
  out.transport.server = scalar(cluster, "server");
  if (out.transport.server.empty())
    return makeError(ErrorCode::kInvalidArgument, where + ": cluster \"" + clusterName + "\": server is empty");
  std::string insecure = scalar(cluster, "insecure-skip-tls-verify");
  out.transport.insecureSkipTlsVerify = insecure == "true";
  ASSIGN_OR_RETURN(out.transport.caPem,
                   pemFrom(cluster, "certificate-authority", baseDir, where + ": cluster \"" + clusterName + "\""));

  if (!userName.empty()) {
    YAML::Node userEntry = findNamed(root["users"], userName);
    if (!userEntry) return makeError(ErrorCode::kInvalidArgument, where + ": user \"" + userName + "\" not found");
    YAML::Node user = userEntry["user"];
    const std::string uctx = where + ": user \"" + userName + "\"";
    if (user && user.IsMap()) {
      if (user["exec"])
        return makeError(ErrorCode::kUnimplemented,
                         uctx + ": exec credential plugins are not supported yet; use a token, a token file or a client certificate");
      if (user["auth-provider"])
        return makeError(ErrorCode::kUnimplemented,
                         uctx + ": auth-provider is not supported; use a token, a token file or a client certificate");
      if (user["username"] || user["password"])
        return makeError(ErrorCode::kUnimplemented, uctx + ": basic auth is not supported");
      ASSIGN_OR_RETURN(out.transport.clientCertPem, pemFrom(user, "client-certificate", baseDir, uctx));
      ASSIGN_OR_RETURN(out.transport.clientKeyPem, pemFrom(user, "client-key", baseDir, uctx));
      std::string token = scalar(user, "token");
      std::string tokenFile = scalar(user, "tokenFile");
      if (!token.empty()) {
        out.transport.tokenSource = [token]() -> Result<std::string> { return token; };
      } else if (!tokenFile.empty()) {
        std::string p = resolve(baseDir, tokenFile);
        if (!readFile(p).ok()) return makeError(ErrorCode::kInvalidArgument, uctx + ": tokenFile: cannot read " + p);
        out.transport.tokenSource = fileTokenSource(p);
      }
    }
  }
  return out;
}

Result<ClientConfig> loadKubeconfig(const KubeconfigOptions& opts) {
  std::string path = opts.path;
  if (path.empty()) {
    if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
      path = env;
      if (auto colon = path.find(':'); colon != std::string::npos) path = path.substr(0, colon);
    } else if (const char* home = std::getenv("HOME")) {
      path = std::string(home) + "/.kube/config";
    }
  }
  if (path.empty()) return makeError(ErrorCode::kInvalidArgument, "no kubeconfig: set --kubeconfig or KUBECONFIG");
  auto text = readFile(path);
  if (!text.ok()) return makeError(ErrorCode::kInvalidArgument, "kubeconfig " + path + ": cannot read the file");
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  return parseKubeconfig(*text, opts.context, dir, path);
}

Result<ClientConfig> loadInCluster(const InClusterPaths& paths) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return makeError(ErrorCode::kFailedPrecondition,
                     "not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset); use --kubeconfig");
  ClientConfig out;
  std::string h = host;
  if (h.find(':') != std::string::npos) h = "[" + h + "]";  // IPv6
  out.transport.server = "https://" + h + ":" + port;
  auto ca = readFile(paths.caFile);
  if (!ca.ok()) return makeError(ErrorCode::kFailedPrecondition, "in-cluster: cannot read CA " + paths.caFile);
  out.transport.caPem = std::move(*ca);
  if (!readFile(paths.tokenFile).ok())
    return makeError(ErrorCode::kFailedPrecondition, "in-cluster: cannot read token " + paths.tokenFile);
  out.transport.tokenSource = fileTokenSource(paths.tokenFile);
  auto ns = readFile(paths.namespaceFile);
  out.ns = ns.ok() ? *ns : "default";
  while (!out.ns.empty() && (out.ns.back() == '\n' || out.ns.back() == ' ')) out.ns.pop_back();
  return out;
}

}  // namespace keygate::kube
