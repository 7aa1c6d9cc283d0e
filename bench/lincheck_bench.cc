// Copyright (c) kvd authors.
//
// Benchmark of the linearizability checker (jepsen/checker/checker.h) on a generated history
// that is linearizable by construction: clients run operations with random, overlapping
// intervals against one simulated register per key, each taking effect at a random instant
// inside its interval. A few operations end with an unknown outcome (half of them took
// effect); like a Jepsen client, the process that saw one retires and a new one takes over.
//
// Usage: lincheck_bench [ops=100000] [keys=100] [clients=10] [seed=1] [threads=1]
// Prints the history's shape and the time Check() took. Reports numbers, never pass/fail,
// except that a non-valid verdict on a linearizable history exits 1: that is a checker bug.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "jepsen/checker/checker.h"

namespace {

using kvd::lincheck::Operation;
using kvd::lincheck::OpType;
using kvd::lincheck::Outcome;

struct Shape {
  int64_t ops = 100000;
  int64_t keys = 100;
  int64_t clients = 10;
  uint64_t seed = 1;
  int threads = 1;
};

constexpr int kValues = 5;  // Few distinct values: many equal states to confuse.
constexpr double kUnknownFraction = 0.002;

std::vector<Operation> GenerateHistory(const Shape& shape) {
  std::mt19937_64 rng(shape.seed);
  auto uniform = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  std::bernoulli_distribution unknown(kUnknownFraction);
  std::bernoulli_distribution coin(0.5);

  std::vector<Operation> history;
  std::vector<int64_t> effect_time;  // When history[i] takes effect; -1 = never.
  history.reserve(shape.ops);
  std::vector<int64_t> client_time(shape.clients, 0);
  std::vector<int64_t> client_process(shape.clients);
  for (int64_t c = 0; c < shape.clients; ++c) client_process[c] = c;
  for (int64_t i = 0; i < shape.ops; ++i) {
    const int64_t c = i % shape.clients;
    Operation op{.process = client_process[c],
                 .key = "k" + std::to_string(uniform(0, shape.keys - 1))};
    const int64_t kind = uniform(0, 99);
    if (kind < 50) {
      op.type = OpType::kRead;
    } else if (kind < 80) {
      op.type = OpType::kWrite;
      op.value = std::to_string(uniform(0, kValues - 1));
    } else if (kind < 95) {
      op.type = OpType::kCas;
      op.expected = std::to_string(uniform(0, kValues - 1));
      op.value = std::to_string(uniform(0, kValues - 1));
    } else {
      op.type = OpType::kDelete;
    }
    op.call = client_time[c] + uniform(0, 10);
    op.ret = op.call + uniform(1, 100);
    client_time[c] = op.ret;
    int64_t effect = uniform(op.call, op.ret);
    if (unknown(rng)) {
      op.outcome = Outcome::kUnknown;
      if (coin(rng)) effect = -1;
      client_process[c] += shape.clients;  // This process may still be running: retire it.
    }
    history.push_back(std::move(op));
    effect_time.push_back(effect);
  }

  // Apply the operations to real registers in effect order to fill in results.
  std::vector<size_t> order;
  for (size_t i = 0; i < history.size(); ++i) {
    if (effect_time[i] >= 0) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::make_pair(effect_time[a], a) < std::make_pair(effect_time[b], b);
  });
  std::map<std::string, std::optional<std::string>> registers;
  for (size_t i : order) {
    Operation& op = history[i];
    std::optional<std::string>& reg = registers[op.key];
    switch (op.type) {
      case OpType::kRead:
        op.result = reg;
        break;
      case OpType::kWrite:
        reg = op.value;
        break;
      case OpType::kDelete:
        reg.reset();
        break;
      case OpType::kCas:
        if (reg == op.expected) {
          reg = op.value;
        } else if (op.outcome == Outcome::kOk) {
          op.outcome = Outcome::kFail;
        }
        break;
      case OpType::kAppend:
        break;
    }
  }
  return history;
}

}  // namespace

int main(int argc, char** argv) {
  Shape shape;
  if (argc > 1) shape.ops = std::atoll(argv[1]);
  if (argc > 2) shape.keys = std::atoll(argv[2]);
  if (argc > 3) shape.clients = std::atoll(argv[3]);
  if (argc > 4) shape.seed = std::strtoull(argv[4], nullptr, 10);
  if (argc > 5) shape.threads = std::atoi(argv[5]);
  if (shape.ops < 1 || shape.keys < 1 || shape.clients < 1 || shape.threads < 1) {
    std::fprintf(stderr, "usage: %s [ops] [keys] [clients] [seed] [threads]\n", argv[0]);
    return 2;
  }

  const auto generate_start = std::chrono::steady_clock::now();
  const std::vector<Operation> history = GenerateHistory(shape);
  const auto check_start = std::chrono::steady_clock::now();
  const kvd::lincheck::CheckResult result = kvd::lincheck::Check(
      history, {.model = kvd::lincheck::ModelKind::kRegister, .threads = shape.threads});
  const auto end = std::chrono::steady_clock::now();

  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  const auto unknown = std::count_if(history.begin(), history.end(), [](const Operation& op) {
    return op.outcome == Outcome::kUnknown;
  });
  std::printf("ops=%lld keys=%zu clients=%lld unknown=%lld seed=%llu threads=%d\n",
              static_cast<long long>(history.size()), result.keys.size(),
              static_cast<long long>(shape.clients), static_cast<long long>(unknown),
              static_cast<unsigned long long>(shape.seed), shape.threads);
  std::printf("generate_ms=%.1f check_ms=%.1f ops_checked=%zu states=%llu verdict=%s\n",
              ms(check_start - generate_start), ms(end - check_start), result.ops_checked,
              static_cast<unsigned long long>(result.states_explored),
              std::string(kvd::lincheck::VerdictName(result.verdict)).c_str());
  if (result.verdict != kvd::lincheck::Verdict::kValid) {
    std::fputs(kvd::lincheck::FormatResult(result).c_str(), stderr);
    return 1;
  }
  return 0;
}
