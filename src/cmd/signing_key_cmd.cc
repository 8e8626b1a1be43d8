// `keygate signing-key list|rotate|retire ID`: the approval-signing keyring
// (controllers/signing_key.h), run where the operator's secret store is reachable with the
// operator's own configuration, typically
//   kubectl exec -n keygate-system deploy/keygate -- keygate signing-key rotate --config /etc/keygate/config.yaml
// Exit 0 on success, 1 when the keyring refuses the change, 2 when the store cannot be used.
#include <iostream>

#include "cmd/config.h"
#include "cmd/credentials_setup.h"
#include "cmd/subcommands.h"
#include "common/clock.h"
#include "common/time.h"
#include "controllers/signing_key.h"

namespace keygate::cmd {
namespace {

struct SigningKeyFlags {
  std::string config;
  std::string kubeconfig;
  std::string context;
  std::string ns;
  std::string id;
};

[[noreturn]] void die(int code, const std::string& msg) {
  std::cerr << "keygate signing-key: " << msg << "\n";
  throw CLI::RuntimeError(code);
}

backends::SecretStorePtr store(const SigningKeyFlags& f) {
  auto cfg = loadOperatorConfig(f.config);
  if (!cfg.ok()) die(2, "invalid config\n" + cfg.error().message);
  if (!f.ns.empty()) cfg->operatorNamespace = f.ns;
  kube::ClientPtr client;
  if (cfg->secretStoreType != "file") {
    auto c = apiClient(f.kubeconfig, f.context);
    if (!c.ok()) die(2, c.error().message);
    client = *c;
  }
  auto opened = openSecretStore(*cfg, client);
  if (!opened.ok()) die(2, opened.error().message);
  return opened->store;
}

void list(const SigningKeyFlags& f) {
  auto keys = controllers::readSigningKeyring(*store(f));
  if (!keys.ok()) die(keys.error().code == ErrorCode::kNotFound ? 1 : 2, keys.error().message);
  const WallTime now = realClock().now();
  const auto* signing = api::v1alpha1::signingKeyAt(*keys, now, controllers::kSigningKeyPropagation);
  std::cout << "ID        CREATED               STATE\n";
  for (const auto& k : *keys) {
    std::string state = k.retired ? "retired " + formatRfc3339(*k.retired)
                        : (signing && signing->id == k.id) ? "signing"
                        : k.created + controllers::kSigningKeyPropagation > now ? "verifying (signs from " +
                                                                                      formatRfc3339(k.created + controllers::kSigningKeyPropagation) + ")"
                                                                                : "verifying";
    if (k.unversioned) state += ", also unversioned signatures";
    std::cout << k.id << "  " << formatRfc3339(k.created) << "  " << state << "\n";
  }
}

}  // namespace

void registerSigningKey(CLI::App& app) {
  auto* cmd = app.add_subcommand("signing-key", "Rotate or retire the key that signs approvals (run in the operator's pod)");
  cmd->require_subcommand(1);
  auto f = std::make_shared<SigningKeyFlags>();
  auto common = [f](CLI::App* sub) {
    sub->add_option("--config", f->config, "The operator's configuration file")->required()->check(CLI::ExistingFile);
    sub->add_option("--kubeconfig", f->kubeconfig, "kubeconfig file (default: in-cluster, or $KUBECONFIG)");
    sub->add_option("--context", f->context, "kubeconfig context");
    sub->add_option("--namespace", f->ns, "Operator namespace (overrides operatorNamespace)");
  };
  auto* ls = cmd->add_subcommand("list", "The keys: which one signs, which only verify, which are retired");
  common(ls);
  ls->callback([f] { list(*f); });
  auto* rotate = cmd->add_subcommand(
      "rotate", "Add a new key; it signs new approvals once every replica has it (90 s), older ones keep verifying");
  common(rotate);
  rotate->callback([f] {
    auto e = controllers::rotateSigningKey(*store(*f), realClock().now());
    if (!e.ok()) die(e.error().code == ErrorCode::kNotFound ? 1 : 2, e.error().message);
    std::cout << "added approval-signing key " << e->id << "; it signs from "
              << formatRfc3339(e->created + controllers::kSigningKeyPropagation) << "\n";
  });
  auto* retire = cmd->add_subcommand(
      "retire", "Erase a key: approvals it signed no longer count (e.g. after the key was exposed)");
  common(retire);
  retire->add_option("ID", f->id, "Key id (from `keygate signing-key list`)")->required();
  retire->callback([f] {
    Status st = controllers::retireSigningKey(*store(*f), f->id, realClock().now());
    if (!st.ok()) {
      const ErrorCode c = st.error().code;
      die(c == ErrorCode::kNotFound || c == ErrorCode::kFailedPrecondition ? 1 : 2, st.error().message);
    }
    std::cout << "retired approval-signing key " << f->id << "\n";
  });
}

}  // namespace keygate::cmd
