// kvctl: see kvctl.h for the commands and exit codes.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "cli/kvctl.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const char* endpoints = std::getenv("KVCTL_ENDPOINTS");
  kvd::cli::KvctlEnv env{std::cin, std::cout, std::cerr, std::nullopt, isatty(STDOUT_FILENO) == 1};
  if (endpoints != nullptr) env.endpoints = endpoints;
  int code = kvd::cli::RunKvctl(argc, argv, env);
  std::cout.flush();
  return code;
}
