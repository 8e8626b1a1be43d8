#include "cli/report/sources.h"

#include <filesystem>

#include "api/v1alpha1/codec.h"
#include "cli/approval_status.h"
#include "common/file.h"
#include "kube/client.h"
#include "kube/client_factory.h"
#include "kube/kubeconfig.h"
#include "kube/resource.h"

namespace keygate::cli::report {
namespace {

// Decodes into `out`; an object that does not decode is an error naming it (a report that
// silently left a key out would be wrong evidence).
template <typename T, typename Decode>
Status decodeInto(const Json& item, Decode decode, std::vector<T>& out) {
  auto d = decode(item, av1::DecodeOptions{});
  if (!d.ok())
    return makeError(ErrorCode::kInvalidArgument, getString(item, "kind") + " " + getString(item, "metadata.namespace") + "/" +
                                                      getString(item, "metadata.name") + ": " + d.error().message);
  out.push_back(std::move(*d));
  return okStatus();
}

template <typename T, typename Decode>
Status listInto(kube::Client& c, const kube::Resource& r, const std::string& ns, Decode decode, std::vector<T>& out) {
  auto l = kube::listAll(c, r, ns, {});
  if (!l.ok())
    return makeError(l.error().code, "cannot list " + r.plural + (ns.empty() ? " in all namespaces" : " in namespace " + ns) +
                                         ": " + admissionReason(l.error().message));
  for (const auto& item : l->items) RETURN_IF_ERROR(decodeInto(item, decode, out));
  return okStatus();
}

}  // namespace

Status loadFromCluster(const ClusterSource& source, ReportInput& in) {
  auto kc = kube::loadKubeconfig({source.kubeconfig, source.context});
  if (!kc.ok()) return kc.takeError();
  kube::ClientOptions co;
  co.rest.fieldManager = "keygate-audit-report";
  auto client = kube::makeClient(*kc, co);
  if (!client.ok()) return client.takeError();
  in.scope = {{"source", "cluster"}, {"context", kc->context}, {"server", kc->transport.server}};
  std::vector<std::string> scopes;
  if (source.allNamespaces) {
    scopes = {""};
    in.namespaces.clear();
  } else {
    in.namespaces = source.namespaces.empty() ? std::vector<std::string>{kc->ns} : source.namespaces;
    scopes = in.namespaces;
  }
  for (const auto& ns : scopes) {
    RETURN_IF_ERROR(listInto(**client, kube::resources::encryptionKeys(), ns, av1::decodeEncryptionKey, in.keys));
    RETURN_IF_ERROR(listInto(**client, kube::resources::keyActivationRequests(), ns, av1::decodeKeyActivationRequest, in.requests));
    RETURN_IF_ERROR(listInto(**client, kube::resources::keyRoleBindings(), ns, av1::decodeKeyRoleBinding, in.bindings));
  }
  return okStatus();
}

Status loadFromStateDir(const std::string& dir, ReportInput& in) {
  const std::string statePath = dir + "/state.json";
  auto text = readWholeFile(statePath);
  if (!text.ok())
    return makeError(ErrorCode::kNotFound, "no keygate local state in " + dir + " (" + statePath +
                                               " cannot be read): run `keygate local -f DIR --state-dir " + dir + "` first");
  Json state = Json::parse(*text, nullptr, false);
  if (!state.is_object() || state.value("apiVersion", "") != "keygate.dev/local-state/v1" || !state["objects"].is_array())
    return makeError(ErrorCode::kInvalidArgument, statePath + ": not a keygate local state file (apiVersion keygate.dev/local-state/v1)");
  for (const auto& o : state["objects"]) {
    const std::string kind = o.value("kind", "");
    if (kind == "EncryptionKey") RETURN_IF_ERROR(decodeInto(o, av1::decodeEncryptionKey, in.keys));
    else if (kind == "KeyActivationRequest") RETURN_IF_ERROR(decodeInto(o, av1::decodeKeyActivationRequest, in.requests));
    else if (kind == "KeyRoleBinding") RETURN_IF_ERROR(decodeInto(o, av1::decodeKeyRoleBinding, in.bindings));
  }
  in.scope = {{"source", "local"}, {"stateDir", dir}};
  if (std::filesystem::exists(dir + "/audit.log")) RETURN_IF_ERROR(readAuditFile(dir + "/audit.log", in.trail));
  return okStatus();
}

}  // namespace keygate::cli::report
