#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace brasa {

// A set of bytes, one bit per value.
struct ByteSet {
  std::array<uint64_t, 4> bits{};

  bool contains(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
  ByteSet& add(uint8_t b) {
    bits[b >> 6] |= uint64_t{1} << (b & 63);
    return *this;
  }
  ByteSet& add_range(uint8_t first, uint8_t last) {
    for (int b = first; b <= last; ++b) add(static_cast<uint8_t>(b));
    return *this;
  }
  ByteSet& remove(uint8_t b) {
    bits[b >> 6] &= ~(uint64_t{1} << (b & 63));
    return *this;
  }
  bool operator==(const ByteSet&) const = default;
  ByteSet& operator|=(const ByteSet& other) {
    for (size_t i = 0; i < bits.size(); ++i) bits[i] |= other.bits[i];
    return *this;
  }
  bool empty() const { return (bits[0] | bits[1] | bits[2] | bits[3]) == 0; }
};

// The syntax of one kind of quoted string: its quote byte and the bytes that
// may follow a backslash as a one-character escape. Escapes of the form \uXXXX
// are always allowed (except UTF-16 surrogates).
struct StringSyntax {
  uint8_t quote = '"';
  ByteSet short_escapes;
  bool operator==(const StringSyntax&) const = default;
};

// A mark on an element position where a matcher stack rests inside the body of
// a quoted string, at a character boundary. From there the stack matches
// min_left to max_left more characters of string_syntaxes[syntax], then the
// closing quote. The token mask takes a fast path at such positions (see
// string_body_mask.h) instead of walking the vocabulary trie.
struct StringBodyMark {
  int32_t syntax = -1;      // index into Grammar::string_syntaxes; -1: not a string body position
  int32_t min_left = 0;
  int32_t max_left = -1;    // -1: no upper bound
  bool quote_next = false;  // the closing quote is the next element of this alternative, else the parent frame's
};

// One symbol of a grammar alternative. Alternatives are stored back to back in
// Grammar::elements, each terminated by an End element.
struct GrammarElement {
  enum class Kind : uint8_t { End, Bytes, Rule };
  Kind kind = Kind::End;
  int32_t value = 0;  // Bytes: index into Grammar::byte_sets; Rule: rule id
};

// A context-free grammar over bytes: each rule is a list of alternatives, each
// alternative a sequence of byte sets and rule references. Built by
// GrammarBuilder, which only writes right-recursive rules, so the matcher never
// meets left recursion.
struct Grammar {
  std::vector<GrammarElement> elements;
  std::vector<ByteSet> byte_sets;
  std::vector<std::vector<int32_t>> rules;  // rules[r] = start offsets of its alternatives in `elements`
  int32_t root = -1;

  // Per element position p, for the rest of its alternative from p on: the
  // bytes it can start with, and whether it can match no bytes at all. The
  // matcher uses them to expand only alternatives that can take the next byte.
  std::vector<ByteSet> first;
  std::vector<uint8_t> nullable;

  // String body marks per element position; empty when the grammar has none.
  std::vector<StringSyntax> string_syntaxes;
  std::vector<StringBodyMark> string_body;
};

// A sequence of symbols, the body of one alternative while building.
using Symbols = std::vector<GrammarElement>;

class GrammarBuilder {
 public:
  // Reserves a rule id, for rules that refer to themselves; define() fills it.
  int32_t declare();
  void define(int32_t rule, const std::vector<Symbols>& alternatives);
  int32_t add_rule(const std::vector<Symbols>& alternatives);

  Symbols literal(std::string_view bytes);
  Symbols bytes(const ByteSet& set);
  static Symbols ref(int32_t rule);

  // A rule matching `item` repeated between min_count and max_count times
  // (max_count < 0: no upper bound).
  int32_t repeat(const Symbols& item, int64_t min_count, int64_t max_count);

  // A rule matching `item` repeated min_count..max_count times (max_count < 0:
  // unbounded) with `separator` between consecutive items.
  int32_t separated(const Symbols& item, const Symbols& separator, int64_t min_count, int64_t max_count);

  // Records that element `element` of alternative `alternative` of `rule` is a
  // string body position (see StringBodyMark). `mark.syntax` is ignored: the
  // syntax is given separately and stored once.
  void mark_string_body(int32_t rule, int32_t alternative, int32_t element, const StringSyntax& syntax,
                        StringBodyMark mark);

  Grammar finish(int32_t root);

 private:
  struct PendingMark {
    int32_t rule;
    int32_t alternative;
    int32_t element;
    StringBodyMark mark;
  };

  int32_t byte_set_id(const ByteSet& set);

  std::vector<std::vector<Symbols>> rules_;
  std::vector<bool> defined_;
  std::vector<ByteSet> byte_sets_;
  std::vector<StringSyntax> string_syntaxes_;
  std::vector<PendingMark> marks_;
};

// Concatenates symbol sequences.
Symbols operator+(Symbols left, const Symbols& right);

}  // namespace brasa
