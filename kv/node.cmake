# The node host: one driver thread over many shard replicas (kv/node.h). Threads and clocks live
# here, not in kvd_kv's storage code.
find_package(Threads REQUIRED)
add_library(kvd_node STATIC
  ${CMAKE_CURRENT_LIST_DIR}/node.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_driver.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_metrics.cc
  ${CMAKE_CURRENT_LIST_DIR}/node_snapshot.cc
)
target_link_libraries(kvd_node PUBLIC kvd_kv Threads::Threads)

# In-process cluster of three nodes over an in-memory transport (real threads, real time).
add_executable(kv_node_test ${CMAKE_CURRENT_LIST_DIR}/node_test.cc)
target_link_libraries(kv_node_test PRIVATE kvd_node GTest::gtest_main)
gtest_discover_tests(kv_node_test PROPERTIES LABELS integration DISCOVERY_TIMEOUT 30)
