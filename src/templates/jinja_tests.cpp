// jinja2's built-in tests: `value is defined`, `value is divisibleby 3`, ...

#include <functional>
#include <unordered_map>

#include "templates/jinja_builtins.h"
#include "templates/jinja_unicode.h"

namespace brasa::jinja {

namespace {

using TestFunction = std::function<bool(const Value&, const CallArgs&)>;

const Value& test_argument(const CallArgs& args, const std::string& test) {
  if (args.positional.empty()) {
    if (!args.keyword.empty()) return args.keyword.front().second;
    throw EvalError("test '" + test + "' requires an argument");
  }
  return args.positional[0];
}

int64_t integer_operand(const Value& value, const std::string& test) {
  require_defined(value);
  if (!value.is_int() && !value.is_bool()) {
    if (value.is_float()) return static_cast<int64_t>(value.as_double());
    throw EvalError("test '" + test + "' needs a number, got " + value.type_name());
  }
  return value.as_int();
}

bool has_only_case(const std::string& s, bool upper_case) {
  bool any_cased = false;
  for (uint32_t cp : to_code_points(s)) {
    if (!is_cased(cp)) continue;
    any_cased = true;
    if (upper_case ? to_upper(cp) != cp : to_lower(cp) != cp) return false;
  }
  return any_cased;
}

const std::unordered_map<std::string, TestFunction>& tests() {
  static const std::unordered_map<std::string, TestFunction> table = [] {
    std::unordered_map<std::string, TestFunction> t;
    t["defined"] = [](const Value& v, const CallArgs&) { return !v.is_undefined(); };
    t["undefined"] = [](const Value& v, const CallArgs&) { return v.is_undefined(); };
    t["none"] = [](const Value& v, const CallArgs&) { return v.is_none(); };
    t["boolean"] = [](const Value& v, const CallArgs&) { return v.is_bool(); };
    t["true"] = [](const Value& v, const CallArgs&) { return v.is_bool() && v.as_bool(); };
    t["false"] = [](const Value& v, const CallArgs&) { return v.is_bool() && !v.as_bool(); };
    t["integer"] = [](const Value& v, const CallArgs&) { return v.is_int(); };
    t["float"] = [](const Value& v, const CallArgs&) { return v.is_float(); };
    t["number"] = [](const Value& v, const CallArgs&) { return v.is_number(); };
    t["string"] = [](const Value& v, const CallArgs&) { return v.is_string(); };
    t["mapping"] = [](const Value& v, const CallArgs&) { return v.is_dict() && !v.is_namespace(); };
    // Undefined counts as iterable and as a sequence: jinja2's Undefined has __iter__ and __len__.
    t["iterable"] = [](const Value& v, const CallArgs&) {
      return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace());
    };
    t["sequence"] = t["iterable"];
    t["callable"] = [](const Value& v, const CallArgs&) { return v.is_function(); };
    t["escaped"] = [](const Value&, const CallArgs&) { return false; };
    t["odd"] = [](const Value& v, const CallArgs&) { return integer_operand(v, "odd") % 2 != 0; };
    t["even"] = [](const Value& v, const CallArgs&) { return integer_operand(v, "even") % 2 == 0; };
    t["divisibleby"] = [](const Value& v, const CallArgs& a) {
      int64_t divisor = integer_operand(test_argument(a, "divisibleby"), "divisibleby");
      if (divisor == 0) throw EvalError("integer division or modulo by zero");
      return integer_operand(v, "divisibleby") % divisor == 0;
    };
    t["eq"] = t["equalto"] = t["=="] = [](const Value& v, const CallArgs& a) { return compare_values("==", v, test_argument(a, "eq")); };
    t["ne"] = t["!="] = [](const Value& v, const CallArgs& a) { return compare_values("!=", v, test_argument(a, "ne")); };
    t["lt"] = t["lessthan"] = t["<"] = [](const Value& v, const CallArgs& a) { return compare_values("<", v, test_argument(a, "lt")); };
    t["le"] = t["<="] = [](const Value& v, const CallArgs& a) { return compare_values("<=", v, test_argument(a, "le")); };
    t["gt"] = t["greaterthan"] = t[">"] = [](const Value& v, const CallArgs& a) { return compare_values(">", v, test_argument(a, "gt")); };
    t["ge"] = t[">="] = [](const Value& v, const CallArgs& a) { return compare_values(">=", v, test_argument(a, "ge")); };
    t["in"] = [](const Value& v, const CallArgs& a) { return contains_value(test_argument(a, "in"), v); };
    // Python's str.islower() / isupper(): at least one cased character, all in that case.
    t["lower"] = [](const Value& v, const CallArgs&) { return has_only_case(v.str(), false); };
    t["upper"] = [](const Value& v, const CallArgs&) { return has_only_case(v.str(), true); };
    t["sameas"] = [](const Value& v, const CallArgs& a) {
      const Value& other = test_argument(a, "sameas");
      // Python's `is`: singletons compare by value here, containers by identity.
      if (v.is_list() || v.is_dict() || v.is_function()) return v.kind() == other.kind() && v.equals(other) && v.repr() == other.repr();
      return v.kind() == other.kind() && v.equals(other);
    };
    return t;
  }();
  return table;
}

}  // namespace

bool has_test(const std::string& name) { return tests().count(name) != 0; }

bool apply_test(const std::string& name, const Value& input, const CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) throw EvalError("No test named '" + name + "'.");
  return it->second(input, args);
}

}  // namespace brasa::jinja
