// Read-only transactions over several shards (docs/design.md, Transactions): no record and no
// intents, so they never hold up writers. Every key is read (linearizably, through the read path
// that looks behind intents) in two passes; if each key has the same revision, or is absent, in
// both, no write to any of them committed between the end of the first pass and the start of the
// second, and the transaction is answered as of that moment. Otherwise the second pass becomes
// the first of another round, until the request's deadline.
#include <set>

#include "kv/node_impl.h"

namespace kvd::kv {
namespace {

constexpr int64_t kMinPassHeadroomMs = 50;

using Snapshot = std::map<std::string, std::optional<kvpb::KeyRecord>>;

bool SameState(const Snapshot& a, const Snapshot& b) {
  for (const auto& [key, rec] : a) {
    const std::optional<kvpb::KeyRecord>& other = b.at(key);
    if (rec.has_value() != other.has_value()) return false;
    if (rec && (rec->revision() != other->revision() || rec->version() != other->version())) {
      return false;
    }
  }
  return true;
}

bool Holds(const TxnCompare& c, const std::optional<kvpb::KeyRecord>& rec) {
  switch (c.target) {
    case TxnCompareTarget::kVersion:
      return (rec ? rec->version() : 0) == c.version;
    case TxnCompareTarget::kValue:
      return rec && rec->value() == c.value;
    default:
      return rec.has_value() == c.exists;
  }
}

}  // namespace

bool IsReadOnly(const TxnRequest& req) {
  for (const auto* branch : {&req.success, &req.failure}) {
    for (const TxnOp& op : *branch) {
      if (op.type != TxnOpType::kGet) return false;
    }
  }
  return true;
}

void CoreImpl::ReadOnlyTxnPass(uint64_t id, std::shared_ptr<const ReadOnlySnapshot> previous) {
  auto it = txns.find(id);
  if (it == txns.end()) return;
  TxnRun& run = it->second;
  std::set<std::string> keys;
  for (const TxnCompare& c : run.req.compare) keys.insert(c.key);
  for (const auto* branch : {&run.req.success, &run.req.failure}) {
    for (const TxnOp& op : *branch) keys.insert(op.key);
  }
  // Shared by the reads' callbacks; the last one to answer decides.
  struct Pass {
    ReadOnlySnapshot now;
    size_t waiting = 0;
    ErrorCode error = ErrorCode::kOk;
    std::string why;
  };
  auto pass = std::make_shared<Pass>();
  pass->waiting = keys.size();
  for (const std::string& key : keys) {
    ReadRequest req;
    req.key = key;
    RouteRead(
        req,
        [this, id, pass, previous, key](ReadResponse r) {
          if (r.code == ErrorCode::kOk || r.code == ErrorCode::kNotFound) {
            pass->now.records[key] = r.record;
            pass->now.shards.insert(r.shard);
          } else if (pass->error == ErrorCode::kOk) {
            pass->error = r.code;
            pass->why = r.message;
          }
          if (--pass->waiting > 0) return;
          auto run = txns.find(id);
          if (run == txns.end()) return;
          if (pass->error != ErrorCode::kOk) {
            return RetryTxnOrFail(
                id, pass->error == ErrorCode::kTimeout ? ErrorCode::kUnavailable : pass->error,
                pass->why);
          }
          auto now = std::make_shared<const ReadOnlySnapshot>(std::move(pass->now));
          if (!previous || !SameState(previous->records, now->records)) {
            if (stopping || NowMs() + kMinPassHeadroomMs >= run->second.deadline_ms) {
              return RetryTxnOrFail(id, ErrorCode::kUnavailable,
                                    "the keys kept changing; no consistent read in time");
            }
            return ReadOnlyTxnPass(id, now);  // this pass is the next round's first
          }
          AnswerReadOnlyTxn(id, *now);
        },
        0);
  }
}

void CoreImpl::AnswerReadOnlyTxn(uint64_t id, const ReadOnlySnapshot& state) {
  auto it = txns.find(id);
  if (it == txns.end()) return;
  const TxnRequest& req = it->second.req;
  TxnResponse resp;
  resp.succeeded = true;
  for (const TxnCompare& c : req.compare) {
    resp.succeeded = resp.succeeded && Holds(c, state.records.at(c.key));
  }
  for (const TxnOp& op : resp.succeeded ? req.success : req.failure) {
    const std::optional<kvpb::KeyRecord>& rec = state.records.at(op.key);
    TxnOpResult r;
    r.type = TxnOpType::kGet;
    r.key = op.key;
    r.found = rec.has_value();
    if (rec) {
      r.value = rec->value();
      r.version = rec->version();
    }
    resp.results.push_back(std::move(r));
  }
  // The newest write the answer reflects (each shard numbers its own entries).
  for (const auto& [key, rec] : state.records) {
    if (rec) resp.revision = std::max(resp.revision, rec->revision());
  }
  resp.shards.assign(state.shards.begin(), state.shards.end());
  counters.txn_read_only++;
  AnswerTxn(id, std::move(resp));
  txns.erase(id);
}

}  // namespace kvd::kv
