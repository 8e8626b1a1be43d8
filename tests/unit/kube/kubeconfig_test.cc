#include "kube/kubeconfig.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "support/temp_dir.h"

namespace keygate::kube {
namespace {

const char* kCa =
    "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIUQ==\n-----END CERTIFICATE-----\n";

std::string config(const std::string& user, const std::string& cluster = "    server: https://127.0.0.1:6443\n") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: c1\n"
         "clusters:\n- name: k\n  cluster:\n" + cluster +
         "contexts:\n- name: c1\n  context: {cluster: k, user: u, namespace: tenant-a}\n"
         "- name: c2\n  context: {cluster: k, user: u}\n"
         "users:\n- name: u\n  user:\n" + user;
}

// Current context, namespace and a literal token are taken from the file.
TEST(KubeconfigTest, ReadsCurrentContextAndToken) {
  auto c = parseKubeconfig(config("    token: abc\n"), "", "/tmp", "x");
  ASSERT_TRUE(c.ok()) << c.error().toString();
  EXPECT_EQ(c->transport.server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->ns, "tenant-a");
  ASSERT_TRUE(c->transport.tokenSource);
  EXPECT_EQ(*c->transport.tokenSource(), "abc");
}

// --context picks another context; its namespace defaults to "default".
TEST(KubeconfigTest, ExplicitContext) {
  auto c = parseKubeconfig(config("    token: abc\n"), "c2", "/tmp", "x");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ns, "default");
  EXPECT_FALSE(parseKubeconfig(config("    token: abc\n"), "nope", "/tmp", "x").ok());
}

// certificate-authority-data is base64 PEM; a relative certificate-authority path resolves against the file's dir.
TEST(KubeconfigTest, CertificateAuthorityDataAndFiles) {
  testing::TempDir dir;
  dir.write("ca.crt", kCa);
  dir.write("tok", "file-token\n");
  auto c = parseKubeconfig(config("    tokenFile: tok\n", "    server: https://h:1\n    certificate-authority: ca.crt\n"),
                           "", dir.path(), "x");
  ASSERT_TRUE(c.ok()) << c.error().toString();
  EXPECT_EQ(c->transport.caPem, kCa);
  EXPECT_EQ(*c->transport.tokenSource(), "file-token");
  auto d = parseKubeconfig(config("    token: t\n", "    server: https://h:1\n    certificate-authority-data: aGVsbG8=\n"),
                           "", "/", "x");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->transport.caPem, "hello");
}

// A rotated token file is re-read (projected service-account tokens rotate).
TEST(KubeconfigTest, TokenFileRotation) {
  testing::TempDir dir;
  std::string p = dir.write("token", "one");
  auto src = fileTokenSource(p);
  EXPECT_EQ(*src(), "one");
  dir.write("token", "second");
  EXPECT_EQ(*src(), "second");
}

// exec / auth-provider / basic auth users get a clear "not supported" error, not a crash.
TEST(KubeconfigTest, UnsupportedAuthIsAClearError) {
  auto e = parseKubeconfig(config("    exec: {command: aws}\n"), "", "/", "x");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("exec credential plugins are not supported"), std::string::npos);
  auto a = parseKubeconfig(config("    auth-provider: {name: gcp}\n"), "", "/", "x");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("auth-provider"), std::string::npos);
}

// Malformed files: bad YAML (with a line number), wrong shapes, missing references, bad base64.
TEST(KubeconfigTest, MalformedKubeconfigs) {
  struct Case {
    std::string text;
    std::string expect;
  } cases[] = {
      {"clusters: [", "x:"},
      {"- just\n- a list\n", "expected a mapping"},
      {"apiVersion: v1\n", "no current-context"},
      {config("    token: t\n", "    insecure-skip-tls-verify: true\n"), "server is empty"},
      {config("    token: t\n", "    server: https://h\n    certificate-authority-data: '%%%'\n"), "base64"},
      {config("    token: t\n", "    server: https://h\n    certificate-authority: /nonexistent/ca\n"),
       "certificate-authority"},
      {"current-context: c\ncontexts:\n- name: c\n  context: {cluster: missing, user: u}\n", "cluster \"missing\" not found"},
  };
  for (const auto& c : cases) {
    auto r = parseKubeconfig(c.text, "", "/", "x");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(loadKubeconfig({"/nonexistent/kubeconfig", ""}).ok());
}

// In-cluster config needs KUBERNETES_SERVICE_HOST/PORT and the service-account files.
TEST(KubeconfigTest, InCluster) {
  testing::TempDir dir;
  InClusterPaths paths{dir.write("token", "sa-token"), dir.write("ca.crt", kCa), dir.write("namespace", "keygate-system\n")};
  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_EQ(loadInCluster(paths).error().code, ErrorCode::kFailedPrecondition);
  setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  auto c = loadInCluster(paths);
  ASSERT_TRUE(c.ok()) << c.error().toString();
  EXPECT_EQ(c->transport.server, "https://10.96.0.1:443");
  EXPECT_EQ(c->ns, "keygate-system");
  EXPECT_EQ(*c->transport.tokenSource(), "sa-token");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
}

}  // namespace
}  // namespace keygate::kube
