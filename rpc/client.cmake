# The HTTP client library (kvctl, jepsen, bench). Beast/Asio live only in client_transport.cc; the
# public header http_client.h has no Boost in it. Smart routing (client_directory.cc) rebuilds the
# ring with kv's ring library (kvd_ring: pure functions over xxHash), never kvd_kv or kvd_node.
add_library(kvd_rpc_client STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/http_client.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_client_locks.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_client_txn.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/client_directory.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/client_json.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/client_json_txn.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/client_transport.cc
)
target_include_directories(kvd_rpc_client PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(kvd_rpc_client PUBLIC kvd_rpc_text Threads::Threads
                      PRIVATE kvd_ring Boost::json Boost::headers)

# Test-only: a scripted Beast HTTP server on an OS-chosen port (used by kvctl_test too).
add_library(kvd_rpc_client_testing STATIC ${CMAKE_CURRENT_SOURCE_DIR}/client_fake_server.cc)
target_link_libraries(kvd_rpc_client_testing PUBLIC kvd_rpc_client PRIVATE Boost::headers)

add_executable(http_client_test ${CMAKE_CURRENT_SOURCE_DIR}/http_client_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/parsers_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_client_retry_test.cc ${CMAKE_CURRENT_SOURCE_DIR}/http_client_json_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_client_routing_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_client_locks_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_client_txn_test.cc)
target_link_libraries(http_client_test PRIVATE kvd_rpc_client kvd_rpc_client_testing kvd_ring
                      GTest::gtest_main)
gtest_discover_tests(http_client_test PROPERTIES LABELS unit)

# The client against the real HTTP server (in-memory KvService), once the server target exists.
if(TARGET kvd_rpc_http)
  target_sources(http_client_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/http_client_server_test.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/http_client_locks_server_test.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/http_client_txn_server_test.cc
    ${CMAKE_CURRENT_SOURCE_DIR}/http_test_util.cc)
  target_link_libraries(http_client_test PRIVATE kvd_rpc_http)
endif()
