#pragma once

// jinja2's built-in filters, tests and operators and the Python methods of str,
// list and dict that templates call, over Values. They throw EvalError; the
// interpreter adds the template line.

#include <optional>
#include <stdexcept>
#include <string>

#include "templates/jinja_value.h"

namespace brasa::jinja {

// An error while evaluating an expression, before the interpreter has added the line.
class EvalError : public std::runtime_error {
 public:
  explicit EvalError(const std::string& message) : std::runtime_error(message) {}
};

// The largest string or list one operation may build. Templates that double a
// value in a loop would otherwise exhaust memory before the output limit applies.
constexpr size_t kMaxStringBytes = 64u << 20;
constexpr size_t kMaxListItems = 1u << 22;

// Throws EvalError when `size` exceeds `limit`.
void check_size(size_t size, size_t limit, const char* quantity);

// Applies the filter `name` to `input`. Throws EvalError naming an unknown filter.
Value apply_filter(const std::string& name, const Value& input, const CallArgs& args);
bool has_filter(const std::string& name);

// Evaluates `input is name(args)`. Throws EvalError naming an unknown test.
bool apply_test(const std::string& name, const Value& input, const CallArgs& args);
bool has_test(const std::string& name);

// The bound method `object.name` (str.strip, dict.items, ...), or nullopt when the
// type has no such method. Methods that mutate lists and dicts return a function
// that raises, because jinja2's ImmutableSandboxedEnvironment forbids them.
std::optional<Value> bound_method(const Value& object, const std::string& name);

// Binary operators: + - * / // % ** ~ with Python's semantics.
Value binary_operation(const std::string& op, const Value& left, const Value& right);
// Comparisons: == != < <= > >= in, "not in".
bool compare_values(const std::string& op, const Value& left, const Value& right);
bool contains_value(const Value& container, const Value& item);

// Python's `format % args` for %s %r %d %i %f %x %%.
std::string percent_format(const std::string& format, const Value& args);

// Indexing and slicing with Python semantics (negative indices, steps).
Value get_index(const Value& object, const Value& index, bool& found);
Value slice_value(const Value& object, std::optional<int64_t> start, std::optional<int64_t> stop,
                  std::optional<int64_t> step);

// Returns the items a for loop visits: list items, dict keys, string characters.
ValueList iterate(const Value& value);

// Raises EvalError for an undefined value that is used beyond printing or testing.
void require_defined(const Value& value);

}  // namespace brasa::jinja
