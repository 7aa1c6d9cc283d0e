#include "tests/sim/invariants.h"

#include <algorithm>
#include <string_view>

namespace kvd::sim {

namespace {

uint64_t HashBytes(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

std::string N(uint64_t v) { return std::to_string(v); }

}  // namespace

uint64_t EntryHash(const raftpb::Entry& e) {
  return HashBytes(e.data()) ^ (e.term() * 0x9e3779b97f4a7c15ULL) ^
         (static_cast<uint64_t>(e.type()) << 60);
}

void Invariants::Fail(const std::string& what) {
  if (failure_.empty()) failure_ = what;
}

void Invariants::ObserveLeaderOfTerm(uint64_t node, uint64_t term, const char* how) {
  auto [it, inserted] = leader_of_term_.emplace(term, node);
  if (!inserted && it->second != node) {
    Fail("election safety: two leaders in term " + N(term) + ": n" + N(it->second) + " and n" +
         N(node) + " (" + how + ")");
  }
}

void Invariants::ObserveLeader(uint64_t node, uint64_t term, const NodeLogView& log) {
  bool first = leader_of_term_.find(term) == leader_of_term_.end();
  ObserveLeaderOfTerm(node, term, "soft state");
  if (!first) return;
  // Leader completeness: everything committed in an earlier term is in this leader's log.
  uint64_t committed_before = 0;
  for (const auto& [t, c] : max_commit_at_term_) {
    if (t >= term) break;
    committed_before = std::max(committed_before, c);
  }
  for (uint64_t i = 1; i <= committed_before && !failed(); ++i) {
    uint64_t want = CommittedTerm(i);
    if (want == 0) continue;
    uint64_t have = 0;
    switch (log.TermAt(i, &have)) {
      case LogLookup::kCompacted:
        break;
      case LogLookup::kMissing:
        Fail("leader completeness: n" + N(node) + " leads term " + N(term) +
             " without committed entry " + N(i) + " (term " + N(want) + ")");
        break;
      case LogLookup::kFound:
        if (have != want) {
          Fail("leader completeness: n" + N(node) + " leads term " + N(term) + " with entry " +
               N(i) + " of term " + N(have) + ", but term " + N(want) + " was committed");
        }
        break;
    }
  }
}

void Invariants::ObserveSend(const raftpb::Message& m, uint64_t durable_term, uint64_t durable_vote,
                             uint64_t durable_last_index) {
  switch (m.type()) {
    case raftpb::MSG_APP:
    case raftpb::MSG_HEARTBEAT:
    case raftpb::MSG_SNAP:
    case raftpb::MSG_TIMEOUT_NOW:
      ObserveLeaderOfTerm(m.from(), m.term(), "leader-only message");
      break;
    case raftpb::MSG_VOTE_RESP:
      if (m.reject() || !protocol_checks_) break;
      {
        auto [it, inserted] = vote_of_.emplace(std::make_pair(m.from(), m.term()), m.to());
        if (!inserted && it->second != m.to()) {
          Fail("single vote: n" + N(m.from()) + " granted its term " + N(m.term()) + " vote to n" +
               N(it->second) + " and to n" + N(m.to()));
        }
      }
      if (durable_term < m.term() || (durable_term == m.term() && durable_vote != m.to())) {
        Fail("durable vote: n" + N(m.from()) + " granted its term " + N(m.term()) + " vote to n" +
             N(m.to()) + " but its durable hard state is term " + N(durable_term) + " vote " +
             N(durable_vote));
      }
      break;
    case raftpb::MSG_APP_RESP:
      if (protocol_checks_ && !m.reject() && m.index() > durable_last_index) {
        Fail("durable ack: n" + N(m.from()) + " acknowledged index " + N(m.index()) +
             " but its durable log ends at " + N(durable_last_index));
      }
      break;
    default:
      break;
  }
  if (protocol_checks_ && m.type() != raftpb::MSG_PRE_VOTE &&
      m.type() != raftpb::MSG_PRE_VOTE_RESP && m.term() > durable_term) {
    Fail("durable term: n" + N(m.from()) + " sent " +
         std::string(raftpb::MessageType_Name(m.type())) + " at term " + N(m.term()) +
         " but its durable term is " + N(durable_term));
  }
}

void Invariants::ObserveCommit(uint64_t term, uint64_t commit, const NodeLogView& log,
                               uint64_t* checked) {
  uint64_t& max_commit = max_commit_at_term_[term];
  max_commit = std::max(max_commit, commit);
  for (uint64_t i = *checked + 1; i <= commit && !failed(); ++i) {
    uint64_t have = 0;
    LogLookup found = log.TermAt(i, &have);
    if (found == LogLookup::kCompacted) continue;
    if (found == LogLookup::kMissing) {
      Fail("commit beyond log: n" + N(log.id()) + " has commit " + N(commit) + " but no entry " +
           N(i));
      return;
    }
    if (committed_terms_.size() < i) committed_terms_.resize(i, 0);
    uint64_t& want = committed_terms_[i - 1];
    if (want == 0) {
      want = have;
    } else if (want != have) {
      Fail("committed prefix: n" + N(log.id()) + " has entry " + N(i) + " of term " + N(have) +
           " under its commit index " + N(commit) + ", but an entry of term " + N(want) +
           " was committed there");
    }
  }
  *checked = std::max(*checked, commit);
}

void Invariants::ObserveLeaderCommitAdvance(uint64_t term, uint64_t commit,
                                            const NodeLogView& log) {
  if (!protocol_checks_) return;
  uint64_t have = 0;
  if (log.TermAt(commit, &have) == LogLookup::kFound && have == term) return;
  Fail("commit rule (§5.4.2): n" + N(log.id()) + ", leader of term " + N(term) +
       ", advanced its commit index to " + N(commit) + ", an entry of term " + N(have));
}

void Invariants::ObservePersisted(const NodeLogView& log, const std::vector<raftpb::Entry>& entries,
                                  bool prev_known, uint64_t prev_term) {
  for (const raftpb::Entry& e : entries) {
    LogEntryId id{EntryHash(e), prev_term, prev_known};
    auto [it, inserted] = log_ids_.emplace(std::make_pair(e.index(), e.term()), id);
    if (!inserted) {
      LogEntryId& seen = it->second;
      if (seen.hash != id.hash) {
        Fail("log matching: n" + N(log.id()) + " persisted a different entry at index " +
             N(e.index()) + " term " + N(e.term()) + " than another node");
        return;
      }
      if (seen.prev_known && prev_known && seen.prev_term != prev_term) {
        Fail("log matching: n" + N(log.id()) + " has entry " + N(e.index() - 1) + " of term " +
             N(prev_term) + " before (index " + N(e.index()) + ", term " + N(e.term()) +
             "), another node has term " + N(seen.prev_term));
        return;
      }
      if (!seen.prev_known && prev_known) {
        seen.prev_known = true;
        seen.prev_term = prev_term;
      }
    }
    prev_known = true;
    prev_term = e.term();
  }
}

void Invariants::ObserveApplied(uint64_t node, const raftpb::Entry& e) {
  uint64_t h = EntryHash(e);
  auto [it, inserted] = applied_hash_.emplace(e.index(), h);
  if (!inserted && it->second != h) {
    Fail("state machine safety: n" + N(node) + " applied a different entry at index " +
         N(e.index()) + " (term " + N(e.term()) + ") than another node");
  }
}

void Invariants::ObserveSnapshot(uint64_t node, uint64_t index, uint64_t term,
                                 const std::string& data) {
  std::pair<uint64_t, uint64_t> id{term, HashBytes(data)};
  auto [it, inserted] = snapshot_hash_.emplace(index, id);
  if (!inserted && it->second != id) {
    Fail("state machine safety: n" + N(node) + " holds a snapshot at index " + N(index) +
         " that differs from another node's");
  }
}

}  // namespace kvd::sim
