// Copyright (c) kvd authors.
//
// kvd_jepsen: tests a real kvd cluster's linearizability under faults (jepsen/README.md).
// SIGINT/SIGTERM end the run early but cleanly (heal, remove iptables rules, stop the nodes); a
// second signal cleans up at once and exits.

#include <signal.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <thread>

#include "jepsen/harness/run.h"

int main(int argc, char** argv) {
  int exit_code = 0;
  auto options = kvd::jepsen::ParseOptions(argc, argv, &exit_code);
  if (!options) return exit_code;

  // Block the stop signals in every thread; one thread waits for them. A shell starts background
  // jobs with SIGINT ignored, and an ignored signal is discarded even while blocked: restore the
  // default so that `kill -INT` reaches sigwait(). SIGHUP stays ignored under nohup.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread([signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::cerr << "kvd_jepsen: signal " << sig << ", healing and stopping (again to abort)\n";
    kvd::jepsen::g_interrupted = true;
    sigwait(&signals, &sig);
    kvd::jepsen::EmergencyCleanup();
    std::_Exit(130);
  }).detach();

  try {
    return kvd::jepsen::Run(*options);
  } catch (const std::exception& e) {
    // Run()'s destructors have removed the iptables rules and stopped the nodes by now.
    std::cerr << "kvd_jepsen: error: " << e.what() << "\n";
    return 2;
  }
}
