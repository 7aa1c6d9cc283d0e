#include "raft/check.h"

#include <cstdio>
#include <cstdlib>

namespace kvd {

void CheckFailed(const char* file, int line, const char* expr, const std::string& msg) {
  std::string text = std::string(file) + ":" + std::to_string(line) + ": check failed: " + expr;
  if (!msg.empty()) text += ": " + msg;
#ifdef KVD_CHECK_THROWS
  throw CheckFailure(text);
#else
  std::fprintf(stderr, "%s\n", text.c_str());
  std::abort();
#endif
}

}  // namespace kvd
