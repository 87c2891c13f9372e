#include "tokenizer/utf8.h"

#include <unordered_map>

namespace brasa {

namespace {
constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t next_code_point(std::string_view text, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(pos);
  size_t length = utf8_sequence_length(lead);
  if (pos + length > text.size()) length = 1;

  uint32_t cp = 0;
  switch (length) {
    case 1: cp = lead; break;
    case 2: cp = ((lead & 0x1F) << 6) | (byte(pos + 1) & 0x3F); break;
    case 3: cp = ((lead & 0x0F) << 12) | ((byte(pos + 1) & 0x3F) << 6) | (byte(pos + 2) & 0x3F); break;
    default:
      cp = ((lead & 0x07) << 18) | ((byte(pos + 1) & 0x3F) << 12) | ((byte(pos + 2) & 0x3F) << 6) |
           (byte(pos + 3) & 0x3F);
  }
  pos += length;
  return cp;
}

bool is_valid_utf8(std::string_view text) {
  Utf8Sanitizer sanitizer;
  std::string out;
  sanitizer.push(text, out);
  sanitizer.finish(out);
  return out.size() == text.size();
}

void Utf8Sanitizer::push(std::string_view bytes, std::string& out) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(bytes[i]);

    if (needed_ == 0) {
      // A lead byte fixes how many continuation bytes follow and, for E0, ED,
      // F0 and F4, a narrower range for the first one (no overlong forms, no
      // surrogates, nothing above U+10FFFF).
      if (b < 0x80) {
        out.push_back(static_cast<char>(b));
        continue;
      }
      lower_ = 0x80;
      upper_ = 0xBF;
      if (b >= 0xC2 && b <= 0xDF) {
        needed_ = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower_ = 0xA0;
        if (b == 0xED) upper_ = 0x9F;
        needed_ = 2;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower_ = 0x90;
        if (b == 0xF4) upper_ = 0x8F;
        needed_ = 3;
      } else {
        out += kReplacement;
        continue;
      }
      pending_.assign(1, static_cast<char>(b));
      continue;
    }

    if (b < lower_ || b > upper_) {
      // The maximal subpart so far is one error, and the byte itself starts over.
      pending_.clear();
      needed_ = 0;
      out += kReplacement;
      --i;
      continue;
    }
    lower_ = 0x80;
    upper_ = 0xBF;
    pending_.push_back(static_cast<char>(b));
    if (--needed_ == 0) {
      out += pending_;
      pending_.clear();
    }
  }
}

void Utf8Sanitizer::finish(std::string& out) {
  if (needed_ != 0) out += kReplacement;
  pending_.clear();
  needed_ = 0;
}

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  Utf8Sanitizer sanitizer;
  sanitizer.push(text, out);
  sanitizer.finish(out);
  return out;
}

const std::array<uint32_t, 256>& byte_to_code_point() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    uint32_t next_unprintable = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      t[b] = printable ? b : next_unprintable++;
    }
    return t;
  }();
  return table;
}

bool byte_level_to_bytes(std::string_view text, std::string& bytes) {
  static const std::unordered_map<uint32_t, uint8_t> inverse = [] {
    std::unordered_map<uint32_t, uint8_t> m;
    const auto& table = byte_to_code_point();
    for (uint32_t b = 0; b < 256; ++b) m[table[b]] = static_cast<uint8_t>(b);
    return m;
  }();

  bytes.clear();
  size_t pos = 0;
  while (pos < text.size()) {
    const uint32_t cp = next_code_point(text, pos);
    const auto it = inverse.find(cp);
    if (it == inverse.end()) return false;
    bytes.push_back(static_cast<char>(it->second));
  }
  return true;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  const auto& table = byte_to_code_point();
  for (char c : bytes) append_utf8(out, table[static_cast<uint8_t>(c)]);
  return out;
}

}  // namespace brasa
