#include "rpc/http_txn_json.h"

#include <algorithm>
#include <boost/json.hpp>
#include <initializer_list>
#include <utility>
#include <vector>

#include "rpc/text_codec.h"

namespace kvd::rpc {
namespace json = boost::json;
namespace {

// Bytes as "name" when UTF-8, else "name_base64" (as scans do).
void PutBytes(json::object& obj, std::string_view name, std::string_view bytes) {
  if (IsValidUtf8(bytes)) {
    obj[name] = json::string_view(bytes.data(), bytes.size());
  } else {
    obj[std::string(name) + "_base64"] = Base64Encode(bytes);
  }
}

// Text for people or programs that is expected to be UTF-8 (ids, states): invalid bytes become '?'.
std::string Sanitized(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) {
      out.push_back('?');
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

json::array IdsJson(const std::vector<uint64_t>& ids) {
  json::array out;
  for (uint64_t id : ids) out.push_back(id);
  return out;
}

// Walks a parsed body into a kv::TxnRequest. Every method returns false after filling *error_.
class BodyParser {
 public:
  BodyParser(const TxnBodyLimits& limits, TxnBodyError* error) : limits_(limits), error_(error) {}

  bool Parse(const json::object& body, kv::TxnRequest& out) {
    if (!OnlyFields(body, {"compare", "success", "failure"}, "the body")) return false;
    if (const json::value* compares = body.if_contains("compare")) {
      if (!compares->is_array()) return Invalid("compare must be an array");
      const json::array& list = compares->get_array();
      if (list.size() > limits_.max_compares) {
        return Invalid("at most " + std::to_string(limits_.max_compares) + " compares");
      }
      out.compare.resize(list.size());
      for (size_t i = 0; i < list.size(); ++i) {
        if (!Compare(list[i], "compare[" + std::to_string(i) + "]", out.compare[i])) return false;
      }
    }
    if (!Branch(body, "success", out.success) || !Branch(body, "failure", out.failure)) {
      return false;
    }
    return Totals(out);
  }

 private:
  bool Fail(int status, std::string code, std::string message) {
    error_->status = status;
    error_->code = std::move(code);
    error_->message = std::move(message);
    return false;
  }
  bool Invalid(std::string message) { return Fail(400, "invalid_argument", std::move(message)); }

  bool OnlyFields(const json::object& o, std::initializer_list<std::string_view> allowed,
                  const std::string& where) {
    for (const auto& field : o) {
      if (std::find(allowed.begin(), allowed.end(), std::string_view(field.key())) ==
          allowed.end()) {
        return Invalid("unknown field in " + where + ": " +
                       Sanitized(std::string_view(field.key()).substr(0, 64)));
      }
    }
    return true;
  }

  bool Key(const json::object& o, const std::string& where, std::string& out) {
    const json::value* key = o.if_contains("key");
    if (key == nullptr || !key->is_string()) return Invalid(where + ": key must be a string");
    const json::string& text = key->get_string();
    if (text.empty()) return Invalid(where + ": key must not be empty");
    if (text.size() > limits_.max_key_bytes) {
      return Fail(413, "too_large",
                  where + ": key longer than " + std::to_string(limits_.max_key_bytes) + " bytes");
    }
    out.assign(text.data(), text.size());
    return true;
  }

  // "value" (a string) or "value_base64"; exactly one of them must be there.
  bool Value(const json::object& o, const std::string& where, std::string& out) {
    const json::value* text = o.if_contains("value");
    const json::value* b64 = o.if_contains("value_base64");
    if ((text == nullptr) == (b64 == nullptr)) {
      return Invalid(where + ": needs exactly one of value and value_base64");
    }
    if (text != nullptr) {
      if (!text->is_string()) return Invalid(where + ": value must be a string");
      out.assign(text->get_string().data(), text->get_string().size());
      return true;
    }
    if (!b64->is_string() ||
        !Base64Decode(std::string_view(b64->get_string().data(), b64->get_string().size()), out)) {
      return Invalid(where + ": value_base64 must be a base64 string");
    }
    return true;
  }

  bool Compare(const json::value& v, const std::string& where, kv::TxnCompare& out) {
    if (!v.is_object()) return Invalid(where + " must be an object");
    const json::object& o = v.get_object();
    if (!OnlyFields(o, {"key", "version", "value", "value_base64", "exists"}, where)) return false;
    if (!Key(o, where, out.key)) return false;
    const json::value* version = o.if_contains("version");
    const json::value* exists = o.if_contains("exists");
    const bool value = o.contains("value") || o.contains("value_base64");
    if (int{version != nullptr} + int{exists != nullptr} + int{value} != 1) {
      return Invalid(where + ": needs exactly one of version, value (or value_base64) and exists");
    }
    if (version != nullptr) {
      out.target = kv::TxnCompareTarget::kVersion;
      if (version->is_uint64()) {
        out.version = version->get_uint64();
      } else if (version->is_int64() && version->get_int64() >= 0) {
        out.version = static_cast<uint64_t>(version->get_int64());
      } else {
        return Invalid(where + ": version must be an integer from 0 to 2^64-1");
      }
    } else if (exists != nullptr) {
      out.target = kv::TxnCompareTarget::kExists;
      if (!exists->is_bool()) return Invalid(where + ": exists must be true or false");
      out.exists = exists->get_bool();
    } else {
      out.target = kv::TxnCompareTarget::kValue;
      if (!Value(o, where, out.value)) return false;
    }
    return true;
  }

  bool Op(const json::value& v, const std::string& where, kv::TxnOp& out) {
    if (!v.is_object() || v.get_object().size() != 1) {
      return Invalid(where + " must be an object with one member: put, delete or get");
    }
    const auto& member = *v.get_object().begin();
    const std::string_view name(member.key());
    if (name == "put") {
      out.type = kv::TxnOpType::kPut;
    } else if (name == "delete") {
      out.type = kv::TxnOpType::kDelete;
    } else if (name == "get") {
      out.type = kv::TxnOpType::kGet;
    } else {
      return Invalid("unknown op in " + where + ": " + Sanitized(name.substr(0, 64)) +
                     " (want put, delete or get)");
    }
    const std::string at = where + "." + std::string(name);
    if (!member.value().is_object()) return Invalid(at + " must be an object");
    const json::object& o = member.value().get_object();
    const bool put = out.type == kv::TxnOpType::kPut;
    if (put ? !OnlyFields(o, {"key", "value", "value_base64"}, at) : !OnlyFields(o, {"key"}, at)) {
      return false;
    }
    if (!Key(o, at, out.key)) return false;
    if (!put) return true;
    if (!Value(o, at, out.value)) return false;
    if (out.value.size() > limits_.max_value_bytes) {
      return Fail(413, "too_large",
                  at + ": value larger than " + std::to_string(limits_.max_value_bytes) + " bytes");
    }
    return true;
  }

  bool Branch(const json::object& body, std::string_view name, std::vector<kv::TxnOp>& out) {
    const json::value* ops = body.if_contains(name);
    if (ops == nullptr) return true;
    const std::string where(name);
    if (!ops->is_array()) return Invalid(where + " must be an array");
    const json::array& list = ops->get_array();
    if (list.size() > limits_.max_ops) {
      return Invalid("at most " + std::to_string(limits_.max_ops) + " ops in " + where);
    }
    out.resize(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      if (!Op(list[i], where + "[" + std::to_string(i) + "]", out[i])) return false;
    }
    return true;
  }

  // The bounds over the whole transaction: bytes of keys and values, distinct keys.
  bool Totals(const kv::TxnRequest& txn) {
    size_t bytes = 0;
    std::vector<std::string_view> keys;
    for (const kv::TxnCompare& c : txn.compare) {
      bytes += c.key.size() + c.value.size();
      keys.push_back(c.key);
    }
    for (const auto* branch : {&txn.success, &txn.failure}) {
      for (const kv::TxnOp& op : *branch) {
        bytes += op.key.size() + op.value.size();
        keys.push_back(op.key);
      }
    }
    if (bytes > limits_.max_bytes) {
      return Fail(413, "too_large",
                  "keys and values of the transaction larger than " +
                      std::to_string(limits_.max_bytes) + " bytes together");
    }
    std::sort(keys.begin(), keys.end());
    const size_t distinct = std::unique(keys.begin(), keys.end()) - keys.begin();
    if (distinct > limits_.max_keys) {
      return Invalid("at most " + std::to_string(limits_.max_keys) +
                     " distinct keys in a transaction (got " + std::to_string(distinct) + ")");
    }
    return true;
  }

  const TxnBodyLimits& limits_;
  TxnBodyError* error_;
};

json::object OpResultJson(const kv::TxnOpResult& r) {
  json::object inner;
  PutBytes(inner, "key", r.key);
  switch (r.type) {
    case kv::TxnOpType::kPut:
      inner["version"] = r.version;
      return json::object{{"put", std::move(inner)}};
    case kv::TxnOpType::kDelete:
      inner["deleted"] = r.deleted;
      return json::object{{"delete", std::move(inner)}};
    case kv::TxnOpType::kGet:
      break;
  }
  inner["found"] = r.found;
  if (r.found) {
    PutBytes(inner, "value", r.value);
    inner["version"] = r.version;
  }
  return json::object{{"get", std::move(inner)}};
}

}  // namespace

std::optional<kv::TxnRequest> ParseTxnBody(std::string_view body, const TxnBodyLimits& limits,
                                           TxnBodyError* error) {
  json::monotonic_resource memory;  // one arena for the whole (up to 8 MiB) document
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(body.data(), body.size()), ec, &memory);
  if (ec || !v.is_object()) {
    error->status = 400;
    error->code = "bad_json";
    error->message = ec ? "the body is not valid JSON: " + ec.message()
                        : std::string("the body must be a JSON object");
    return std::nullopt;
  }
  kv::TxnRequest txn;
  if (!BodyParser(limits, error).Parse(v.get_object(), txn)) return std::nullopt;
  return txn;
}

std::string TxnResultJson(const kv::TxnResponse& txn) {
  json::object body;
  body["succeeded"] = txn.succeeded;
  body["revision"] = txn.revision;
  body["shards"] = IdsJson(txn.shards);
  if (!txn.txn_id.empty()) body["txn_id"] = Sanitized(txn.txn_id);
  json::array results;
  for (const kv::TxnOpResult& r : txn.results) results.push_back(OpResultJson(r));
  body["results"] = std::move(results);
  return json::serialize(body);
}

std::string TxnListJson(const kv::TxnListResponse& list, size_t max_items) {
  json::array txns;
  for (const kv::TxnInfo& t : list.txns) {
    if (txns.size() >= max_items) break;
    txns.push_back(json::object{{"id", Sanitized(t.id)},
                                {"state", Sanitized(t.state)},
                                {"age_ms", t.age_ms},
                                {"expires_in_ms", t.expires_in_ms},
                                {"record_shard", t.record_shard},
                                {"participants", IdsJson(t.participants)}});
  }
  const bool cut = list.txns.size() > txns.size();
  json::object body;
  body["txns"] = std::move(txns);
  body["more"] = list.more || cut;
  return json::serialize(body);
}

}  // namespace kvd::rpc
