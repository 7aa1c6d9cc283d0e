// HttpClient: the kvd API over ClientTransport. Builds targets, picks the retry class of each call
// and turns raw responses into Result values (headers, JSON bodies, API errors).
#include "rpc/http_client.h"

#include <strings.h>

#include <charconv>

#include "rpc/client_directory.h"
#include "rpc/client_json.h"
#include "rpc/client_result.h"
#include "rpc/client_transport.h"

namespace kvd::rpc {
namespace {

std::optional<uint64_t> ParseU64(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

bool IsJsonResponse(const RawResponse& raw) {
  const std::string* type = raw.FindHeader("Content-Type");
  if (type != nullptr && type->find("json") != std::string::npos) return true;
  return !raw.body.empty() && raw.body.front() == '{';
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

void FillResult(RawResponse raw, bool json_success, Result& r) {
  r.transport = raw.transport;
  r.transport_error = std::move(raw.transport_error);
  r.endpoint = std::move(raw.endpoint);
  r.attempts = raw.attempts;
  r.status = raw.status;
  r.indeterminate = raw.maybe_applied || (raw.transport == Transport::kOk && raw.status == 504);
  if (raw.transport != Transport::kOk) return;
  if (const std::string* h = raw.FindHeader("X-Kv-Version")) r.version = ParseU64(*h);
  if (const std::string* h = raw.FindHeader("X-Kv-Revision")) r.revision = ParseU64(*h);
  if (const std::string* h = raw.FindHeader("X-Kv-Shard")) r.shard = ParseU64(*h);
  if (const std::string* h = raw.FindHeader("X-Kv-Applied-Index")) r.applied_index = ParseU64(*h);
  if (const std::string* h = raw.FindHeader("X-Kv-Directory-Version")) {
    r.directory_version = ParseU64(*h);
  }
  if (const std::string* h = raw.FindHeader("Retry-After")) {
    if (auto seconds = ParseU64(*h)) r.retry_after_ms = *seconds * 1000;
  }
  r.body = std::move(raw.body);
  const bool is_error = r.status >= 300;
  if ((is_error || json_success) && IsJsonResponse(raw)) {
    ApplyJsonBody(r.body, r);
  }
  if (is_error && r.error_code.empty() && r.error_message.empty()) {
    // Not our JSON (a proxy, a crash page): keep a bounded first line for humans.
    r.error_message = r.body.substr(0, std::min<size_t>(r.body.find('\n'), 200));
  }
}

const char* TransportName(Transport t) {
  switch (t) {
    case Transport::kOk:
      return "ok";
    case Transport::kConnectFailed:
      return "connect_failed";
    case Transport::kTimeout:
      return "timeout";
    case Transport::kProtocolError:
      return "protocol_error";
  }
  return "unknown";
}

const std::string* FindHeader(const std::vector<Header>& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
      return &h.value;
    }
  }
  return nullptr;
}

const std::string* RawResponse::FindHeader(std::string_view name) const {
  return rpc::FindHeader(headers, name);
}

std::string PercentEncode(std::string_view raw) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size() * 3);
  for (char ch : raw) {
    auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string KeyPath(std::string_view key) { return "/v1/kv/" + PercentEncode(key); }

std::string LockPath(std::string_view name) { return "/v1/locks/" + PercentEncode(name); }

const NodeStatus* DirectoryResult::FindNode(uint64_t id) const {
  for (const NodeStatus& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

const DirectoryShard* DirectoryResult::FindShard(uint64_t id) const {
  for (const DirectoryShard& s : shards) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

HttpClient::HttpClient(ClientOptions options)
    : options_(std::move(options)),
      next_seq_(options_.first_seq),
      transport_(std::make_unique<ClientTransport>(options_)) {
  if (options_.smart_routing) directory_ = std::make_unique<DirectoryCache>();
}

HttpClient::~HttpClient() = default;

Result HttpClient::Put(std::string_view key, std::string_view value,
                       std::optional<uint64_t> if_version,
                       std::optional<IdempotencyKey> idempotency,
                       const std::optional<LockFence>& fence) {
  if (auto bad = CheckName<Result>(key, "key")) return *bad;
  std::string target = KeyPath(key);
  if (if_version) target += "?if_version=" + std::to_string(*if_version);
  return Write("PUT", key, std::move(target), value, std::move(idempotency), fence);
}

Result HttpClient::Cas(std::string_view key, uint64_t expected_version, std::string_view value,
                       std::optional<IdempotencyKey> idempotency) {
  return Put(key, value, expected_version, std::move(idempotency));
}

Result HttpClient::Delete(std::string_view key, std::optional<uint64_t> if_version,
                          std::optional<IdempotencyKey> idempotency,
                          const std::optional<LockFence>& fence) {
  if (auto bad = CheckName<Result>(key, "key")) return *bad;
  std::string target = KeyPath(key);
  if (if_version) target += "?if_version=" + std::to_string(*if_version);
  return Write("DELETE", key, std::move(target), {}, std::move(idempotency), fence);
}

bool HttpClient::TakeIdempotencyKey(std::optional<IdempotencyKey>& idempotency, Result& failed) {
  if (!idempotency && !options_.client_id.empty()) {
    idempotency = IdempotencyKey{options_.client_id, next_seq_++};
  }
  if (idempotency && !idempotency->IsValid()) {
    // The server would refuse it (400); say so without sending (rpc/idempotency_key.h).
    failed.transport = Transport::kProtocolError;
    failed.transport_error = "invalid idempotency key '" + idempotency->ToString().substr(0, 300) +
                             "': client id must be 1 to 256 printable ASCII bytes, seq >= 1";
    return false;
  }
  return true;
}

Result HttpClient::Write(std::string_view method, std::string_view key, std::string target,
                         std::string_view body, std::optional<IdempotencyKey> idempotency,
                         const std::optional<LockFence>& fence) {
  if (fence && !fence->IsValid()) {
    return LocalFailure<Result>("invalid fence '" + fence->ToString().substr(0, 300) +
                                "': want LOCK:TOKEN, TOKEN >= 1, the lock name without control "
                                "bytes or leading or trailing spaces (rpc/lock_fence.h)");
  }
  Result failed;
  if (!TakeIdempotencyKey(idempotency, failed)) return failed;
  RawRequest req{
      .method = std::string(method), .target = std::move(target), .body = std::string(body)};
  if (idempotency) {
    req.headers.push_back({"Idempotency-Key", idempotency->ToString()});
    req.safe_to_repeat = true;
  }
  if (fence) req.headers.push_back({"X-Fence", fence->ToString()});
  return SendKeyRequest<Result>(req, key, /*json_success=*/true);
}

Result HttpClient::Get(std::string_view key, bool stale) {
  if (auto bad = CheckName<Result>(key, "key")) return *bad;
  std::string target = KeyPath(key);
  if (stale) target += "?consistency=stale";
  RawRequest req = GetRequest(std::move(target));
  return SendKeyRequest<Result>(req, key, /*json_success=*/false);
}

template <typename R>
R HttpClient::SendKeyRequest(RawRequest& req, std::string_view key, bool json_success) {
  if (directory_ == nullptr) return Interpret<R>(transport_->Send(req), json_success);
  if (directory_->needs_refresh()) RefreshDirectory();
  if (uint64_t version = directory_->version(); version != 0) {
    req.headers.push_back({"X-Kv-Directory-Version", std::to_string(version)});
  }
  req.route = directory_->RouteFor(key);
  R r = Interpret<R>(transport_->Send(req), json_success);
  directory_->Observe(r, req.route);
  return r;
}

template Result HttpClient::SendKeyRequest<Result>(RawRequest&, std::string_view, bool);
template LockResult HttpClient::SendKeyRequest<LockResult>(RawRequest&, std::string_view, bool);
template LockInfoResult HttpClient::SendKeyRequest<LockInfoResult>(RawRequest&, std::string_view,
                                                                   bool);
template TxnResult HttpClient::SendKeyRequest<TxnResult>(RawRequest&, std::string_view, bool);

void HttpClient::RefreshDirectory() {
  RawRequest req = GetRequest("/v1/directory");
  req.max_attempts = 1;  // the request waiting behind it is what the retry policy is for
  req.request_timeout = std::min(options_.request_timeout, kDirectoryRefreshTimeout);
  auto r = Interpret<DirectoryResult>(transport_->Send(req), false);
  directory_->RefreshAttempted();
  if (r.ok() && ParseDirectoryBody(r.body, r)) directory_->Install(r);
}

DirectoryResult HttpClient::Directory() {
  auto r = Interpret<DirectoryResult>(transport_->Send(GetRequest("/v1/directory")), false);
  if (r.ok() && !ParseDirectoryBody(r.body, r)) {
    r.transport = Transport::kProtocolError;
    r.transport_error = r.endpoint + ": malformed directory";
    return r;
  }
  if (r.ok() && directory_ != nullptr) directory_->Install(r);
  return r;
}

uint64_t HttpClient::cached_directory_version() const {
  return directory_ == nullptr ? 0 : directory_->version();
}

ScanResult HttpClient::Scan(std::string_view prefix, std::string_view after, size_t limit,
                            bool stale) {
  std::string target = "/v1/kv?prefix=" + PercentEncode(prefix);
  if (!after.empty()) target += "&after=" + PercentEncode(after);
  if (limit > 0) target += "&limit=" + std::to_string(limit);
  if (stale) target += "&consistency=stale";
  ScanResult r = Interpret<ScanResult>(transport_->Send(GetRequest(target)), false);
  if (directory_ != nullptr) directory_->Observe(r, {});  // unrouted; may tell of a newer one
  if (r.ok() && !ParseScanBody(r.body, r)) {
    r.transport = Transport::kProtocolError;
    r.transport_error = r.endpoint + ": malformed scan response";
  }
  return r;
}

ClusterStatusResult HttpClient::ClusterStatus() {
  auto r = Interpret<ClusterStatusResult>(transport_->Send(GetRequest("/v1/cluster")), false);
  if (r.ok() && !ParseClusterBody(r.body, r)) {
    r.transport = Transport::kProtocolError;
    r.transport_error = r.endpoint + ": malformed cluster status";
  }
  return r;
}

Result HttpClient::Health() {
  return Interpret<Result>(transport_->Send(GetRequest("/healthz")), false);
}

Result HttpClient::Ready() {
  return Interpret<Result>(transport_->Send(GetRequest("/readyz")), false);
}

Result HttpClient::Request(std::string_view method, std::string_view target, std::string_view body,
                           const std::vector<Header>& headers) {
  RawRequest req{.method = std::string(method),
                 .target = std::string(target),
                 .body = std::string(body),
                 .headers = headers};
  req.safe_to_repeat = req.method == "GET" || req.method == "HEAD" ||
                       FindHeader(headers, "Idempotency-Key") != nullptr;
  return Interpret<Result>(transport_->Send(req), false);
}

}  // namespace kvd::rpc
