# Peer transport (docs/formats.md): kv::Transport over Asio TCP. Includes kv/transport.h (header
# only) but never links kv's library: rpc implements kv's interfaces, it does not use kv.
add_library(kvd_rpc_peer STATIC
  ${CMAKE_CURRENT_LIST_DIR}/peer_frame.cc
  ${CMAKE_CURRENT_LIST_DIR}/peer_link.cc
  ${CMAKE_CURRENT_LIST_DIR}/peer_listener.cc
  ${CMAKE_CURRENT_LIST_DIR}/peer_transport.cc)
target_include_directories(kvd_rpc_peer PUBLIC ${PROJECT_SOURCE_DIR})
# Asio stays out of the public header, so Boost is a private dependency.
target_link_libraries(kvd_rpc_peer PUBLIC kvd_proto kvd_rpc_text Threads::Threads PRIVATE Boost::headers)

# Unit tests beside the code (label: unit). The test drives raw sockets with Asio itself.
add_executable(peer_transport_test
  ${CMAKE_CURRENT_LIST_DIR}/peer_abuse_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/peer_frame_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/peer_test_util.cc
  ${CMAKE_CURRENT_LIST_DIR}/peer_transport_test.cc)
target_link_libraries(peer_transport_test PRIVATE kvd_rpc_peer Boost::headers GTest::gtest_main)
gtest_discover_tests(peer_transport_test PROPERTIES LABELS unit)

# GCC warns (-Wtsan) that TSan does not model the std::atomic_thread_fence inside Asio's headers;
# that is Asio's business, not a defect here, so keep it from failing the TSan build.
if(KVD_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(kvd_rpc_peer PRIVATE -Wno-tsan)
  target_compile_options(peer_transport_test PRIVATE -Wno-tsan)
endif()
