#include <charconv>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/loaders.h"
#include "tokenizer/utf8.h"

namespace brasa {

namespace {

// Decodes standard base64 with '=' padding. Returns false on an invalid character or length.
bool decode_base64(std::string_view text, std::string& out) {
  out.clear();
  if (text.empty() || text.size() % 4 != 0) return false;
  uint32_t buffer = 0;
  int bits = 0;
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    else if (c >= '0' && c <= '9') value = c - '0' + 52;
    else if (c == '+') value = 62;
    else if (c == '/') value = 63;
    else if (c == '=' && i + 2 >= text.size()) {
      ++padding;
      continue;
    }
    if (value < 0 || padding > 0) return false;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return padding <= 2;
}

// The special tokens that Meta's llama-models tokenizer.py defines after the
// base vocabulary, in id order.
std::vector<std::string> llama3_special_tokens() {
  std::vector<std::string> tokens = {
      "<|begin_of_text|>", "<|end_of_text|>",   "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
      "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>",
      "<|eom_id|>",        "<|eot_id|>",        "<|python_tag|>",               "<|image|>",
  };
  const size_t named = tokens.size();
  for (size_t i = 0; i < 256 - named; ++i) tokens.push_back("<|reserved_special_token_" + std::to_string(2 + i) + "|>");
  return tokens;
}

std::vector<std::string> llama4_special_tokens() {
  const auto reserved = [](const std::string& name, int count, int start) {
    std::vector<std::string> out;
    for (int i = start; i < start + count; ++i) out.push_back("<|" + name + "_reserved_special_token_" + std::to_string(i) + "|>");
    return out;
  };
  std::vector<std::string> tokens = {"<|begin_of_text|>", "<|end_of_text|>", "<|fim_prefix|>", "<|fim_middle|>",
                                     "<|fim_suffix|>"};
  // 200005 to 200079: text post-training tokens.
  for (const char* t : {"<|header_start|>", "<|header_end|>", "<|eom|>", "<|eot|>", "<|step|>"}) tokens.push_back(t);
  for (int i = 0; i <= 5; ++i) tokens.push_back("<|text_post_train_reserved_special_token_" + std::to_string(i) + "|>");
  for (const char* t : {"<|python_start|>", "<|python_end|>", "<|finetune_right_pad|>"}) tokens.push_back(t);
  for (auto& t : reserved("text_post_train", 61, 8)) tokens.push_back(std::move(t));
  // 200080 to 201133: vision tokens.
  for (const char* t : {"<|image_start|>", "<|image_end|>", "<|vision_reserved_special_token_0|>",
                        "<|vision_reserved_special_token_1|>", "<|tile_x_separator|>", "<|tile_y_separator|>",
                        "<|vision_reserved_special_token_2|>", "<|vision_reserved_special_token_3|>",
                        "<|vision_reserved_special_token_4|>", "<|vision_reserved_special_token_5|>", "<|image|>",
                        "<|vision_reserved_special_token_6|>", "<|patch|>"}) {
    tokens.push_back(t);
  }
  for (auto& t : reserved("vision", 1041, 7)) tokens.push_back(std::move(t));
  // 201134 to 201143: reasoning tokens.
  for (int i = 0; i <= 7; ++i) tokens.push_back("<|reasoning_reserved_special_token_" + std::to_string(i) + "|>");
  tokens.push_back("<|reasoning_thinking_start|>");
  tokens.push_back("<|reasoning_thinking_end|>");
  // The rest of the 2048 special ids.
  const size_t named = tokens.size();
  for (size_t i = 0; i < 2048 - named; ++i) tokens.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  return tokens;
}

}  // namespace

std::unique_ptr<BpeTokenizer> load_tiktoken_model(const std::string& path, const TokenizerConfigFiles& config) {
  const MappedFile file(path);
  const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());

  // A rank file is ASCII text, but a SentencePiece model (Llama 2's
  // tokenizer.model) is binary protobuf.
  for (char c : text.substr(0, 256)) {
    const auto byte = static_cast<uint8_t>(c);
    if ((byte < 0x20 && c != '\n' && c != '\r') || byte >= 0x80) {
      throw Error(path + ": not a tiktoken rank file (a SentencePiece model? load its tokenizer.json or GGUF instead)");
    }
  }

  // 1. Rank lines: "base64(token bytes) rank", ranks dense from 0.
  std::vector<std::string> base_bytes;
  size_t line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;

    const std::string where = path + " line " + std::to_string(line_number);
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) throw Error(where + ": expected \"<base64> <rank>\"");
    std::string bytes;
    if (!decode_base64(line.substr(0, space), bytes)) throw Error(where + ": invalid base64 token");
    const std::string_view rank_text = line.substr(space + 1);
    int64_t rank = -1;
    const auto [ptr, ec] = std::from_chars(rank_text.data(), rank_text.data() + rank_text.size(), rank);
    if (ec != std::errc() || ptr != rank_text.data() + rank_text.size() || rank < 0) {
      throw Error(where + ": invalid rank \"" + std::string(rank_text) + "\"");
    }
    if (rank != static_cast<int64_t>(base_bytes.size())) {
      throw Error(where + ": rank " + std::to_string(rank) + " out of order (expected " +
                  std::to_string(base_bytes.size()) + ")");
    }
    base_bytes.push_back(std::move(bytes));
  }
  if (base_bytes.empty()) throw Error(path + ": empty tiktoken rank file");

  // 2. The pattern and special tokens of the family, known by the base size.
  BpeTokenizerSpec spec;
  spec.kind = BpeTokenizerSpec::Kind::kByteLevel;
  spec.split_long_runs = true;
  std::vector<std::string> specials;
  const char* pattern = nullptr;
  std::vector<std::string> stop_tokens;
  if (base_bytes.size() == 128000) {
    specials = llama3_special_tokens();
    pattern = kLlama3Pattern;
    stop_tokens = {"<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"};
  } else if (base_bytes.size() == 200000) {
    specials = llama4_special_tokens();
    pattern = kO200kPattern;
    stop_tokens = {"<|end_of_text|>", "<|eom|>", "<|eot|>"};
  } else {
    throw Error(path + ": unknown tiktoken vocabulary of " + std::to_string(base_bytes.size()) +
                " tokens (brasa knows Llama 3 with 128000 and Llama 4 with 200000)");
  }
  spec.pre_tokenizer.add(std::make_unique<PreTokenizerRegex>(pattern, path), /*keep_gaps=*/false);

  // 3. Tables: base tokens are their bytes, and special tokens follow them.
  const size_t n_base = base_bytes.size();
  const size_t n_vocab = n_base + specials.size();
  spec.token_texts.reserve(n_vocab);
  spec.token_bytes.reserve(n_vocab);
  for (const std::string& bytes : base_bytes) {
    spec.token_texts.push_back(bytes_to_byte_level(bytes));
    spec.token_bytes.push_back(bytes);
  }
  spec.special.assign(n_base, false);
  for (size_t i = 0; i < specials.size(); ++i) {
    const int32_t id = static_cast<int32_t>(n_base + i);
    spec.token_texts.push_back(specials[i]);
    spec.token_bytes.push_back(specials[i]);
    spec.special.push_back(true);
    spec.added_tokens.push_back({id, specials[i], true, false, false});
  }

  std::vector<int32_t> ranks(n_base);
  for (size_t i = 0; i < n_base; ++i) ranks[i] = static_cast<int32_t>(i);
  spec.model = std::make_unique<BpeModel>(BpeModel::MergeRule::kTokenRanks, BpeModel::InitialSymbols::kBytes);
  spec.model->set_vocab(std::move(base_bytes));
  spec.model->set_token_ranks(std::move(ranks));
  spec.model->set_ignore_merges(true);

  // 4. BOS, EOS and stop tokens: Meta's defaults, then the config files.
  const auto special_id = [&](const std::string& content) -> int32_t {
    for (const AddedToken& token : spec.added_tokens) {
      if (token.content == content) return token.id;
    }
    return -1;
  };
  spec.bos_id = special_id(config.bos_token.empty() ? "<|begin_of_text|>" : config.bos_token);
  spec.add_bos = config.add_bos_token != 0;
  for (const std::string& stop : stop_tokens) add_unique_id(spec.eos_ids, special_id(stop));
  if (!config.eos_token.empty()) add_unique_id(spec.eos_ids, special_id(config.eos_token));
  for (int32_t id : config.generation_eos_ids) add_unique_id(spec.eos_ids, id);

  return std::make_unique<BpeTokenizer>(std::move(spec));
}

}  // namespace brasa
