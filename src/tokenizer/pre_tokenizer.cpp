#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pre_tokenizer.h"

#include <pcre2.h>

#include "core/error.h"
#include "core/log.h"

namespace brasa {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kO200kPattern =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

namespace {

// Unicode White_Space: the ASCII controls, NEL, and the separators (category Z).
constexpr const char* kWhiteSpaceMembers = R"(\t\n\x0B\f\r\x{85}\p{Z})";

// Bytes from `position` to the start of the next UTF-8 character.
size_t utf8_step(std::string_view text, size_t position) {
  size_t step = 1;
  while (position + step < text.size() && (static_cast<uint8_t>(text[position + step]) & 0xC0) == 0x80) ++step;
  return step;
}

}  // namespace

std::string rewrite_whitespace_classes(const std::string& pattern) {
  std::string out;
  bool in_class = false;

  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char next = pattern[i + 1];
      ++i;
      if (next == 's') {
        out += in_class ? std::string(kWhiteSpaceMembers) : "[" + std::string(kWhiteSpaceMembers) + "]";
      } else if (next == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpaceMembers) + "]";
      } else {
        // `\S` inside a class has no simple rewrite, and no pattern in use has one.
        out += c;
        out += next;
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

struct PreTokenizerRegex::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

PreTokenizerRegex::PreTokenizerRegex(const std::string& pattern, const std::string& source)
    : pattern_(pattern), compiled_(std::make_unique<Compiled>()) {
  const std::string rewritten = rewrite_whitespace_classes(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                  PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  if (!compiled_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    throw Error(source + ": invalid pre-tokenizer regex \"" + pattern + "\": " +
                reinterpret_cast<const char*>(message) + " at offset " + std::to_string(error_offset));
  }
  compiled_->jit = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
}

PreTokenizerRegex::~PreTokenizerRegex() = default;

void PreTokenizerRegex::split(std::string_view text, TextSpan span, bool keep_gaps,
                              std::vector<TextSpan>& out) const {
  // Match data is per thread, so that encode() can run concurrently.
  thread_local std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match_data(
      pcre2_match_data_create(1, nullptr), &pcre2_match_data_free);

  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t position = span.begin;
  size_t gap_begin = span.begin;

  while (position < span.end) {
    // The subject ends at span.end, so that `$` and lookaheads see the piece
    // boundary the way they would if the piece were matched on its own.
    const int rc = compiled_->jit
                       ? pcre2_jit_match(compiled_->code, subject, span.end, position, PCRE2_NO_UTF_CHECK,
                                         match_data.get(), nullptr)
                       : pcre2_match(compiled_->code, subject, span.end, position, PCRE2_NO_UTF_CHECK,
                                     match_data.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      // A match error (such as PCRE2's match limit) must not drop text: the
      // rest of the span becomes one piece.
      spdlog::warn("pre-tokenizer regex failed with PCRE2 error {} at byte {}; keeping {} bytes as one piece", rc,
                   position, span.end - gap_begin);
      out.push_back({gap_begin, span.end});
      return;
    }

    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data.get());
    const size_t match_begin = ovector[0];
    const size_t match_end = ovector[1];
    if (match_end == match_begin) {
      // An empty match splits nothing, so the search goes on one character later.
      position = match_begin + utf8_step(text, match_begin);
      continue;
    }

    if (keep_gaps && match_begin > gap_begin) out.push_back({gap_begin, match_begin});
    out.push_back({match_begin, match_end});
    position = match_end;
    gap_begin = match_end;
  }
  if (keep_gaps && gap_begin < span.end) out.push_back({gap_begin, span.end});
}

void PreTokenizer::add(std::unique_ptr<PreTokenizerRegex> regex, bool keep_gaps) {
  stages_.push_back({std::move(regex), keep_gaps});
}

void PreTokenizer::split(std::string_view text, std::vector<TextSpan>& out) const {
  out.clear();
  out.push_back({0, text.size()});
  if (text.empty()) out.clear();

  std::vector<TextSpan> next;
  for (const Stage& stage : stages_) {
    next.clear();
    for (const TextSpan& span : out) stage.regex->split(text, span, stage.keep_gaps, next);
    out.swap(next);
  }
}

std::vector<std::string> gguf_pre_tokenizer_regexes(const std::string& name, bool& known) {
  // The regex lists of llama.cpp's BPE pre-tokenizers (src/llama-vocab.cpp,
  // llm_tokenizer_bpe), for the names the bundled test vocabularies use.
  const std::string gpt2_words = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
  const std::string cjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
  known = true;

  if (name == "llama-bpe" || name == "llama3" || name == "dbrx" || name == "smaug-bpe") return {kLlama3Pattern};
  if (name == "llama4" || name == "gpt-4o") return {kO200kPattern};
  if (name == "gpt-2" || name == "mpt" || name == "olmo" || name == "jais") return {gpt2_words};
  if (name == "starcoder" || name == "refact" || name == "command-r" || name == "smollm") {
    return {R"(\p{N})", gpt2_words};
  }
  if (name == "falcon") return {R"([\p{P}\$\+<=>\^~\|`]+)", gpt2_words, "[0-9][0-9][0-9]"};
  if (name == "deepseek-coder") {
    return {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", cjk, R"(\p{N})"};
  }
  if (name == "deepseek-llm") {
    return {
        "[\r\n]",
        "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af"
        "\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5"
        "\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba"
        "\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45"
        "\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe"
        "\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc"
        "\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
        "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3"
        "\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06"
        "\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3"
        "\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df"
        "\U0001e900-\U0001e943]+",
        "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
        R"(\s+$)",
        cjk,
        R"(\p{N}+)",
    };
  }
  known = false;
  return {};
}

}  // namespace brasa
