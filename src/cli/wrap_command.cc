// `keygate wrap`: the tenant's side of BYOK (docs/byok.md). Wraps key material with the
// wrapping key an EncryptionKey of origin External publishes (read from the cluster, from
// `keygate local` state, or from a PEM file), with OpenSSL, and writes what to apply: the
// Secret the key's spec.import.secretRef names, and a Role and RoleBinding that let the
// operator read that one Secret. Prints the fingerprint the backend will report, to compare.
#include "cli/wrap_command.h"

#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "api/v1alpha1/approval_signing.h"
#include "api/v1alpha1/codec.h"
#include "cli/approval_status.h"
#include "cli/yaml_out.h"
#include "common/file.h"
#include "common/json.h"
#include "common/key_wrapping.h"
#include "common/time.h"
#include "kube/client.h"
#include "kube/client_factory.h"
#include "kube/kubeconfig.h"
#include "kube/resource.h"

namespace keygate::cli {
namespace {

struct Failure {
  std::string message;
  int code = 1;
};
[[noreturn]] void fail(const std::string& m, int code = 1) { throw Failure{m, code}; }

// What the tenant wraps for: the published wrapping key and the key it belongs to.
struct Target {
  std::string ns, name, uid, algorithm, secretName, secretKey, publicKeyPem, wrappingKeyId, expiresAt;
  std::vector<std::string> algorithms;
  int64_t version = 0;
};

Target fromKeyObject(const Json& obj, const std::string& where) {
  auto k = av1::decodeEncryptionKey(obj);
  if (!k.ok()) fail(where + ": " + k.error().message, 2);
  Target t;
  t.ns = k->metadata.namespace_;
  t.name = k->metadata.name;
  t.uid = k->metadata.uid;
  t.algorithm = std::string(av1::toString(k->spec.algorithm));
  if (k->spec.origin != av1::Origin::kExternal) fail("encryptionkey " + t.ns + "/" + t.name + " is not of origin External");
  if (k->spec.import && k->spec.import->secretRef) {
    t.secretName = k->spec.import->secretRef->name;
    t.secretKey = k->spec.import->secretRef->key;
  }
  const auto& wk = k->status.wrappingKey;
  if (!wk || wk->publicKeyPem.empty())
    fail("encryptionkey " + t.ns + "/" + t.name +
         " publishes no wrapping key (status.wrappingKey): it waits for no material (already imported?) or the operator "
         "has not reconciled it yet");
  if (wk->expiresAt && *wk->expiresAt <= realClock().now())
    fail("the wrapping key of " + t.ns + "/" + t.name + " expired at " + formatRfc3339(*wk->expiresAt) +
         "; the operator publishes a new one: read it again");
  t.publicKeyPem = wk->publicKeyPem;
  t.algorithms = wk->algorithms;
  if (t.algorithms.empty() && !wk->algorithm.empty()) t.algorithms = {wk->algorithm};
  t.version = wk->version;
  t.wrappingKeyId = "keygate/" + t.ns + "/" + t.uid + "/v" + std::to_string(wk->version) + "/wrap" + std::to_string(wk->serial);
  if (wk->expiresAt) t.expiresAt = formatRfc3339(*wk->expiresAt);
  return t;
}

std::pair<std::string, std::string> splitKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == key.size()) fail("--key must be NAMESPACE/NAME, got \"" + key + "\"", 2);
  return {key.substr(0, slash), key.substr(slash + 1)};
}

Target resolve(const WrapFlags& f) {
  if (!f.wrappingKeyFile.empty()) {
    auto pem = readWholeFile(f.wrappingKeyFile);
    if (!pem.ok()) fail(pem.error().message, 2);
    if (f.algorithm.empty()) fail("--wrapping-key needs --algorithm (AES-256, HMAC-SHA256, RSA-3072, RSA-4096)", 2);
    Target t;
    t.publicKeyPem = *pem;
    t.algorithm = f.algorithm;
    t.algorithms = {"RSA_AES_KEY_WRAP_SHA_1", "RSAES_OAEP_SHA_1"};
    if (!f.key.empty()) std::tie(t.ns, t.name) = splitKey(f.key);
    return t;
  }
  if (f.key.empty()) fail("--key NAMESPACE/NAME is required (or --wrapping-key FILE --algorithm A)", 2);
  auto [ns, name] = splitKey(f.key);
  if (!f.stateDir.empty()) {
    auto text = readWholeFile(f.stateDir + "/state.json");
    if (!text.ok()) fail("no keygate local state in " + f.stateDir + ": " + text.error().message, 2);
    Json state = Json::parse(*text, nullptr, false);
    if (state.is_object() && state["objects"].is_array())
      for (const auto& o : state["objects"])
        if (getString(o, "kind") == "EncryptionKey" && getString(o, "metadata.namespace") == ns && getString(o, "metadata.name") == name)
          return fromKeyObject(o, f.stateDir + "/state.json");
    fail("no EncryptionKey " + ns + "/" + name + " in " + f.stateDir + "/state.json", 2);
  }
  auto kc = kube::loadKubeconfig({f.kubeconfig, f.context});
  if (!kc.ok()) fail(kc.error().message, 2);
  auto client = kube::makeClient(*kc, {});
  if (!client.ok()) fail(client.error().message, 2);
  auto obj = (*client)->get(kube::resources::encryptionKeys(), ns, name);
  if (!obj.ok()) fail("encryptionkey " + ns + "/" + name + ": " + admissionReason(obj.error().message), 2);
  return fromKeyObject(*obj, "encryptionkey " + ns + "/" + name);
}

// The material as the backend unwraps it: raw bytes for secret keys, PKCS#8 DER for private
// keys (read from PEM or DER); for EC keys also the public key the Secret carries beside it.
std::vector<uint8_t> loadMaterial(const std::string& path, const std::string& algorithm, std::string* publicPem) {
  auto bytes = readWholeFile(path);
  if (!bytes.ok()) fail(bytes.error().message, 2);
  std::vector<uint8_t> m(bytes->begin(), bytes->end());
  OPENSSL_cleanse(bytes->data(), bytes->size());
  if (algorithm == "AES-256") {
    if (m.size() != 32) fail(path + " holds " + std::to_string(m.size()) + " bytes; AES-256 key material is exactly 32 raw bytes");
    return m;
  }
  if (algorithm == "HMAC-SHA256") {
    if (m.size() < 32 || m.size() > 64) fail(path + " holds " + std::to_string(m.size()) + " bytes; HMAC-SHA256 key material is 32 to 64 raw bytes");
    return m;
  }
  const bool ec = algorithm == "EC-P256" || algorithm == "EC-P384";
  if (!ec && algorithm != "RSA-3072" && algorithm != "RSA-4096") fail("import of " + algorithm + " keys is not supported");
  EVP_PKEY* key = nullptr;
  if (BIO* bio = BIO_new_mem_buf(m.data(), static_cast<int>(m.size()))) {
    key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
  }
  if (key == nullptr) {
    const unsigned char* p = m.data();
    key = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(m.size()));
  }
  OPENSSL_cleanse(m.data(), m.size());
  if (key == nullptr) fail(path + " is not a private key (PEM or DER, PKCS#1 or PKCS#8)");
  const int bits = EVP_PKEY_bits(key);
  const bool rsa = EVP_PKEY_base_id(key) == EVP_PKEY_RSA;
  const bool isEc = EVP_PKEY_base_id(key) == EVP_PKEY_EC;
  if (isEc && publicPem) {
    if (BIO* out = BIO_new(BIO_s_mem())) {
      if (PEM_write_bio_PUBKEY(out, key) == 1) {
        char* data = nullptr;
        long n = BIO_get_mem_data(out, &data);
        publicPem->assign(data, static_cast<size_t>(n));
      }
      BIO_free(out);
    }
  }
  std::vector<uint8_t> der;
  if (PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key)) {
    unsigned char* out = nullptr;
    int len = i2d_PKCS8_PRIV_KEY_INFO(p8, &out);
    if (len > 0) der.assign(out, out + len);
    OPENSSL_clear_free(out, len > 0 ? static_cast<size_t>(len) : 0);
    PKCS8_PRIV_KEY_INFO_free(p8);
  }
  EVP_PKEY_free(key);
  if (ec) {
    const bool fits = isEc && ((algorithm == "EC-P256" && bits == 256) || (algorithm == "EC-P384" && bits == 384));
    if (!fits) fail(path + " is not an " + algorithm + " key");
    return der;
  }
  if (!rsa || std::to_string(bits) != algorithm.substr(4))
    fail(path + " is not an " + algorithm + " key (" + (rsa ? "RSA-" + std::to_string(bits) : std::string("not RSA")) + ")");
  return der;
}

void wrap(const WrapFlags& f, const std::string& info) {
  Target t = resolve(f);
  WrappingFormat format;
  const bool privateKey = t.algorithm.rfind("RSA", 0) == 0 || t.algorithm.rfind("EC", 0) == 0;
  if (!f.format.empty()) {
    auto parsed = parseWrappingFormat(f.format);
    if (!parsed.ok()) fail(parsed.error().message, 2);
    if (std::find(t.algorithms.begin(), t.algorithms.end(), f.format) == t.algorithms.end())
      fail(f.format + " is not a format the backend unwraps here (it does: " + [&] {
        std::string s;
        for (const auto& a : t.algorithms) s += (s.empty() ? "" : ", ") + a;
        return s;
      }() + ")");
    format = *parsed;
  } else {
    // The best published format that can carry this material.
    bool found = false;
    for (const auto& name : t.algorithms) {
      auto p = parseWrappingFormat(name);
      if (p.ok() && (!privateKey || isKeyWrapFormat(*p))) {
        format = *p;
        found = true;
        break;
      }
    }
    if (!found) fail("the backend publishes no format that can carry a private key", 2);
  }
  if (privateKey && !isKeyWrapFormat(format))
    fail(std::string(wrappingFormatName(format)) + " carries raw secret material; use RSA_AES_KEY_WRAP_SHA_1 or _SHA_256 for " + t.algorithm);
  std::string publicPem;
  std::vector<uint8_t> material = loadMaterial(f.material, t.algorithm, &publicPem);
  auto fp = materialFingerprint(material, privateKey, t.algorithm == "AES-256");
  auto blob = wrapKeyMaterial(t.publicKeyPem, format, material);
  OPENSSL_cleanse(material.data(), material.size());
  if (!blob.ok()) fail(blob.error().message);
  if (!fp.ok()) fail(fp.error().message);

  std::string out;
  if (f.output == "raw") {
    out.assign(blob->begin(), blob->end());
  } else {
    const std::string secretName = !f.secretName.empty() ? f.secretName : t.secretName;
    const std::string secretKey = !f.secretKey.empty() ? f.secretKey : t.secretKey;
    if (secretName.empty() || secretKey.empty()) fail("the Secret's name and key are not known: pass --secret-name and --secret-key", 2);
    Json annotations = {{"keygate.dev/wrapping-algorithm", wrappingFormatName(format)}};
    if (!t.wrappingKeyId.empty()) annotations["keygate.dev/wrapping-key"] = t.wrappingKeyId;
    if (!publicPem.empty()) annotations["keygate.dev/public-key"] = publicPem;
    Json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", secretName}, {"annotations", annotations}}},
                   {"type", "Opaque"},
                   {"data", {{secretKey, av1::base64Encode(std::string(blob->begin(), blob->end()))}}}};
    if (!t.ns.empty()) secret["metadata"]["namespace"] = t.ns;
    auto slash = f.operatorServiceAccount.find('/');
    if (slash == std::string::npos) fail("--operator-service-account must be NAMESPACE/NAME", 2);
    const std::string roleName = "keygate-read-" + secretName;
    Json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                 {"kind", "Role"},
                 {"metadata", {{"name", roleName}}},
                 {"rules", Json::array({{{"apiGroups", {""}}, {"resources", {"secrets"}}, {"resourceNames", {secretName}}, {"verbs", {"get"}}}})}};
    Json binding = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                    {"kind", "RoleBinding"},
                    {"metadata", {{"name", roleName}}},
                    {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", roleName}}},
                    {"subjects", Json::array({{{"kind", "ServiceAccount"}, {"name", f.operatorServiceAccount.substr(slash + 1)},
                                               {"namespace", f.operatorServiceAccount.substr(0, slash)}}})}};
    if (!t.ns.empty()) role["metadata"]["namespace"] = binding["metadata"]["namespace"] = t.ns;
    if (f.output == "json") {
      out = Json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", {secret, role, binding}}}.dump(2) + "\n";
    } else {
      out = "# The wrapped key material for " + (t.name.empty() ? std::string("the key") : t.ns + "/" + t.name) +
            ", and read access to this one Secret for the Keygate operator.\n";
      for (const Json* doc : {&secret, &role, &binding}) out += "---\n" + yamlOf(*doc);
    }
  }
  if (f.outFile.empty() || f.outFile == "-") {
    std::cout << out;
  } else {
    std::ofstream o(f.outFile, std::ios::binary | std::ios::trunc);
    o << out;
    if (!o) fail("cannot write " + f.outFile, 2);
  }
  std::cerr << info << ": " << t.algorithm << " material wrapped with " << wrappingFormatName(format)
            << (t.wrappingKeyId.empty() ? "" : " for " + t.wrappingKeyId)
            << (t.expiresAt.empty() ? "" : " (window ends " + t.expiresAt + ")") << "\n"
            << info << ": fingerprint " << *fp << ": after the import, compare with status.versions["
            << (t.version > 0 ? std::to_string(t.version - 1) : std::string("…")) << "].fingerprint\n";
}

}  // namespace

void addWrapOptions(CLI::App* w, WrapFlags& f) {
  w->add_option("--material", f.material, "Key material: 32 raw bytes (AES-256), 32-64 (HMAC-SHA256), or an RSA or EC private key (PEM/DER)")
      ->required();
  w->add_option("--format", f.format, "Wrapping format (default: the best the backend publishes for this material)");
  w->add_option("--wrapping-key", f.wrappingKeyFile, "Wrap for this PEM public key instead of reading the key's status");
  w->add_option("--algorithm", f.algorithm, "With --wrapping-key: the key's algorithm");
  w->add_option("--state-dir", f.stateDir, "Read the key from keygate local's state instead of a cluster");
  w->add_option("-o,--output", f.output, "yaml (default: Secret, Role, RoleBinding), json, or raw (the blob)")
      ->check(CLI::IsMember({"yaml", "json", "raw"}));
  w->add_option("--out", f.outFile, "Write to this file instead of stdout");
  w->add_option("--secret-name", f.secretName, "Secret name (default: the key's spec.import.secretRef.name)");
  w->add_option("--secret-key", f.secretKey, "Secret data key (default: the key's spec.import.secretRef.key)");
  w->add_option("--operator-service-account", f.operatorServiceAccount,
                "The operator's ServiceAccount, NAMESPACE/NAME, granted get on the Secret (default keygate-system/keygate)");
}

void runWrap(const WrapFlags& f, const std::string& info, const std::string& prefix) {
  try {
    wrap(f, info);
  } catch (const Failure& e) {
    std::cerr << prefix << ": " << e.message << "\n";
    throw CLI::RuntimeError(e.code);
  }
}

void registerWrapCommand(CLI::App& app) {
  auto f = std::make_shared<WrapFlags>();
  auto* w = app.add_subcommand("wrap", "BYOK: wrap your key material for an EncryptionKey of origin External (docs/byok.md)");
  w->add_option("--key", f->key, "The EncryptionKey, NAMESPACE/NAME (its status.wrappingKey is used)");
  w->add_option("--kubeconfig", f->kubeconfig, "Path to the kubeconfig file");
  w->add_option("--context", f->context, "The kubeconfig context to use");
  addWrapOptions(w, *f);
  w->callback([f] { runWrap(*f, "keygate wrap", "keygate wrap"); });
}

}  // namespace keygate::cli
