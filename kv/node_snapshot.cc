// Snapshot streaming between nodes (docs/design.md). The sender reads a consistent image of the
// shard from kvdb and sends it in bounded chunks, then the MSG_SNAP itself with metadata that
// describes exactly that image; the receiver stages the chunks and lets Raft see the MSG_SNAP only
// once the whole image is there; installing it replaces the shard's state in one batch.
#include "kv/node_impl.h"
#include "raft/check.h"

namespace kvd::kv {
namespace {

// Bound on what one incoming snapshot may stage in memory.
constexpr size_t kMaxStagedBytes = size_t{1} << 30;
// Ticks after which a snapshot the follower never acknowledged is reported failed (and resent).
constexpr uint64_t kSnapshotAckTicks = 100;

}  // namespace

void CoreImpl::SendSnapshot(Replica& r, raftpb::Message m) {
  const uint64_t to = m.to();
  std::vector<kvpb::SnapshotChunk> chunks;
  raft::Status s = r.sm->ReadSnapshot(cfg.snapshot_chunk_bytes, [&](const kvpb::SnapshotChunk& c) {
    chunks.push_back(c);
    return true;
  });
  Transport* t = transport;
  if (!s.ok() || chunks.empty() || t == nullptr) {
    deferred.push_back({r.shard, to, true, true});
    return;
  }
  // The image is at the state machine's applied index, at or past the log's compaction point, so
  // the follower can continue from the leader's log right after it.
  const kvpb::AppliedState& image = chunks.front().applied();
  raftpb::SnapshotMetadata* meta = m.mutable_snapshot()->mutable_metadata();
  meta->set_index(image.index());
  meta->set_term(image.term());
  if (image.has_conf_state() &&
      (image.conf_state().voters_size() > 0 || image.conf_state().voters_outgoing_size() > 0)) {
    *meta->mutable_conf_state() = image.conf_state();
  }
  m.mutable_snapshot()->clear_data();
  bool sent = true;
  for (auto& c : chunks) {
    kvpb::PeerBatch frame;
    frame.set_from_node(cfg.node_id);
    frame.set_to_node(to);
    frame.set_snapshot_term(m.term());
    *frame.mutable_snapshot_chunk() = std::move(c);
    sent = sent && t->Send(std::move(frame));
  }
  kvpb::PeerBatch last;
  last.set_from_node(cfg.node_id);
  last.set_to_node(to);
  auto* sm = last.add_messages();
  sm->set_shard(r.shard);
  *sm->mutable_message() = std::move(m);
  sent = sent && t->Send(std::move(last));
  counters.snapshots_sent++;
  r.snapshot_sent_tick[to] = ticks;
  if (cfg.log) {
    cfg.log("shard " + std::to_string(r.shard) + ": sent a snapshot at index " +
            std::to_string(image.index()) + " to n" + std::to_string(to) + " in " +
            std::to_string(chunks.size()) + " chunks" + (sent ? "" : " (a frame was dropped)"));
  }
  if (!sent) deferred.push_back({r.shard, to, true, true});
}

void CoreImpl::StageChunk(Replica& r, const kvpb::SnapshotChunk& chunk) {
  if (chunk.seq() == 0) {
    r.staged.clear();
    r.staged_bytes = 0;
    r.staged_complete = false;
  } else if (r.staged.empty() || r.staged_complete || chunk.seq() != r.staged.size()) {
    // A gap (a dropped frame): discard this stream; the leader resends after it times out.
    r.staged.clear();
    r.staged_bytes = 0;
    r.staged_complete = false;
    return;
  }
  r.staged_bytes += chunk.ByteSizeLong();
  if (r.staged_bytes > kMaxStagedBytes) {
    r.staged.clear();
    r.staged_bytes = 0;
    return;
  }
  r.staged.push_back(chunk);
  r.staged_complete = chunk.last();
}

bool CoreImpl::AcceptStagedSnapshot(Replica& r, const raftpb::Message& m) {
  const uint64_t index = m.snapshot().metadata().index();
  if (!KeepAcceptedImageAside()) {
    return r.staged_complete && !r.staged.empty() && r.staged.front().applied().index() == index;
  }
  if (r.staged_complete && !r.staged.empty() && r.staged.front().applied().index() == index) {
    // Raft may take this image now; a resent stream may restart 'staged' before the Ready that
    // installs it, so the image moves aside. Raft's commit index only grows, so of two images
    // it could take only the newer one: an older or equal one is never needed again.
    if (r.accepted.empty() || r.accepted.front().applied().index() < index) {
      r.accepted = std::move(r.staged);
    }
    r.staged.clear();
    r.staged_bytes = 0;
    r.staged_complete = false;
    return true;
  }
  // The image may already have been moved aside for an earlier copy of this MSG_SNAP.
  return !r.accepted.empty() && r.accepted.front().applied().index() == index;
}

void CoreImpl::InstallAcceptedSnapshot(Replica& r, const raftpb::Snapshot& snapshot) {
  std::vector<kvpb::SnapshotChunk>& image = KeepAcceptedImageAside() ? r.accepted : r.staged;
  KVD_CHECK_MSG(!image.empty() && image.front().applied().index() == snapshot.metadata().index(),
                "Raft accepted a snapshot whose data was not staged");
  raft::Status s = r.sm->InstallSnapshot(image);
  KVD_CHECK_MSG(s.ok(), "snapshot install failed: " << s.ToString());
  s = kvdb->Sync();
  KVD_CHECK_MSG(s.ok(), "state machine sync failed: " << s.ToString());
  image.clear();
  if (!KeepAcceptedImageAside()) {
    r.staged_bytes = 0;
    r.staged_complete = false;
  }
  r.last_compacted = snapshot.metadata().index();
  counters.snapshots_installed++;
  LoadLockEvents(r);
  LoadTxnState(r);
  if (r.shard == kMetaShard) LoadDirectory();
  if (cfg.log) {
    cfg.log("shard " + std::to_string(r.shard) + ": installed a snapshot at index " +
            std::to_string(snapshot.metadata().index()));
  }
}

void CoreImpl::RetryStuckSnapshots(Replica& r) {
  if (r.snapshot_sent_tick.empty()) return;
  raft::NodeStatus st = r.raw->GetStatus();
  for (auto it = r.snapshot_sent_tick.begin(); it != r.snapshot_sent_tick.end();) {
    auto pr = st.progress.find(it->first);
    const bool waiting = pr != st.progress.end() && pr->second.state == "snapshot";
    if (!waiting) {
      it = r.snapshot_sent_tick.erase(it);
    } else if (ticks - it->second > kSnapshotAckTicks) {
      r.raw->ReportSnapshot(it->first, /*failed=*/true);
      it = r.snapshot_sent_tick.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace kvd::kv
