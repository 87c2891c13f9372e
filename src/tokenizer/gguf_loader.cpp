#include <algorithm>
#include <map>

#include "core/error.h"
#include "formats/gguf.h"
#include "tokenizer/loaders.h"
#include "tokenizer/utf8.h"

namespace brasa {

namespace {

// tokenizer.ggml.token_type values (llama.cpp's llama_token_type).
enum GgufTokenType : int64_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

constexpr std::string_view kSentencePieceSpace = "\xE2\x96\x81";  // U+2581

std::string sentencepiece_to_bytes(const std::string& text) {
  std::string bytes;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSentencePieceSpace.size(), kSentencePieceSpace) == 0) {
      bytes.push_back(' ');
      i += kSentencePieceSpace.size();
    } else {
      bytes.push_back(text[i++]);
    }
  }
  return bytes;
}

// Parses a byte token ("<0x41>" -> 0x41). Returns -1 when the text is not one.
int parse_byte_token(const std::string& text) {
  if (text.size() != 6 || text.compare(0, 3, "<0x") != 0 || text[5] != '>') return -1;
  int value = 0;
  for (size_t i = 3; i < 5; ++i) {
    const char c = text[i];
    value <<= 4;
    if (c >= '0' && c <= '9') value |= c - '0';
    else if (c >= 'A' && c <= 'F') value |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') value |= c - 'a' + 10;
    else return -1;
  }
  return value;
}

int32_t optional_id(const GgufFile& file, const std::string& key, size_t n_vocab) {
  const int64_t id = file.get_int(key, -1);
  if (id < 0 || static_cast<size_t>(id) >= n_vocab) return -1;  // e.g. 4294967295 for "none"
  return static_cast<int32_t>(id);
}

}  // namespace

std::unique_ptr<BpeTokenizer> load_gguf_tokenizer(const std::string& path) {
  const GgufFile file(path);
  const std::string model_name = file.get_string("tokenizer.ggml.model");
  const std::vector<std::string>& tokens = file.get_string_array("tokenizer.ggml.tokens");
  const size_t n_vocab = tokens.size();
  if (n_vocab == 0) throw Error(path + ": tokenizer.ggml.tokens is empty");

  std::vector<int64_t> types(n_vocab, kNormal);
  if (file.has("tokenizer.ggml.token_type")) {
    types = file.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != n_vocab) {
      throw Error(path + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                  std::to_string(n_vocab) + " tokens");
    }
  }

  BpeTokenizerSpec spec;
  if (model_name == "gpt2") {
    spec.kind = BpeTokenizerSpec::Kind::kByteLevel;
  } else if (model_name == "llama") {
    spec.kind = BpeTokenizerSpec::Kind::kSentencePiece;
  } else {
    throw Error(path + ": unsupported tokenizer.ggml.model \"" + model_name + "\" (brasa supports gpt2 and llama)");
  }
  const bool byte_level = spec.kind == BpeTokenizerSpec::Kind::kByteLevel;
  bool llama3_defaults = false;

  // 1. Token tables. Control tokens are special. Control and user-defined
  // tokens are matched in text before the BPE model, and llama.cpp matches
  // user-defined ones even without parse_special.
  spec.token_texts = tokens;
  spec.token_bytes.resize(n_vocab);
  spec.special.assign(n_vocab, false);
  std::vector<std::string> model_texts(n_vocab);
  std::array<int32_t, 256> byte_tokens;
  byte_tokens.fill(-1);
  int32_t unknown_id = -1;

  for (size_t id = 0; id < n_vocab; ++id) {
    const std::string& text = tokens[id];
    const int64_t type = types[id];
    if (type == kControl || type == kUserDefined) {
      spec.token_bytes[id] = text;
      model_texts[id] = text;
      spec.special[id] = type == kControl;
      spec.added_tokens.push_back({static_cast<int32_t>(id), text, type == kControl, false, false});
      continue;
    }
    if (type == kUnknown && unknown_id < 0) unknown_id = static_cast<int32_t>(id);
    model_texts[id] = text;

    if (byte_level) {
      std::string bytes;
      if (!byte_level_to_bytes(text, bytes)) bytes = text;
      spec.token_bytes[id] = bytes;
      model_texts[id] = bytes;
      continue;
    }
    const int byte = type == kByte ? parse_byte_token(text) : -1;
    if (byte >= 0) {
      byte_tokens[byte] = static_cast<int32_t>(id);
      spec.token_bytes[id] = std::string(1, static_cast<char>(byte));
    } else {
      spec.token_bytes[id] = sentencepiece_to_bytes(text);
    }
  }

  // 2. The BPE model: merges for byte-level vocabularies, scores for SentencePiece.
  if (byte_level) {
    spec.model = std::make_unique<BpeModel>(BpeModel::MergeRule::kPairRanks, BpeModel::InitialSymbols::kBytes);
    spec.model->set_vocab(model_texts);
    const std::vector<std::string>& merges = file.get_string_array("tokenizer.ggml.merges");
    std::string left_bytes;
    std::string right_bytes;
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const std::string& merge = merges[rank];
      const size_t space = merge.find(' ', 1);
      if (space == std::string::npos) {
        throw Error(path + ": tokenizer.ggml.merges[" + std::to_string(rank) + "] is not \"A B\": \"" + merge + "\"");
      }
      const std::string left = merge.substr(0, space);
      const std::string right = merge.substr(space + 1);
      if (!byte_level_to_bytes(left, left_bytes)) left_bytes = left;
      if (!byte_level_to_bytes(right, right_bytes)) right_bytes = right;
      const int32_t left_id = spec.model->find(left_bytes);
      const int32_t right_id = spec.model->find(right_bytes);
      if (left_id < 0 || right_id < 0) {
        throw Error(path + ": tokenizer.ggml.merges[" + std::to_string(rank) + "] (\"" + merge +
                    "\") refers to a token not in the vocabulary");
      }
      // A merge whose result is not a token is skipped, as llama.cpp does.
      spec.model->add_merge(left_id, right_id, static_cast<int32_t>(rank));
    }

    const std::string pre = file.get_string("tokenizer.ggml.pre", "default");
    bool known = false;
    std::vector<std::string> regexes = gguf_pre_tokenizer_regexes(pre, known);
    if (!known) {
      throw Error(path + ": unsupported pre-tokenizer tokenizer.ggml.pre = \"" + pre +
                  "\" (brasa knows llama-bpe, llama4, gpt-4o, gpt-2, mpt, starcoder, refact, falcon, deepseek-llm, deepseek-coder)");
    }
    for (const std::string& regex : regexes) {
      spec.pre_tokenizer.add(std::make_unique<PreTokenizerRegex>(regex, path), /*keep_gaps=*/true);
    }
    // llama.cpp emits a piece whole when it is a token, and adds BOS by
    // default, for the Llama 3 pre-tokenizer.
    llama3_defaults = pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3";
    spec.model->set_ignore_merges(llama3_defaults);
  } else {
    // SentencePiece merges the adjacent pair whose token has the highest score.
    // Equal scores share a rank so that the leftmost pair wins, as in llama.cpp.
    const std::vector<double>& scores = file.get_float_array("tokenizer.ggml.scores");
    if (scores.size() != n_vocab) {
      throw Error(path + ": tokenizer.ggml.scores has " + std::to_string(scores.size()) + " entries for " +
                  std::to_string(n_vocab) + " tokens");
    }
    std::vector<double> distinct(scores.begin(), scores.end());
    std::sort(distinct.begin(), distinct.end(), std::greater<>());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    std::vector<int32_t> ranks(n_vocab);
    for (size_t id = 0; id < n_vocab; ++id) {
      ranks[id] = static_cast<int32_t>(std::lower_bound(distinct.begin(), distinct.end(), scores[id], std::greater<>()) -
                                       distinct.begin());
    }
    spec.model = std::make_unique<BpeModel>(BpeModel::MergeRule::kTokenRanks, BpeModel::InitialSymbols::kCharacters);
    spec.model->set_vocab(model_texts);
    spec.model->set_token_ranks(std::move(ranks));
    spec.model->set_byte_fallback(byte_tokens);
    spec.model->set_unknown_id(optional_id(file, "tokenizer.ggml.unknown_token_id", n_vocab) >= 0
                                   ? optional_id(file, "tokenizer.ggml.unknown_token_id", n_vocab)
                                   : unknown_id);
    spec.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix", true);
  }

  // 3. BOS, EOS and the other end-of-generation tokens.
  spec.bos_id = optional_id(file, "tokenizer.ggml.bos_token_id", n_vocab);
  spec.add_bos = file.get_bool("tokenizer.ggml.add_bos_token", !byte_level || llama3_defaults);
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"}) {
    add_unique_id(spec.eos_ids, optional_id(file, key, n_vocab));
  }

  return std::make_unique<BpeTokenizer>(std::move(spec));
}

}  // namespace brasa
