#include "bench/loadgen_txn.h"

#include <chrono>

#include "kv/ring.h"
#include "rpc/http_client.h"
#include "rpc/text_codec.h"

namespace kvd::bench {
namespace {

namespace http = boost::beast::http;

constexpr int kPartnerTries = 64;  // random candidates for a partner in another shard

// The number of shards in a kvd answer's "shards":[...] (0 when absent).
size_t ShardsListed(const std::string& body) {
  size_t at = body.find("\"shards\":[");
  if (at == std::string::npos) return 0;
  size_t end = body.find(']', at);
  if (end == std::string::npos) return 0;
  std::string_view list(body.data() + at + 10, end - at - 10);
  if (list.find_first_not_of(' ') == std::string_view::npos) return 0;
  size_t n = 1;
  for (char ch : list) n += ch == ',' ? 1 : 0;
  return n;
}

}  // namespace

TxnWorkload::TxnWorkload(const Dialect& dialect, std::vector<uint64_t> shard_of)
    : dialect_(dialect), shard_of_(std::move(shard_of)) {
  const bool kvd = dialect.target() == Target::kKvd;
  a_.reserve(dialect.keys());
  b_.reserve(dialect.keys());
  for (uint64_t k = 0; k < dialect.keys(); ++k) {
    // The key names are plain ASCII ({, }, letters, digits, '-', '.'): no JSON escaping needed.
    std::string a = dialect.KeyName(k, 'a'), b = dialect.KeyName(k, 'b');
    a_.push_back(kvd ? a : rpc::Base64Encode(a));
    b_.push_back(kvd ? b : rpc::Base64Encode(b));
  }
}

std::optional<std::vector<uint64_t>> TxnWorkload::KvdShards(const Options& options,
                                                            const Dialect& dialect,
                                                            std::string* error) {
  rpc::ClientOptions o;
  o.endpoints = options.endpoints;
  o.request_timeout = std::chrono::seconds(5);
  o.max_attempts = 10;
  rpc::HttpClient client(o);
  rpc::DirectoryResult d = client.Directory();
  if (!d.ok()) {
    *error = "GET /v1/directory: status " + std::to_string(d.status) + " " + d.error_message +
             d.transport_error;
    return std::nullopt;
  }
  std::vector<uint64_t> ids;
  for (const auto& s : d.shards) ids.push_back(s.id);
  std::optional<kv::Ring> ring = kv::Ring::Build(ids, d.vnodes_per_shard, error);
  if (!ring) return std::nullopt;
  std::vector<uint64_t> shard_of;
  shard_of.reserve(dialect.keys());
  for (uint64_t k = 0; k < dialect.keys(); ++k) {
    shard_of.push_back(ring->ShardFor(dialect.KeyName(k, 'a')));
  }
  return shard_of;
}

uint64_t TxnWorkload::Partner(uint64_t key, uint64_t random) const {
  const uint64_t keys = dialect_.keys();
  for (int i = 0; i < kPartnerTries && keys > 1; ++i) {
    const uint64_t m = random % keys;
    if (m != key && (shard_of_.empty() || shard_of_[m] != shard_of_[key])) return m;
    random = random * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  return (key + 1) % keys;  // one shard only (or one key): answered "one_shard"
}

std::string TxnWorkload::Body(const std::string& compared, const std::string& other) const {
  const std::string& v = dialect_.value();
  if (dialect_.target() == Target::kKvd) {
    return "{\"compare\":[{\"key\":\"" + compared + "\",\"value\":\"" + v +
           "\"}],\"success\":[{\"put\":{\"key\":\"" + compared + "\",\"value\":\"" + v +
           "\"}},{\"put\":{\"key\":\"" + other + "\",\"value\":\"" + v + "\"}}]}";
  }
  return "{\"compare\":[{\"target\":\"VALUE\",\"result\":\"EQUAL\",\"key\":\"" + compared +
         "\",\"value\":\"" + v + "\"}],\"success\":[{\"request_put\":{\"key\":\"" + compared +
         "\",\"value\":\"" + v + "\"}},{\"request_put\":{\"key\":\"" + other + "\",\"value\":\"" +
         v + "\"}}]}";
}

void TxnWorkload::Build(Op op, uint64_t key, uint64_t random, HttpRequest* req) const {
  req->method(http::verb::post);
  req->target(dialect_.target() == Target::kKvd ? "/v1/txn" : "/v3/kv/txn");
  req->set(http::field::content_type, "application/json");
  const std::string& other = op == Op::kTxnCross ? a_[Partner(key, random)] : b_[key];
  req->body() = Body(a_[key], other);
  req->prepare_payload();
}

std::string TxnWorkload::Classify(Op op, const HttpResponse& res) const {
  if (res.result_int() != 200) return dialect_.Classify(op, res);
  // kvd writes "succeeded":true|false; the etcd gateway leaves a false field out.
  const std::string& body = res.body();
  if (body.find("\"succeeded\":true") == std::string::npos) return "compare_failed";
  if (op == Op::kTxnCross && dialect_.target() == Target::kKvd && ShardsListed(body) < 2) {
    return "one_shard";
  }
  return "";
}

}  // namespace kvd::bench
