#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace brasa::server {

// Finds stop strings in generated text that arrives in pieces. Text that could
// be the start of a stop string is held back until the next piece settles it,
// so a stop string split across tokens is still found and never sent.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Adds text and returns the part that is safe to send. After a match it
  // returns the text before the stop string, and stopped() turns true.
  std::string push(std::string_view text);

  // Returns the held-back text once generation ends without a match.
  std::string flush();

  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

// Splits a byte stream into whole UTF-8 characters. A token may end inside a
// multi-byte character, so its last bytes wait for the next token. Invalid
// bytes become U+FFFD.
class Utf8Stream {
 public:
  std::string push(std::string_view bytes);
  std::string flush();  // the held bytes of an unfinished character, as U+FFFD

 private:
  std::string pending_;
};

}  // namespace brasa::server
