// Copyright (c) kvd authors.

#include "jepsen/harness/netem.h"

#include <sstream>

#include "jepsen/harness/partitioner.h"  // RunQuiet

namespace kvd::jepsen {
namespace {

bool Tc(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"tc"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunQuiet(argv) == 0;
}

std::vector<std::string> Split(const std::string& words) {
  std::istringstream in(words);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

Netem::Netem(std::vector<uint16_t> peer_ports) : peer_ports_(std::move(peer_ports)) {}

Netem::~Netem() { Teardown(); }

bool Netem::Setup(std::string* error) {
  std::string qdiscs;
  if (RunQuiet({"tc", "qdisc", "show", "dev", "lo"}, &qdiscs) != 0) {
    *error = "tc is not available";
    return false;
  }
  if (qdiscs.find("noqueue") == std::string::npos) {
    *error = "lo already has a qdisc (another run or another user): " + qdiscs;
    return false;
  }
  set_up_ = true;
  if (!Install("delay 0ms")) {
    *error = "tc could not install htb + u32 + netem on lo (needs root and the kernel's sch_netem)";
    set_up_ = false;
    return false;
  }
  return Heal();
}

bool Netem::Install(const std::string& netem_args) {
  if (!set_up_ || !Heal()) return false;
  installed_ = true;  // from here on Heal() removes whatever part got installed
  bool ok = Tc(Split("qdisc add dev lo root handle 1: htb default 1")) &&
            Tc(Split("class add dev lo parent 1: classid 1:1 htb rate 100gbit")) &&
            Tc(Split("class add dev lo parent 1: classid 1:2 htb rate 100gbit"));
  for (size_t i = 0; ok && i < peer_ports_.size(); ++i) {
    for (const char* field : {"sport", "dport"}) {
      ok = ok && Tc(Split("filter add dev lo parent 1: protocol ip prio 1 u32 match ip " +
                          std::string(field) + " " + std::to_string(peer_ports_[i]) +
                          " 0xffff flowid 1:2"));
    }
  }
  ok = ok && Tc(Split("qdisc add dev lo parent 1:2 handle 20: netem " + netem_args));
  return ok;
}

bool Netem::Delay(int delay_ms, int jitter_ms) {
  return Install("delay " + std::to_string(delay_ms) + "ms " + std::to_string(jitter_ms) + "ms");
}

int64_t Netem::DelayedPackets() {
  std::string stats;
  if (!installed_ ||
      RunQuiet({"tc", "-s", "class", "show", "dev", "lo", "classid", "1:2"}, &stats) != 0)
    return -1;
  // "... Sent <bytes> bytes <packets> pkt ..."
  std::istringstream in(stats);
  for (std::string word, prev, prev2; in >> word; prev2 = prev, prev = word) {
    if (word == "pkt" && prev2 == "bytes") return std::stoll(prev);
  }
  return -1;
}

bool Netem::Heal() {
  if (!installed_) return true;
  installed_ = false;
  return Tc(Split("qdisc del dev lo root"));
}

void Netem::Teardown() { Heal(); }

}  // namespace kvd::jepsen
