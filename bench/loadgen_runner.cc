#include "bench/loadgen_runner.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "bench/loadgen_locks.h"

namespace kvd::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::chrono::milliseconds kReconnectPause{100};
constexpr int kPopulateAttempts = 5;
constexpr size_t kMaxResponseBytes = 8 << 20;

uint64_t Micros(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// One keep-alive connection with one request in flight. Owned by its worker; its handlers hold a
// plain `this`, which is safe because the worker stops (or drains) its io_context before
// destroying connections, and destroys the connections before the io_context.
class Connection {
 public:
  Connection(asio::io_context& ioc, const Options& options, const Dialect& dialect,
             const TxnWorkload* txn, const Endpoint& endpoint, const Phase& phase, RunStats& stats,
             int id, uint64_t seed)
      : options_(options),
        dialect_(dialect),
        txn_(txn),
        endpoint_(endpoint),
        phase_(phase),
        stats_(stats),
        stream_(ioc),
        pause_(ioc),
        rng_(seed) {
    req_.version(11);
    req_.keep_alive(true);
    req_.set(http::field::host, endpoint.name);
    req_.set(http::field::user_agent, "kvd_loadgen");
    if (options.mix.HasLocks() && !phase.populate) {
      locks_ = std::make_unique<LockSession>(options, dialect, id, seed ^ 0x9e3779b97f4a7c15ULL);
    }
  }

  // on_stop runs once, when the connection has stopped for good (phase over or no keys left).
  void Start(std::function<void()> on_stop) {
    on_stop_ = std::move(on_stop);
    Connect();
  }

  // When a measured request is still in flight (called after the io_context stopped): its start.
  std::optional<Clock::time_point> UnfinishedStart() const {
    if (in_flight_ && Measured(start_)) return start_;
    return std::nullopt;
  }

 private:
  bool Measured(Clock::time_point start) const {
    return phase_.populate || start >= phase_.measure_start;
  }

  bool Done() const {
    if (Clock::now() >= phase_.end) return true;
    return phase_.populate && retry_key_ == kNone && phase_.next_key->load() >= dialect_.keys();
  }

  void Stop() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    if (on_stop_) std::exchange(on_stop_, nullptr)();
  }

  void Connect() {
    if (Done()) return Stop();
    stream_.expires_after(options_.request_timeout);
    stream_.async_connect(endpoint_.endpoint, [this](error_code ec) {
      if (!ec) {
        stream_.socket().set_option(tcp::no_delay(true), ec);
        Send();
        return;
      }
      if (Measured(Clock::now())) {
        ++stats_.connect_errors[ec == beast::error::timeout ? "timeout" : ec.message()];
      }
      stream_.close();
      pause_.expires_after(kReconnectPause);
      pause_.async_wait([this](error_code) { Connect(); });
    });
  }

  bool PickNext() {
    if (!phase_.populate) {
      op_ = options_.mix.Pick(static_cast<uint32_t>(rng_() % options_.mix.total));
      key_ = rng_() % dialect_.keys();
      return true;
    }
    op_ = Op::kPut;
    if (retry_key_ != kNone) {
      key_ = retry_key_;
      retry_key_ = kNone;
      return true;
    }
    attempts_ = 0;
    key_ = phase_.next_key->fetch_add(1);
    return key_ < dialect_.keys();
  }

  void Send() {
    if (locks_) {
      if (Done()) return Stop();
      LockSession::Request r = locks_->Next(&req_);
      op_ = r.op;
      if (r.begins_op) start_ = Clock::now();  // an operation may take several requests
    } else {
      if (Done() || !PickNext()) return Stop();
      if (IsTxn(op_)) {
        txn_->Build(op_, key_, rng_(), &req_);
      } else {
        dialect_.Build(op_, key_, &req_);
      }
      ++attempts_;
      start_ = Clock::now();
    }
    in_flight_ = true;
    stream_.expires_after(options_.request_timeout);  // one deadline for write + read
    http::async_write(stream_, req_, [this](error_code ec, size_t) {
      if (ec) return Fail(ec);
      parser_.emplace();
      parser_->body_limit(kMaxResponseBytes);
      http::async_read(stream_, buffer_, *parser_, [this](error_code ec, size_t) {
        if (ec) return Fail(ec);
        in_flight_ = false;
        const HttpResponse& res = parser_->get();
        if (!locks_) {
          Finish(IsTxn(op_) ? txn_->Classify(op_, res) : dialect_.Classify(op_, res));
        } else if (std::optional<std::string> error = locks_->OnResponse(res)) {
          Finish(*error);
        }
        if (res.keep_alive()) {
          Send();
        } else {
          Reopen();
        }
      });
    });
  }

  void Fail(const error_code& ec) {
    in_flight_ = false;
    if (locks_) locks_->OnTransportError();
    Finish(ec == beast::error::timeout ? "timeout" : "io:" + ec.message());
    Reopen();
  }

  void Reopen() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    buffer_.clear();
    Connect();
  }

  // Counts the request that just ended with `error` (empty: success).
  void Finish(const std::string& error) {
    Clock::time_point end = Clock::now();
    if (!Measured(start_) || end > phase_.end) return;
    OpStats& s = stats_.by_op[static_cast<size_t>(op_)];
    if (error.empty()) {
      ++s.ok;
      s.latency.Record(Micros(end - start_));
      return;
    }
    ++s.errors[error];
    if (phase_.populate && attempts_ < kPopulateAttempts) retry_key_ = key_;
  }

  static constexpr uint64_t kNone = ~uint64_t{0};

  static bool IsTxn(Op op) { return op == Op::kTxn || op == Op::kTxnCross; }

  const Options& options_;
  const Dialect& dialect_;
  const TxnWorkload* txn_;  // transactions (ParseMix and main make it non-null when mixed)
  const Endpoint& endpoint_;
  const Phase& phase_;
  RunStats& stats_;
  beast::tcp_stream stream_;
  asio::steady_timer pause_;
  std::function<void()> on_stop_;
  beast::flat_buffer buffer_;
  HttpRequest req_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::mt19937_64 rng_;
  std::unique_ptr<LockSession> locks_;  // lock workloads: builds the requests, judges the answers
  Op op_ = Op::kPut;
  uint64_t key_ = 0;
  uint64_t retry_key_ = kNone;  // populate: a failed key to write again
  int attempts_ = 0;
  Clock::time_point start_;
  bool in_flight_ = false;
};

// One event-loop thread's share of the connections: ids first, first + step, ...
RunStats RunWorker(const Options& options, const Dialect& dialect, const TxnWorkload* txn,
                   const std::vector<Endpoint>& targets, const Phase& phase, int first, int step) {
  RunStats stats;
  asio::io_context ioc(1);
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = first; i < options.connections; i += step) {
    const Endpoint& target = targets[static_cast<size_t>(i) % targets.size()];
    connections.push_back(
        std::make_unique<Connection>(ioc, options, dialect, txn, target, phase, stats, i,
                                     options.seed * 1000003 + static_cast<uint64_t>(i)));
  }
  asio::steady_timer deadline(ioc, phase.end);
  size_t active = connections.size();
  auto on_stop = [&] {
    if (--active == 0) deadline.cancel();  // lets run() return before the deadline
  };
  for (auto& c : connections) c->Start(on_stop);
  deadline.async_wait([&ioc](error_code ec) {
    if (!ec) ioc.stop();
  });
  ioc.run();
  for (const auto& c : connections) {
    if (auto start = c->UnfinishedStart()) {
      ++stats.unfinished;
      stats.unfinished_oldest_us = std::max(stats.unfinished_oldest_us, Micros(phase.end - *start));
    }
  }
  connections.clear();
  return stats;
}

}  // namespace

bool ResolveEndpoints(const std::vector<std::string>& names, std::vector<Endpoint>* out,
                      std::string* error) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  for (const std::string& name : names) {
    size_t colon = name.rfind(':');
    if (colon == std::string::npos) {
      *error = "endpoint '" + name + "' has no port";
      return false;
    }
    error_code ec;
    auto results = resolver.resolve(name.substr(0, colon), name.substr(colon + 1), ec);
    if (ec || results.empty()) {
      *error = "cannot resolve '" + name + "': " + ec.message();
      return false;
    }
    out->push_back(Endpoint{name, results.begin()->endpoint()});
  }
  return true;
}

RunStats RunPhase(const Options& options, const Dialect& dialect, const TxnWorkload* txn,
                  const std::vector<Endpoint>& targets, const Phase& phase) {
  int threads = std::min(options.threads, options.connections);
  std::vector<RunStats> results(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) {
    pool.emplace_back(
        [&, t] { results[t] = RunWorker(options, dialect, txn, targets, phase, t, threads); });
  }
  results[0] = RunWorker(options, dialect, txn, targets, phase, 0, threads);
  for (auto& th : pool) th.join();
  RunStats total;
  for (const RunStats& r : results) total.Merge(r);
  return total;
}

}  // namespace kvd::bench
