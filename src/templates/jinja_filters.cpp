// jinja2's built-in filters, with Hugging Face's tojson in place of jinja2's own.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <unordered_map>

#include "templates/jinja_builtins.h"
#include "templates/jinja_unicode.h"

namespace brasa::jinja {

namespace {

using FilterFunction = std::function<Value(const Value&, const CallArgs&)>;

Value argument_or(const CallArgs& args, size_t index, const std::string& name, Value fallback) {
  std::optional<Value> value = args.get(index, name);
  return value ? *value : fallback;
}

int64_t int_argument(const CallArgs& args, size_t index, const std::string& name, int64_t fallback) {
  std::optional<Value> value = args.get(index, name);
  if (!value) return fallback;
  if (!value->is_number()) throw EvalError("'" + name + "' must be an integer, not " + value->type_name());
  return value->is_float() ? static_cast<int64_t>(value->as_double()) : value->as_int();
}

size_t length_of(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::Undefined:
      return 0;
    case Value::Kind::String:
      return count_code_points(value.as_string());
    case Value::Kind::List:
      return value.as_list().size();
    case Value::Kind::Dict:
      if (!value.is_namespace()) return value.as_dict().size();
      [[fallthrough]];
    default:
      throw EvalError("object of type '" + value.type_name() + "' has no len()");
  }
}

// Attribute lookup for map(attribute=), sort(attribute=) and friends: dotted
// paths, and integer path parts index lists ("0.name").
Value lookup_attribute(const Value& item, const std::string& path) {
  Value current = item;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    require_defined(current);
    bool found = false;
    Value next;
    if (current.is_dict()) {
      next = get_index(current, Value(part), found);
    }
    if (!found && !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      next = get_index(current, Value(static_cast<int64_t>(std::stoll(part))), found);
    }
    if (!found) {
      if (auto method = bound_method(current, part)) {
        next = *method;
      } else {
        next = Value::undefined("'" + current.type_name() + "' has no attribute '" + part + "'");
      }
    }
    current = next;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return current;
}

// Filters that call a str method on a Markup input return Markup too.
Value keep_safe(const Value& input, std::string text) {
  return input.is_safe() ? Value::safe_string(std::move(text)) : Value(std::move(text));
}

Value make_tuple(ValueList items) {
  Value tuple = Value::list(std::move(items));
  tuple.mark_tuple();
  return tuple;
}

// The sort key jinja2 uses when case_sensitive is false: strings compare lowered.
Value sort_key(const Value& value, bool case_sensitive) {
  if (!case_sensitive && value.is_string()) return Value(lower(value.as_string()));
  return value;
}

bool less_than(const Value& a, const Value& b) { return compare_values("<", a, b); }

ValueList sorted_values(ValueList items, bool reverse, bool case_sensitive, const std::optional<Value>& attribute) {
  std::vector<std::pair<Value, Value>> keyed;
  for (Value& item : items) {
    Value key = attribute && !attribute->is_none() ? lookup_attribute(item, attribute->str()) : item;
    keyed.emplace_back(sort_key(key, case_sensitive), std::move(item));
  }
  // Python's sort is stable, and reverse=True keeps equal items in their order.
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    return reverse ? less_than(y.first, x.first) : less_than(x.first, y.first);
  });
  ValueList out;
  for (auto& [key, item] : keyed) out.push_back(std::move(item));
  return out;
}

// jinja2's title filter: capitalizes each word, where words begin after
// whitespace, '-', '(', '{', '[' or '<'.
std::string jinja_title(const std::string& s) {
  std::string out;
  bool word_start = true;
  size_t pos = 0;
  const std::string separators = "-([{<";
  while (pos < s.size()) {
    uint32_t cp = decode_utf8(s, pos);
    bool separator = is_space(cp) || (cp < 0x80 && separators.find(static_cast<char>(cp)) != std::string::npos);
    if (separator) {
      append_utf8(out, cp);
      word_start = true;
    } else {
      append_utf8(out, word_start ? to_upper(cp) : to_lower(cp));
      word_start = false;
    }
  }
  return out;
}

// The JSON text for a tojson call with Hugging Face's defaults
// (ensure_ascii=False, indent=None, separators=None, sort_keys=False).
std::string to_json_filter(const Value& value, const CallArgs& args) {
  Value indent_value = argument_or(args, 1, "indent", Value::none());
  int indent = -1;
  if (indent_value.is_int()) indent = static_cast<int>(std::max<int64_t>(0, indent_value.as_int()));
  else if (!indent_value.is_none()) throw EvalError("tojson indent must be an integer");

  std::string item_separator = indent >= 0 ? "," : ", ";
  std::string key_separator = ": ";
  Value separators = argument_or(args, 2, "separators", Value::none());
  if (!separators.is_none()) {
    if (!separators.is_list() || separators.as_list().size() != 2) throw EvalError("tojson separators must be a pair of strings");
    item_separator = separators.as_list()[0].str();
    key_separator = separators.as_list()[1].str();
  }
  bool sort_keys = argument_or(args, 3, "sort_keys", Value(false)).truthy();
  bool ensure_ascii = argument_or(args, 0, "ensure_ascii", Value(false)).truthy();

  std::string text;
  try {
    text = value.to_json(indent, item_separator, key_separator, sort_keys);
  } catch (const std::runtime_error& error) {
    throw EvalError(error.what());
  }
  if (!ensure_ascii) return text;

  std::string escaped;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    uint32_t cp = decode_utf8(text, pos);
    if (cp < 0x80) {
      escaped.append(text, start, pos - start);
      continue;
    }
    char buffer[16];
    if (cp >= 0x10000) {
      uint32_t v = cp - 0x10000;
      std::snprintf(buffer, sizeof(buffer), "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    } else {
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", cp);
    }
    escaped += buffer;
  }
  return escaped;
}

std::string indent_filter(const std::string& input, const CallArgs& args) {
  Value width = argument_or(args, 0, "width", Value(static_cast<int64_t>(4)));
  std::string indentation = width.is_string() ? width.as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, width.as_int())), ' ');
  bool first = argument_or(args, 1, "first", Value(false)).truthy();
  bool blank = argument_or(args, 2, "blank", Value(false)).truthy();

  // jinja2 appends a newline before splitlines(), so a trailing newline survives.
  std::string s = input + "\n";
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      parts.push_back(s.substr(start, i - start));
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < s.size()) parts.push_back(s.substr(start));

  std::string out;
  if (blank) {
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i) out += "\n" + indentation;
      out += parts[i];
    }
  } else if (!parts.empty()) {
    out = parts[0];
    for (size_t i = 1; i < parts.size(); ++i) out += "\n" + (parts[i].empty() ? "" : indentation + parts[i]);
  }
  if (first) out = indentation + out;
  return out;
}

Value round_filter(const Value& value, const CallArgs& args) {
  if (!value.is_number()) throw EvalError("type " + value.type_name() + " doesn't define __round__ method");
  int64_t precision = int_argument(args, 0, "precision", 0);
  std::string method = argument_or(args, 1, "method", Value("common")).str();
  if (method == "common" && (value.is_int() || value.is_bool())) {
    // round() of an int returns an int; a negative precision rounds to tens, hundreds...
    if (precision >= 0) return Value(value.as_int());
    double scale = std::pow(10.0, static_cast<double>(-precision));
    return Value(static_cast<int64_t>(std::nearbyint(static_cast<double>(value.as_int()) / scale) * scale));
  }
  if (method == "common") {
    // Python's round(): correctly rounded to `precision` decimals, ties to even.
    // glibc's printf rounds the exact binary value the same way.
    if (precision >= 0 && precision < 300) {
      char buffer[512];
      std::snprintf(buffer, sizeof(buffer), "%.*f", static_cast<int>(precision), value.as_double());
      return Value(std::strtod(buffer, nullptr));
    }
    double scale = std::pow(10.0, static_cast<double>(precision));
    return Value(std::nearbyint(value.as_double() * scale) / scale);
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double v = value.as_double() * scale;
  if (method == "ceil") {
    v = std::ceil(v);
  } else if (method == "floor") {
    v = std::floor(v);
  } else {
    throw EvalError("method must be common, ceil or floor");
  }
  return Value(v / scale);
}

Value int_filter(const Value& value, const CallArgs& args) {
  Value fallback = argument_or(args, 0, "default", Value(static_cast<int64_t>(0)));
  int64_t base = int_argument(args, 1, "base", 10);
  if (value.is_int() || value.is_bool()) return Value(value.as_int());
  if (value.is_float()) return std::isfinite(value.as_double()) ? Value(static_cast<int64_t>(value.as_double())) : fallback;
  if (value.is_string()) {
    std::string text = value.as_string();
    text.erase(0, text.find_first_not_of(" \t\n\r"));
    text.erase(text.find_last_not_of(" \t\n\r") + 1);
    std::string digits;
    for (char c : text) {
      if (c != '_') digits += c;
    }
    try {
      size_t used = 0;
      long long n = std::stoll(digits, &used, static_cast<int>(base));
      if (used == digits.size()) return Value(static_cast<int64_t>(n));
    } catch (const std::exception&) {
    }
    try {
      size_t used = 0;
      double d = std::stod(digits, &used);
      if (used == digits.size() && std::isfinite(d)) return Value(static_cast<int64_t>(d));
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Value float_filter(const Value& value, const CallArgs& args) {
  Value fallback = argument_or(args, 0, "default", Value(0.0));
  if (value.is_number()) return Value(value.as_double());
  if (value.is_string()) {
    try {
      size_t used = 0;
      std::string text = value.as_string();
      double d = std::stod(text, &used);
      if (used == text.size()) return Value(d);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

// select / reject / selectattr / rejectattr.
Value select_filter(const Value& value, const CallArgs& args, bool with_attribute, bool keep_matches) {
  size_t first_test_argument = with_attribute ? 1 : 0;
  std::string attribute;
  if (with_attribute) {
    if (args.positional.empty()) throw EvalError("Missing parameter for attribute name");
    attribute = args.positional[0].str();
  }
  std::string test_name;
  CallArgs test_args;
  if (args.positional.size() > first_test_argument) {
    test_name = args.positional[first_test_argument].str();
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(first_test_argument) + 1, args.positional.end());
    test_args.keyword = args.keyword;
  }
  ValueList out;
  // jinja2 skips a falsy input (None, empty) instead of iterating it.
  if (!value.truthy()) return Value::list();
  for (const Value& item : iterate(value)) {
    Value subject = with_attribute ? lookup_attribute(item, attribute) : item;
    bool matched = test_name.empty() ? subject.truthy() : apply_test(test_name, subject, test_args);
    if (matched == keep_matches) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value map_filter(const Value& value, const CallArgs& args) {
  ValueList out;
  if (!value.truthy()) return Value::list();
  if (const Value* attribute = args.find_keyword("attribute")) {
    const Value* fallback = args.find_keyword("default");
    for (const Value& item : iterate(value)) {
      Value mapped = lookup_attribute(item, attribute->str());
      if (mapped.is_undefined() && fallback) mapped = *fallback;
      out.push_back(mapped);
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty()) throw EvalError("map requires a filter argument");
  std::string filter = args.positional[0].str();
  CallArgs filter_args;
  filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
  filter_args.keyword = args.keyword;
  for (const Value& item : iterate(value)) out.push_back(apply_filter(filter, item, filter_args));
  return Value::list(std::move(out));
}

Value unique_filter(const Value& value, const CallArgs& args) {
  bool case_sensitive = argument_or(args, 0, "case_sensitive", Value(false)).truthy();
  std::optional<Value> attribute = args.get(1, "attribute");
  ValueList out, seen;
  for (const Value& item : iterate(value)) {
    Value key = sort_key(attribute && !attribute->is_none() ? lookup_attribute(item, attribute->str()) : item, case_sensitive);
    bool duplicate = std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return s.equals(key); });
    if (duplicate) continue;
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value min_max_filter(const Value& value, const CallArgs& args, bool want_max) {
  bool case_sensitive = argument_or(args, 0, "case_sensitive", Value(false)).truthy();
  std::optional<Value> attribute = args.get(1, "attribute");
  ValueList items = iterate(value);
  if (items.empty()) return Value::undefined(std::string("No aggregated item, sequence was empty."));
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items.size(); ++i) {
    Value key = sort_key(attribute && !attribute->is_none() ? lookup_attribute(items[i], attribute->str()) : items[i], case_sensitive);
    if (i == 0 || (want_max ? less_than(best_key, key) : less_than(key, best_key))) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

Value batch_filter(const Value& value, const CallArgs& args) {
  int64_t size = int_argument(args, 0, "linecount", 1);
  if (size <= 0) throw EvalError("batch size must be positive");
  std::optional<Value> fill = args.get(1, "fill_with");
  ValueList out, current;
  for (const Value& item : iterate(value)) {
    current.push_back(item);
    if (static_cast<int64_t>(current.size()) == size) {
      out.push_back(Value::list(std::move(current)));
      current.clear();
    }
  }
  if (!current.empty()) {
    if (fill && !fill->is_none()) {
      while (static_cast<int64_t>(current.size()) < size) current.push_back(*fill);
    }
    out.push_back(Value::list(std::move(current)));
  }
  return Value::list(std::move(out));
}

Value truncate_filter(const Value& value, const CallArgs& args) {
  std::string s = value.str();
  int64_t length = int_argument(args, 0, "length", 255);
  bool kill_words = argument_or(args, 1, "killwords", Value(false)).truthy();
  std::string end = argument_or(args, 2, "end", Value("...")).str();
  int64_t leeway = int_argument(args, 3, "leeway", 5);
  std::vector<uint32_t> cps = to_code_points(s);
  int64_t end_length = static_cast<int64_t>(count_code_points(end));
  if (length < end_length) throw EvalError("expected length >= " + std::to_string(end_length) + ", got " + std::to_string(length));
  if (static_cast<int64_t>(cps.size()) <= length + leeway) return Value(s);
  size_t keep = static_cast<size_t>(length - end_length);
  if (kill_words) return Value(from_code_points(cps, 0, keep) + end);
  std::string head = from_code_points(cps, 0, keep);
  size_t space = head.rfind(' ');
  if (space != std::string::npos) head.resize(space);
  return Value(head + end);
}

Value items_filter(const Value& value) {
  if (value.is_undefined()) return Value::list();
  if (!value.is_dict() || value.is_namespace()) throw EvalError("Can only get item pairs from a mapping.");
  ValueList out;
  for (const auto& [key, item] : value.as_dict().entries()) out.push_back(make_tuple({key, item}));
  return Value::list(std::move(out));
}

Value dictsort_filter(const Value& value, const CallArgs& args) {
  if (!value.is_dict()) throw EvalError("dictsort requires a mapping");
  bool case_sensitive = argument_or(args, 0, "case_sensitive", Value(false)).truthy();
  std::string by = argument_or(args, 1, "by", Value("key")).str();
  bool reverse = argument_or(args, 2, "reverse", Value(false)).truthy();
  if (by != "key" && by != "value") throw EvalError("You can only sort by either \"key\" or \"value\"");
  std::vector<std::pair<Value, Value>> keyed;
  for (const auto& [key, item] : value.as_dict().entries()) {
    keyed.emplace_back(sort_key(by == "key" ? key : item, case_sensitive), make_tuple({key, item}));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& x, const auto& y) {
    return reverse ? less_than(y.first, x.first) : less_than(x.first, y.first);
  });
  ValueList out;
  for (auto& [key, item] : keyed) out.push_back(std::move(item));
  return Value::list(std::move(out));
}

Value sum_filter(const Value& value, const CallArgs& args) {
  std::optional<Value> attribute = args.get(0, "attribute");
  Value total = argument_or(args, 1, "start", Value(static_cast<int64_t>(0)));
  for (const Value& item : iterate(value)) {
    total = binary_operation("+", total, attribute && !attribute->is_none() ? lookup_attribute(item, attribute->str()) : item);
  }
  return total;
}

Value join_filter(const Value& value, const CallArgs& args) {
  std::string separator = argument_or(args, 0, "d", Value("")).str();
  std::optional<Value> attribute = args.get(1, "attribute");
  std::string out;
  bool first = true;
  for (const Value& item : iterate(value)) {
    if (!first) out += separator;
    first = false;
    out += (attribute && !attribute->is_none() ? lookup_attribute(item, attribute->str()) : item).str();
    check_size(out.size(), kMaxStringBytes, "string length in bytes");
  }
  return Value(out);
}

Value reverse_filter(const Value& value) {
  if (value.is_string()) {
    std::vector<uint32_t> cps = to_code_points(value.as_string());
    std::reverse(cps.begin(), cps.end());
    return Value(from_code_points(cps, 0, cps.size()));
  }
  ValueList items = iterate(value);
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value wordcount_filter(const Value& value) {
  int64_t count = 0;
  bool in_word = false;
  for (uint32_t cp : to_code_points(value.str())) {
    bool word = is_alnum(cp) || cp == '_';
    if (word && !in_word) ++count;
    in_word = word;
  }
  return Value(count);
}

// TODO: jinja2's groupby, slice, pprint, urlencode, striptags, wordwrap, xmlattr,
// filesizeformat and random filters are missing; a template using one fails with
// "No filter named ...".
const std::unordered_map<std::string, FilterFunction>& filters() {
  static const std::unordered_map<std::string, FilterFunction> table = [] {
    std::unordered_map<std::string, FilterFunction> t;
    t["abs"] = [](const Value& v, const CallArgs&) {
      if (!v.is_number()) throw EvalError("bad operand type for abs(): '" + v.type_name() + "'");
      return v.is_float() ? Value(std::fabs(v.as_double())) : Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    };
    // attr() reads a Python attribute only, never a dict item, so on dicts it
    // finds just the methods.
    t["attr"] = [](const Value& v, const CallArgs& a) {
      if (a.positional.empty()) throw EvalError("attr requires a name");
      std::string name = a.positional[0].str();
      if (auto method = bound_method(v, name)) return *method;
      return Value::undefined("'" + v.type_name() + "' has no attribute '" + name + "'");
    };
    t["batch"] = batch_filter;
    t["capitalize"] = [](const Value& v, const CallArgs&) {
      std::vector<uint32_t> cps = to_code_points(v.str());
      std::string out;
      for (size_t i = 0; i < cps.size(); ++i) append_utf8(out, i == 0 ? to_upper(cps[i]) : to_lower(cps[i]));
      return keep_safe(v, out);
    };
    t["center"] = [](const Value& v, const CallArgs& a) {
      CallArgs method_args;
      method_args.positional.push_back(Value(int_argument(a, 0, "width", 80)));
      return (*bound_method(Value(v.str()), "center")).as_function()(method_args);
    };
    t["count"] = t["length"] = [](const Value& v, const CallArgs&) { return Value(static_cast<int64_t>(length_of(v))); };
    t["default"] = t["d"] = [](const Value& v, const CallArgs& a) {
      Value fallback = argument_or(a, 0, "default_value", Value(""));
      bool boolean = argument_or(a, 1, "boolean", Value(false)).truthy();
      if (v.is_undefined() || (boolean && !v.truthy())) return fallback;
      return v;
    };
    t["dictsort"] = dictsort_filter;
    t["escape"] = t["e"] = [](const Value& v, const CallArgs&) {
      return v.is_safe() ? v : Value::safe_string(html_escape(v.str()));
    };
    t["forceescape"] = [](const Value& v, const CallArgs&) { return Value::safe_string(html_escape(v.str())); };
    t["first"] = [](const Value& v, const CallArgs&) {
      ValueList items = iterate(v);
      return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
    };
    t["last"] = [](const Value& v, const CallArgs&) {
      ValueList items = iterate(v);
      return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
    };
    t["float"] = float_filter;
    t["format"] = [](const Value& v, const CallArgs& a) {
      if (!a.keyword.empty()) throw EvalError("format with keyword arguments is not supported");
      return binary_operation("%", v.is_safe() ? v : Value(v.str()), make_tuple(a.positional));
    };
    // jinja2's indent appends "\n" to its input without converting it, so only strings work.
    t["indent"] = [](const Value& v, const CallArgs& a) {
      require_defined(v);
      if (!v.is_string()) throw EvalError("unsupported operand type(s) for +=: '" + v.type_name() + "' and 'str'");
      return keep_safe(v, indent_filter(v.as_string(), a));
    };
    t["int"] = int_filter;
    t["items"] = [](const Value& v, const CallArgs&) { return items_filter(v); };
    t["join"] = join_filter;
    t["list"] = [](const Value& v, const CallArgs&) { return Value::list(iterate(v)); };
    t["lower"] = [](const Value& v, const CallArgs&) { return keep_safe(v, lower(v.str())); };
    t["upper"] = [](const Value& v, const CallArgs&) { return keep_safe(v, upper(v.str())); };
    t["map"] = map_filter;
    t["max"] = [](const Value& v, const CallArgs& a) { return min_max_filter(v, a, true); };
    t["min"] = [](const Value& v, const CallArgs& a) { return min_max_filter(v, a, false); };
    t["reject"] = [](const Value& v, const CallArgs& a) { return select_filter(v, a, false, false); };
    t["rejectattr"] = [](const Value& v, const CallArgs& a) { return select_filter(v, a, true, false); };
    t["select"] = [](const Value& v, const CallArgs& a) { return select_filter(v, a, false, true); };
    t["selectattr"] = [](const Value& v, const CallArgs& a) { return select_filter(v, a, true, true); };
    t["replace"] = [](const Value& v, const CallArgs& a) {
      CallArgs method_args;
      method_args.positional.push_back(argument_or(a, 0, "old", Value("")).str());
      method_args.positional.push_back(argument_or(a, 1, "new", Value("")).str());
      std::optional<Value> count = a.get(2, "count");
      if (count && !count->is_none()) method_args.positional.push_back(*count);
      return (*bound_method(Value(v.str()), "replace")).as_function()(method_args);
    };
    t["reverse"] = [](const Value& v, const CallArgs&) { return reverse_filter(v); };
    t["round"] = round_filter;
    t["safe"] = [](const Value& v, const CallArgs&) { return Value::safe_string(v.str()); };
    t["string"] = [](const Value& v, const CallArgs&) { return v.is_string() ? v : Value(v.str()); };
    t["sort"] = [](const Value& v, const CallArgs& a) {
      bool reverse = argument_or(a, 0, "reverse", Value(false)).truthy();
      bool case_sensitive = argument_or(a, 1, "case_sensitive", Value(false)).truthy();
      return Value::list(sorted_values(iterate(v), reverse, case_sensitive, a.get(2, "attribute")));
    };
    t["sum"] = sum_filter;
    t["title"] = [](const Value& v, const CallArgs&) { return Value(jinja_title(v.str())); };
    t["tojson"] = [](const Value& v, const CallArgs& a) { return Value(to_json_filter(v, a)); };
    t["trim"] = [](const Value& v, const CallArgs& a) {
      CallArgs method_args;
      if (std::optional<Value> chars = a.get(0, "chars")) method_args.positional.push_back(*chars);
      return keep_safe(v, (*bound_method(Value(v.str()), "strip")).as_function()(method_args).as_string());
    };
    t["truncate"] = truncate_filter;
    t["unique"] = unique_filter;
    t["wordcount"] = [](const Value& v, const CallArgs&) { return wordcount_filter(v); };
    return t;
  }();
  return table;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(name) != 0; }

Value apply_filter(const std::string& name, const Value& input, const CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) throw EvalError("No filter named '" + name + "'.");
  // jinja2's Undefined iterates as empty and prints as "", so most filters accept
  // it; these raise because they need a number, a mapping or an attribute (jinja2 3.1.2).
  static const char* const undefined_raises[] = {"abs", "attr", "dictsort", "float", "int", "round", "tojson"};
  for (const char* raising : undefined_raises) {
    if (name == raising) require_defined(input);
  }
  return it->second(input, args);
}

}  // namespace brasa::jinja
