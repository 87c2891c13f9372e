#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "templates/jinja_value.h"

namespace brasa::jinja {

// The global functions a chat template can call: jinja2's range, dict, namespace
// and joiner, and Hugging Face's raise_exception and strftime_now. strftime_now
// formats `now` when given, else the current local time.
// NOTE: range() returns a list, so printing it shows "[0, 1, 2]" where Python
// shows "range(0, 3)"; iterating, indexing and length match.
// Every namespace() the template creates is appended to `created_namespaces`, so the
// caller can empty them after the render and break reference cycles through them.
std::vector<std::pair<std::string, Value>> make_globals(std::optional<std::time_t> now,
                                                        std::vector<Value>* created_namespaces);

}  // namespace brasa::jinja
