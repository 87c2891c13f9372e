#include "structured/string_body_mask.h"

#include <algorithm>
#include <string>

#include "structured/grammar_constraint.h"
#include "structured/grammar_matcher.h"

namespace brasa {
namespace {

bool is_hex(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

void set_bit(std::vector<uint64_t>& bits, int32_t id) { bits[id >> 6] |= uint64_t{1} << (id & 63); }

}  // namespace

// Mirrors JsonTextRules::string_char: printable ASCII except the quote and the
// backslash, the syntax's short escapes, \u escapes without UTF-16
// surrogates, and well-formed UTF-8.
StringBodyScan scan_string_body(std::string_view bytes, const StringSyntax& syntax) {
  const StringBodyScan invalid{};
  size_t n = bytes.size();
  size_t i = 0;
  int32_t chars = 0;
  auto partial = [&] { return StringBodyScan{StringBodyScan::Kind::Open, chars + 1, 0}; };

  while (i < n) {
    uint8_t b = static_cast<uint8_t>(bytes[i]);
    if (b == syntax.quote) return {StringBodyScan::Kind::Close, chars, static_cast<int32_t>(i + 1)};

    if (b == '\\') {
      if (i + 1 == n) return partial();
      uint8_t escape = static_cast<uint8_t>(bytes[i + 1]);
      if (syntax.short_escapes.contains(escape)) {
        i += 2;
        ++chars;
        continue;
      }
      if (escape != 'u') return invalid;
      bool surrogate_range = false;
      size_t k = i + 2;
      for (int digit = 0; digit < 4; ++digit, ++k) {
        if (k == n) return partial();
        uint8_t h = static_cast<uint8_t>(bytes[k]);
        if (!is_hex(h)) return invalid;
        if (digit == 0) surrogate_range = h == 'd' || h == 'D';
        if (digit == 1 && surrogate_range && !(h >= '0' && h <= '7')) return invalid;
      }
      i = k;
      ++chars;
      continue;
    }

    if (b >= 0x20 && b <= 0x7F) {
      ++i;
      ++chars;
      continue;
    }
    if (b < 0x20) return invalid;

    // A UTF-8 lead byte: the number of continuation bytes and the range of the
    // first one, which rules out overlong forms, surrogates and code points
    // past U+10FFFF.
    int tails = 0;
    uint8_t low = 0x80;
    uint8_t high = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      tails = 1;
    } else if (b == 0xE0) {
      tails = 2;
      low = 0xA0;
    } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
      tails = 2;
    } else if (b == 0xED) {
      tails = 2;
      high = 0x9F;
    } else if (b == 0xF0) {
      tails = 3;
      low = 0x90;
    } else if (b >= 0xF1 && b <= 0xF3) {
      tails = 3;
    } else if (b == 0xF4) {
      tails = 3;
      high = 0x8F;
    } else {
      return invalid;
    }
    for (int t = 1; t <= tails; ++t) {
      if (i + t == n) return partial();
      uint8_t c = static_cast<uint8_t>(bytes[i + t]);
      if (c < (t == 1 ? low : 0x80) || c > (t == 1 ? high : 0xBF)) return invalid;
    }
    i += static_cast<size_t>(tails) + 1;
    ++chars;
  }
  return {StringBodyScan::Kind::Open, chars, 0};
}

std::shared_ptr<const StringBodyTokens> string_body_tokens(const VocabularyIndex& vocabulary, const StringSyntax& syntax) {
  std::string key = "string-body:" + std::string(1, static_cast<char>(syntax.quote));
  for (uint64_t word : syntax.short_escapes.bits) key += ":" + std::to_string(word);

  auto compute = [&]() -> std::shared_ptr<const void> {
    auto tables = std::make_shared<StringBodyTokens>();
    int32_t n_tokens = vocabulary.vocab_size();
    std::vector<std::pair<int32_t, int32_t>> open;  // (length, id)
    for (int32_t id = 0; id < n_tokens; ++id) {
      const std::string& bytes = vocabulary.token_bytes(id);
      if (bytes.empty()) continue;
      StringBodyScan scan = scan_string_body(bytes, syntax);
      if (scan.kind == StringBodyScan::Kind::Open) open.emplace_back(scan.length, id);
      if (scan.kind == StringBodyScan::Kind::Close) tables->closers.push_back({id, scan.length, scan.suffix});
    }
    std::sort(open.begin(), open.end());

    tables->all_open_bits.assign((static_cast<size_t>(n_tokens) + 63) / 64, 0);
    int32_t max_length = open.empty() ? 0 : open.back().first;
    tables->open_end.assign(static_cast<size_t>(max_length) + 1, 0);
    for (const auto& [length, id] : open) {
      tables->open_ids.push_back(id);
      set_bit(tables->all_open_bits, id);
    }
    size_t end = 0;
    for (int32_t length = 0; length <= max_length; ++length) {
      while (end < open.size() && open[end].first <= length) ++end;
      tables->open_end[length] = end;
    }
    return tables;
  };
  return std::static_pointer_cast<const StringBodyTokens>(vocabulary.derived(key, compute));
}

bool fill_string_body_mask(GrammarMatcher& matcher, CompiledGrammar& compiled, std::vector<uint64_t>& bits) {
  std::optional<GrammarMatcher::StringBody> body = matcher.string_body();
  if (!body) return false;
  const Grammar& grammar = *compiled.grammar();
  const StringSyntax& syntax = grammar.string_syntaxes[body->mark.syntax];
  std::shared_ptr<const StringBodyTokens> tables = string_body_tokens(compiled.vocabulary(), syntax);
  int32_t min_left = body->mark.min_left;
  int32_t max_left = body->mark.max_left;

  // Tokens that stay inside the string: all of them, or those up to max_left
  // characters, whichever of setting or clearing bits touches fewer tokens.
  size_t max_open_length = tables->open_end.size() - 1;
  if (max_left < 0 || static_cast<size_t>(max_left) >= max_open_length) {
    bits = tables->all_open_bits;
  } else {
    size_t end = tables->open_end[max_left];
    if (end * 2 > tables->open_ids.size()) {
      bits = tables->all_open_bits;
      for (size_t i = end; i < tables->open_ids.size(); ++i) {
        int32_t id = tables->open_ids[i];
        bits[id >> 6] &= ~(uint64_t{1} << (id & 63));
      }
    } else {
      for (size_t i = 0; i < end; ++i) set_bit(bits, tables->open_ids[i]);
    }
  }

  // Tokens that close it: the bytes after the quote must continue the grammar
  // from the state after the string, which is the same for every character of
  // the string, so the check runs once per such state.
  std::string key = std::to_string(body->mark.syntax) + "|" + matcher.stack_key(body->continuation);
  std::shared_ptr<const std::vector<StringCloser>> closers = compiled.find_closers(key);
  if (closers == nullptr) {
    auto accepted = std::make_shared<std::vector<StringCloser>>();
    for (const StringCloser& closer : tables->closers) {
      std::string_view after = std::string_view(compiled.vocabulary().token_bytes(closer.id)).substr(closer.suffix);
      if (matcher.accepts_after(body->continuation, after)) accepted->push_back(closer);
    }
    closers = accepted;
    compiled.store_closers(key, accepted);
  }
  for (const StringCloser& closer : *closers) {
    if (closer.length >= min_left && (max_left < 0 || closer.length <= max_left)) set_bit(bits, closer.id);
  }
  return true;
}

}  // namespace brasa
