// The decisions that planted-bug test builds of kvd change (kv/node_impl.h), kept in this one
// file so that only it is compiled per variant (kv/node.cmake). The production library kvd_node
// defines none of the macros below; the Jepsen suite must report each bug (jepsen/CMakeLists.txt):
//   KVD_BUG_LOCAL_READS  every read is answered from the replica's applied state without
//                        confirming leadership: "linearizable" reads without ReadIndex
//                        (kvd_bug_local_reads);
//   KVD_BUG_EARLY_ACK    a write is acknowledged as soon as the leader proposed it, before it is
//                        committed (kvd_bug_early_ack).
#include "kv/node_impl.h"

namespace kvd::kv {

bool ServeFromLocalState(bool stale_requested) {
#ifdef KVD_BUG_LOCAL_READS
  (void)stale_requested;
  return true;
#else
  return stale_requested;
#endif
}

bool AckOnPropose() {
#ifdef KVD_BUG_EARLY_ACK
  return true;
#else
  return false;
#endif
}

}  // namespace kvd::kv
