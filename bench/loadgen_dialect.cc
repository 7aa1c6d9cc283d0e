#include "bench/loadgen_dialect.h"

#include <cctype>
#include <cstdio>

#include "rpc/text_codec.h"

namespace kvd::bench {
namespace http = boost::beast::http;

namespace {

// A key for a URL path: the braces of a {tag} percent-encoded (nothing else used here needs it).
std::string PathKey(const std::string& key) {
  std::string out;
  for (char ch : key) {
    if (ch == '{') {
      out += "%7B";
    } else if (ch == '}') {
      out += "%7D";
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

Dialect::Dialect(Target target, uint64_t keys, size_t value_bytes, bool tagged)
    : target_(target), keys_(keys), tagged_(tagged) {
  key_text_.reserve(keys);
  for (uint64_t k = 0; k < keys; ++k) {
    key_text_.push_back(target == Target::kKvd ? "/v1/kv/" + PathKey(KeyName(k))
                                               : rpc::Base64Encode(KeyName(k)));
  }
  raw_value_.assign(value_bytes, 'v');
  for (size_t i = 0; i < value_bytes; ++i) raw_value_[i] = static_cast<char>('a' + i % 26);
  value_ = target == Target::kKvd ? raw_value_ : rpc::Base64Encode(raw_value_);
}

std::string Dialect::KeyName(uint64_t key, char suffix) const {
  char buf[40];
  if (tagged_) {
    std::snprintf(buf, sizeof buf, "{bench-%010llu}.%c", static_cast<unsigned long long>(key),
                  suffix);
  } else {
    std::snprintf(buf, sizeof buf, "bench-%010llu", static_cast<unsigned long long>(key));
  }
  return buf;
}

void Dialect::Build(Op op, uint64_t key, HttpRequest* req) const {
  const std::string& k = key_text_[key];
  if (target_ == Target::kKvd) {
    req->body().clear();
    req->erase(http::field::content_type);
    switch (op) {
      case Op::kPut:
        req->method(http::verb::put);
        req->target(k);
        req->body() = value_;
        req->set(http::field::content_type, "application/octet-stream");
        break;
      case Op::kGet:
        req->method(http::verb::get);
        req->target(k);
        break;
      case Op::kGetStale:
        req->method(http::verb::get);
        req->target(k + "?consistency=stale");
        break;
      case Op::kAcquire:
      case Op::kRelease:
      case Op::kFencedPut:
        break;  // LockSession's
      case Op::kTxn:
      case Op::kTxnCross:
        break;  // TxnWorkload's
    }
  } else {
    req->method(http::verb::post);
    req->set(http::field::content_type, "application/json");
    switch (op) {
      case Op::kPut:
        req->target("/v3/kv/put");
        req->body() = "{\"key\":\"" + k + "\",\"value\":\"" + value_ + "\"}";
        break;
      case Op::kGet:
        req->target("/v3/kv/range");
        req->body() = "{\"key\":\"" + k + "\"}";
        break;
      case Op::kGetStale:
        req->target("/v3/kv/range");
        req->body() = "{\"key\":\"" + k + "\",\"serializable\":true}";
        break;
      case Op::kAcquire:
      case Op::kRelease:
      case Op::kFencedPut:
        break;  // LockSession's
      case Op::kTxn:
      case Op::kTxnCross:
        break;  // TxnWorkload's
    }
  }
  req->prepare_payload();  // Content-Length, also 0 for bodiless GETs
}

namespace {

// The "code" member of a JSON error body, without parsing it all: kvd has
// {"error":{"code":"no_leader",...}}, the etcd gateway {"error":"...","code":14,...}.
std::string ErrorCode(const std::string& body) {
  size_t at = body.find("\"code\":");
  if (at == std::string::npos) return "";
  at += 7;
  while (at < body.size() && body[at] == ' ') ++at;
  std::string code;
  if (at < body.size() && body[at] == '"') ++at;
  while (at < body.size() && code.size() < 40 &&
         (std::isalnum(static_cast<unsigned char>(body[at])) || body[at] == '_')) {
    code += body[at++];
  }
  return code;
}

}  // namespace

std::string Dialect::Classify(Op op, const HttpResponse& res) const {
  unsigned status = res.result_int();
  if (status == 200) {
    // The etcd gateway answers a range over a missing key with 200 and no "kvs".
    if (target_ == Target::kEtcd && op != Op::kPut &&
        res.body().find("\"kvs\"") == std::string::npos) {
      return "not_found";
    }
    return "";
  }
  if (status == 404 && target_ == Target::kKvd && op != Op::kPut) return "not_found";
  std::string kind = "http_" + std::to_string(status);
  std::string code = ErrorCode(res.body());
  return code.empty() ? kind : kind + ":" + code;
}

}  // namespace kvd::bench
