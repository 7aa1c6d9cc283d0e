// Copyright (c) kvd authors.

#include "jepsen/harness/txn_client.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "jepsen/harness/json.h"
#include "rpc/text_codec.h"

namespace kvd::jepsen {
namespace {

namespace json = boost::json;

// "name": "<text>" or "name_base64": "<base64>" for bytes that are not UTF-8.
std::string BytesField(const char* name, const std::string& bytes) {
  if (rpc::IsValidUtf8(bytes)) return "\"" + std::string(name) + "\":" + JsonQuote(bytes);
  return "\"" + std::string(name) + "_base64\":" + JsonQuote(rpc::Base64Encode(bytes));
}

std::string OpsJson(const std::vector<TxnOp>& ops) {
  std::string out = "[";
  for (size_t i = 0; i < ops.size(); ++i) {
    const TxnOp& op = ops[i];
    out += i ? "," : "";
    switch (op.type) {
      case TxnOpType::kGet:
        out += "{\"get\":{" + BytesField("key", op.key) + "}}";
        break;
      case TxnOpType::kPut:
        out +=
            "{\"put\":{" + BytesField("key", op.key) + "," + BytesField("value", op.value) + "}}";
        break;
      case TxnOpType::kDelete:
        out += "{\"delete\":{" + BytesField("key", op.key) + "}}";
        break;
    }
  }
  return out + "]";
}

std::optional<uint64_t> U64(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<uint64_t>(v->get_int64());
  return std::nullopt;
}

// "name" as text or "name_base64" decoded; nullopt if neither (or bad base64).
std::optional<std::string> Bytes(const json::object& o, std::string_view name) {
  if (const json::value* v = o.if_contains(name); v != nullptr && v->is_string()) {
    return std::string(v->get_string());
  }
  const std::string b64 = std::string(name) + "_base64";
  if (const json::value* v = o.if_contains(b64); v != nullptr && v->is_string()) {
    std::string out;
    if (rpc::Base64Decode(std::string_view(v->get_string()), out)) return out;
  }
  return std::nullopt;
}

bool ParseResult(const json::value& v, TxnOpResult* r, std::string* error) {
  if (!v.is_object() || v.get_object().size() != 1) {
    *error = "a result is not an object with one member";
    return false;
  }
  const auto& [name, body] = *v.get_object().begin();
  if (!body.is_object()) {
    *error = "result '" + std::string(name) + "' is not an object";
    return false;
  }
  const json::object& o = body.get_object();
  r->key = Bytes(o, "key").value_or("");
  if (name == "get") {
    r->type = TxnOpType::kGet;
    const json::value* found = o.if_contains("found");
    if (found == nullptr || !found->is_bool()) {
      *error = "a get result without \"found\"";
      return false;
    }
    r->found = found->get_bool();
    if (r->found) {
      r->value = Bytes(o, "value");
      r->version = U64(o, "version").value_or(0);
      if (!r->value) {
        *error = "a found get result without a value";
        return false;
      }
    }
  } else if (name == "put") {
    r->type = TxnOpType::kPut;
    r->version = U64(o, "version").value_or(0);
  } else if (name == "delete") {
    r->type = TxnOpType::kDelete;
    const json::value* deleted = o.if_contains("deleted");
    r->found = deleted != nullptr && deleted->is_bool() && deleted->get_bool();
  } else {
    *error = "unknown result '" + std::string(name) + "'";
    return false;
  }
  return true;
}

}  // namespace

std::string TxnRequestJson(const TxnRequest& request) {
  std::string out = "{\"compare\":[";
  for (size_t i = 0; i < request.compare.size(); ++i) {
    const TxnCompare& c = request.compare[i];
    out += (i ? ",{" : "{") + BytesField("key", c.key) + ",";
    if (c.version) {
      out += "\"version\":" + std::to_string(*c.version);
    } else if (c.value) {
      out += BytesField("value", *c.value);
    } else {
      out += std::string("\"exists\":") + (c.exists.value_or(true) ? "true" : "false");
    }
    out += "}";
  }
  return out + "],\"success\":" + OpsJson(request.success) +
         ",\"failure\":" + OpsJson(request.failure) + "}";
}

bool ParseTxnAnswer(std::string_view body, TxnAnswer* answer, std::string* error) {
  boost::system::error_code ec;
  const json::value v = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec || !v.is_object()) {
    *error = "not a JSON object";
    return false;
  }
  const json::object& o = v.get_object();
  const json::value* succeeded = o.if_contains("succeeded");
  if (succeeded == nullptr || !succeeded->is_bool()) {
    *error = "no \"succeeded\"";
    return false;
  }
  answer->succeeded = succeeded->get_bool();
  answer->revision = U64(o, "revision").value_or(0);
  answer->shards.clear();
  if (const json::value* s = o.if_contains("shards"); s != nullptr && s->is_array()) {
    for (const json::value& id : s->get_array()) {
      if (id.is_uint64()) answer->shards.push_back(id.get_uint64());
      if (id.is_int64() && id.get_int64() >= 0) answer->shards.push_back(id.get_int64());
    }
  }
  if (const json::value* id = o.if_contains("txn_id"); id != nullptr && id->is_string()) {
    answer->txn_id = std::string(id->get_string());
  }
  answer->results.clear();
  if (const json::value* rs = o.if_contains("results"); rs != nullptr) {
    if (!rs->is_array()) {
      *error = "\"results\" is not an array";
      return false;
    }
    for (const json::value& r : rs->get_array()) {
      answer->results.emplace_back();
      if (!ParseResult(r, &answer->results.back(), error)) return false;
    }
  }
  answer->parsed = true;
  return true;
}

void ClassifyTxn(const TxnAnswer& a, HistoryOp& op) {
  using lincheck::Outcome;
  const rpc::Result& r = a.http;
  op.endpoint = r.endpoint;
  if (r.ok() && a.parsed) {
    op.outcome = a.succeeded ? Outcome::kOk : Outcome::kFail;
    if (!a.succeeded) op.error = "200 compare failed";
    op.txn_shards = a.shards;
    op.revision = a.revision;
    return;
  }
  if (r.transport == rpc::Transport::kOk) {
    op.error = std::to_string(r.status) + " " + r.error_code;
  } else {
    op.error = std::string(rpc::TransportName(r.transport)) + " " + r.transport_error;
  }
  if (r.ok()) {  // a 200 that is not a transaction result: it may have committed
    op.error = "200 unreadable: " + r.body.substr(0, 200);
    op.outcome = Outcome::kUnknown;
    return;
  }
  const bool unknown = r.indeterminate || r.transport == rpc::Transport::kTimeout ||
                       r.transport == rpc::Transport::kProtocolError ||
                       (r.transport == rpc::Transport::kOk && r.status >= 500 && r.status != 503);
  op.outcome = unknown ? Outcome::kUnknown : Outcome::kFail;
}

bool TxnRouteMissing(const TxnAnswer& a) {
  return a.http.transport == rpc::Transport::kOk && a.http.status == 404;
}

TxnClient::TxnClient(rpc::ClientOptions options)
    : options_(std::move(options)), client_(std::make_unique<rpc::HttpClient>(options_)) {}

TxnAnswer TxnClient::Send(const TxnRequest& request) {
  TxnAnswer a;
  a.http = client_->Request("POST", "/v1/txn", TxnRequestJson(request),
                            {{"Content-Type", "application/json"}});
  if (a.http.ok()) {
    std::string error;
    if (!ParseTxnAnswer(a.http.body, &a, &error)) a.parsed = false;
  }
  if (!options_.endpoints.empty() && a.http.endpoint != options_.endpoints.front()) {
    client_ = std::make_unique<rpc::HttpClient>(options_);  // back to the worker's own node
  }
  return a;
}

rpc::ClientOptions TxnClientOptions(const std::vector<std::string>& endpoints, int worker,
                                    int timeout_ms) {
  rpc::ClientOptions o;
  for (size_t i = 0; i < endpoints.size(); ++i) {
    o.endpoints.push_back(endpoints[(static_cast<size_t>(worker) + i) % endpoints.size()]);
  }
  o.connect_timeout = std::chrono::milliseconds(500);
  o.request_timeout = std::chrono::milliseconds(timeout_ms);
  o.max_attempts = 2;
  o.retry_backoff = std::chrono::milliseconds(50);
  o.max_backoff = std::chrono::milliseconds(300);
  return o;
}

}  // namespace kvd::jepsen
