# HTTP front end (Beast): the v1 API of docs/api.md over kv::KvService (kv/service.h, header-only).
# Beast/Asio are compiled only in http_server.cc and http_session.cc; keep it that way (slow TUs).
add_library(kvd_rpc_http STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/http_errors.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_json.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_metrics.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_router.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_router_locks.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_router_txn.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_txn_json.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_server.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_session.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_url.cc)
target_include_directories(kvd_rpc_http PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(kvd_rpc_http PUBLIC kvd_proto kvd_rpc_text Boost::json Boost::headers Threads::Threads)

add_executable(http_server_test
  ${CMAKE_CURRENT_SOURCE_DIR}/http_abuse_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_codec_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_server_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_locks_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_txn_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_txn_bounds_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_session_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/http_test_util.cc)
target_link_libraries(http_server_test PRIVATE kvd_rpc_http GTest::gtest_main)
gtest_discover_tests(http_server_test PROPERTIES LABELS unit)

# GCC warns (-Wtsan) that TSan does not model the std::atomic_thread_fence inside Asio's headers;
# that is Asio's, not ours, so it must not fail the TSan build.
if(KVD_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(kvd_rpc_http PRIVATE -Wno-tsan)
  target_compile_options(http_server_test PRIVATE -Wno-tsan)
endif()
