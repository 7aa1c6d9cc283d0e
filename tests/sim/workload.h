// Workload: simulated clients and the history they record for the linearizability checker.
//
// Each client has at most one operation in flight, on one of a few keys: a write (a proposal
// carrying client id, op id, key and a unique value; OK once the node it was submitted to applies
// that entry), a compare-and-set (same path; OK or FAIL by the comparison at apply time) or a
// read (ReadIndex at a node, served from its state machine once applied >= the read index).
// An operation the node refused before appending (proposal dropped) definitely did not happen:
// FAIL. One that times out, or whose node crashed, has an unknown outcome. Operations go to the
// node that last answered the client (usually the leader) or a random live member.
//
// The history uses kvd::lincheck::Operation as is; call and ret come from one logical clock
// incremented at every invocation and completion, so real-time order is exact.
//
// Ownership: borrows the Rng and the ClientHost, which must outlive it.
// Thread-safety: none.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "jepsen/checker/operation.h"
#include "tests/sim/rng.h"
#include "tests/sim/sim_node.h"

namespace kvd::sim {

class ClientHost {
 public:
  virtual ~ClientHost() = default;
  virtual void After(int64_t delay, std::function<void()> fn) = 0;
  // A live member node to submit to, 'hint' if that one is live; null if none is.
  virtual SimNode* PickNode(uint64_t hint) = 0;
  virtual SimNode* FindNode(uint64_t id) = 0;
  virtual Trace& trace() = 0;
};

struct WorkloadOptions {
  int clients = 4;
  int keys = 3;
  double read_share = 0.45;
  double cas_share = 0.15;  // the rest are writes
  int64_t timeout = 400;    // ms until an operation is given up as unknown
  int64_t think_max = 30;   // ms between a client's operations
};

class Workload {
 public:
  Workload(const WorkloadOptions& options, Rng& rng, ClientHost& host);

  void Start();  // schedules every client's first operation
  void Stop() { stopped_ = true; }

  // Every operation invoked, in invocation order.
  const std::vector<lincheck::Operation>& history() const { return history_; }
  // The history to check: without operations refused before reaching the log (a refused CAS
  // did not happen, which no Outcome of a CAS can express: kFail means "compared unequal").
  std::vector<lincheck::Operation> CheckableHistory() const;
  int64_t clock() const { return clock_; }
  // Highest log index of an acknowledged write or CAS (0: none).
  uint64_t max_acked_index() const { return max_acked_index_; }
  // Invocation clock of the latest-invoked acknowledged write or CAS (-1: none).
  int64_t last_acked_write_call() const { return last_acked_write_call_; }
  std::string Summary() const;

 private:
  struct Client {
    uint64_t id = 0;
    uint64_t next_op = 1;
    bool busy = false;
    uint64_t op = 0;  // the operation in flight
    size_t history_index = 0;
    uint64_t node = 0;
    uint64_t hint = 0;
  };

  void Issue(uint64_t client);
  void Complete(uint64_t client, uint64_t op, const OpResult& result);
  void TimeOut(uint64_t client, uint64_t op);
  void Finish(Client& c, lincheck::Outcome outcome, bool back_off);
  std::optional<std::string> PickExpected(const std::string& key);

  const WorkloadOptions options_;
  Rng& rng_;
  ClientHost& host_;
  bool stopped_ = false;
  int64_t clock_ = 0;
  std::vector<Client> clients_;
  std::vector<lincheck::Operation> history_;
  std::vector<bool> refused_;                                      // parallel to history_
  std::map<std::string, std::vector<std::string>> recent_values_;  // key -> last few written
  uint64_t max_acked_index_ = 0;
  int64_t last_acked_write_call_ = -1;
};

}  // namespace kvd::sim
