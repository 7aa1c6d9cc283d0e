#include "tests/scenario/env_args.h"

#include <algorithm>

#include "tests/scenario/interaction_env.h"

namespace kvd::scenario {

using datadriven::CmdArg;
using datadriven::TestData;

bool IsNumber(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

uint64_t ToU64(const std::string& s) {
  if (!IsNumber(s)) throw CommandError{"not a number: '" + s + "'"};
  return std::stoull(s);
}

const CmdArg* Find(const TestData& td, const std::string& key) {
  for (const auto& a : td.args) {
    if (a.key == key) return &a;
  }
  return nullptr;
}

uint64_t U64Arg(const TestData& td, const std::string& key, uint64_t def) {
  const CmdArg* a = Find(td, key);
  if (!a) return def;
  if (a->vals.size() != 1) throw CommandError{key + " needs one value"};
  return ToU64(a->vals[0]);
}

bool BoolArg(const TestData& td, const std::string& key, bool def) {
  const CmdArg* a = Find(td, key);
  if (!a) return def;
  if (a->vals.empty()) return true;  // a bare flag
  if (a->vals[0] != "true" && a->vals[0] != "false") throw CommandError{key + ": true or false"};
  return a->vals[0] == "true";
}

std::string StrArg(const TestData& td, const std::string& key, const std::string& def) {
  const CmdArg* a = Find(td, key);
  return a && a->vals.size() == 1 ? a->vals[0] : def;
}

std::vector<uint64_t> IdsArg(const TestData& td, const std::string& key) {
  std::vector<uint64_t> ids;
  if (const CmdArg* a = Find(td, key)) {
    for (const auto& v : a->vals) ids.push_back(ToU64(v));
  }
  return ids;
}

std::vector<uint64_t> Positional(const TestData& td) {
  std::vector<uint64_t> out;
  for (const auto& a : td.args) {
    if (a.vals.empty() && IsNumber(a.key)) out.push_back(ToU64(a.key));
  }
  return out;
}

uint64_t FirstId(const TestData& td) {
  const auto ids = Positional(td);
  if (ids.empty()) throw CommandError{td.cmd + " needs a node id"};
  return ids[0];
}

}  // namespace kvd::scenario
