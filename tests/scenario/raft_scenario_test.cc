// raft_scenario_test: runs every golden scenario script in raft/testdata/*.txt (one test per
// file) through an InteractionEnv and compares each command's output with the expected output
// embedded in the script.
//
// Regenerate the expected outputs after an intended behaviour change with
//   raft_scenario_test --rewrite        (or KVD_REWRITE=1 raft_scenario_test)
// and review the diff: the traces are the specification.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/scenario/datadriven.h"
#include "tests/scenario/interaction_env.h"

#ifndef KVD_SCENARIO_DIR
#error "KVD_SCENARIO_DIR must name the directory holding the scenario scripts"
#endif

namespace kvd::scenario {
namespace {

bool g_rewrite = false;

std::vector<std::string> ScenarioFiles() {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(KVD_SCENARIO_DIR, ec)) {
    if (entry.path().extension() == ".txt") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

class ScenarioTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioTest, Golden) {
  datadriven::Script script;
  std::string error;
  ASSERT_TRUE(script.Load(GetParam(), &error)) << error;
  InteractionEnv env;
  std::vector<std::string> outputs;
  for (const auto& td : script.blocks()) {
    outputs.push_back(env.Handle(td));
    if (!g_rewrite) {
      EXPECT_EQ(td.expected, outputs.back()) << "at " << td.pos << ": " << td.cmd;
    }
  }
  if (g_rewrite) {
    ASSERT_TRUE(script.Rewrite(outputs, &error)) << error;
  }
}

std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = std::filesystem::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Raft, ScenarioTest, ::testing::ValuesIn(ScenarioFiles()), TestName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ScenarioTest);

}  // namespace
}  // namespace kvd::scenario

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* env = std::getenv("KVD_REWRITE");
  kvd::scenario::g_rewrite = env != nullptr && std::strcmp(env, "1") == 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rewrite") == 0) kvd::scenario::g_rewrite = true;
  }
  return RUN_ALL_TESTS();
}
