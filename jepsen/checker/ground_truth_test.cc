// Copyright (c) kvd authors.
//
// The checker against Porcupine's labelled histories (jepsen/checker/testdata/porcupine, MIT,
// copied from the Porcupine project): Jepsen's etcd register histories and the multi-key kv
// histories. A missing data directory is a failure, not a skip: these tests are the evidence
// that the checker is right.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "jepsen/checker/checker.h"
#include "jepsen/checker/porcupine_format.h"

namespace kvd::lincheck {
namespace {

namespace fs = std::filesystem;

const fs::path& PorcupineDir() {
  static const fs::path dir = fs::path(KVD_TESTDATA_DIR) / "porcupine" / "test_data";
  return dir;
}

// Fails the calling test (via ASSERT in the caller) when the file cannot be read.
bool ReadFile(const fs::path& path, std::string* contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *contents = buffer.str();
  return true;
}

class GroundTruthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::is_directory(PorcupineDir()))
        << "ground-truth data missing: " << PorcupineDir()
        << " (jepsen/checker/testdata/porcupine, see its README.md)";
  }
};

TEST_F(GroundTruthTest, EtcdHistoriesGetTheirExpectedVerdicts) {
  std::string expected_text;
  ASSERT_TRUE(ReadFile(PorcupineDir() / "jepsen" / "EXPECTED", &expected_text));
  std::istringstream lines(expected_text);
  std::string file;
  std::string label;
  int checked = 0;
  int invalid = 0;
  while (lines >> file >> label) {
    ASSERT_TRUE(label == "linearizable" || label == "not-linearizable") << file << " " << label;
    SCOPED_TRACE(file);
    std::string log;
    ASSERT_TRUE(ReadFile(PorcupineDir() / "jepsen" / file, &log));
    const ParsedHistory parsed = ParseJepsenRegisterLog(log);
    ASSERT_TRUE(parsed.ok()) << parsed.error;
    ASSERT_FALSE(parsed.history.empty());
    const CheckResult result = Check(parsed.history, {.model = ModelKind::kRegister});
    const Verdict want = label == "linearizable" ? Verdict::kValid : Verdict::kInvalid;
    EXPECT_EQ(result.verdict, want) << FormatResult(result);
    if (result.verdict == Verdict::kInvalid) {
      ++invalid;
      EXPECT_NE(result.keys[0].explanation.find("must take effect before it returns"),
                std::string::npos);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 102);
  EXPECT_EQ(invalid, 79);
}

TEST_F(GroundTruthTest, KvHistoriesGetTheirExpectedVerdicts) {
  int checked = 0;
  for (const char* clients : {"c01", "c10", "c50"}) {
    for (const char* label : {"ok", "bad"}) {
      const std::string file = std::string(clients) + "-" + label + ".txt";
      SCOPED_TRACE(file);
      std::string log;
      ASSERT_TRUE(ReadFile(PorcupineDir() / "kv" / file, &log));
      const ParsedHistory parsed = ParseKvLog(log);
      ASSERT_TRUE(parsed.ok()) << parsed.error;
      ASSERT_FALSE(parsed.history.empty());
      // Like Porcupine, stop at the first key proven invalid: some keys of c50-bad take
      // minutes to refute on their own.
      for (int threads : {1, 4}) {
        const CheckResult result = Check(
            parsed.history,
            {.model = ModelKind::kAppendString, .stop_at_first_invalid = true, .threads = threads});
        const Verdict want = std::string(label) == "ok" ? Verdict::kValid : Verdict::kInvalid;
        EXPECT_EQ(result.verdict, want) << FormatResult(result);
        EXPECT_GT(result.keys.size(), 1u);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6);
}

}  // namespace
}  // namespace kvd::lincheck
