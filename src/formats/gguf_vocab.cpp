#include "formats/gguf_vocab.h"

#include <array>
#include <string_view>
#include <unordered_map>

#include "core/error.h"

namespace brasa {

namespace {

// GPT-2's bytes_to_unicode table: printable Latin-1 bytes keep their code
// point, and the other 68 bytes take U+0100, U+0101, ... in byte order.
const std::array<uint32_t, 256>& gpt2_code_points() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> points{};
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      points[b] = printable ? b : next++;
    }
    return points;
  }();
  return table;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

std::string bytes_to_gpt2_text(const std::string& bytes) {
  const auto& points = gpt2_code_points();
  std::string text;
  text.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) append_utf8(text, points[b]);
  return text;
}

std::vector<std::pair<int32_t, int32_t>> derive_bpe_merges(const std::vector<std::string>& token_bytes) {
  std::unordered_map<std::string_view, int32_t> rank_of;
  rank_of.reserve(token_bytes.size() * 2);
  for (size_t r = 0; r < token_bytes.size(); ++r) rank_of.emplace(token_bytes[r], static_cast<int32_t>(r));

  // Every token must be reachable from single bytes.
  for (int b = 0; b < 256; ++b) {
    const std::string single(1, static_cast<char>(b));
    if (rank_of.count(single) == 0) throw Error("tiktoken vocabulary has no token for byte " + std::to_string(b));
  }

  std::vector<std::pair<int32_t, int32_t>> merges;
  merges.reserve(token_bytes.size());
  std::vector<std::string_view> symbols;
  for (size_t r = 0; r < token_bytes.size(); ++r) {
    const std::string_view token = token_bytes[r];
    if (token.size() < 2) continue;

    // BPE over the token's bytes with the merges of lower-ranked tokens only:
    // merge the adjacent pair whose concatenation has the lowest rank until none is below r.
    symbols.clear();
    for (size_t i = 0; i < token.size(); ++i) symbols.push_back(token.substr(i, 1));
    while (symbols.size() > 2) {
      int32_t best_rank = static_cast<int32_t>(r);
      size_t best = symbols.size();
      for (size_t i = 0; i + 1 < symbols.size(); ++i) {
        // Adjacent symbols are adjacent slices of `token`, so their concatenation is a slice too.
        const std::string_view pair(symbols[i].data(), symbols[i].size() + symbols[i + 1].size());
        auto it = rank_of.find(pair);
        if (it != rank_of.end() && it->second < best_rank) {
          best_rank = it->second;
          best = i;
        }
      }
      if (best == symbols.size()) break;
      symbols[best] = std::string_view(symbols[best].data(), symbols[best].size() + symbols[best + 1].size());
      symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
    if (symbols.size() != 2) continue;

    auto left = rank_of.find(symbols[0]);
    auto right = rank_of.find(symbols[1]);
    if (left == rank_of.end() || right == rank_of.end()) continue;
    merges.emplace_back(left->second, right->second);
  }
  return merges;
}

GgufBpeVocab tiktoken_to_gguf_vocab(const std::vector<std::string>& base_token_bytes,
                                    const std::vector<std::string>& special_tokens) {
  GgufBpeVocab vocab;
  vocab.tokens.reserve(base_token_bytes.size() + special_tokens.size());
  for (const std::string& bytes : base_token_bytes) {
    vocab.tokens.push_back(bytes_to_gpt2_text(bytes));
    vocab.token_types.push_back(1);
  }
  for (const std::string& special : special_tokens) {
    vocab.tokens.push_back(special);
    vocab.token_types.push_back(3);
  }

  for (const auto& [left, right] : derive_bpe_merges(base_token_bytes)) {
    vocab.merges.push_back(vocab.tokens[size_t(left)] + " " + vocab.tokens[size_t(right)]);
  }
  return vocab;
}

void add_gguf_vocab(GgufWriter& writer, const GgufBpeVocab& vocab) {
  BRASA_CHECK(vocab.tokens.size() == vocab.token_types.size(), "one token type per token");
  writer.add_string("tokenizer.ggml.model", "gpt2");
  writer.add_string("tokenizer.ggml.pre", vocab.pre);
  writer.add_string_array("tokenizer.ggml.tokens", vocab.tokens);
  writer.add_int32_array("tokenizer.ggml.token_type", vocab.token_types);
  writer.add_string_array("tokenizer.ggml.merges", vocab.merges);

  // llama.cpp reads the special ids as u32.
  const std::pair<const char*, int32_t> ids[] = {
      {"tokenizer.ggml.bos_token_id", vocab.bos_id}, {"tokenizer.ggml.eos_token_id", vocab.eos_id},
      {"tokenizer.ggml.eot_token_id", vocab.eot_id}, {"tokenizer.ggml.eom_token_id", vocab.eom_id},
      {"tokenizer.ggml.padding_token_id", vocab.pad_id},
  };
  for (const auto& [key, id] : ids) {
    if (id >= 0) writer.add_uint32(key, static_cast<uint32_t>(id));
  }
  writer.add_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
  if (!vocab.chat_template.empty()) writer.add_string("tokenizer.chat_template", vocab.chat_template);
}

}  // namespace brasa
