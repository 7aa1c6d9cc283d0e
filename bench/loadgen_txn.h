// TxnWorkload: the transaction workloads of kvd_loadgen (bench/README.md, "Transactions:
// txn_bench.sh"). Both have the same shape, one compare and two puts, so the difference between
// them is the cost of two-phase commit:
//
//   txn        single-shard: on key index i, keys "{bench-i}.a" and "{bench-i}.b" (one {tag}, so
//              one shard): compare {bench-i}.a's value with the benchmark value, then put both.
//   txn-cross  cross-shard: keys "{bench-i}.a" and "{bench-j}.a", j random among the keys in
//              another shard than i's (kvd: by the ring rebuilt from GET /v1/directory; etcd has
//              one Raft group, any j != i): compare {bench-i}.a's value, then put both.
//
// The keys "{bench-i}.a" are written with the benchmark value first (populate), and every put
// writes that value again, so every compare holds: an answer whose compares failed counts as the
// error "compare_failed" (someone else wrote the keys), and a kvd txn-cross answered by one shard
// as "one_shard".
//
//     kvd:  POST /v1/txn {"compare":[{"key":A,"value":V}],
//                         "success":[{"put":{"key":A,"value":V}},{"put":{"key":B,"value":V}}]}
//     etcd: POST /v3/kv/txn {"compare":[{"target":"VALUE","result":"EQUAL","key":A,"value":V}],
//                            "success":[{"request_put":{"key":A,"value":V}},{"request_put":...}]}
//           (keys and values base64)
//
// Threading: immutable after construction; safe to share between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/loadgen_dialect.h"
#include "bench/loadgen_options.h"

namespace kvd::bench {

class TxnWorkload {
 public:
  // shard_of[i]: the shard of key index i (kvd txn-cross); empty: any other key is a partner.
  TxnWorkload(const Dialect& dialect, std::vector<uint64_t> shard_of);

  // The shard of every key of the dialect, by the ring of the directory that the first endpoint
  // that answers GET /v1/directory serves. nullopt with *error when none does.
  static std::optional<std::vector<uint64_t>> KvdShards(const Options& options,
                                                        const Dialect& dialect, std::string* error);

  // Fills *req for op (txn or txn-cross) on key index `key`; `random` picks txn-cross's partner.
  void Build(Op op, uint64_t key, uint64_t random, HttpRequest* req) const;

  // Empty when the response is a success for op; otherwise a short error kind.
  std::string Classify(Op op, const HttpResponse& res) const;

 private:
  uint64_t Partner(uint64_t key, uint64_t random) const;
  std::string Body(const std::string& compared, const std::string& other) const;

  const Dialect& dialect_;
  std::vector<uint64_t> shard_of_;
  std::vector<std::string>
      a_;  // per key index: "{bench-i}.a" as sent (kvd: JSON-ready; etcd: base64)
  std::vector<std::string> b_;  // per key index: "{bench-i}.b" likewise
};

}  // namespace kvd::bench
