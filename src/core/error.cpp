#include "core/error.h"

#include <cstdio>
#include <cstdlib>

namespace brasa {

void check_failed(const char* file, int line, const char* condition, const std::string& message) {
  std::fprintf(stderr, "brasa: internal check failed at %s:%d: %s: %s\n", file, line, condition, message.c_str());
  std::abort();
}

}  // namespace brasa
