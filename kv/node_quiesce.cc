// Quiescence: an idle shard costs nothing. A leader whose group has been idle for a while (every
// replica holds and has committed its whole log, nothing waits) stops ticking, so it sends no
// heartbeats, and tells its followers with a QuiesceNotice; a follower that agrees (same leader,
// term and commit) stops ticking too, so it never times out. Anything that needs the group wakes
// the replica that sees it: a Raft message other than a plain acknowledgement, a client request,
// a snapshot chunk, or (for a follower) the leader's node becoming unreachable over the
// transport. Quiescence only withholds ticks; it never changes what Raft does with a message, so
// it can cost availability (a follower of a dead, quiesced leader waits for the transport to
// notice), never safety.
#include "kv/node_impl.h"

namespace kvd::kv {
namespace {

// Idle this long (ticks) before a leader quiesces: several heartbeats carried the final commit
// index to the followers.
constexpr uint64_t kQuiesceAfterTicks = 20;

}  // namespace

void CoreImpl::WakeFor(Replica& r, const raftpb::Message& m) {
  const bool plain_ack =
      m.type() == raftpb::MSG_HEARTBEAT_RESP || (m.type() == raftpb::MSG_APP_RESP && !m.reject());
  if (r.quiesced && !plain_ack) {
    Wake(r);
    counters.quiesced_groups--;
  } else if (!plain_ack) {
    r.idle_ticks = 0;
  }
}

bool CoreImpl::StaysQuiet(Replica& r) {
  if (!r.quiesced) return false;
  const bool follower = r.soft.state != raft::StateType::kLeader;
  if (follower &&
      (r.soft.lead == 0 || (transport != nullptr && !transport->Reachable(r.soft.lead)))) {
    Wake(r);  // the leader's node is gone: time out and elect another
    counters.quiesced_groups--;
    return false;
  }
  return true;
}

void CoreImpl::MaybeQuiesce(Replica& r) {
  if (r.soft.state != raft::StateType::kLeader || r.quiesced) return;
  if (++r.idle_ticks < kQuiesceAfterTicks || !cfg.quiesce) return;
  if (!r.lock_events.empty()) return;  // a waiter's turn needs this leader's LockTick
  const raft::NodeStatus st = r.raw->GetStatus();
  if (st.lead_transferee != 0 || st.hard_state.commit() != st.last_index ||
      r.sm->applied().index() != st.hard_state.commit() || !r.snapshot_sent_tick.empty()) {
    return;
  }
  for (const auto& [id, pr] : st.progress) {
    if (pr.match != st.last_index) return;
  }
  for (const auto& [id, read] : reads) {
    if (read.shard == r.shard) return;
  }
  r.quiesced = true;
  counters.quiesced_groups++;
  counters.quiesces++;
  kvpb::QuiesceNotice n;
  n.set_shard(r.shard);
  n.set_term(st.hard_state.term());
  n.set_commit(st.hard_state.commit());
  for (const auto& [id, pr] : st.progress) {
    if (id != cfg.node_id) *outbox[id].add_quiesce() = n;
  }
}

void CoreImpl::OnQuiesceNotice(uint64_t from, const kvpb::QuiesceNotice& n) {
  auto it = replicas.find(n.shard());
  if (it == replicas.end()) return;
  Replica& r = *it->second;
  if (r.quiesced || r.soft.state == raft::StateType::kLeader || r.soft.lead != from) return;
  const raft::NodeStatus st = r.raw->GetBasicStatus();
  // A follower that has not yet learned the final commit stays awake; it times out and the
  // leader wakes to its (pre-)vote, which is what a follower that missed heartbeats does anyway.
  if (st.hard_state.term() != n.term() || st.hard_state.commit() != n.commit() ||
      st.last_index != n.commit()) {
    return;
  }
  r.quiesced = true;
  counters.quiesced_groups++;
  counters.quiesces++;
}

}  // namespace kvd::kv
