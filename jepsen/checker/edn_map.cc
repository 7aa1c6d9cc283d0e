// Copyright (c) kvd authors.

#include "jepsen/checker/edn_map.h"

#include <cctype>
#include <charconv>

namespace kvd::lincheck {

namespace {

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  // Skips whitespace and commas (whitespace in EDN).
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (std::isspace(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == ',')) {
      ++pos_;
    }
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  bool Consume(char c) {
    if (AtEnd() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }

  std::string ReadValue(EdnValue* out) {
    if (Peek() == '"') return ReadString(out);
    const size_t start = pos_;
    while (!AtEnd() && !std::isspace(static_cast<unsigned char>(text_[pos_])) &&
           text_[pos_] != ',' && text_[pos_] != '}') {
      ++pos_;
    }
    const std::string_view atom = text_.substr(start, pos_ - start);
    if (atom.empty()) return "expected a value at column " + std::to_string(start + 1);
    if (atom == "nil") {
      *out = EdnValue{.kind = EdnValue::Kind::kNil};
    } else if (atom == "true" || atom == "false") {
      *out = EdnValue{.kind = EdnValue::Kind::kBool, .integer = atom == "true"};
    } else if (atom.front() == ':' && atom.size() > 1) {
      *out = EdnValue{.kind = EdnValue::Kind::kKeyword, .text = std::string(atom)};
    } else {
      int64_t value = 0;
      const auto [ptr, ec] = std::from_chars(atom.data(), atom.data() + atom.size(), value);
      if (ec != std::errc() || ptr != atom.data() + atom.size()) {
        return "unsupported value \"" + std::string(atom) + "\"";
      }
      *out = EdnValue{.kind = EdnValue::Kind::kInteger, .integer = value};
    }
    return "";
  }

 private:
  std::string ReadString(EdnValue* out) {
    *out = EdnValue{.kind = EdnValue::Kind::kString};
    ++pos_;  // Opening quote.
    while (!AtEnd()) {
      const char c = text_[pos_++];
      if (c == '"') return "";
      if (c != '\\') {
        out->text += c;
        continue;
      }
      if (AtEnd()) break;
      switch (const char escaped = text_[pos_++]) {
        case 'n':
          out->text += '\n';
          break;
        case 't':
          out->text += '\t';
          break;
        case 'r':
          out->text += '\r';
          break;
        case '"':
        case '\\':
          out->text += escaped;
          break;
        default:
          return std::string("unsupported escape \\") + escaped;
      }
    }
    return "unterminated string";
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::string ParseEdnMap(std::string_view text, EdnMap* out) {
  out->clear();
  Reader reader(text);
  reader.SkipSpace();
  if (!reader.Consume('{')) return "expected '{'";
  while (true) {
    reader.SkipSpace();
    if (reader.Consume('}')) break;
    EdnValue key;
    if (std::string error = reader.ReadValue(&key); !error.empty()) return error;
    if (key.kind != EdnValue::Kind::kKeyword) return "map keys must be keywords";
    reader.SkipSpace();
    EdnValue value;
    if (std::string error = reader.ReadValue(&value); !error.empty()) return error;
    if (!out->emplace(key.text, std::move(value)).second) return "duplicate key " + key.text;
  }
  reader.SkipSpace();
  if (!reader.AtEnd()) return "trailing characters after the map";
  return "";
}

}  // namespace kvd::lincheck
