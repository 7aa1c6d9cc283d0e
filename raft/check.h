// KVD_CHECK: assertions that stay on in release builds. A broken invariant is a bug; it is never
// logged and ignored. By default a failed check prints where and why, then aborts.
//
// Simulation targets define KVD_CHECK_THROWS so that a failed check inside the core becomes a
// failed seed (kvd::CheckFailure, caught by the simulator and reported with its replay command)
// instead of ending a sweep of thousands of seeds. Production code never catches it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace kvd {

struct CheckFailure : std::logic_error {
  using std::logic_error::logic_error;
};

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr, const std::string& msg);

}  // namespace kvd

#define KVD_CHECK(cond)                                             \
  do {                                                              \
    if (!(cond)) ::kvd::CheckFailed(__FILE__, __LINE__, #cond, ""); \
  } while (0)

// KVD_CHECK_MSG(cond, a << b << c): the message is built only when the check fails.
#define KVD_CHECK_MSG(cond, stream_expr)                                  \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::ostringstream kvd_check_os_;                                   \
      kvd_check_os_ << stream_expr;                                       \
      ::kvd::CheckFailed(__FILE__, __LINE__, #cond, kvd_check_os_.str()); \
    }                                                                     \
  } while (0)
