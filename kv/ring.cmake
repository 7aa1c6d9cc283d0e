# kvd_ring: the consistent-hash ring and replica placement (kv/ring.h, kv/placement.h). Pure
# functions and immutable values over xxHash: no raft, LevelDB or protobuf, so clients, tools and
# benchmarks can link it alone.
find_package(PkgConfig REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)

add_library(kvd_ring STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/ring.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/placement.cc
)
target_include_directories(kvd_ring PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(kvd_ring PRIVATE PkgConfig::XXHASH)

add_executable(kv_ring_test
  ${CMAKE_CURRENT_SOURCE_DIR}/ring_test.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/placement_test.cc
)
target_link_libraries(kv_ring_test PRIVATE kvd_ring GTest::gtest_main)
gtest_discover_tests(kv_ring_test PROPERTIES LABELS unit)
