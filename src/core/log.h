#pragma once

#include <spdlog/spdlog.h>

namespace brasa {

// Sets up the process-wide spdlog logger ("brasa", to stderr) at the given level
// name (trace, debug, info, warn, error, off).
void init_logging(const std::string& level);

}  // namespace brasa
