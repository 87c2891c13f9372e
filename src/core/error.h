#pragma once

#include <stdexcept>
#include <string>

namespace brasa {

// Error raised when loading or configuring fails: a missing or malformed file,
// a config the code does not support, a bad command-line value. The message
// names the file or value and says what is wrong. The request path never
// throws it across a thread; the server maps request errors to HTTP statuses.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Always-on invariant check. An invariant failure is a bug in brasa, not bad input.
[[noreturn]] void check_failed(const char* file, int line, const char* condition, const std::string& message);

}  // namespace brasa

#define BRASA_CHECK(cond, msg)                                      \
  do {                                                              \
    if (!(cond)) ::brasa::check_failed(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
