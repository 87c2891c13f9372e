// Python semantics of the operators, indexing, slicing and iteration that
// templates use, including the TypeError cases that jinja2 raises.

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "templates/jinja_builtins.h"
#include "templates/jinja_unicode.h"

namespace brasa::jinja {

namespace {

// Python's type name, as TypeError messages print it.
std::string python_type(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined:
      return "Undefined";
    case Value::Kind::None:
      return "NoneType";
    case Value::Kind::Bool:
      return "bool";
    case Value::Kind::Int:
      return "int";
    case Value::Kind::Float:
      return "float";
    case Value::Kind::String:
      return "str";
    case Value::Kind::List:
      return v.is_tuple() ? "tuple" : "list";
    case Value::Kind::Dict:
      return v.is_namespace() ? "Namespace" : "dict";
    case Value::Kind::Function:
      return "function";
  }
  return "object";
}

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  throw EvalError("unsupported operand type(s) for " + op + ": '" + python_type(a) + "' and '" + python_type(b) + "'");
}

bool both_integral(const Value& a, const Value& b) {
  return (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
}

Value checked_integer(__int128 v) {
  if (v > INT64_MAX || v < INT64_MIN) throw EvalError("integer result is too large");
  return Value(static_cast<int64_t>(v));
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value repeat(const Value& sequence, int64_t count) {
  if (count < 0) count = 0;
  if (sequence.is_string()) {
    check_size(sequence.as_string().size() * static_cast<size_t>(count), kMaxStringBytes, "string length in bytes");
    std::string out;
    for (int64_t i = 0; i < count; ++i) out += sequence.as_string();
    return sequence.is_safe() ? Value::safe_string(std::move(out)) : Value(std::move(out));
  }
  check_size(sequence.as_list().size() * static_cast<size_t>(count), kMaxListItems, "list length");
  ValueList out;
  for (int64_t i = 0; i < count; ++i) out.insert(out.end(), sequence.as_list().begin(), sequence.as_list().end());
  Value result = Value::list(std::move(out));
  if (sequence.is_tuple()) result.mark_tuple();
  return result;
}

int compare_order(const std::string& op, const Value& a, const Value& b) {
  require_defined(a);
  require_defined(b);
  if (a.is_number() && b.is_number()) {
    if (both_integral(a, b)) return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
    double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const ValueList& x = a.as_list();
    const ValueList& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!x[i].equals(y[i])) return compare_order(op, x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  throw EvalError("'" + op + "' not supported between instances of '" + python_type(a) + "' and '" + python_type(b) + "'");
}

}  // namespace

void check_size(size_t size, size_t limit, const char* quantity) {
  if (size > limit) throw EvalError(std::string(quantity) + " exceeds the limit of " + std::to_string(limit));
}

void require_defined(const Value& value) {
  if (value.is_undefined()) throw EvalError(value.undefined_message());
}

Value binary_operation(const std::string& op, const Value& left, const Value& right) {
  if (op == "~") {
    std::string l = left.str(), r = right.str();
    check_size(l.size() + r.size(), kMaxStringBytes, "string length in bytes");
    return Value(l + r);
  }
  require_defined(left);
  require_defined(right);

  if (op == "+") {
    if (both_integral(left, right)) return checked_integer(static_cast<__int128>(left.as_int()) + right.as_int());
    if (left.is_number() && right.is_number()) return Value(left.as_double() + right.as_double());
    if (left.is_string() && right.is_string()) {
      check_size(left.as_string().size() + right.as_string().size(), kMaxStringBytes, "string length in bytes");
      if (left.is_safe() || right.is_safe()) {
        std::string l = left.is_safe() ? left.as_string() : html_escape(left.as_string());
        std::string r = right.is_safe() ? right.as_string() : html_escape(right.as_string());
        return Value::safe_string(l + r);
      }
      return Value(left.as_string() + right.as_string());
    }
    if (left.is_list() && right.is_list() && left.is_tuple() == right.is_tuple()) {
      check_size(left.as_list().size() + right.as_list().size(), kMaxListItems, "list length");
      ValueList items = left.as_list();
      items.insert(items.end(), right.as_list().begin(), right.as_list().end());
      Value result = Value::list(std::move(items));
      if (left.is_tuple()) result.mark_tuple();
      return result;
    }
    if (left.is_string()) throw EvalError("can only concatenate str (not \"" + python_type(right) + "\") to str");
    if (left.is_list() && !left.is_tuple()) throw EvalError("can only concatenate list (not \"" + python_type(right) + "\") to list");
    unsupported("+", left, right);
  }
  if (op == "-") {
    if (both_integral(left, right)) return checked_integer(static_cast<__int128>(left.as_int()) - right.as_int());
    if (left.is_number() && right.is_number()) return Value(left.as_double() - right.as_double());
    unsupported("-", left, right);
  }
  if (op == "*") {
    if (both_integral(left, right)) return checked_integer(static_cast<__int128>(left.as_int()) * right.as_int());
    if (left.is_number() && right.is_number()) return Value(left.as_double() * right.as_double());
    if ((left.is_string() || left.is_list()) && (right.is_int() || right.is_bool())) return repeat(left, right.as_int());
    if ((right.is_string() || right.is_list()) && (left.is_int() || left.is_bool())) return repeat(right, left.as_int());
    unsupported("*", left, right);
  }
  if (op == "/") {
    if (!left.is_number() || !right.is_number()) unsupported("/", left, right);
    if (right.as_double() == 0.0) throw EvalError("division by zero");
    return Value(left.as_double() / right.as_double());
  }
  if (op == "//") {
    if (!left.is_number() || !right.is_number()) unsupported("//", left, right);
    if (right.as_double() == 0.0) throw EvalError(both_integral(left, right) ? "integer division or modulo by zero" : "float floor division by zero");
    if (both_integral(left, right)) return Value(floor_div(left.as_int(), right.as_int()));
    return Value(std::floor(left.as_double() / right.as_double()));
  }
  if (op == "%") {
    if (left.is_safe()) {
      // Markup % args escapes each argument before formatting.
      auto escape_argument = [](const Value& v) {
        if (v.is_safe() || v.is_number() || v.is_none()) return v;
        return Value::safe_string(html_escape(v.str()));
      };
      Value escaped = right;
      if (right.is_tuple()) {
        ValueList items;
        for (const Value& item : right.as_list()) items.push_back(escape_argument(item));
        escaped = Value::list(std::move(items));
        escaped.mark_tuple();
      } else {
        escaped = escape_argument(right);
      }
      return Value::safe_string(percent_format(left.as_string(), escaped));
    }
    if (left.is_string()) return Value(percent_format(left.as_string(), right));
    if (!left.is_number() || !right.is_number()) unsupported("%", left, right);
    if (right.as_double() == 0.0) throw EvalError(both_integral(left, right) ? "integer division or modulo by zero" : "float modulo");
    if (both_integral(left, right)) {
      int64_t a = left.as_int(), b = right.as_int();
      return Value(a - floor_div(a, b) * b);
    }
    double a = left.as_double(), b = right.as_double();
    double m = std::fmod(a, b);
    if (m != 0.0 && ((m < 0) != (b < 0))) m += b;
    return Value(m);
  }
  if (op == "**") {
    if (!left.is_number() || !right.is_number()) unsupported("** or pow()", left, right);
    if (both_integral(left, right) && right.as_int() >= 0) {
      __int128 result = 1;
      __int128 base = left.as_int();
      for (int64_t e = right.as_int(); e > 0; --e) {
        result *= base;
        if (result > INT64_MAX || result < INT64_MIN) throw EvalError("integer result is too large");
      }
      return Value(static_cast<int64_t>(result));
    }
    if (left.as_double() == 0.0 && right.as_double() < 0) throw EvalError("0.0 cannot be raised to a negative power");
    return Value(std::pow(left.as_double(), right.as_double()));
  }
  throw EvalError("unknown operator " + op);
}

bool contains_value(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined:
      return false;
    case Value::Kind::String:
      if (!item.is_string()) throw EvalError("'in <string>' requires string as left operand, not " + python_type(item));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::List:
      for (const Value& element : container.as_list()) {
        if (element.equals(item)) return true;
      }
      return false;
    case Value::Kind::Dict:
      if (item.is_list() && !item.is_tuple()) throw EvalError("unhashable type: 'list'");
      if (item.is_dict()) throw EvalError("unhashable type: 'dict'");
      return container.as_dict().find(item) != nullptr;
    default:
      throw EvalError("argument of type '" + python_type(container) + "' is not iterable");
  }
}

bool compare_values(const std::string& op, const Value& left, const Value& right) {
  if (op == "==") return left.equals(right);
  if (op == "!=") return !left.equals(right);
  if (op == "in") return contains_value(right, left);
  if (op == "not in") return !contains_value(right, left);
  int order = compare_order(op, left, right);
  if (op == "<") return order < 0;
  if (op == "<=") return order <= 0;
  if (op == ">") return order > 0;
  if (op == ">=") return order >= 0;
  throw EvalError("unknown comparison " + op);
}

ValueList iterate(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::Undefined:
      return {};
    case Value::Kind::List:
      return value.as_list();
    case Value::Kind::Dict: {
      if (value.is_namespace()) throw EvalError("'Namespace' object is not iterable");
      ValueList keys;
      for (const auto& entry : value.as_dict().entries()) keys.push_back(entry.first);
      return keys;
    }
    case Value::Kind::String: {
      ValueList chars;
      const std::string& s = value.as_string();
      size_t pos = 0;
      while (pos < s.size()) {
        size_t start = pos;
        decode_utf8(s, pos);
        chars.push_back(Value(s.substr(start, pos - start)));
      }
      return chars;
    }
    default:
      throw EvalError("'" + python_type(value) + "' object is not iterable");
  }
}

Value get_index(const Value& object, const Value& index, bool& found) {
  found = false;
  if (object.is_dict()) {
    if (index.is_list() && !index.is_tuple()) throw EvalError("unhashable type: 'list'");
    const Value* value = object.as_dict().find(index);
    if (!value) return Value();
    found = true;
    return *value;
  }
  if (!index.is_int() && !index.is_bool()) return Value();
  int64_t i = index.as_int();
  if (object.is_list()) {
    int64_t size = static_cast<int64_t>(object.as_list().size());
    if (i < 0) i += size;
    if (i < 0 || i >= size) return Value();
    found = true;
    return object.as_list()[static_cast<size_t>(i)];
  }
  if (object.is_string()) {
    std::vector<uint32_t> cps = to_code_points(object.as_string());
    int64_t size = static_cast<int64_t>(cps.size());
    if (i < 0) i += size;
    if (i < 0 || i >= size) return Value();
    found = true;
    return Value(from_code_points(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
  }
  return Value();
}

namespace {

// The indices a Python slice selects from a sequence of `size` items.
std::vector<size_t> slice_indices(int64_t size, std::optional<int64_t> start, std::optional<int64_t> stop,
                                  std::optional<int64_t> step) {
  int64_t s = step.value_or(1);
  if (s == 0) throw EvalError("slice step cannot be zero");
  auto clamp = [&](std::optional<int64_t> bound, int64_t fallback) {
    if (!bound) return fallback;
    int64_t v = *bound;
    if (v < 0) v += size;
    if (s > 0) return std::min(std::max<int64_t>(v, 0), size);
    return std::min(std::max<int64_t>(v, -1), size - 1);
  };
  int64_t first = clamp(start, s > 0 ? 0 : size - 1);
  int64_t last = clamp(stop, s > 0 ? size : -1);
  std::vector<size_t> indices;
  for (int64_t i = first; s > 0 ? i < last : i > last; i += s) indices.push_back(static_cast<size_t>(i));
  return indices;
}

}  // namespace

Value slice_value(const Value& object, std::optional<int64_t> start, std::optional<int64_t> stop,
                  std::optional<int64_t> step) {
  require_defined(object);
  if (object.is_list()) {
    const ValueList& items = object.as_list();
    ValueList out;
    for (size_t i : slice_indices(static_cast<int64_t>(items.size()), start, stop, step)) out.push_back(items[i]);
    Value result = Value::list(std::move(out));
    if (object.is_tuple()) result.mark_tuple();
    return result;
  }
  if (object.is_string()) {
    std::vector<uint32_t> cps = to_code_points(object.as_string());
    std::string out;
    for (size_t i : slice_indices(static_cast<int64_t>(cps.size()), start, stop, step)) append_utf8(out, cps[i]);
    return Value(std::move(out));
  }
  throw EvalError("'" + python_type(object) + "' object is not subscriptable");
}

std::string percent_format(const std::string& format, const Value& args) {
  ValueList values;
  if (args.is_tuple()) {
    values = args.as_list();
  } else {
    values.push_back(args);
  }
  size_t next = 0;
  auto take = [&]() -> const Value& {
    if (next >= values.size()) throw EvalError("not enough arguments for format string");
    return values[next++];
  };

  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) throw EvalError("incomplete format");
    std::string spec = "%";
    while (i < format.size() && std::string("-+ #0").find(format[i]) != std::string::npos) spec += format[i++];
    while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) spec += format[i++];
    if (i < format.size() && format[i] == '.') {
      spec += format[i++];
      while (i < format.size() && std::isdigit(static_cast<unsigned char>(format[i]))) spec += format[i++];
    }
    if (i >= format.size()) throw EvalError("incomplete format");
    char type = format[i];
    char buffer[512];
    if (type == '%') {
      out += '%';
    } else if (type == 's' || type == 'r') {
      const Value& value = take();
      std::string text = type == 's' ? value.str() : value.repr();
      if (spec == "%") {
        out += text;
      } else {
        // Width and precision count code points; apply them by hand.
        std::string flags = spec.substr(1);
        bool left_align = flags.find('-') != std::string::npos;
        size_t dot = flags.find('.');
        std::string width_text = flags.substr(0, dot);
        width_text.erase(0, width_text.find_first_not_of("-+ #0"));
        if (dot != std::string::npos) {
          size_t precision = static_cast<size_t>(std::atoi(flags.c_str() + dot + 1));
          std::vector<uint32_t> cps = to_code_points(text);
          text = from_code_points(cps, 0, std::min(precision, cps.size()));
        }
        size_t width = width_text.empty() ? 0 : static_cast<size_t>(std::atoi(width_text.c_str()));
        size_t length = count_code_points(text);
        std::string pad = length < width ? std::string(width - length, ' ') : "";
        out += left_align ? text + pad : pad + text;
      }
    } else if (type == 'd' || type == 'i' || type == 'x' || type == 'X' || type == 'o') {
      const Value& value = take();
      if (!value.is_number()) throw EvalError("%" + std::string(1, type) + " format: a real number is required, not " + python_type(value));
      long long n = value.is_float() ? static_cast<long long>(value.as_double()) : value.as_int();
      std::snprintf(buffer, sizeof(buffer), (spec + "ll" + (type == 'i' ? 'd' : type)).c_str(), n);
      out += buffer;
    } else if (type == 'f' || type == 'F' || type == 'e' || type == 'E' || type == 'g' || type == 'G') {
      const Value& value = take();
      if (!value.is_number()) throw EvalError("must be real number, not " + python_type(value));
      std::snprintf(buffer, sizeof(buffer), (spec + type).c_str(), value.as_double());
      out += buffer;
    } else if (type == 'c') {
      const Value& value = take();
      if (value.is_string()) {
        out += value.as_string();
      } else {
        append_utf8(out, static_cast<uint32_t>(value.as_int()));
      }
    } else {
      throw EvalError(std::string("unsupported format character '") + type + "'");
    }
  }
  // Python accepts an unused argument that supports indexing (a dict or list), since
  // it may be a mapping for %(name)s, but rejects any other unused argument.
  bool unused = args.is_tuple() ? next < values.size() : (next == 0 && !args.is_dict() && !args.is_list());
  if (unused) throw EvalError("not all arguments converted during string formatting");
  return out;
}

}  // namespace brasa::jinja
