// Helpers shared by the kv/ tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "kv/state_machine.h"
#include "proto/kv.pb.h"
#include "proto/raft.pb.h"

namespace kvd::kv::testing_util {

// A directory unique to the running test (and process), removed when the test ends.
class TestDir {
 public:
  TestDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(::testing::TempDir()) /
            ("kvd_kv_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" +
             std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TestDir() { std::filesystem::remove_all(path_); }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  std::string Sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline raftpb::Entry MakeEntry(uint64_t index, uint64_t term, const std::string& data = "") {
  raftpb::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(data);
  return e;
}

inline kvpb::Command PutCmd(const std::string& key, const std::string& value) {
  kvpb::Command c;
  c.set_format(kCommandFormat);
  c.mutable_put()->set_key(key);
  c.mutable_put()->set_value(value);
  return c;
}

inline kvpb::Command DeleteCmd(const std::string& key) {
  kvpb::Command c;
  c.set_format(kCommandFormat);
  c.mutable_delete_()->set_key(key);
  return c;
}

// 'c' with an if_version precondition on its Put or Delete.
inline kvpb::Command IfVersion(kvpb::Command c, uint64_t version) {
  if (c.has_put()) {
    c.mutable_put()->set_has_if_version(true);
    c.mutable_put()->set_if_version(version);
  } else {
    c.mutable_delete_()->set_has_if_version(true);
    c.mutable_delete_()->set_if_version(version);
  }
  return c;
}

// 'c' with an idempotency key and the leader's timestamp.
inline kvpb::Command Session(kvpb::Command c, const std::string& client, uint64_t seq,
                             int64_t leader_time_ms) {
  c.set_client_id(client);
  c.set_seq(seq);
  c.set_leader_time_ms(leader_time_ms);
  return c;
}

inline raftpb::Entry CommandEntry(uint64_t index, const kvpb::Command& c, uint64_t term = 1) {
  return MakeEntry(index, term, EncodeCommand(c));
}

}  // namespace kvd::kv::testing_util
