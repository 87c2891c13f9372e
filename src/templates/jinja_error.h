#pragma once

#include <string>

#include "templates/chat_template.h"

namespace brasa::jinja {

// Throws TemplateError with the message prefixed by the template line, the form
// every interpreter error takes: "template line 12: No filter named 'foo'".
[[noreturn]] inline void throw_template_error(int line, const std::string& message) {
  throw TemplateError("template line " + std::to_string(line) + ": " + message);
}

}  // namespace brasa::jinja
