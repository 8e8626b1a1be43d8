// The manifests in examples/ pass validation; each file in examples/bad/ fails with the
// message its `# expect:` comment names.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "api/v1alpha1/codec.h"
#include "api/v1alpha1/manifest.h"
#include "api/v1alpha1/validation.h"

namespace keygate::api::v1alpha1 {
namespace {

namespace fs = std::filesystem;

fs::path examplesDir() {
  const char* src = std::getenv("KEYGATE_SOURCE_DIR");
  return fs::path(src ? src : ".") / "examples";
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What `keygate check` will do for one file: decode strictly, validate each object, then
// cross-object checks (requests against keys of the file, segregation of duties).
std::vector<std::string> checkFile(const fs::path& p) {
  std::vector<std::string> out;
  auto manifests = parseManifests(readFile(p), p.filename().string());
  if (!manifests.ok()) return {manifests.error().message};
  Policy policy;
  std::vector<EncryptionKey> keys;
  std::vector<KeyActivationRequest> requests;
  std::vector<KeyRoleBinding> bindings;
  for (const auto& m : *manifests) {
    std::string kind = getString(m.object, "kind");
    auto add = [&](const FieldErrors& errs) {
      for (const auto& e : errs) out.push_back(e.toString());
    };
    if (kind == "EncryptionKey") {
      auto k = decodeEncryptionKey(m.object, DecodeOptions{true});
      if (!k.ok()) out.push_back(k.error().message);
      else add(validateCreate(*k, policy)), keys.push_back(*k);
    } else if (kind == "KeyActivationRequest") {
      auto r = decodeKeyActivationRequest(m.object, DecodeOptions{true});
      if (!r.ok()) out.push_back(r.error().message);
      else add(validateCreate(*r, policy)), requests.push_back(*r);
    } else if (kind == "KeyRoleBinding") {
      auto b = decodeKeyRoleBinding(m.object, DecodeOptions{true});
      if (!b.ok()) out.push_back(b.error().message);
      else add(validateCreate(*b, policy)), bindings.push_back(*b);
    } else {
      out.push_back("kind: unknown kind \"" + kind + "\"");
    }
  }
  for (const auto& r : requests)
    for (const auto& k : keys)
      if (k.metadata.name == r.spec.keyRef.name)
        for (const auto& e : validateRequestForKey(r, k, policy)) out.push_back(e.toString());
  for (const auto& c : findSegregationConflicts(bindings))
    out.push_back(std::string(toString(c.subject.kind)) + " " + c.subject.name +
                  " holds both KeyAdministrator and KeyApprover in namespace " + c.namespace_);
  return out;
}

std::vector<fs::path> yamlFiles(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".yaml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Every good example validates cleanly, and there is one EncryptionKey per purpose.
TEST(ExamplesTest, GoodExamplesPass) {
  auto files = yamlFiles(examplesDir() / "keys");
  ASSERT_GE(files.size(), 6u) << examplesDir();
  std::set<Purpose> purposes;
  for (const auto& f : files) {
    auto errors = checkFile(f);
    EXPECT_TRUE(errors.empty()) << f << ": " << (errors.empty() ? "" : errors.front());
    auto parsed = parseManifests(readFile(f), f.string());
    ASSERT_TRUE(parsed.ok());
    for (const auto& m : *parsed)
      if (getString(m.object, "kind") == "EncryptionKey") purposes.insert(decodeEncryptionKey(m.object)->spec.purpose);
  }
  EXPECT_EQ(purposes.size(), 4u);
}

// Every bad example fails with exactly the message its comment promises.
TEST(ExamplesTest, BadExamplesFailWithTheExpectedMessage) {
  auto files = yamlFiles(examplesDir() / "bad");
  ASSERT_GE(files.size(), 10u);
  for (const auto& f : files) {
    std::string text = readFile(f);
    auto pos = text.find("# expect: ");
    ASSERT_NE(pos, std::string::npos) << f << " lacks an # expect: comment";
    std::string expect = text.substr(pos + 10, text.find('\n', pos) - pos - 10);
    auto errors = checkFile(f);
    ASSERT_FALSE(errors.empty()) << f << " passed validation";
    bool found = false;
    for (const auto& e : errors) found = found || e.find(expect) != std::string::npos;
    EXPECT_TRUE(found) << f << ": expected \"" << expect << "\", got \"" << errors.front() << "\"";
  }
}

// Manifest parsing types scalars the way kubectl does: quoted stays a string.
TEST(ExamplesTest, ManifestScalarTyping) {
  auto m = parseManifests("a: yes\nb: 'yes'\nc: 0123\nd: \"0123\"\ne: 12\nf: ~\n---\n---\nx: 1\n", "t.yaml");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 2u);
  const Json& j = (*m)[0].object;
  EXPECT_EQ(j["a"], true);
  EXPECT_EQ(j["b"], "yes");
  EXPECT_EQ(j["c"], 83);  // YAML 1.1 octal, as kubectl reads it
  EXPECT_EQ(j["d"], "0123");
  EXPECT_EQ(j["e"], 12);
  EXPECT_TRUE(j["f"].is_null());
  EXPECT_EQ((*m)[1].line, 9);
  auto bad = parseManifests("a: [1, 2\n", "broken.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.rfind("broken.yaml:", 0), 0u) << bad.error().message;
}

}  // namespace
}  // namespace keygate::api::v1alpha1
