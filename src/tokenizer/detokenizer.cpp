#include "tokenizer/detokenizer.h"

namespace brasa {

std::string Detokenizer::push(int32_t id) {
  std::string out;
  if (id < 0 || id >= tokenizer_.vocab_size()) return out;
  if (skip_special_ && tokenizer_.is_special(id)) return out;

  std::string bytes = tokenizer_.token_bytes(id);
  if (at_start_ && !bytes.empty()) {
    at_start_ = false;
    if (tokenizer_.strips_leading_space() && bytes[0] == ' ') bytes.erase(0, 1);
  }
  sanitizer_.push(bytes, out);
  return out;
}

std::string Detokenizer::flush() {
  std::string out;
  sanitizer_.finish(out);
  at_start_ = true;
  return out;
}

}  // namespace brasa
