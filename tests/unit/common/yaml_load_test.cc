// common/yaml_load: yaml-cpp 0.7.0's LoadAll never returns on a stray ',' (it appends null
// documents until memory runs out; tests/fuzz/fuzz_manifests found it through `keygate check`).
// The safe loaders throw a ParserException at the spot instead, and load everything else as
// yaml-cpp does.
#include "common/yaml_load.h"

#include <gtest/gtest.h>

namespace keygate {
namespace {

TEST(YamlLoad, AStrayCommaIsASyntaxErrorNotAnEndlessLoop) {
  for (const std::string text : {",", ", x\na: b\n", "# comment\n, needs two approvals.\nkind: EncryptionKey\n",
                                 "a: b\n---\n,\n"}) {
    try {
      (void)yamlsafe::loadAll(text);
      ADD_FAILURE() << "no error for " << text;
    } catch (const YAML::ParserException& e) {
      EXPECT_NE(e.msg.find("cannot continue"), std::string::npos) << e.msg;
    }
    EXPECT_THROW((void)yamlsafe::load(text), YAML::Exception) << text;
  }
}

TEST(YamlLoad, ValidStreamsLoadAsYamlCppLoadsThem) {
  auto docs = yamlsafe::loadAll("a: 1\n---\n---\n- x\n- y\n...\n---\nb: [1, 2]\n");
  ASSERT_EQ(docs.size(), 4u) << "empty documents are kept";
  EXPECT_EQ(docs[0]["a"].as<int>(), 1);
  EXPECT_TRUE(docs[1].IsNull());
  EXPECT_EQ(docs[2].size(), 2u);
  EXPECT_EQ(docs[3]["b"][1].as<int>(), 2);
  EXPECT_TRUE(yamlsafe::loadAll("").empty());
  EXPECT_TRUE(yamlsafe::load("").IsNull());
  EXPECT_EQ(yamlsafe::load("x: {y: z}")["x"]["y"].as<std::string>(), "z");
  EXPECT_THROW((void)yamlsafe::loadAll("a: [1, 2"), YAML::ParserException);
}

}  // namespace
}  // namespace keygate
