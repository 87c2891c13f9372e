#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace brasa {

// Incremental detokenizer for streaming: feed token ids one at a time and get
// text chunks that are always complete UTF-8. Bytes of a character split
// across tokens are held back until the character is complete. flush() ends
// the stream and turns what is left into U+FFFD. The concatenation of all
// chunks equals Tokenizer::decode() of the whole sequence, including the
// SentencePiece rule that drops the first leading space.
//
// For generated tokens that continue a prompt, pass `starts_text` = false:
// the leading space of the first generated token then belongs to the output,
// as it does when the prompt and the output are decoded together.
class Detokenizer {
 public:
  // `tokenizer` must outlive the detokenizer.
  Detokenizer(const Tokenizer& tokenizer, bool skip_special, bool starts_text = true)
      : tokenizer_(tokenizer), skip_special_(skip_special), at_start_(starts_text) {}

  // Returns the text that token `id` completes (possibly empty). Ids outside
  // the vocabulary decode to nothing.
  std::string push(int32_t id);
  // Returns the rest of the text. Later tokens start a new text.
  std::string flush();
  // True while bytes of an incomplete character are held back.
  bool has_pending() const { return sanitizer_.has_pending(); }

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool at_start_;
  Utf8Sanitizer sanitizer_;
};

}  // namespace brasa
