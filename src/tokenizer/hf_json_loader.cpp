#include <fstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "tokenizer/loaders.h"
#include "tokenizer/utf8.h"

namespace brasa {

namespace {

using nlohmann::json;

constexpr std::string_view kSentencePieceSpace = "\xE2\x96\x81";  // U+2581

// Calls `visit` on a component and, for a "Sequence", on each of its parts.
template <typename Visit>
void for_each_component(const json& component, const char* list_key, Visit&& visit) {
  if (!component.is_object()) return;
  if (component.value("type", "") == "Sequence" && component.contains(list_key) && component[list_key].is_array()) {
    for (const json& part : component[list_key]) visit(part);
    return;
  }
  visit(component);
}

bool contains_type(const json& component, const char* list_key, const std::string& type) {
  bool found = false;
  for_each_component(component, list_key, [&](const json& part) { found = found || part.value("type", "") == type; });
  return found;
}

// "A B" (older files) or ["A", "B"] (newer files).
bool parse_merge(const json& merge, std::string& left, std::string& right) {
  if (merge.is_string()) {
    const std::string text = merge.get<std::string>();
    const size_t space = text.find(' ', 1);
    if (space == std::string::npos) return false;
    left = text.substr(0, space);
    right = text.substr(space + 1);
    return true;
  }
  if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
    left = merge[0].get<std::string>();
    right = merge[1].get<std::string>();
    return true;
  }
  return false;
}

void add_pre_tokenizer_step(const json& step, const std::string& path, PreTokenizer& pre_tokenizer) {
  const std::string type = step.value("type", "");
  if (type == "Split") {
    const json& pattern = step.value("pattern", json::object());
    std::string regex;
    if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
      regex = pattern["Regex"].get<std::string>();
    } else if (pattern.contains("String") && pattern["String"].is_string()) {
      // A literal string: escape it for PCRE2 with \Q...\E.
      regex = "\\Q" + pattern["String"].get<std::string>() + "\\E";
    } else {
      throw Error(path + ": Split pre-tokenizer without a Regex or String pattern");
    }
    const std::string behavior = step.value("behavior", "Isolated");
    const bool invert = step.value("invert", false);
    if (behavior == "Isolated" && !invert) {
      pre_tokenizer.add(std::make_unique<PreTokenizerRegex>(regex, path), /*keep_gaps=*/true);
    } else if (behavior == "Removed" && invert) {
      pre_tokenizer.add(std::make_unique<PreTokenizerRegex>(regex, path), /*keep_gaps=*/false);
    } else {
      throw Error(path + ": unsupported Split pre-tokenizer behavior \"" + behavior + "\" with invert=" +
                  (invert ? "true" : "false"));
    }
    return;
  }
  if (type == "ByteLevel") {
    if (step.value("add_prefix_space", false)) {
      // TODO: ByteLevel add_prefix_space (a space before the first word) is not implemented.
      throw Error(path + ": ByteLevel pre-tokenizer with add_prefix_space is not supported");
    }
    if (step.value("use_regex", true)) {
      pre_tokenizer.add(std::make_unique<PreTokenizerRegex>(kGpt2Pattern, path), /*keep_gaps=*/true);
    }
    return;
  }
  if (type == "Digits") {
    const char* regex = step.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)";
    pre_tokenizer.add(std::make_unique<PreTokenizerRegex>(regex, path), /*keep_gaps=*/true);
    return;
  }
  throw Error(path + ": unsupported pre-tokenizer type \"" + type + "\"");
}

}  // namespace

std::unique_ptr<BpeTokenizer> load_hf_tokenizer_json(const std::string& path, const TokenizerConfigFiles& config) {
  json root;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": file not found or not readable");
    try {
      root = json::parse(in);
    } catch (const json::exception& e) {
      throw Error(path + ": invalid JSON: " + e.what());
    }
  }
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
    throw Error(path + ": missing \"model\" object");
  }
  const json& model = root["model"];
  const std::string model_type = model.value("type", "BPE");
  if (model_type != "BPE") {
    throw Error(path + ": unsupported tokenizer model type \"" + model_type + "\" (brasa supports BPE)");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) throw Error(path + ": model.vocab missing or not an object");
  if (!model.contains("merges") || !model["merges"].is_array()) throw Error(path + ": model.merges missing or not a list");

  const json null_json;
  const json& normalizer = root.contains("normalizer") ? root["normalizer"] : null_json;
  const json& pre_tokenizer = root.contains("pre_tokenizer") ? root["pre_tokenizer"] : null_json;
  const json& decoder = root.contains("decoder") ? root["decoder"] : null_json;

  // 1. Which family: byte-level (GPT-2, Llama 3) or SentencePiece-style (Llama 2).
  BpeTokenizerSpec spec;
  const bool byte_fallback = model.value("byte_fallback", false);
  const bool sentencepiece = byte_fallback || contains_type(decoder, "decoders", "ByteFallback") ||
                             contains_type(normalizer, "normalizers", "Prepend");
  const bool byte_level = contains_type(pre_tokenizer, "pretokenizers", "ByteLevel") ||
                          contains_type(decoder, "decoders", "ByteLevel");
  if (sentencepiece) {
    spec.kind = BpeTokenizerSpec::Kind::kSentencePiece;
    spec.add_space_prefix = contains_type(normalizer, "normalizers", "Prepend") ||
                            contains_type(pre_tokenizer, "pretokenizers", "Metaspace");
  } else if (byte_level) {
    spec.kind = BpeTokenizerSpec::Kind::kByteLevel;
  } else {
    throw Error(path + ": unsupported BPE tokenizer: neither ByteLevel nor SentencePiece-style (byte_fallback)");
  }

  // 2. Vocabulary, with room for added tokens beyond it.
  int64_t n_vocab = 0;
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (1 << 24)) {
      throw Error(path + ": invalid id for vocabulary token \"" + text + "\"");
    }
    n_vocab = std::max(n_vocab, id.get<int64_t>() + 1);
  }
  const json& added = root.contains("added_tokens") && root["added_tokens"].is_array() ? root["added_tokens"] : json::array();
  for (const json& token : added) {
    if (!token.is_object() || !token.contains("id") || !token["id"].is_number_integer() || !token.contains("content") ||
        !token["content"].is_string() || token["id"].get<int64_t>() < 0 || token["id"].get<int64_t>() >= (1 << 24)) {
      throw Error(path + ": invalid entry in added_tokens: " + token.dump());
    }
    n_vocab = std::max(n_vocab, token["id"].get<int64_t>() + 1);
  }

  spec.token_texts.assign(n_vocab, std::string());
  spec.token_bytes.assign(n_vocab, std::string());
  spec.special.assign(n_vocab, false);
  std::vector<std::string> model_texts(n_vocab);
  std::vector<std::string> vocab_texts(n_vocab);
  std::array<int32_t, 256> byte_tokens;
  byte_tokens.fill(-1);

  for (const auto& [text, id_json] : model["vocab"].items()) {
    const int32_t id = id_json.get<int32_t>();
    spec.token_texts[id] = text;
    vocab_texts[id] = text;
    if (spec.kind == BpeTokenizerSpec::Kind::kByteLevel) {
      std::string bytes;
      // A string outside the byte-level alphabet stays as its own UTF-8.
      if (!byte_level_to_bytes(text, bytes)) bytes = text;
      model_texts[id] = bytes;
      spec.token_bytes[id] = bytes;
      continue;
    }
    model_texts[id] = text;
    unsigned byte = 0;
    if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>' &&
        std::sscanf(text.c_str() + 3, "%2X", &byte) == 1) {
      byte_tokens[byte] = id;
      spec.token_bytes[id] = std::string(1, static_cast<char>(byte));
      continue;
    }
    std::string bytes;
    for (size_t i = 0; i < text.size();) {
      if (text.compare(i, kSentencePieceSpace.size(), kSentencePieceSpace) == 0) {
        bytes.push_back(' ');
        i += kSentencePieceSpace.size();
      } else {
        bytes.push_back(text[i++]);
      }
    }
    spec.token_bytes[id] = bytes;
  }

  // 3. Added tokens, which are matched in the text before BPE runs.
  for (const json& token : added) {
    AddedToken t;
    t.id = token["id"].get<int32_t>();
    t.content = token["content"].get<std::string>();
    t.special = token.value("special", false);
    t.lstrip = token.value("lstrip", false);
    t.rstrip = token.value("rstrip", false);
    spec.token_texts[t.id] = t.content;
    spec.token_bytes[t.id] = t.content;
    spec.special[t.id] = t.special;
    spec.added_tokens.push_back(std::move(t));
  }

  // 4. The BPE model and its merges.
  spec.model = std::make_unique<BpeModel>(BpeModel::MergeRule::kPairRanks,
                                          spec.kind == BpeTokenizerSpec::Kind::kByteLevel
                                              ? BpeModel::InitialSymbols::kBytes
                                              : BpeModel::InitialSymbols::kCharacters);
  spec.model->set_vocab(model_texts);
  spec.model->set_ignore_merges(model.value("ignore_merges", false));
  if (byte_fallback) spec.model->set_byte_fallback(byte_tokens);
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const json& vocab = model["vocab"];
    const std::string unk = model["unk_token"].get<std::string>();
    if (vocab.contains(unk)) spec.model->set_unknown_id(vocab[unk].get<int32_t>());
  }

  // Merges name tokens by their vocabulary strings, which a hash map finds
  // much faster than the JSON object does.
  std::unordered_map<std::string_view, int32_t> vocab_ids;
  vocab_ids.reserve(model["vocab"].size());
  for (const auto& [text, id_json] : model["vocab"].items()) vocab_ids.emplace(vocab_texts[id_json.get<int32_t>()], id_json.get<int32_t>());

  spec.model->reserve_merges(model["merges"].size());
  int32_t rank = 0;
  std::string left;
  std::string right;
  for (const json& merge : model["merges"]) {
    if (!parse_merge(merge, left, right)) {
      throw Error(path + ": merge " + std::to_string(rank) + " is not \"A B\" or [\"A\", \"B\"]: " + merge.dump());
    }
    const auto left_it = vocab_ids.find(left);
    const auto right_it = vocab_ids.find(right);
    if (left_it == vocab_ids.end() || right_it == vocab_ids.end()) {
      throw Error(path + ": merge " + std::to_string(rank) + " (" + merge.dump() + ") refers to a token not in the vocabulary");
    }
    if (!spec.model->add_merge(left_it->second, right_it->second, rank)) {
      throw Error(path + ": merge " + std::to_string(rank) + " (" + merge.dump() + ") makes a token not in the vocabulary");
    }
    ++rank;
  }

  // 5. Pre-tokenizer, for byte-level models only (SentencePiece splits nothing).
  if (spec.kind == BpeTokenizerSpec::Kind::kByteLevel && pre_tokenizer.is_object()) {
    for_each_component(pre_tokenizer, "pretokenizers",
                       [&](const json& step) { add_pre_tokenizer_step(step, path, spec.pre_tokenizer); });
  }
  if (normalizer.is_object() && spec.kind == BpeTokenizerSpec::Kind::kByteLevel) {
    // NOTE: normalizers (NFC, Lowercase...) are not applied to byte-level tokenizers.
    spdlog::warn("{}: normalizer \"{}\" is ignored", path, normalizer.value("type", ""));
  }

  // 6. BOS, EOS and stop tokens from the config files.
  const auto id_of = [&](const std::string& content) -> int32_t {
    if (content.empty()) return -1;
    for (const AddedToken& token : spec.added_tokens) {
      if (token.content == content) return token.id;
    }
    const auto it = vocab_ids.find(content);
    return it == vocab_ids.end() ? -1 : it->second;
  };
  // The first special token of a TemplateProcessing post-processor, which is
  // BOS in files that add BOS this way.
  std::string template_first_token;
  const json& post = root.contains("post_processor") ? root["post_processor"] : null_json;
  for_each_component(post, "processors", [&](const json& part) {
    if (part.value("type", "") != "TemplateProcessing" || !part.contains("single") || !part["single"].is_array() ||
        part["single"].empty()) {
      return;
    }
    const json& first = part["single"][0];
    if (first.contains("SpecialToken") && first["SpecialToken"].is_object()) {
      template_first_token = first["SpecialToken"].value("id", "");
    }
  });

  // BOS comes from tokenizer_config.json, else from that template. Without
  // add_bos_token, BOS is added when the template starts with it.
  const std::string bos_token = config.bos_token.empty() ? template_first_token : config.bos_token;
  spec.bos_id = id_of(bos_token);
  if (config.add_bos_token >= 0) {
    spec.add_bos = config.add_bos_token == 1;
  } else {
    spec.add_bos = !bos_token.empty() && template_first_token == bos_token;
  }
  add_unique_id(spec.eos_ids, id_of(config.eos_token));
  for (int32_t id : config.generation_eos_ids) add_unique_id(spec.eos_ids, id);

  return std::make_unique<BpeTokenizer>(std::move(spec));
}

}  // namespace brasa
