// The one decision that separates a linearizable read from a local one (kv/node_impl.h).
//
// KVD_BUG_LOCAL_READS is a planted bug, compiled only into the test binary kvd_bug_local_reads:
// every read is answered from the replica's applied state without confirming leadership, i.e.
// "linearizable" reads served without ReadIndex. The Jepsen suite must report that build invalid
// (jepsen/CMakeLists.txt). The production library kvd_node never defines it.
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

}  // namespace kvd::kv
