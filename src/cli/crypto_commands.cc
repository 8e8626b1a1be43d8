#include "cli/crypto_commands.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "dataplane/crypto_client.h"

namespace keygate::cli {
namespace {

struct ConnFlags {
  std::string server;
  std::string caFile;
  std::string serverName;
  std::string tokenFile;
  std::string token;
  std::string certFile;
  std::string keyFile;
  bool insecure = false;
  int timeoutSeconds = 10;
};

std::string env(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

void addConnFlags(CLI::App* sub, ConnFlags& f) {
  sub->add_option("--server", f.server, "Crypto API address HOST:PORT ($KEYGATE_SERVER, default 127.0.0.1:8443)");
  sub->add_option("--ca-file", f.caFile, "CA certificate of the server (PEM; $KEYGATE_CA_FILE)");
  sub->add_option("--tls-server-name", f.serverName, "Name to verify in the server certificate (default: the host)");
  sub->add_option("--token-file", f.tokenFile, "File with a ServiceAccount token, audience keygate.dev ($KEYGATE_TOKEN_FILE)");
  sub->add_option("--cert-file", f.certFile, "Client certificate (PEM), instead of a token");
  sub->add_option("--key-file", f.keyFile, "Private key of the client certificate (PEM)");
  sub->add_flag("--insecure", f.insecure, "Plain text (only for a loopback server such as `keygate local --serve`)");
  sub->add_option("--timeout", f.timeoutSeconds, "Seconds per call")->capture_default_str();
}

[[noreturn]] void die(const std::string& what, const Error& e) {
  std::cerr << "keygate " << what << ": " << errorCodeName(e.code) << ": " << e.message << "\n";
  std::cout.flush();
  throw CLI::RuntimeError(1);
}

std::unique_ptr<dataplane::CryptoClient> connect(const std::string& what, const ConnFlags& f) {
  dataplane::CryptoClientOptions o;
  o.target = !f.server.empty() ? f.server : env("KEYGATE_SERVER", "127.0.0.1:8443");
  o.caFile = !f.caFile.empty() ? f.caFile : env("KEYGATE_CA_FILE");
  o.serverName = f.serverName;
  o.tokenFile = !f.tokenFile.empty() ? f.tokenFile : env("KEYGATE_TOKEN_FILE");
  o.token = env("KEYGATE_TOKEN");
  o.certFile = f.certFile;
  o.keyFile = f.keyFile;
  o.insecure = f.insecure;
  o.timeout = std::chrono::seconds(f.timeoutSeconds);
  auto c = dataplane::CryptoClient::connect(o);
  if (!c.ok()) die(what, c.error());
  return std::move(*c);
}

std::string readAll(std::istream& in) { return std::string(std::istreambuf_iterator<char>(in), {}); }

std::string readFileOrDie(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) die(what, makeError(ErrorCode::kInvalidArgument, path + ": cannot read"));
  return readAll(in);
}

std::string stdinData() {
  std::ios::sync_with_stdio(false);
  return readAll(std::cin);
}

void writeOut(const std::string& bytes) {
  std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::cout.flush();
}

std::string base64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(s.data()),
                          static_cast<int>(s.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

// The digest a signing algorithm signs, of the message on stdin.
std::string digestOf(const std::string& message, bool sha384) {
  std::string d(sha384 ? SHA384_DIGEST_LENGTH : SHA256_DIGEST_LENGTH, '\0');
  if (sha384) SHA384(reinterpret_cast<const unsigned char*>(message.data()), message.size(), reinterpret_cast<unsigned char*>(d.data()));
  else SHA256(reinterpret_cast<const unsigned char*>(message.data()), message.size(), reinterpret_cast<unsigned char*>(d.data()));
  return d;
}

v1::SigningAlgorithm algorithmOf(const std::string& name) {
  v1::SigningAlgorithm a = v1::SIGNING_ALGORITHM_UNSPECIFIED;
  if (!name.empty() && !v1::SigningAlgorithm_Parse(name, &a))
    die("sign", makeError(ErrorCode::kInvalidArgument,
                          "--algorithm: one of ECDSA_SHA_256, ECDSA_SHA_384, RSASSA_PSS_SHA_256, RSASSA_PKCS1_V1_5_SHA_256"));
  return a;
}

// The key's default scheme decides which hash to send: read it from the public key's
// algorithm. When that is refused (a PreActive key has no usable public key), fall back to
// the server's default and SHA-256, so the Sign/Verify call itself reports why.
v1::SigningAlgorithm defaultAlgorithm(dataplane::CryptoClient& client, const std::string& key) {
  v1::GetPublicKeyRequest pk;
  pk.set_key(key);
  auto info = client.getPublicKey(pk);
  if (!info.ok()) return v1::SIGNING_ALGORITHM_UNSPECIFIED;
  if (info->algorithm() == "EC-P384") return v1::ECDSA_SHA_384;
  if (info->algorithm() == "EC-P256") return v1::ECDSA_SHA_256;
  return v1::RSASSA_PSS_SHA_256;
}

struct Common {
  ConnFlags conn;
  std::string key;
  std::string aad;
};

CLI::App* command(CLI::App& app, const char* name, const char* help, const std::shared_ptr<Common>& c, bool versionOk) {
  auto* sub = app.add_subcommand(name, help);
  sub->add_option("--key", c->key, versionOk ? "Key NAMESPACE/NAME (or NAMESPACE/NAME@VERSION)" : "Key NAMESPACE/NAME")->required();
  addConnFlags(sub, c->conn);
  return sub;
}

}  // namespace

void registerCryptoCommands(CLI::App& app) {
  {
    auto c = std::make_shared<Common>();
    auto* sub = command(app, "encrypt", "Encrypt stdin with a key's current version (crypto API); ciphertext to stdout", c, false);
    sub->add_option("--aad", c->aad, "Additional authenticated data (Decrypt needs the same)");
    sub->callback([c] {
      v1::EncryptRequest r;
      r.set_key(c->key);
      r.set_plaintext(stdinData());
      r.set_aad(c->aad);
      auto resp = connect("encrypt", c->conn)->encrypt(r);
      if (!resp.ok()) die("encrypt", resp.error());
      writeOut(resp->ciphertext());
      std::cerr << "keygate encrypt: encrypted with " << resp->key_version() << "\n";
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto* sub = command(app, "decrypt", "Decrypt a Keygate ciphertext from stdin; plaintext to stdout", c, true);
    sub->add_option("--aad", c->aad, "The additional authenticated data given to encrypt");
    sub->callback([c] {
      v1::DecryptRequest r;
      r.set_key(c->key);
      r.set_ciphertext(stdinData());
      r.set_aad(c->aad);
      auto resp = connect("decrypt", c->conn)->decrypt(r);
      if (!resp.ok()) die("decrypt", resp.error());
      writeOut(resp->plaintext());
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto length = std::make_shared<unsigned>(32);
    auto* sub = command(app, "datakey", "Make a data key (envelope encryption): JSON with base64 plaintext and ciphertext", c, false);
    sub->add_option("--aad", c->aad, "Additional authenticated data bound to the encrypted data key");
    sub->add_option("--length", *length, "Bytes: 16, 24 or 32")->capture_default_str();
    sub->callback([c, length] {
      v1::GenerateDataKeyRequest r;
      r.set_key(c->key);
      r.set_aad(c->aad);
      r.set_length(*length);
      auto resp = connect("datakey", c->conn)->generateDataKey(r);
      if (!resp.ok()) die("datakey", resp.error());
      std::cout << "{\"keyVersion\":\"" << resp->key_version() << "\",\"plaintext\":\"" << base64(resp->plaintext())
                << "\",\"ciphertext\":\"" << base64(resp->ciphertext()) << "\"}\n";
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto alg = std::make_shared<std::string>();
    auto* sub = command(app, "sign", "Sign stdin (hashed locally; the key signs the digest); DER/raw signature to stdout", c, false);
    sub->add_option("--algorithm", *alg, "ECDSA_SHA_256, ECDSA_SHA_384, RSASSA_PSS_SHA_256, RSASSA_PKCS1_V1_5_SHA_256 (default: the key's)");
    sub->callback([c, alg] {
      v1::SignRequest r;
      r.set_key(c->key);
      v1::SigningAlgorithm a = algorithmOf(*alg);
      auto client = connect("sign", c->conn);
      if (a == v1::SIGNING_ALGORITHM_UNSPECIFIED) a = defaultAlgorithm(*client, c->key);
      r.set_algorithm(a);
      r.set_digest(digestOf(stdinData(), a == v1::ECDSA_SHA_384));
      auto resp = client->sign(r);
      if (!resp.ok()) die("sign", resp.error());
      writeOut(resp->signature());
      std::cerr << "keygate sign: " << v1::SigningAlgorithm_Name(resp->algorithm()) << " with " << resp->key_version() << "\n";
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto alg = std::make_shared<std::string>();
    auto sigFile = std::make_shared<std::string>();
    auto* sub = command(app, "verify", "Verify a signature of stdin; exit 0 valid, 1 invalid", c, true);
    sub->add_option("--signature", *sigFile, "File with the signature")->required();
    sub->add_option("--algorithm", *alg, "As for sign (default: the key's)");
    sub->callback([c, alg, sigFile] {
      v1::VerifyRequest r;
      r.set_key(c->key);
      v1::SigningAlgorithm a = algorithmOf(*alg);
      auto client = connect("verify", c->conn);
      if (a == v1::SIGNING_ALGORITHM_UNSPECIFIED) a = defaultAlgorithm(*client, c->key);
      r.set_algorithm(a);
      r.set_signature(readFileOrDie("verify", *sigFile));
      r.set_digest(digestOf(stdinData(), a == v1::ECDSA_SHA_384));
      auto resp = client->verify(r);
      if (!resp.ok()) die("verify", resp.error());
      std::cout << (resp->valid() ? "valid" : "invalid") << " (" << resp->key_version() << ")\n";
      if (!resp->valid()) throw CLI::RuntimeError(1);
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto* sub = command(app, "mac", "HMAC-SHA256 of stdin with a MAC key; the tag to stdout", c, false);
    sub->callback([c] {
      v1::MacRequest r;
      r.set_key(c->key);
      r.set_data(stdinData());
      auto resp = connect("mac", c->conn)->mac(r);
      if (!resp.ok()) die("mac", resp.error());
      writeOut(resp->mac());
    });
  }
  {
    auto c = std::make_shared<Common>();
    auto* sub = command(app, "public-key", "Print the PEM public key of an asymmetric key", c, true);
    sub->callback([c] {
      v1::GetPublicKeyRequest r;
      r.set_key(c->key);
      auto resp = connect("public-key", c->conn)->getPublicKey(r);
      if (!resp.ok()) die("public-key", resp.error());
      std::cout << resp->public_key_pem();
    });
  }
}

}  // namespace keygate::cli
