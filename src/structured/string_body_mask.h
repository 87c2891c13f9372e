#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "structured/grammar.h"
#include "structured/vocabulary.h"

namespace brasa {

class CompiledGrammar;
class GrammarMatcher;

// A token that closes a quoted string: `length` characters of string body,
// the closing quote, then the token's bytes from `suffix` on.
struct StringCloser {
  int32_t id = 0;
  int32_t length = 0;
  int32_t suffix = 0;
};

// The classes of a vocabulary's tokens inside the body of a quoted string of
// one StringSyntax, read from a character boundary. Characters are counted as
// JSON Schema's minLength and maxLength count them: a code point or an escape is one.
struct StringBodyTokens {
  // Tokens that stay inside the body, by ascending length. A token that ends
  // inside a character (a partial UTF-8 sequence or escape) counts that
  // character. open_end[n] is the end in open_ids of the tokens of length <= n.
  std::vector<int32_t> open_ids;
  std::vector<size_t> open_end;
  std::vector<uint64_t> all_open_bits;  // open_ids as a bitmask over the vocabulary

  // Tokens whose bytes up to a closing quote are a valid body.
  std::vector<StringCloser> closers;
};

// The result of reading bytes from a character boundary inside a string body:
// they stay inside it (Open), close the string (Close), or cannot occur there.
struct StringBodyScan {
  enum class Kind { Open, Close, Invalid };
  Kind kind = Kind::Invalid;
  int32_t length = 0;  // characters before the end (Open) or the closing quote (Close)
  int32_t suffix = 0;  // Close: offset of the first byte after the quote
};
StringBodyScan scan_string_body(std::string_view bytes, const StringSyntax& syntax);

// Returns the tables of `syntax` for `vocabulary`, built on first use (tens of
// milliseconds at 200k tokens) and kept with the vocabulary.
std::shared_ptr<const StringBodyTokens> string_body_tokens(const VocabularyIndex& vocabulary, const StringSyntax& syntax);

// Fills `bits` (cleared by the caller) with the token mask of a matcher that
// rests inside a quoted string body (GrammarMatcher::string_body). The mask is
// a filter over the precomputed tables, so it costs no trie walk. It allows the
// open tokens up to the remaining maximum length, and the closing tokens within
// the length bounds whose bytes after the quote the grammar accepts. That check
// runs once per grammar state after the string and is cached in `compiled`.
// Returns false, leaving `bits` alone, when the matcher is elsewhere.
// A token that ends inside a character (part of a UTF-8 sequence or an escape)
// leaves the matcher off a character boundary, so the next mask walks the trie.
// That walk follows only the tokens that can finish the character: about
// 20 µs inside a UTF-8 sequence and 0.4 ms after a backslash at 200k tokens.
bool fill_string_body_mask(GrammarMatcher& matcher, CompiledGrammar& compiled, std::vector<uint64_t>& bits);

}  // namespace brasa
