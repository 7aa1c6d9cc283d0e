// Copyright (c) kvd authors.
//
// A reader for the flat Clojure/EDN maps of Jepsen-style history lines, e.g.
//   {:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}
// Supported values: nil, true/false, integers, keywords and strings (with \" \\ \n \t \r
// escapes). Nested collections are not supported. Internal to kvd_lincheck; pure functions.

#ifndef KVD_JEPSEN_CHECKER_EDN_MAP_H_
#define KVD_JEPSEN_CHECKER_EDN_MAP_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace kvd::lincheck {

struct EdnValue {
  enum class Kind { kNil, kBool, kInteger, kKeyword, kString };
  Kind kind = Kind::kNil;
  std::string text{};   // kKeyword: the name with its ':'; kString: the unescaped contents.
  int64_t integer = 0;  // kInteger; kBool as 0/1.
};

// Keys are keywords, with their ':' (":process").
using EdnMap = std::map<std::string, EdnValue, std::less<>>;

// Parses one map that fills the whole of `text` (surrounding whitespace allowed). Returns an
// error message, empty on success.
[[nodiscard]] std::string ParseEdnMap(std::string_view text, EdnMap* out);

}  // namespace kvd::lincheck

#endif  // KVD_JEPSEN_CHECKER_EDN_MAP_H_
