#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace brasa {

// Byte ranges [begin, end) of one text.
struct TextSpan {
  size_t begin = 0;
  size_t end = 0;
};

// A pre-tokenizer regex compiled with PCRE2 (UTF and UCP modes, JIT when the
// platform has it). `\s` and `\S` are rewritten to Unicode White_Space, which
// is what the Rust regex engines behind Hugging Face tokenizers and tiktoken
// use. PCRE2's own `\s` leaves out U+0085.
class PreTokenizerRegex {
 public:
  // Throws brasa::Error naming `source` when the pattern does not compile.
  PreTokenizerRegex(const std::string& pattern, const std::string& source);
  ~PreTokenizerRegex();
  PreTokenizerRegex(const PreTokenizerRegex&) = delete;
  PreTokenizerRegex& operator=(const PreTokenizerRegex&) = delete;

  // Splits span `span` of valid UTF-8 `text` into pieces. With `keep_gaps`
  // the text between matches becomes pieces too (Hugging Face "Isolated").
  // Without it only the matches are kept (tiktoken, and "Removed" with invert).
  void split(std::string_view text, TextSpan span, bool keep_gaps, std::vector<TextSpan>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Compiled;
  std::string pattern_;
  std::unique_ptr<Compiled> compiled_;
};

// Rewrites `\s` and `\S` in a regex to classes of Unicode White_Space.
std::string rewrite_whitespace_classes(const std::string& pattern);

// A sequence of regexes, each splitting the pieces of the one before (how
// llama.cpp applies its named pre-tokenizers and how Hugging Face applies a
// Sequence of Split pre-tokenizers).
class PreTokenizer {
 public:
  void add(std::unique_ptr<PreTokenizerRegex> regex, bool keep_gaps);
  bool empty() const { return stages_.empty(); }

  // Splits valid UTF-8 text into pieces. With no regexes the whole text is one piece.
  void split(std::string_view text, std::vector<TextSpan>& out) const;

 private:
  struct Stage {
    std::unique_ptr<PreTokenizerRegex> regex;
    bool keep_gaps = true;
  };
  std::vector<Stage> stages_;
};

// Regexes of the pre-tokenizers that GGUF files name in tokenizer.ggml.pre.
// Returns an empty list for a name brasa does not know.
std::vector<std::string> gguf_pre_tokenizer_regexes(const std::string& name, bool& known);

// The pattern of GPT-2 (also Hugging Face's ByteLevel pre-tokenizer with use_regex).
extern const char* const kGpt2Pattern;
// The pattern of Llama 3 (Meta's tokenizer.py and the HF tokenizer.json).
extern const char* const kLlama3Pattern;
// The pattern of OpenAI's o200k_base, also used by Llama 4.
extern const char* const kO200kPattern;

}  // namespace brasa
