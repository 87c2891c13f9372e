#include "tokenizer/added_tokens.h"

#include <algorithm>

namespace brasa {

namespace {

bool is_strip_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens) {
  tokens_.clear();
  nodes_.assign(1, Node{});
  std::fill(std::begin(first_byte_), std::end(first_byte_), false);

  for (const AddedToken& token : tokens) {
    if (token.content.empty()) continue;
    int32_t node = 0;
    for (char c : token.content) {
      const uint8_t byte = static_cast<uint8_t>(c);
      int32_t next = child(node, byte);
      if (next < 0) {
        next = static_cast<int32_t>(nodes_.size());
        nodes_.emplace_back();
        auto& children = nodes_[node].children;
        children.insert(std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{0})),
                        {byte, next});
      }
      node = next;
    }
    // The first token with a given content wins.
    if (nodes_[node].token < 0) {
      nodes_[node].token = static_cast<int32_t>(tokens_.size());
      tokens_.push_back(token);
      first_byte_[static_cast<uint8_t>(token.content[0])] = true;
    }
  }
}

int32_t AddedTokenMatcher::child(int32_t node, uint8_t byte) const {
  const auto& children = nodes_[node].children;
  const auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{0}));
  return it != children.end() && it->first == byte ? it->second : -1;
}

int32_t AddedTokenMatcher::match(std::string_view text, size_t pos, bool parse_special, size_t& length) const {
  int32_t best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    node = child(node, static_cast<uint8_t>(text[i]));
    if (node < 0) break;
    const int32_t token = nodes_[node].token;
    if (token >= 0 && (parse_special || !tokens_[token].special)) {
      best = token;
      length = i + 1 - pos;
    }
  }
  return best;
}

void AddedTokenMatcher::split(std::string_view text, bool parse_special, std::vector<TextSegment>& out) const {
  out.clear();
  size_t text_begin = 0;
  size_t pos = 0;

  while (pos < text.size()) {
    size_t length = 0;
    const int32_t index = first_byte_[static_cast<uint8_t>(text[pos])] ? match(text, pos, parse_special, length) : -1;
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];

    size_t text_end = pos;
    if (token.lstrip) {
      while (text_end > text_begin && is_strip_space(text[text_end - 1])) --text_end;
    }
    if (text_end > text_begin) out.push_back({-1, text_begin, text_end});
    out.push_back({token.id, pos, pos + length});

    pos += length;
    if (token.rstrip) {
      while (pos < text.size() && is_strip_space(text[pos])) ++pos;
    }
    text_begin = pos;
  }
  if (text_begin < text.size()) out.push_back({-1, text_begin, text.size()});
}

}  // namespace brasa
