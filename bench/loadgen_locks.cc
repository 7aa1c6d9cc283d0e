#include "bench/loadgen_locks.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "rpc/text_codec.h"

namespace kvd::bench {
namespace {

namespace http = boost::beast::http;

// Distinguishes this process's lock names from those of earlier runs, whose locks may still be
// held (an acquire abandoned at the end of a window) until their TTL runs out.
const std::string& ProcessNonce() {
  static const std::string nonce = [] {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(us));
    return std::string(buf);
  }();
  return nonce;
}

// The scalar value of the first member `name` in a JSON text, quotes stripped; empty if absent.
// Enough for the few answers parsed here (kvd's token, etcd's ID, key, create_revision), whose
// member names do not occur elsewhere in those answers.
std::string JsonField(const std::string& body, std::string_view name) {
  std::string needle = "\"" + std::string(name) + "\":";
  size_t at = body.find(needle);
  if (at == std::string::npos) return "";
  at += needle.size();
  while (at < body.size() && body[at] == ' ') ++at;
  if (at < body.size() && body[at] == '"') {
    size_t end = body.find('"', at + 1);
    return end == std::string::npos ? "" : body.substr(at + 1, end - at - 1);
  }
  size_t end = body.find_first_of(",}] ", at);
  return body.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// Percent-encodes the braces of a {tag} for a URL path (everything else used here is plain).
std::string PathEscape(const std::string& name) {
  std::string out;
  for (char ch : name) {
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

LockSession::LockSession(const Options& options, const Dialect& dialect, int connection,
                         uint64_t seed)
    : options_(options),
      dialect_(dialect),
      kvd_(options.target == Target::kKvd),
      acquire_(options.mix.weight[static_cast<size_t>(Op::kAcquire)] > 0),
      rng_(seed) {
  std::string id = ProcessNonce() + "-" + std::to_string(connection);
  prefix_ = acquire_ ? "lock-" + id + "-" : "{f" + id + "}";
  owner_ = "loadgen-" + id;
}

void LockSession::Json(HttpRequest* req, const std::string& target, std::string body) const {
  req->method(http::verb::post);
  req->target(target);
  req->set(http::field::content_type, "application/json");
  req->body() = std::move(body);
}

std::string LockSession::AcquireName() const {
  return prefix_ + std::to_string(epoch_) + "-" + std::to_string(name_index_ % options_.lock_names);
}

std::string LockSession::EtcdPutBody(const std::string& key_b64) const {
  return "{\"key\":\"" + key_b64 + "\",\"value\":\"" + dialect_.value() + "\"}";
}

LockSession::Request LockSession::Next(HttpRequest* req) {
  req->erase("X-Fence");
  req->erase(http::field::content_type);
  req->body().clear();
  bool begins = stage_ != Stage::kAcquiring && stage_ != Stage::kReleasing;
  setup_ = false;
  if (acquire_) {
    NextAcquire(req);
  } else {
    begins = true;
    NextFenced(req);
  }
  req->prepare_payload();
  return Request{op_, begins};
}

void LockSession::NextAcquire(HttpRequest* req) {
  const std::string ttl_ms = std::to_string(options_.lock_ttl.count());
  const std::string ttl_s = std::to_string((options_.lock_ttl.count() + 999) / 1000);
  if (kvd_) {
    if (stage_ == Stage::kHolding) {
      op_ = Op::kRelease, step_ = Step::kKvdRelease;
      req->method(http::verb::delete_);
      req->target("/v1/locks/" + AcquireName() + "?token=" + std::to_string(token_));
    } else {
      op_ = Op::kAcquire, step_ = Step::kKvdAcquire;
      ++name_index_;
      Json(req, "/v1/locks/" + AcquireName(),
           "{\"owner\":\"" + owner_ + "\",\"ttl_ms\":" + ttl_ms + ",\"wait_ms\":0}");
    }
    return;
  }
  const bool session = options_.etcd_session;
  switch (stage_) {
    case Stage::kHolding:  // release: unlock (then, per lock, revoke)
      op_ = Op::kRelease, step_ = Step::kEtcdUnlock;
      Json(req, "/v3/lock/unlock", "{\"key\":\"" + lock_key_ + "\"}");
      if (!session) stage_ = Stage::kReleasing;
      return;
    case Stage::kReleasing:
      op_ = Op::kRelease, step_ = Step::kEtcdRevoke;
      Json(req, "/v3/lease/revoke", "{\"ID\":\"" + lease_ + "\"}");
      return;
    case Stage::kAcquiring:
      op_ = Op::kAcquire, step_ = Step::kEtcdLock;
      Json(req, "/v3/lock/lock",
           "{\"name\":\"" + rpc::Base64Encode(AcquireName()) + "\",\"lease\":\"" + lease_ + "\"}");
      return;
    case Stage::kIdle:
      op_ = Op::kAcquire;
      if (!session || lease_.empty()) {
        // Per lock: the acquire's first request. Session: a setup step, once; its lease lives as
        // long as the run (--hold-ttl-ms).
        setup_ = session;
        step_ = Step::kEtcdGrant;
        std::string ttl = session ? std::to_string(options_.hold_ttl.count() / 1000) : ttl_s;
        Json(req, "/v3/lease/grant", "{\"TTL\":" + ttl + "}");
        if (!session) {
          ++name_index_;
          stage_ = Stage::kAcquiring;
        }
        return;
      }
      ++name_index_;
      step_ = Step::kEtcdLock;
      Json(req, "/v3/lock/lock",
           "{\"name\":\"" + rpc::Base64Encode(AcquireName()) + "\",\"lease\":\"" + lease_ + "\"}");
      return;
  }
}

void LockSession::NextFenced(HttpRequest* req) {
  const std::string name = prefix_ + "lock";
  op_ = Op::kFencedPut;
  if (!held_) {
    setup_ = true;
    if (kvd_) {
      step_ = Step::kKvdHold;
      Json(req, "/v1/locks/" + PathEscape(name),
           "{\"owner\":\"" + owner_ + "\",\"ttl_ms\":" + std::to_string(options_.hold_ttl.count()) +
               ",\"wait_ms\":0}");
    } else if (hold_lease_.empty()) {
      step_ = Step::kEtcdGrant;
      Json(req, "/v3/lease/grant",
           "{\"TTL\":" + std::to_string(options_.hold_ttl.count() / 1000) + "}");
    } else if (hold_key_.empty()) {
      step_ = Step::kEtcdLock;
      Json(req, "/v3/lock/lock",
           "{\"name\":\"" + rpc::Base64Encode(name) + "\",\"lease\":\"" + hold_lease_ + "\"}");
    } else {
      step_ = Step::kEtcdRange;
      Json(req, "/v3/kv/range", "{\"key\":\"" + hold_key_ + "\"}");
    }
    return;
  }
  const Mix& mix = options_.mix;
  bool fenced = rng_() % mix.total < mix.weight[static_cast<size_t>(Op::kFencedPut)];
  op_ = fenced ? Op::kFencedPut : Op::kPut;
  std::string key = prefix_ + "k-" + std::to_string(rng_() % options_.lock_keys);
  if (kvd_) {
    step_ = Step::kKvdPut;
    req->method(http::verb::put);
    req->target("/v1/kv/" + PathEscape(key));
    req->set(http::field::content_type, "application/octet-stream");
    req->body() = dialect_.value();
    if (fenced) req->set("X-Fence", name + ":" + std::to_string(hold_token_));
    return;
  }
  std::string key_b64 = rpc::Base64Encode(key);
  if (!fenced) {
    step_ = Step::kEtcdPut;
    Json(req, "/v3/kv/put", EtcdPutBody(key_b64));
    return;
  }
  step_ = Step::kEtcdTxn;
  Json(req, "/v3/kv/txn",
       "{\"compare\":[{\"target\":\"CREATE\",\"result\":\"EQUAL\",\"key\":\"" + hold_key_ +
           "\",\"create_revision\":\"" + hold_revision_ +
           "\"}],\"success\":[{\"request_put\":" + EtcdPutBody(key_b64) + "}]}");
}

std::optional<std::string> LockSession::Fail(const HttpResponse& res) {
  std::string kind = res.result_int() == 200 ? "bad_answer" : dialect_.Classify(op_, res);
  if (kind.empty()) kind = "bad_answer";
  OnTransportError();  // the same bookkeeping: whatever this op was taking is forgotten
  return setup_ ? "setup:" + kind : kind;
}

std::optional<std::string> LockSession::OnResponse(const HttpResponse& res) {
  const bool ok = res.result_int() == 200;
  const std::string& body = res.body();
  switch (step_) {
    case Step::kKvdAcquire:
      if (!ok || (token_ = std::strtoull(JsonField(body, "token").c_str(), nullptr, 10)) == 0) {
        return Fail(res);
      }
      stage_ = Stage::kHolding;
      return "";
    case Step::kKvdRelease:
      stage_ = Stage::kIdle;
      return ok ? "" : Fail(res);
    case Step::kKvdHold:
      if (!ok ||
          (hold_token_ = std::strtoull(JsonField(body, "token").c_str(), nullptr, 10)) == 0) {
        return Fail(res);
      }
      held_ = true;
      return std::nullopt;
    case Step::kKvdPut:
    case Step::kEtcdPut:
      return ok ? "" : Fail(res);
    case Step::kEtcdTxn:
      if (!ok) return Fail(res);
      return body.find("\"succeeded\":true") != std::string::npos ? "" : "fenced";
    case Step::kEtcdGrant: {
      std::string id = JsonField(body, "ID");
      if (!ok || id.empty()) return Fail(res);
      if (!acquire_) {
        hold_lease_ = id;
      } else {
        lease_ = id;
      }
      return std::nullopt;
    }
    case Step::kEtcdLock: {
      std::string key = JsonField(body, "key");
      if (!ok || key.empty()) return Fail(res);
      if (!acquire_) {
        hold_key_ = key;
        return std::nullopt;
      }
      lock_key_ = key;
      stage_ = Stage::kHolding;
      return "";
    }
    case Step::kEtcdRange:
      hold_revision_ = JsonField(body, "create_revision");
      if (!ok || hold_revision_.empty()) return Fail(res);
      held_ = true;
      return std::nullopt;
    case Step::kEtcdUnlock:
      if (!ok) return Fail(res);
      if (!options_.etcd_session) return std::nullopt;  // the lease's revoke follows
      stage_ = Stage::kIdle;
      return "";
    case Step::kEtcdRevoke:
      stage_ = Stage::kIdle;
      return ok ? "" : Fail(res);
  }
  return "bad_answer";
}

void LockSession::OnTransportError() {
  if (acquire_) {
    ++epoch_;  // a failed acquire or release may leave its lock held
    stage_ = Stage::kIdle;
    if (!options_.etcd_session) lease_.clear();
    if (setup_) lease_.clear();
    return;
  }
  if (!setup_) return;
  held_ = false;
  hold_lease_.clear();
  hold_key_.clear();
  hold_revision_.clear();
}

}  // namespace kvd::bench
