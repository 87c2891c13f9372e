#pragma once

#include <string>

#include "templates/jinja_ast.h"

namespace brasa::jinja {

// Parses a template into its statement list, following jinja2 3.1's grammar and
// operator precedence. Throws TemplateError naming the line on a syntax error.
NodeList parse_template(const std::string& source);

}  // namespace brasa::jinja
