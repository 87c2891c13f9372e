#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace brasa {

// Length in bytes of the UTF-8 sequence that starts with `lead`, from the lead
// byte alone (1 for a stray continuation or an invalid lead byte).
inline size_t utf8_sequence_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

// Appends the UTF-8 encoding of a code point.
void append_utf8(std::string& out, uint32_t code_point);

// Decodes the code point at `pos` of valid UTF-8 text and advances `pos` past it.
uint32_t next_code_point(std::string_view text, size_t& pos);

bool is_valid_utf8(std::string_view text);

// Incremental UTF-8 validation that replaces every invalid sequence with U+FFFD,
// using the "maximal subpart" rule of the WHATWG Encoding Standard (the same
// rule as JavaScript's TextDecoder and Python's errors="replace"), so results
// agree with those decoders byte for byte. Bytes of a sequence that may still
// complete are held back until the next push() or until finish().
class Utf8Sanitizer {
 public:
  // Appends the valid part of `bytes` to `out`, holding back an incomplete tail.
  void push(std::string_view bytes, std::string& out);
  // Ends the stream: an incomplete held-back sequence becomes one U+FFFD.
  void finish(std::string& out);
  bool has_pending() const { return needed_ != 0; }

 private:
  std::string pending_;
  int needed_ = 0;        // continuation bytes still expected
  uint8_t lower_ = 0x80;  // allowed range of the next continuation byte
  uint8_t upper_ = 0xBF;
};

// Returns `text` with invalid UTF-8 replaced by U+FFFD (see Utf8Sanitizer).
std::string sanitize_utf8(std::string_view text);

// The byte-level alphabet of GPT-2 style tokenizers: each byte maps to one
// printable code point (printable Latin-1 bytes map to themselves, the rest to
// U+0100 and up, in byte order), so that vocabularies are stored as text.
const std::array<uint32_t, 256>& byte_to_code_point();

// Maps a byte-level string (e.g. "Ġthe") back to raw bytes. Returns false when
// a character is outside the byte-level alphabet.
bool byte_level_to_bytes(std::string_view text, std::string& bytes);

// Maps raw bytes to their byte-level string.
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace brasa
