// Status: the outcome of an operation that can fail, in the leveldb style. Cheap to copy when OK.
// Errors are values, never exceptions, across module boundaries (docs/design.md, Code conventions).
#pragma once

#include <string>
#include <utility>

namespace kvd::raft {

enum class Code {
  kOk = 0,
  kCompacted,      // the requested index is older than the first retained entry
  kUnavailable,    // the requested index is past the last entry
  kSnapOutOfDate,  // a snapshot older than the one held was offered
  kSnapshotTemporarilyUnavailable,
  kProposalDropped,   // no leader known, leadership in transfer, or over the uncommitted limit
  kStepLocalMsg,      // a local-only message type arrived from the network
  kStepPeerNotFound,  // a response from a node that is not in the configuration
  kInvalidArgument,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(Code code, std::string message) { return Status(code, std::move(message)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

const char* CodeName(Code code);

inline std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace kvd::raft
