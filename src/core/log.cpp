#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace brasa {

void init_logging(const std::string& level) {
  // Logs go to stderr so that commands printing results on stdout (--json) stay parseable.
  auto logger = spdlog::get("brasa");
  if (!logger) {
    logger = spdlog::stderr_color_mt("brasa");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(logger);
  }
  logger->set_level(spdlog::level::from_str(level));
}

}  // namespace brasa
