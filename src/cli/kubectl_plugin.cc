#include "cli/kubectl_plugin.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <iostream>
#include <memory>

#include "api/v1alpha1/codec.h"
#include "cli/approval_status.h"
#include "cli/wrap_command.h"
#include "cli/yaml_out.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/time.h"
#include "kube/client.h"
#include "kube/client_factory.h"
#include "kube/kubeconfig.h"
#include "kube/resource.h"

namespace keygate::cli {
namespace {

struct Flags {
  std::string kubeconfig, context, ns, output, dryRun = "none";
  // request
  std::string key, reason, changeRef, name;
  std::vector<std::string> affected;
  int64_t version = 0;
  // approve / deny / status
  std::string target, comment;
};

struct Failure {
  std::string message;
};

[[noreturn]] void fail(const std::string& message) { throw Failure{message}; }

struct Session {
  kube::ClientPtr client;
  std::string ns;
};

Session connect(const Flags& f) {
  auto kc = kube::loadKubeconfig({f.kubeconfig, f.context});
  if (!kc.ok()) fail(kc.error().message);
  kube::ClientOptions co;
  co.rest.fieldManager = "kubectl-keygate";
  co.rest.dryRun = f.dryRun == "server";
  auto c = kube::makeClient(*kc, co);
  if (!c.ok()) fail(c.error().message);
  return {*c, f.ns.empty() ? kc->ns : f.ns};
}

std::string serverError(const Error& e) { return admissionReason(e.message); }

// kubectl's `-o`: "" (a sentence), name, json, yaml.
void print(const Flags& f, const Json& obj, const std::string& sentence) {
  std::string kind = getString(obj, "kind");
  std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char c) { return std::tolower(c); });
  const std::string ref = kind + ".keygate.dev/" + getString(obj, "metadata.name");
  if (f.output.empty()) std::cout << ref << " " << sentence << (f.dryRun == "server" ? " (server dry run)" : "") << "\n";
  else if (f.output == "name") std::cout << ref << "\n";
  else if (f.output == "json") std::cout << obj.dump(4) << "\n";
  else std::cout << yamlOf(obj);
}

void request(const Flags& f) {
  Session s = connect(f);
  Json spec = {{"keyRef", {{"name", f.key}}}, {"reason", f.reason}};
  if (f.version > 0) spec["keyRef"]["version"] = f.version;
  if (!f.changeRef.empty()) spec["changeReference"] = f.changeRef;
  if (!f.affected.empty()) spec["affectedSystems"] = f.affected;
  Json meta = f.name.empty() ? Json{{"generateName", f.key + "-"}} : Json{{"name", f.name}};
  Json body = {{"apiVersion", "keygate.dev/v1alpha1"}, {"kind", "KeyActivationRequest"}, {"metadata", meta}, {"spec", spec}};
  auto r = s.client->create(kube::resources::keyActivationRequests(), s.ns, body);
  if (!r.ok()) fail(serverError(r.error()));
  print(f, *r, "created");
}

void decide(const Flags& f, const char* decision, const char* sentence) {
  Session s = connect(f);
  const kube::Resource res = kube::resources::keyActivationRequests();
  auto current = s.client->get(res, s.ns, f.target);
  if (!current.ok()) fail(serverError(current.error()));
  Json entry = {{"decision", decision}};
  if (!f.comment.empty()) entry["comment"] = f.comment;
  // Append, never rewrite: "-" adds at the end; a request without the list yet gets it, with
  // a test on the resourceVersion so a concurrent first approval is not overwritten.
  Json patch = Json::array();
  if (const Json* list = findPath(*current, "spec.approvals"); list && list->is_array()) {
    patch.push_back({{"op", "add"}, {"path", "/spec/approvals/-"}, {"value", entry}});
  } else {
    patch.push_back({{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", getString(*current, "metadata.resourceVersion")}});
    patch.push_back({{"op", "add"}, {"path", "/spec/approvals"}, {"value", Json::array({entry})}});
  }
  auto r = s.client->patch(res, s.ns, f.target, kube::PatchType::kJson, patch.dump());
  if (!r.ok()) fail(serverError(r.error()));
  print(f, *r, sentence);
}

// A KeyAdministrator's change to a key: a merge patch of spec fields (the webhook stamps who
// asked, keygate.dev/requested-by, for the audit record).
void changeKey(const Flags& f, const Json& patch, const char* sentence) {
  Session s = connect(f);
  auto r = s.client->patch(kube::resources::encryptionKeys(), s.ns, f.target, kube::PatchType::kMerge, patch.dump());
  if (!r.ok()) fail(serverError(r.error()));
  print(f, *r, sentence);
}

template <typename T, typename Decode>
std::vector<T> listDecoded(kube::Client& c, const kube::Resource& r, const std::string& ns, Decode decode, std::string* why) {
  std::vector<T> out;
  auto l = kube::listAll(c, r, ns, {});
  if (!l.ok()) {
    if (why) *why = serverError(l.error());
    return out;
  }
  for (const auto& item : l->items)
    if (auto d = decode(item, av1::DecodeOptions{}); d.ok()) out.push_back(std::move(*d));
  return out;
}

void status(const Flags& f) {
  Session s = connect(f);
  const WallTime now = realClock().now();
  auto req = s.client->get(kube::resources::keyActivationRequests(), s.ns, f.target);
  if (req.ok()) {
    auto r = av1::decodeKeyActivationRequest(*req);
    if (!r.ok()) fail("keyactivationrequest " + f.target + ": " + r.error().message);
    std::optional<av1::EncryptionKey> key;
    if (auto k = s.client->get(kube::resources::encryptionKeys(), s.ns, r->spec.keyRef.name); k.ok())
      if (auto d = av1::decodeEncryptionKey(*k); d.ok()) key = std::move(*d);
    std::string why;
    auto bindings = listDecoded<av1::KeyRoleBinding>(*s.client, kube::resources::keyRoleBindings(), s.ns,
                                                     av1::decodeKeyRoleBinding, &why);
    std::cout << formatRequestStatus(*r, key ? &*key : nullptr, bindings, now);
    if (!why.empty()) std::cout << "  (who can still approve is not known: cannot list KeyRoleBindings: " << why << ")\n";
    return;
  }
  // Not a request (or not one this user may read: a KeyAdministrator reads keys only).
  if (req.error().code != ErrorCode::kNotFound && req.error().code != ErrorCode::kPermissionDenied)
    fail(serverError(req.error()));
  auto key = s.client->get(kube::resources::encryptionKeys(), s.ns, f.target);
  if (!key.ok()) {
    if (key.error().code == ErrorCode::kNotFound)
      fail("no KeyActivationRequest or EncryptionKey named \"" + f.target + "\" in namespace " + s.ns);
    fail(serverError(key.error()));
  }
  auto k = av1::decodeEncryptionKey(*key);
  if (!k.ok()) fail("encryptionkey " + f.target + ": " + k.error().message);
  auto requests = listDecoded<av1::KeyActivationRequest>(*s.client, kube::resources::keyActivationRequests(), s.ns,
                                                         av1::decodeKeyActivationRequest, nullptr);
  std::cout << formatKeyStatus(*k, requests, now);
}

void pending(const Flags& f) {
  Session s = connect(f);
  kube::Resource reviews{"authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", false};
  auto me = s.client->create(reviews, "", {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}});
  if (!me.ok()) fail("who am I? " + serverError(me.error()));
  av1::UserInfo user;
  user.username = getString(*me, "status.userInfo.username");
  if (const Json* g = findPath(*me, "status.userInfo.groups"); g && g->is_array())
    for (const auto& x : *g)
      if (x.is_string()) user.groups.push_back(x.get<std::string>());
  // Every namespace the user may list; else the current one.
  std::string scope, why;
  auto requests = listDecoded<av1::KeyActivationRequest>(*s.client, kube::resources::keyActivationRequests(), scope,
                                                         av1::decodeKeyActivationRequest, &why);
  if (!why.empty()) {
    scope = s.ns;
    why.clear();
    requests = listDecoded<av1::KeyActivationRequest>(*s.client, kube::resources::keyActivationRequests(), scope,
                                                      av1::decodeKeyActivationRequest, &why);
    if (!why.empty()) fail(why);
  }
  auto keys = listDecoded<av1::EncryptionKey>(*s.client, kube::resources::encryptionKeys(), scope, av1::decodeEncryptionKey, nullptr);
  auto bindings = listDecoded<av1::KeyRoleBinding>(*s.client, kube::resources::keyRoleBindings(), scope,
                                                   av1::decodeKeyRoleBinding, &why);
  if (!why.empty()) fail("cannot list KeyRoleBindings: " + why);
  const WallTime now = realClock().now();
  auto mine = pendingFor(user, requests, keys, bindings, now);
  if (mine.empty()) {
    std::cout << "no requests waiting for " << user.username << (scope.empty() ? "" : " in namespace " + scope) << "\n";
    return;
  }
  for (const auto* r : mine) std::cout << formatPendingLine(*r, now);
}

}  // namespace

bool invokedAsKubectlPlugin(const char* argv0) {
  if (!argv0) return false;
  const char* base = std::strrchr(argv0, '/');
  return std::strcmp(base ? base + 1 : argv0, "kubectl-keygate") == 0;
}

int runKubectlPlugin(int argc, char** argv) {
  CLI::App app{"kubectl keygate: request, approve and follow the activation of Keygate keys"};
  app.name("kubectl keygate");
  app.require_subcommand(1);
  auto f = std::make_shared<Flags>();
  app.add_option("--kubeconfig", f->kubeconfig, "Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)");
  app.add_option("--context", f->context, "The kubeconfig context to use");
  app.add_option("-n,--namespace", f->ns, "Namespace (default: the context's)");
  // The commands that change objects: kubectl's -o and --dry-run=server (the API server and
  // the webhook decide as for real, and nothing is stored).
  auto output = [f](CLI::App* sub) {
    sub->add_option("-o,--output", f->output, "name, json or yaml")->check(CLI::IsMember({"name", "json", "yaml"}));
    sub->add_option("--dry-run", f->dryRun, "none (default) or server: submit for validation and admission only, store nothing")
        ->check(CLI::IsMember({"none", "server"}));
  };

  auto* req = app.add_subcommand("request", "Ask for a key's activation (creates a KeyActivationRequest)");
  req->add_option("KEY", f->key, "EncryptionKey name")->required();
  req->add_option("--reason", f->reason, "Why the key is needed (shown to approvers, kept in the audit trail)")->required();
  req->add_option("--change-ref", f->changeRef, "Change ticket, e.g. CHG-42");
  req->add_option("--affected", f->affected, "An affected system (repeatable)");
  req->add_option("--version", f->version, "Key version to activate (default: the newest PreActive one)")->check(CLI::PositiveNumber);
  req->add_option("--name", f->name, "Request name (default: KEY- and 5 random characters)");
  output(req);
  req->callback([f] { request(*f); });

  auto* ap = app.add_subcommand("approve", "Approve an activation request");
  ap->add_option("REQUEST", f->target, "KeyActivationRequest name")->required();
  ap->add_option("--comment", f->comment, "Comment kept with the approval");
  output(ap);
  ap->callback([f] { decide(*f, "Approve", "approved"); });

  auto* dn = app.add_subcommand("deny", "Deny an activation request");
  dn->add_option("REQUEST", f->target, "KeyActivationRequest name")->required();
  dn->add_option("--comment", f->comment, "Why (required)")->required();
  output(dn);
  dn->callback([f] { decide(*f, "Deny", "denied"); });

  auto* st = app.add_subcommand("status", "A request's approvals and who can still approve, or a key's versions and requests");
  st->add_option("NAME", f->target, "KeyActivationRequest or EncryptionKey name")->required();
  st->callback([f] { status(*f); });

  // BYOK: the tenant's side (docs/byok.md), for a key of the current namespace.
  auto wf = std::make_shared<WrapFlags>();
  auto* wr = app.add_subcommand("wrap", "Wrap your key material for an EncryptionKey of origin External (BYOK)");
  wr->add_option("KEY", f->target, "EncryptionKey name")->required();
  addWrapOptions(wr, *wf);
  wr->callback([f, wf] {
    WrapFlags w = *wf;
    w.kubeconfig = f->kubeconfig;
    w.context = f->context;
    std::string ns = f->ns;
    if (ns.empty() && w.stateDir.empty()) {
      auto kc = kube::loadKubeconfig({f->kubeconfig, f->context});
      if (!kc.ok()) fail(kc.error().message);
      ns = kc->ns;
    }
    w.key = ns + "/" + f->target;
    runWrap(w, "kubectl keygate wrap", "error");
  });

  auto* pd = app.add_subcommand("pending", "Requests you may approve now");
  pd->callback([f] { pending(*f); });

  // KeyAdministrator: the spec fields behind the lifecycle transitions.
  auto keyCommand = [&](const char* name, const char* help) {
    auto* c = app.add_subcommand(name, help);
    c->add_option("KEY", f->target, "EncryptionKey name")->required();
    output(c);
    return c;
  };
  keyCommand("rotate", "Start a rotation now: a new PreActive version, activated by a request like the first")
      ->callback([f] {
        const std::string at = formatRfc3339Micro(realClock().now());
        changeKey(*f, {{"metadata", {{"annotations", {{std::string(av1::kRotateRequestedAtAnnotation), at}}}}}},
                  "rotation requested");
      });
  keyCommand("deactivate", "Active -> Deactivated: the key decrypts and verifies, never encrypts or signs again")
      ->callback([f] { changeKey(*f, {{"spec", {{"deactivate", true}}}}, "deactivated"); });
  auto* cp = keyCommand("compromise", "Mark the key Compromised (every version): no use at all, audited");
  cp->add_option("--reason", f->reason, "What happened (kept in the audit trail)")->required();
  cp->callback([f] { changeKey(*f, {{"spec", {{"compromised", {{"reason", f->reason}}}}}}, "marked compromised"); });
  keyCommand("schedule-destruction", "Destroy the key's material after the pending window (a Deactivated or Compromised key)")
      ->callback([f] { changeKey(*f, {{"spec", {{"scheduleDestruction", true}}}}, "scheduled for destruction"); });
  keyCommand("cancel-destruction", "Cancel a scheduled destruction inside the pending window")
      ->callback([f] { changeKey(*f, {{"spec", {{"scheduleDestruction", false}}}}, "destruction cancelled"); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;  // kubectl's usage errors exit 1 too
  } catch (const Failure& e) {
    std::cerr << "error: " << e.message << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace keygate::cli
