#pragma once

#include <string>

namespace brasa::test {

inline std::string shared_path(const std::string& relative) { return std::string(BRASA_SHARED_DIR) + "/" + relative; }

}  // namespace brasa::test
