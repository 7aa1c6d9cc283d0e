#include "tests/sim/kv_state_machine.h"

namespace kvd::sim {

namespace {

constexpr char kCommandMagic = 'K';
constexpr char kSnapshotMagic = 'S';
constexpr char kVersion = 1;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutBytes(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

// A cursor over encoded bytes; every getter fails (returns false) at the end of input.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return false;
      auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool Byte(char* c) {
    if (in_.empty()) return false;
    *c = in_.front();
    in_.remove_prefix(1);
    return true;
  }
  bool Bytes(std::string* s) {
    uint64_t n = 0;
    if (!Varint(&n) || n > in_.size()) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string EncodeCommand(const Command& cmd) {
  std::string out;
  out.push_back(kCommandMagic);
  out.push_back(kVersion);
  PutVarint(&out, cmd.client);
  PutVarint(&out, cmd.op);
  out.push_back(static_cast<char>(cmd.kind));
  PutBytes(&out, cmd.key);
  PutBytes(&out, cmd.value);
  if (cmd.kind == Command::Kind::kCas) {
    out.push_back(cmd.expected.has_value() ? 1 : 0);
    PutBytes(&out, cmd.expected.value_or(""));
  }
  return out;
}

bool DecodeCommand(std::string_view data, Command* out) {
  Reader r(data);
  char magic = 0, version = 0, kind = 0;
  if (!r.Byte(&magic) || magic != kCommandMagic || !r.Byte(&version) || version != kVersion) {
    return false;
  }
  Command cmd;
  if (!r.Varint(&cmd.client) || !r.Varint(&cmd.op) || !r.Byte(&kind)) return false;
  if (kind != static_cast<char>(Command::Kind::kWrite) &&
      kind != static_cast<char>(Command::Kind::kCas)) {
    return false;
  }
  cmd.kind = static_cast<Command::Kind>(kind);
  if (!r.Bytes(&cmd.key) || !r.Bytes(&cmd.value)) return false;
  if (cmd.kind == Command::Kind::kCas) {
    char present = 0;
    std::string expected;
    if (!r.Byte(&present) || !r.Bytes(&expected)) return false;
    if (present) cmd.expected = std::move(expected);
  }
  if (!r.done()) return false;
  *out = std::move(cmd);
  return true;
}

ApplyResult KvStateMachine::Apply(const Command& cmd) {
  ApplyResult result;
  uint64_t& last = last_op_[cmd.client];
  if (cmd.op <= last) {
    result.duplicate = true;
    return result;
  }
  last = cmd.op;
  if (cmd.kind == Command::Kind::kWrite) {
    data_[cmd.key] = cmd.value;
    return result;
  }
  if (Get(cmd.key) == cmd.expected) {
    data_[cmd.key] = cmd.value;
    result.cas_ok = true;
  }
  return result;
}

std::optional<std::string> KvStateMachine::Get(const std::string& key) const {
  auto it = data_.find(key);
  if (it == data_.end()) return std::nullopt;
  return it->second;
}

std::string KvStateMachine::Serialize() const {
  std::string out;
  out.push_back(kSnapshotMagic);
  out.push_back(kVersion);
  PutVarint(&out, data_.size());
  for (const auto& [k, v] : data_) {
    PutBytes(&out, k);
    PutBytes(&out, v);
  }
  PutVarint(&out, last_op_.size());
  for (const auto& [client, op] : last_op_) {
    PutVarint(&out, client);
    PutVarint(&out, op);
  }
  return out;
}

bool KvStateMachine::Restore(std::string_view data) {
  Reader r(data);
  char magic = 0, version = 0;
  if (!r.Byte(&magic) || magic != kSnapshotMagic || !r.Byte(&version) || version != kVersion) {
    return false;
  }
  KvStateMachine fresh;
  uint64_t n = 0;
  if (!r.Varint(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.Bytes(&k) || !r.Bytes(&v)) return false;
    fresh.data_[k] = v;
  }
  if (!r.Varint(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t client = 0, op = 0;
    if (!r.Varint(&client) || !r.Varint(&op)) return false;
    fresh.last_op_[client] = op;
  }
  if (!r.done()) return false;
  *this = std::move(fresh);
  return true;
}

}  // namespace kvd::sim
