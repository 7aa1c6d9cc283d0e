// DirectoryCache: HttpClient's copy of the shard directory for smart routing (private to rpc/;
// the policy is documented in http_client.h, "Smart routing"). Holds the last usable directory
// (GET /v1/directory) and the ring rebuilt from it: the ring is a pure function of the shard ids
// and vnodes_per_shard (kv/ring.h), so it is rebuilt only when those change.
//
// When to refresh is decided here, from evidence only (no clock):
//  - at first, when nothing is cached;
//  - after an answer that carries an X-Kv-Directory-Version newer than the cached version;
//  - after a 503 or an answer that never came, or when the first endpoint of the request's route
//    (the leader hint) did not serve it: the leader may have moved or died.
// A refresh attempt, whether it succeeds or not, clears the flag (RefreshAttempted), so a cluster
// that is down or has no directory yet costs one refresh per new piece of evidence, not a refresh
// before every request.
//
// Threading: thread-compatible; owned by one HttpClient.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kv/ring.h"
#include "rpc/http_client.h"

namespace kvd::rpc {

class DirectoryCache {
 public:
  // The key hash this client computes; a directory naming another one is not routed by.
  static constexpr std::string_view kHash = "xxh3-64";

  bool needs_refresh() const { return needs_refresh_; }
  void RefreshAttempted() { needs_refresh_ = false; }

  // Takes `d` unless it is older than the cached copy or cannot be routed by (an unknown hash, or
  // shards and vnodes_per_shard that make no ring); then returns false with the reason in *error
  // (if given) and keeps the cache as it was. At the same version, a shard's leader hint is taken
  // only if its leader_term is not older than the cached hint's.
  bool Install(const DirectoryResult& d, std::string* error = nullptr);

  // Marks the cache for refresh if `r`, the answer to a request sent with `route` (empty: not
  // routed), calls for it (see above).
  void Observe(const Result& r, const std::vector<std::string>& route);

  uint64_t version() const { return directory_ ? directory_->version : 0; }

  // Where the first attempt for `key` should go: the http_address of its shard's leader, then of
  // the shard's other replicas in directory order (without empty or repeated addresses). Empty
  // when nothing is cached.
  std::vector<std::string> RouteFor(std::string_view key) const;

  // Whether the cached ring puts every one of `keys` (at least one) in the same shard; false when
  // nothing is cached.
  bool OneShard(const std::vector<std::string>& keys) const;

 private:
  std::optional<DirectoryResult> directory_;  // body and transport fields cleared
  std::optional<kv::Ring> ring_;              // built from directory_
  bool needs_refresh_ = true;
};

}  // namespace kvd::rpc
