#include "tokenizer/bpe_tokenizer.h"

#include "core/error.h"
#include "tokenizer/detokenizer.h"
#include "tokenizer/utf8.h"

namespace brasa {

namespace {

constexpr std::string_view kSentencePieceSpace = "\xE2\x96\x81";  // U+2581

// Python's str.isspace(): bidi classes WS, B and S, and category Zs.
bool is_python_space(uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F)) return true;
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Meta's slicing of long text (see BpeTokenizerSpec::split_long_runs). The
// limits count characters, as Python strings do.
void split_long_runs(std::string_view text, std::vector<TextSpan>& out) {
  constexpr size_t kMaxEncodeChars = 400000;
  constexpr size_t kMaxRunChars = 25000;
  out.clear();

  size_t slice_begin = 0;
  size_t chars_in_chunk = 0;
  size_t run_length = 0;
  bool run_is_space = false;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t char_begin = pos;
    const bool space = is_python_space(next_code_point(text, pos));

    if (chars_in_chunk == kMaxEncodeChars) {
      // A new 400,000-character chunk starts a new slice and a new run.
      out.push_back({slice_begin, char_begin});
      slice_begin = char_begin;
      chars_in_chunk = 0;
    }
    if (chars_in_chunk == 0) {
      run_is_space = space;
      run_length = 0;
    }
    ++chars_in_chunk;

    if (space != run_is_space) {
      run_is_space = space;
      run_length = 1;
    } else if (++run_length > kMaxRunChars) {
      out.push_back({slice_begin, char_begin});
      slice_begin = char_begin;
      run_length = 1;
    }
  }
  out.push_back({slice_begin, text.size()});
}

}  // namespace

BpeTokenizer::BpeTokenizer(BpeTokenizerSpec spec) : spec_(std::move(spec)) {
  BRASA_CHECK(spec_.model != nullptr, "BpeTokenizer needs a BPE model");
  BRASA_CHECK(spec_.token_bytes.size() == spec_.token_texts.size() && spec_.special.size() == spec_.token_texts.size(),
              "BpeTokenizer token tables differ in size");
  added_matcher_.build(spec_.added_tokens);

  for (size_t id = 0; id < spec_.token_texts.size(); ++id) {
    text_ids_.emplace(spec_.token_texts[id], static_cast<int32_t>(id));
  }
  // Added tokens' content wins over a vocabulary string that happens to be equal.
  for (const AddedToken& token : spec_.added_tokens) text_ids_[token.content] = token.id;
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  if (add_bos && spec_.add_bos && spec_.bos_id >= 0) out.push_back(spec_.bos_id);

  const std::string valid = sanitize_utf8(text);
  std::vector<TextSegment> segments;
  if (added_matcher_.empty()) {
    if (!valid.empty()) segments.push_back({-1, 0, valid.size()});
  } else {
    added_matcher_.split(valid, parse_special, segments);
  }

  // SentencePiece adds its space prefix at the start and after every special token.
  bool after_special = true;
  for (const TextSegment& segment : segments) {
    if (segment.token_id >= 0) {
      out.push_back(segment.token_id);
      after_special = true;
      continue;
    }
    encode_text(std::string_view(valid).substr(segment.begin, segment.end - segment.begin), after_special, out);
    after_special = false;
  }
  return out;
}

void BpeTokenizer::encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out) const {
  if (spec_.kind == BpeTokenizerSpec::Kind::kSentencePiece) {
    std::string escaped;
    if (spec_.add_space_prefix && after_special) escaped += kSentencePieceSpace;
    for (char c : text) {
      if (c == ' ') {
        escaped += kSentencePieceSpace;
      } else {
        escaped.push_back(c);
      }
    }
    spec_.model->encode(escaped, out);
    return;
  }

  if (!spec_.split_long_runs) {
    encode_byte_level(text, out);
    return;
  }
  std::vector<TextSpan> slices;
  split_long_runs(text, slices);
  for (const TextSpan& slice : slices) encode_byte_level(text.substr(slice.begin, slice.end - slice.begin), out);
}

void BpeTokenizer::encode_byte_level(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<TextSpan> pieces;
  spec_.pre_tokenizer.split(text, pieces);
  for (const TextSpan& piece : pieces) spec_.model->encode(text.substr(piece.begin, piece.end - piece.begin), out);
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  Detokenizer detokenizer(*this, skip_special);
  std::string out;
  for (int32_t id : ids) out += detokenizer.push(id);
  out += detokenizer.flush();
  return out;
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return spec_.token_bytes[id];
}

std::string BpeTokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return spec_.token_texts[id];
}

bool BpeTokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && spec_.special[id];
}

int32_t BpeTokenizer::token_id(std::string_view text) const {
  const auto it = text_ids_.find(std::string(text));
  return it == text_ids_.end() ? -1 : it->second;
}

}  // namespace brasa
