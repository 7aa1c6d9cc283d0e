# kvctl: the command-line client. The command logic is a library (kvd_kvctl) so kvctl_test can
# run it in-process against a fake server; kvctl_main.cc only wires argv, streams and environment.
find_package(CLI11 CONFIG REQUIRED)

add_library(kvd_kvctl STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_commands.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_directory.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_format.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_lock.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_lock_cli.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_lock_run.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_txn.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_txn_cli.cc)
target_include_directories(kvd_kvctl PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(kvd_kvctl PUBLIC kvd_rpc_client PRIVATE kvd_ring CLI11::CLI11)

add_executable(kvctl ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_main.cc)
target_link_libraries(kvctl PRIVATE kvd_kvctl)

add_executable(kvctl_test
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_commands_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_directory_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_lock_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/kvctl_txn_test.cc)
target_link_libraries(kvctl_test PRIVATE kvd_kvctl kvd_rpc_client_testing GTest::gtest_main)
gtest_discover_tests(kvctl_test PROPERTIES LABELS unit)
