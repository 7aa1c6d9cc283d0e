// Transaction bodies as the client writes and reads them (client_json.h, "Transactions").
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdint>

#include "rpc/client_json.h"

namespace kvd::rpc {
namespace {

namespace json = boost::json;

std::optional<json::value> Parse(std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) return std::nullopt;
  return v;
}

std::optional<uint64_t> U64(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<uint64_t>(v->get_int64());
  return std::nullopt;
}

int64_t I64(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v->get_uint64());
  }
  return 0;
}

bool Bool(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v != nullptr && v->is_bool() && v->get_bool();
}

std::string Str(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || !v->is_string()) return {};
  return std::string(v->get_string());
}

std::vector<uint64_t> Ids(const json::object& o, std::string_view name) {
  std::vector<uint64_t> out;
  if (const json::value* a = o.if_contains(name); a != nullptr && a->is_array()) {
    for (const json::value& v : a->get_array()) {
      if (v.is_uint64()) out.push_back(v.get_uint64());
      if (v.is_int64() && v.get_int64() >= 0) out.push_back(static_cast<uint64_t>(v.get_int64()));
    }
  }
  return out;
}

// "name" as text, or "name_base64" decoded; false if neither is a usable string.
bool Bytes(const json::object& o, std::string_view name, std::string& out, bool* was_base64) {
  if (const json::value* v = o.if_contains(name); v != nullptr && v->is_string()) {
    out = std::string(v->get_string());
    return true;
  }
  const std::string b64 = std::string(name) + "_base64";
  if (const json::value* v = o.if_contains(b64); v != nullptr && v->is_string()) {
    if (was_base64 != nullptr) *was_base64 = true;
    return Base64Decode(std::string_view(v->get_string()), out);
  }
  return false;
}

json::string_view View(const std::string& s) { return json::string_view(s.data(), s.size()); }

void PutValue(json::object& o, const std::string& value) {
  if (IsValidUtf8(value)) {
    o["value"] = View(value);
  } else {
    o["value_base64"] = Base64Encode(value);
  }
}

const char* OpName(TxnOpType type) {
  switch (type) {
    case TxnOpType::kPut:
      return "put";
    case TxnOpType::kDelete:
      return "delete";
    case TxnOpType::kGet:
      break;
  }
  return "get";
}

json::array OpsJson(const std::vector<TxnOp>& ops) {
  json::array out;
  for (const TxnOp& op : ops) {
    json::object inner{{"key", View(op.key)}};
    if (op.type == TxnOpType::kPut) PutValue(inner, op.value);
    out.push_back(json::object{{OpName(op.type), std::move(inner)}});
  }
  return out;
}

bool ParseOpResult(const json::value& v, TxnOpResult& r) {
  if (!v.is_object() || v.get_object().size() != 1) return false;
  const auto& member = *v.get_object().begin();
  const std::string_view name(member.key());
  if (!member.value().is_object()) return false;
  const json::object& o = member.value().get_object();
  Bytes(o, "key", r.key, nullptr);
  if (name == "put") {
    r.type = TxnOpType::kPut;
    r.version = U64(o, "version").value_or(0);
  } else if (name == "delete") {
    r.type = TxnOpType::kDelete;
    r.deleted = Bool(o, "deleted");
  } else if (name == "get") {
    r.type = TxnOpType::kGet;
    r.found = Bool(o, "found");
    if (r.found && !Bytes(o, "value", r.value, &r.value_was_base64)) return false;
    r.version = U64(o, "version").value_or(0);
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> TxnRequestJson(const TxnRequest& txn, std::string* error) {
  auto all_keys_utf8 = [&](const std::vector<TxnOp>& ops) {
    for (const TxnOp& op : ops) {
      if (!IsValidUtf8(op.key)) return false;
    }
    return true;
  };
  json::object body;
  json::array compares;
  for (const TxnCompare& c : txn.compare) {
    if (!IsValidUtf8(c.key)) break;
    json::object o{{"key", View(c.key)}};
    switch (c.target) {
      case TxnCompare::Target::kVersion:
        o["version"] = c.version;
        break;
      case TxnCompare::Target::kValue:
        PutValue(o, c.value);
        break;
      case TxnCompare::Target::kExists:
        o["exists"] = c.exists;
        break;
    }
    compares.push_back(std::move(o));
  }
  if (compares.size() != txn.compare.size() || !all_keys_utf8(txn.success) ||
      !all_keys_utf8(txn.failure)) {
    *error = "a transaction's keys must be UTF-8 (docs/api.md names them as JSON strings)";
    return std::nullopt;
  }
  if (!compares.empty()) body["compare"] = std::move(compares);
  if (!txn.success.empty()) body["success"] = OpsJson(txn.success);
  if (!txn.failure.empty()) body["failure"] = OpsJson(txn.failure);
  return json::serialize(body);
}

std::vector<std::string> TxnBodyKeys(std::string_view body) {
  std::vector<std::string> keys;
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return keys;
  const json::object& o = v->get_object();
  auto add = [&](const json::value& item) {
    if (item.is_object()) {
      if (const json::value* k = item.get_object().if_contains("key"); k && k->is_string()) {
        keys.emplace_back(k->get_string());
      }
    }
  };
  if (const json::value* c = o.if_contains("compare"); c != nullptr && c->is_array()) {
    for (const json::value& item : c->get_array()) add(item);
  }
  for (std::string_view branch : {"success", "failure"}) {
    const json::value* ops = o.if_contains(branch);
    if (ops == nullptr || !ops->is_array()) continue;
    for (const json::value& op : ops->get_array()) {
      if (op.is_object() && op.get_object().size() == 1) add(op.get_object().begin()->value());
    }
  }
  return keys;
}

bool ParseTxnAnswer(std::string_view body, TxnResult& r) {
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return false;
  const json::object& o = v->get_object();
  const json::value* succeeded = o.if_contains("succeeded");
  const json::value* results = o.if_contains("results");
  if (succeeded == nullptr || !succeeded->is_bool() || results == nullptr || !results->is_array()) {
    return false;
  }
  r.succeeded = succeeded->get_bool();
  if (!r.revision) r.revision = U64(o, "revision");
  r.shards = Ids(o, "shards");
  r.txn_id = Str(o, "txn_id");
  r.results.clear();
  for (const json::value& item : results->get_array()) {
    TxnOpResult op;
    if (!ParseOpResult(item, op)) return false;
    r.results.push_back(std::move(op));
  }
  return true;
}

bool ParseTxnListBody(std::string_view body, TxnListResult& r) {
  std::optional<json::value> v = Parse(body);
  if (!v || !v->is_object()) return false;
  const json::object& o = v->get_object();
  const json::value* txns = o.if_contains("txns");
  if (txns == nullptr || !txns->is_array()) return false;
  for (const json::value& item : txns->get_array()) {
    if (!item.is_object()) return false;
    const json::object& t = item.get_object();
    TxnInfo info;
    info.id = Str(t, "id");
    info.state = Str(t, "state");
    info.age_ms = I64(t, "age_ms");
    info.expires_in_ms = I64(t, "expires_in_ms");
    info.record_shard = U64(t, "record_shard").value_or(0);
    info.participants = Ids(t, "participants");
    r.txns.push_back(std::move(info));
  }
  r.more = Bool(o, "more");
  return true;
}

}  // namespace kvd::rpc
