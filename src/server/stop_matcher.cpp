#include "server/stop_matcher.h"

#include <algorithm>

namespace brasa::server {

std::string StopMatcher::push(std::string_view text) {
  if (stopped_) return {};
  pending_ += text;

  // The earliest stop string in the pending text ends the output there.
  size_t match = std::string::npos;
  for (const std::string& stop : stops_) match = std::min(match, pending_.find(stop));
  if (match != std::string::npos) {
    stopped_ = true;
    std::string before = pending_.substr(0, match);
    pending_.clear();
    return before;
  }

  // Hold back the longest suffix that is a prefix of some stop string.
  size_t held = 0;
  for (const std::string& stop : stops_) {
    size_t max_len = std::min(stop.size() - 1, pending_.size());
    for (size_t len = max_len; len > held; --len) {
      if (pending_.compare(pending_.size() - len, len, stop, 0, len) == 0) {
        held = len;
        break;
      }
    }
  }
  std::string ready = pending_.substr(0, pending_.size() - held);
  pending_.erase(0, pending_.size() - held);
  return ready;
}

std::string StopMatcher::flush() {
  std::string rest;
  rest.swap(pending_);
  return stopped_ ? std::string() : rest;
}

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the UTF-8 sequence a lead byte starts, or 0 for a byte that cannot lead.
size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Checks the second byte against the lead byte's narrower range (RFC 3629),
// which rules out overlong forms, surrogates and code points above U+10FFFF.
bool valid_second(unsigned char lead, unsigned char second) {
  if (lead == 0xE0) return second >= 0xA0 && second <= 0xBF;
  if (lead == 0xED) return second >= 0x80 && second <= 0x9F;
  if (lead == 0xF0) return second >= 0x90 && second <= 0xBF;
  if (lead == 0xF4) return second >= 0x80 && second <= 0x8F;
  return second >= 0x80 && second <= 0xBF;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
  pending_ += bytes;
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    auto lead = static_cast<unsigned char>(pending_[i]);
    size_t length = sequence_length(lead);
    if (length == 0) {
      out += kReplacement;
      ++i;
      continue;
    }

    // Check the continuation bytes that have arrived; stop at the end of the input.
    size_t have = std::min(length, pending_.size() - i);
    size_t valid = 1;
    while (valid < have) {
      auto byte = static_cast<unsigned char>(pending_[i + valid]);
      bool ok = valid == 1 ? valid_second(lead, byte) : (byte >= 0x80 && byte <= 0xBF);
      if (!ok) break;
      ++valid;
    }
    if (valid == length) {
      out.append(pending_, i, length);
      i += length;
    } else if (valid == have) {
      break;  // an unfinished character at the end: wait for more bytes
    } else {
      out += kReplacement;
      i += valid;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out = pending_.empty() ? std::string() : std::string(kReplacement);
  pending_.clear();
  return out;
}

}  // namespace brasa::server
