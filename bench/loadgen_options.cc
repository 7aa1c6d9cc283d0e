#include "bench/loadgen_options.h"

#include <CLI/CLI.hpp>
#include <charconv>

namespace kvd::bench {

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kPut:
      return "put";
    case Op::kGet:
      return "get";
    case Op::kGetStale:
      return "get-stale";
    case Op::kAcquire:
      return "acquire";
    case Op::kRelease:
      return "release";
    case Op::kFencedPut:
      return "fenced-put";
    case Op::kTxn:
      return "txn";
    case Op::kTxnCross:
      return "txn-cross";
  }
  return "?";
}

std::string_view TargetName(Target target) { return target == Target::kKvd ? "kvd" : "etcd"; }

Op Mix::Pick(uint32_t r) const {
  for (size_t i = 0; i < kOpCount; ++i) {
    if (r < weight[i]) return static_cast<Op>(i);
    r -= weight[i];
  }
  return Op::kPut;  // unreachable when r < total
}

std::string Mix::ToString() const {
  std::string text;
  for (size_t i = 0; i < kOpCount; ++i) {
    if (weight[i] == 0) continue;
    if (!text.empty()) text += ",";
    text += OpName(static_cast<Op>(i));
    if (weight[i] != total) text += "=" + std::to_string(weight[i]);
  }
  return text;
}

std::optional<Mix> ParseMix(std::string_view text, std::string* error) {
  Mix mix;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    std::string_view name = item;
    uint32_t weight = 1;  // "get" alone means get=1
    if (size_t eq = item.find('='); eq != std::string_view::npos) {
      name = item.substr(0, eq);
      std::string_view num = item.substr(eq + 1);
      auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), weight);
      if (ec != std::errc() || end != num.data() + num.size() || weight > 1000000) {
        *error = "bad weight in '" + std::string(item) + "'";
        return std::nullopt;
      }
    }
    bool known = false;
    for (size_t i = 0; i < kOpCount; ++i) {
      if (name == OpName(static_cast<Op>(i))) {
        mix.weight[i] += weight;
        known = true;
      }
    }
    if (!known) {
      *error = "unknown operation '" + std::string(name) +
               "' (put, get, get-stale, acquire, fenced-put, txn, txn-cross)";
      return std::nullopt;
    }
  }
  for (uint32_t w : mix.weight) mix.total += w;
  if (mix.total == 0) {
    *error = "the mix has no operation with a positive weight";
    return std::nullopt;
  }
  auto w = [&mix](Op op) { return mix.weight[static_cast<size_t>(op)]; };
  if (w(Op::kRelease) > 0) {
    *error = "release is not an operation of its own: 'acquire' runs acquire + release cycles";
    return std::nullopt;
  }
  if (w(Op::kAcquire) > 0 && w(Op::kAcquire) != mix.total) {
    *error = "acquire cannot be mixed with other operations";
    return std::nullopt;
  }
  if (w(Op::kFencedPut) > 0 && w(Op::kFencedPut) + w(Op::kPut) != mix.total) {
    *error = "fenced-put can only be mixed with put";
    return std::nullopt;
  }
  if (mix.HasTxns() && mix.HasLocks()) {
    *error = "txn and txn-cross cannot be mixed with lock operations";
    return std::nullopt;
  }
  return mix;
}

std::optional<Options> ParseOptions(int argc, char** argv, int* exit_code) {
  Options o;
  CLI::App app{"kvd_loadgen: closed-loop HTTP load against kvd or etcd 3.4 (see bench/README.md)"};
  std::string target = "kvd", op, mix_text, populate = "auto", endpoints = "127.0.0.1:8080";
  double warmup_s = 2, duration_s = 10, populate_limit_s = 120;
  int64_t timeout_ms = 5000, lock_ttl_ms = 10000, hold_ttl_ms = 600000;
  std::string etcd_lease = "per-lock";
  app.add_option("--target", target, "kvd | etcd")->capture_default_str();
  app.add_option("--endpoints", endpoints, "Comma-separated host:port list")->capture_default_str();
  app.add_option("-c,--connections", o.connections, "Concurrent connections")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "Event-loop threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--op", op,
                 "Single operation: put | get | get-stale | acquire | fenced-put | txn | "
                 "txn-cross");
  app.add_option("--mix", mix_text, "Weighted mix, e.g. put=50,get=50");
  app.add_option("--keys", o.keys, "Keyspace size")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}))
      ->capture_default_str();
  app.add_option("--value-size", o.value_bytes, "Value size in bytes")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--warmup", warmup_s, "Warmup seconds (not measured)")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  app.add_option("-d,--duration", duration_s, "Measured seconds")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "Per-request timeout (ms)")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}))
      ->capture_default_str();
  app.add_option("--populate", populate, "auto (when the mix reads) | skip | only")
      ->check(CLI::IsMember({"auto", "skip", "only"}))
      ->capture_default_str();
  app.add_option("--populate-limit", populate_limit_s, "Cap on the populate phase (s)")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  app.add_option("--lock-names", o.lock_names, "acquire: distinct lock names per connection")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000}))
      ->capture_default_str();
  app.add_option("--lock-keys", o.lock_keys, "fenced-put: keys per connection")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000}))
      ->capture_default_str();
  app.add_option("--lock-ttl-ms", lock_ttl_ms, "acquire: TTL of each lock (etcd: lease TTL)")
      ->check(CLI::Range(int64_t{1000}, int64_t{3600000}))
      ->capture_default_str();
  app.add_option("--hold-ttl-ms", hold_ttl_ms, "fenced-put: TTL of the lock each connection holds")
      ->check(CLI::Range(int64_t{1000}, int64_t{3600000}))
      ->capture_default_str();
  app.add_option("--etcd-lease", etcd_lease,
                 "etcd acquire: per-lock (grant+lock, unlock+revoke) | session (one lease per "
                 "connection)")
      ->check(CLI::IsMember({"per-lock", "session"}))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed")->capture_default_str();
  app.add_option("--label", o.label, "Free text copied into the report");
  app.add_flag("--json", o.json, "Print the report as one JSON line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *exit_code = app.exit(e);
    return std::nullopt;
  }
  auto fail = [&](const std::string& message) -> std::optional<Options> {
    std::fprintf(stderr, "kvd_loadgen: %s\n", message.c_str());
    *exit_code = 2;
    return std::nullopt;
  };
  if (target == "kvd") {
    o.target = Target::kKvd;
  } else if (target == "etcd") {
    o.target = Target::kEtcd;
  } else {
    return fail("--target must be kvd or etcd");
  }
  if (op.empty() == mix_text.empty()) return fail("give exactly one of --op and --mix");
  std::string error;
  std::optional<Mix> mix = ParseMix(op.empty() ? mix_text : op, &error);
  if (!mix) return fail(error);
  o.mix = *mix;
  o.endpoints.clear();
  for (const auto& e : CLI::detail::split(endpoints, ',')) {
    if (!e.empty()) o.endpoints.push_back(e);
  }
  if (o.endpoints.empty()) return fail("--endpoints is empty");
  auto ms = [](double s) { return std::chrono::milliseconds(static_cast<int64_t>(s * 1000)); };
  o.warmup = ms(warmup_s);
  o.duration = ms(duration_s);
  o.populate_limit = ms(populate_limit_s);
  o.request_timeout = std::chrono::milliseconds(timeout_ms);
  o.lock_ttl = std::chrono::milliseconds(lock_ttl_ms);
  o.hold_ttl = std::chrono::milliseconds(hold_ttl_ms);
  o.etcd_session = etcd_lease == "session";
  o.populate = populate == "skip"   ? Populate::kSkip
               : populate == "only" ? Populate::kOnly
                                    : Populate::kAuto;
  return o;
}

}  // namespace kvd::bench
