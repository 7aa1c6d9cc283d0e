find_package(CLI11 CONFIG REQUIRED)
add_library(kvd_cli_flags STATIC ${CMAKE_CURRENT_SOURCE_DIR}/kvd_flags.cc)
target_include_directories(kvd_cli_flags PUBLIC ${PROJECT_SOURCE_DIR})

# kvd's main is compiled once; linking the object library puts it into the server and into its
# planted-bug test build.
add_library(kvd_main OBJECT ${CMAKE_CURRENT_SOURCE_DIR}/kvd.cc)
target_link_libraries(kvd_main PUBLIC kvd_cli_flags kvd_kv kvd_rpc_peer kvd_rpc_http CLI11::CLI11)
add_executable(kvd)
target_link_libraries(kvd PRIVATE kvd_main kvd_node)

# Test only (never installed or started by scripts/): kvd with a planted bug (kv/node_bug_hooks.cc)
# that the Jepsen suite must report: reads without ReadIndex, writes acknowledged before commit,
# keys routed by the ring of the node's own flags instead of the committed directory.
foreach(bug local_reads early_ack route_by_own_flags ignore_fence early_txn_answer
    drop_stale_intents)
  add_executable(kvd_bug_${bug})
  target_link_libraries(kvd_bug_${bug} PRIVATE kvd_main kvd_node_bug_${bug})
endforeach()
# Test only: kvd that exits like kill -9 at the crash point named by $KVD_CRASH_AT (e.g.
# txn-after-commit), for the integration tests that kill a transaction's coordinator mid-protocol.
add_executable(kvd_crash_at)
target_link_libraries(kvd_crash_at PRIVATE kvd_main kvd_node_crash_at)
