# The node host: one driver thread over many shard replicas (kv/node.h). Threads and clocks live
# here, not in kvd_kv's storage code.
find_package(Threads REQUIRED)
add_library(kvd_node_common OBJECT
  ${CMAKE_CURRENT_LIST_DIR}/node.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_apply.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_core.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_driver.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_locks.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_meta.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_open.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_quiesce.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_route.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_metrics.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_snapshot.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_txn.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_txn_readonly.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_txn_reads.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_txn_recovery.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_txn_shard.cc
)
target_link_libraries(kvd_node_common PUBLIC kvd_kv Threads::Threads)

# kvd_add_node_library(<target> [DEFINITIONS...]): the node host with extra definitions for
# node_bug_hooks.cc, the only file that depends on them. kvd_node (production) has none; the
# planted-bug variants exist to prove that the Jepsen suite catches the bugs.
function(kvd_add_node_library target)
  add_library(${target} STATIC ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/node_bug_hooks.cc
    $<TARGET_OBJECTS:kvd_node_common>)
  target_link_libraries(${target} PUBLIC kvd_kv Threads::Threads)
  if(ARGN)
    target_compile_definitions(${target} PRIVATE ${ARGN})
  endif()
endfunction()
kvd_add_node_library(kvd_node)
kvd_add_node_library(kvd_node_bug_local_reads KVD_BUG_LOCAL_READS)
kvd_add_node_library(kvd_node_bug_early_ack KVD_BUG_EARLY_ACK)
kvd_add_node_library(kvd_node_bug_reuse_request_ids KVD_BUG_REUSE_REQUEST_IDS)
kvd_add_node_library(kvd_node_bug_no_reconcile KVD_BUG_NO_RECONCILE)
kvd_add_node_library(kvd_node_bug_staged_install KVD_BUG_STAGED_INSTALL)
kvd_add_node_library(kvd_node_bug_route_by_own_flags KVD_BUG_ROUTE_BY_OWN_FLAGS)
kvd_add_node_library(kvd_node_bug_ignore_fence KVD_BUG_IGNORE_FENCE)
kvd_add_node_library(kvd_node_bug_wall_clock_stamps KVD_BUG_WALL_CLOCK_STAMPS)
kvd_add_node_library(kvd_node_bug_early_txn_answer KVD_BUG_EARLY_TXN_ANSWER KVD_CRASH_AT_ENV)
kvd_add_node_library(kvd_node_bug_drop_stale_intents KVD_BUG_DROP_STALE_INTENTS KVD_CRASH_AT_ENV)
kvd_add_node_library(kvd_node_crash_at KVD_CRASH_AT_ENV)

# In-process cluster of three nodes over an in-memory transport (real threads, real time).
add_executable(kv_node_test ${CMAKE_CURRENT_LIST_DIR}/node_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_lock_test.cc ${CMAKE_CURRENT_LIST_DIR}/node_txn_test.cc)
target_link_libraries(kv_node_test PRIVATE kvd_node GTest::gtest_main)
gtest_discover_tests(kv_node_test PROPERTIES LABELS integration DISCOVERY_TIMEOUT 30)

# NodeCore driven by hand (white-box regressions). Linked with the throwing-check Raft core so a
# failed check is a test failure, not an abort; the planted-bug build must fail the same check.
add_executable(node_core_test ${CMAKE_CURRENT_LIST_DIR}/node_core_test.cc)
target_link_libraries(node_core_test PRIVATE kvd_node GTest::gtest_main)
set_target_properties(node_core_test PROPERTIES KVD_RAFT_VARIANT kvd_raft_sim)
gtest_discover_tests(node_core_test PROPERTIES LABELS unit)
add_executable(node_core_bug_staged_install_test ${CMAKE_CURRENT_LIST_DIR}/node_core_test.cc)
target_link_libraries(node_core_bug_staged_install_test
  PRIVATE kvd_node_bug_staged_install GTest::gtest_main)
target_compile_definitions(node_core_bug_staged_install_test PRIVATE KVD_EXPECT_STAGED_INSTALL_BUG)
set_target_properties(node_core_bug_staged_install_test PROPERTIES KVD_RAFT_VARIANT kvd_raft_sim)
gtest_discover_tests(node_core_bug_staged_install_test TEST_PREFIX "staged_install."
  PROPERTIES LABELS unit)
