// Argument helpers for the scenario commands (internal to tests/scenario). They throw
// CommandError on malformed arguments; InteractionEnv::Handle turns it into an "error:" line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/scenario/datadriven.h"

namespace kvd::scenario {

bool IsNumber(const std::string& s);
uint64_t ToU64(const std::string& s);
const datadriven::CmdArg* Find(const datadriven::TestData& td, const std::string& key);
uint64_t U64Arg(const datadriven::TestData& td, const std::string& key, uint64_t def);
bool BoolArg(const datadriven::TestData& td, const std::string& key, bool def);
std::string StrArg(const datadriven::TestData& td, const std::string& key, const std::string& def);
std::vector<uint64_t> IdsArg(const datadriven::TestData& td, const std::string& key);
// Bare numeric arguments, in order: "stabilize 1 2", "tick 1 5".
std::vector<uint64_t> Positional(const datadriven::TestData& td);
uint64_t FirstId(const datadriven::TestData& td);  // the first bare number, required

}  // namespace kvd::scenario
