// The Python methods of str, dict and list that chat templates call, such as
// message.content.strip() or tool.get('name'). jinja2's ImmutableSandboxedEnvironment
// blocks the methods that mutate lists and dicts, so those raise here too.

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "templates/jinja_builtins.h"
#include "templates/jinja_unicode.h"

namespace brasa::jinja {

namespace {

const Value& required_argument(const CallArgs& args, size_t index, const std::string& name, const std::string& method) {
  if (index < args.positional.size()) return args.positional[index];
  if (const Value* value = args.find_keyword(name)) return *value;
  throw EvalError(method + "() missing required argument '" + name + "'");
}

const std::string& string_argument(const Value& value, const std::string& method) {
  if (!value.is_string()) throw EvalError(method + "() argument must be str, not " + value.type_name());
  return value.as_string();
}

// Python's str.strip family. `chars` unset strips whitespace.
std::string strip_string(const std::string& s, const Value* chars, bool left, bool right) {
  std::vector<uint32_t> cps = to_code_points(s);
  std::unordered_set<uint32_t> set;
  bool whitespace = !chars || chars->is_none();
  if (!whitespace) {
    for (uint32_t cp : to_code_points(string_argument(*chars, "strip"))) set.insert(cp);
  }
  auto strip_it = [&](uint32_t cp) { return whitespace ? is_space(cp) : set.count(cp) != 0; };
  size_t begin = 0, end = cps.size();
  if (left) {
    while (begin < end && strip_it(cps[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip_it(cps[end - 1])) --end;
  }
  return from_code_points(cps, begin, end);
}

ValueList split_whitespace(const std::string& s, int64_t max_split) {
  ValueList parts;
  std::vector<uint32_t> cps = to_code_points(s);
  size_t i = 0;
  while (i < cps.size()) {
    while (i < cps.size() && is_space(cps[i])) ++i;
    if (i >= cps.size()) break;
    if (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split) {
      // Python keeps the remainder as is, trailing whitespace included.
      parts.push_back(Value(from_code_points(cps, i, cps.size())));
      break;
    }
    size_t start = i;
    while (i < cps.size() && !is_space(cps[i])) ++i;
    parts.push_back(Value(from_code_points(cps, start, i)));
  }
  return parts;
}

ValueList split_string(const std::string& s, const Value* separator, int64_t max_split) {
  if (!separator || separator->is_none()) return split_whitespace(s, max_split);
  const std::string& sep = string_argument(*separator, "split");
  if (sep.empty()) throw EvalError("empty separator");
  ValueList parts;
  size_t start = 0;
  while (true) {
    if (max_split >= 0 && static_cast<int64_t>(parts.size()) == max_split) break;
    size_t found = s.find(sep, start);
    if (found == std::string::npos) break;
    parts.push_back(Value(s.substr(start, found - start)));
    start = found + sep.size();
  }
  parts.push_back(Value(s.substr(start)));
  return parts;
}

ValueList rsplit_string(const std::string& s, const Value* separator, int64_t max_split) {
  if (!separator || separator->is_none() || max_split < 0) {
    return split_string(s, separator, max_split);
  }
  const std::string& sep = string_argument(*separator, "rsplit");
  if (sep.empty()) throw EvalError("empty separator");
  ValueList parts;
  size_t end = s.size();
  while (static_cast<int64_t>(parts.size()) < max_split) {
    if (end < sep.size()) break;
    size_t found = s.rfind(sep, end - sep.size());
    if (found == std::string::npos) break;
    parts.insert(parts.begin(), Value(s.substr(found + sep.size(), end - found - sep.size())));
    end = found;
  }
  parts.insert(parts.begin(), Value(s.substr(0, end)));
  return parts;
}

std::string replace_string(const std::string& s, const std::string& old_text, const std::string& new_text, int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts the replacement between every character and at both ends.
    std::vector<uint32_t> cps = to_code_points(s);
    int64_t done = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      if (i < cps.size()) append_utf8(out, cps[i]);
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t found = s.find(old_text, start);
    if (found == std::string::npos) break;
    out.append(s, start, found - start);
    out += new_text;
    check_size(out.size(), kMaxStringBytes, "string length in bytes");
    start = found + old_text.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return out;
}

bool matches_affix(const std::string& s, const Value& affix, bool prefix, const std::string& method) {
  auto test = [&](const Value& candidate) {
    const std::string& text = string_argument(candidate, method);
    if (text.size() > s.size()) return false;
    return prefix ? s.compare(0, text.size(), text) == 0 : s.compare(s.size() - text.size(), text.size(), text) == 0;
  };
  if (affix.is_list() && affix.is_tuple()) {
    for (const Value& candidate : affix.as_list()) {
      if (test(candidate)) return true;
    }
    return false;
  }
  return test(affix);
}

// Python str.title(): a cased character after a cased character is lowered, any
// other cased character is raised.
std::string python_title(const std::string& s) {
  std::string out;
  bool previous_cased = false;
  size_t pos = 0;
  while (pos < s.size()) {
    uint32_t cp = decode_utf8(s, pos);
    if (is_cased(cp)) {
      append_utf8(out, previous_cased ? to_lower(cp) : to_upper(cp));
      previous_cased = true;
    } else {
      append_utf8(out, cp);
      previous_cased = false;
    }
  }
  return out;
}

std::string python_capitalize(const std::string& s) {
  std::vector<uint32_t> cps = to_code_points(s);
  std::string out;
  for (size_t i = 0; i < cps.size(); ++i) append_utf8(out, i == 0 ? to_upper(cps[i]) : to_lower(cps[i]));
  return out;
}

// A format spec of str.format: [[fill]align][sign][0][width][.precision][type].
std::string apply_format_spec(const Value& value, const std::string& spec) {
  if (spec.empty()) return value.str();
  size_t i = 0;
  char fill = ' ', align = '\0';
  if (spec.size() >= 2 && std::string("<>^=").find(spec[1]) != std::string::npos) {
    fill = spec[0];
    align = spec[1];
    i = 2;
  } else if (std::string("<>^=").find(spec[0]) != std::string::npos) {
    align = spec[0];
    i = 1;
  }
  std::string sign;
  if (i < spec.size() && std::string("+- ").find(spec[i]) != std::string::npos) sign = spec[i++];
  if (i < spec.size() && spec[i] == '0') {
    fill = '0';
    if (!align) align = '=';
    ++i;
  }
  size_t width = 0;
  while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) width = width * 10 + static_cast<size_t>(spec[i++] - '0');
  int precision = -1;
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    precision = 0;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) precision = precision * 10 + (spec[i++] - '0');
  }
  char type = i < spec.size() ? spec[i] : '\0';

  std::string text;
  char buffer[512];
  if (type == 'f' || type == 'F' || type == 'e' || type == 'g' || type == '%') {
    if (!value.is_number()) throw EvalError("Unknown format code '" + std::string(1, type) + "' for object of type '" + value.type_name() + "'");
    double v = value.as_double() * (type == '%' ? 100.0 : 1.0);
    std::string format = "%" + sign + "." + std::to_string(precision < 0 ? 6 : precision) + (type == '%' ? 'f' : type);
    std::snprintf(buffer, sizeof(buffer), format.c_str(), v);
    text = buffer;
    if (type == '%') text += '%';
  } else if (type == 'd') {
    if (!value.is_int() && !value.is_bool()) throw EvalError("Unknown format code 'd' for object of type '" + value.type_name() + "'");
    text = (sign == "+" && value.as_int() >= 0 ? "+" : "") + std::to_string(value.as_int());
  } else {
    text = value.str();
    if (precision >= 0 && value.is_string()) {
      std::vector<uint32_t> cps = to_code_points(text);
      text = from_code_points(cps, 0, std::min(static_cast<size_t>(precision), cps.size()));
    }
  }

  size_t length = count_code_points(text);
  if (length >= width) return text;
  size_t pad = width - length;
  if (!align) align = (value.is_number() && !value.is_bool()) ? '>' : '<';
  std::string fill_text(1, fill);
  auto repeat_fill = [&](size_t n) {
    std::string out;
    for (size_t k = 0; k < n; ++k) out += fill_text;
    return out;
  };
  if (align == '<') return text + repeat_fill(pad);
  if (align == '>') return repeat_fill(pad) + text;
  if (align == '^') return repeat_fill(pad / 2) + text + repeat_fill(pad - pad / 2);
  // '=': padding after the sign.
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) return text.substr(0, 1) + repeat_fill(pad) + text.substr(1);
  return repeat_fill(pad) + text;
}

// Python's str.format for "{}", "{0}", "{name}", "{0.attr}"-free fields with
// optional !r / !s conversion and a format spec.
std::string python_format(const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      throw EvalError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    size_t close = format.find('}', i);
    if (close == std::string::npos) throw EvalError("Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    i = close;
    std::string spec, conversion;
    size_t colon = field.find(':');
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    size_t bang = field.find('!');
    if (bang != std::string::npos) {
      conversion = field.substr(bang + 1);
      field.resize(bang);
    }
    Value value;
    if (field.empty()) {
      if (auto_index >= args.positional.size()) throw EvalError("Replacement index " + std::to_string(auto_index) + " out of range for positional args tuple");
      value = args.positional[auto_index++];
    } else if (std::all_of(field.begin(), field.end(), [](char d) { return std::isdigit(static_cast<unsigned char>(d)); })) {
      size_t index = static_cast<size_t>(std::stoul(field));
      if (index >= args.positional.size()) throw EvalError("Replacement index " + field + " out of range for positional args tuple");
      value = args.positional[index];
    } else {
      const Value* keyword = args.find_keyword(field);
      if (!keyword) throw EvalError("'" + field + "'");
      value = *keyword;
    }
    if (conversion == "r") value = Value(value.repr());
    else if (conversion == "s") value = Value(value.str());
    out += apply_format_spec(value, spec);
  }
  return out;
}

int64_t optional_int(const CallArgs& args, size_t index, const std::string& name, int64_t fallback) {
  std::optional<Value> value = args.get(index, name);
  if (!value || value->is_none()) return fallback;
  if (!value->is_int() && !value->is_bool()) throw EvalError("'" + value->type_name() + "' object cannot be interpreted as an integer");
  return value->as_int();
}

Value string_method(const std::string& s, const std::string& name, const CallArgs& args) {
  const std::string method = "str." + name;

  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    std::optional<Value> chars = args.get(0, "chars");
    return Value(strip_string(s, chars ? &*chars : nullptr, name != "rstrip", name != "lstrip"));
  }

  if (name == "split" || name == "rsplit") {
    std::optional<Value> separator = args.get(0, "sep");
    int64_t max_split = optional_int(args, 1, "maxsplit", -1);
    const Value* sep = separator ? &*separator : nullptr;
    return Value::list(name == "split" ? split_string(s, sep, max_split) : rsplit_string(s, sep, max_split));
  }

  if (name == "splitlines") {
    ValueList lines;
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\n' || s[i] == '\r') {
        lines.push_back(Value(s.substr(start, i - start)));
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
        start = i + 1;
      }
    }
    if (start < s.size()) lines.push_back(Value(s.substr(start)));
    return Value::list(std::move(lines));
  }

  if (name == "startswith" || name == "endswith") {
    return Value(matches_affix(s, required_argument(args, 0, "prefix", method), name == "startswith", method));
  }

  if (name == "replace") {
    const std::string& old_text = string_argument(required_argument(args, 0, "old", method), method);
    const std::string& new_text = string_argument(required_argument(args, 1, "new", method), method);
    return Value(replace_string(s, old_text, new_text, optional_int(args, 2, "count", -1)));
  }

  if (name == "upper") return Value(upper(s));

  if (name == "lower" || name == "casefold") return Value(lower(s));

  if (name == "title") return Value(python_title(s));

  if (name == "capitalize") return Value(python_capitalize(s));

  if (name == "swapcase") {
    std::string out;
    size_t pos = 0;
    while (pos < s.size()) {
      uint32_t cp = decode_utf8(s, pos);
      append_utf8(out, to_upper(cp) != cp ? to_upper(cp) : to_lower(cp));
    }
    return Value(out);
  }

  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    const std::string& needle = string_argument(required_argument(args, 0, "sub", method), method);
    if (name == "count") {
      if (needle.empty()) return Value(static_cast<int64_t>(count_code_points(s) + 1));
      int64_t count = 0;
      for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + needle.size())) ++count;
      return Value(count);
    }
    size_t at = (name == "find" || name == "index") ? s.find(needle) : s.rfind(needle);
    if (at == std::string::npos) {
      if (name == "index" || name == "rindex") throw EvalError("substring not found");
      return Value(static_cast<int64_t>(-1));
    }
    return Value(static_cast<int64_t>(count_code_points(s.substr(0, at))));
  }

  if (name == "join") {
    std::string out;
    bool first = true;
    for (const Value& item : iterate(required_argument(args, 0, "iterable", method))) {
      if (!item.is_string()) throw EvalError("sequence item: expected str instance, " + item.type_name() + " found");
      if (!first) out += s;
      first = false;
      out += item.as_string();
      check_size(out.size(), kMaxStringBytes, "string length in bytes");
    }
    return Value(out);
  }

  if (name == "format") return Value(python_format(s, args));

  if (name == "removeprefix" || name == "removesuffix") {
    const std::string& affix = string_argument(required_argument(args, 0, name == "removeprefix" ? "prefix" : "suffix", method), method);
    if (name == "removeprefix") return Value(s.compare(0, affix.size(), affix) == 0 ? s.substr(affix.size()) : s);
    bool has = s.size() >= affix.size() && s.compare(s.size() - affix.size(), affix.size(), affix) == 0;
    return Value(has ? s.substr(0, s.size() - affix.size()) : s);
  }

  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    int64_t width = optional_int(args, 0, "width", 0);
    std::string fill = name == "zfill" ? "0" : " ";
    if (name != "zfill") {
      if (std::optional<Value> f = args.get(1, "fillchar")) fill = string_argument(*f, method);
    }
    int64_t length = static_cast<int64_t>(count_code_points(s));
    if (width <= length) return Value(s);
    int64_t pad = width - length;
    auto repeat = [&](int64_t n) {
      std::string out;
      for (int64_t k = 0; k < n; ++k) out += fill;
      return out;
    };
    if (name == "ljust") return Value(s + repeat(pad));
    if (name == "rjust") return Value(repeat(pad) + s);
    if (name == "zfill") {
      if (!s.empty() && (s[0] == '-' || s[0] == '+')) return Value(s.substr(0, 1) + repeat(pad) + s.substr(1));
      return Value(repeat(pad) + s);
    }
    // Python's center puts the extra space on the left when the width is odd.
    int64_t left = pad / 2 + (pad & width & 1);
    return Value(repeat(left) + s + repeat(pad - left));
  }

  auto all_code_points = [&](auto predicate) {
    std::vector<uint32_t> cps = to_code_points(s);
    if (cps.empty()) return false;
    return std::all_of(cps.begin(), cps.end(), predicate);
  };

  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") {
    return Value(all_code_points([](uint32_t cp) { return cp >= '0' && cp <= '9'; }));
  }

  if (name == "isalpha") return Value(all_code_points([](uint32_t cp) { return is_alnum(cp) && !(cp >= '0' && cp <= '9'); }));

  if (name == "isalnum") return Value(all_code_points([](uint32_t cp) { return is_alnum(cp); }));

  if (name == "isspace") return Value(all_code_points([](uint32_t cp) { return is_space(cp); }));

  if (name == "isupper" || name == "islower") {
    bool any_cased = false;
    for (uint32_t cp : to_code_points(s)) {
      if (!is_cased(cp)) continue;
      any_cased = true;
      if (name == "isupper" ? to_upper(cp) != cp : to_lower(cp) != cp) return Value(false);
    }
    return Value(any_cased);
  }
  throw EvalError("'str' object has no attribute '" + name + "'");
}

const std::unordered_set<std::string>& string_methods() {
  static const std::unordered_set<std::string> names = {
      "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "replace",
      "upper", "lower", "casefold", "title", "capitalize", "swapcase", "find", "rfind", "index", "rindex",
      "count", "join", "format", "removeprefix", "removesuffix", "center", "ljust", "rjust", "zfill",
      "isdigit", "isnumeric", "isdecimal", "isalpha", "isalnum", "isspace", "isupper", "islower"};
  return names;
}

Value unsafe_method(const Value& object, const std::string& name) {
  std::string message = "access to attribute '" + name + "' of '" + (object.is_list() ? "list" : "dict") +
                        "' object is unsafe.";
  return Value::function(name, [message](const CallArgs&) -> Value { throw EvalError(message); });
}

Value make_tuple(ValueList items) {
  Value tuple = Value::list(std::move(items));
  tuple.mark_tuple();
  return tuple;
}

}  // namespace

std::optional<Value> bound_method(const Value& object, const std::string& name) {
  if (object.is_string()) {
    if (!string_methods().count(name)) return std::nullopt;
    std::string text = object.as_string();
    return Value::function("str." + name, [text, name](const CallArgs& args) { return string_method(text, name, args); });
  }

  if (object.is_dict() && !object.is_namespace()) {
    if (name == "items" || name == "keys" || name == "values") {
      return Value::function("dict." + name, [object, name](const CallArgs&) {
        ValueList out;
        for (const auto& [key, value] : object.as_dict().entries()) {
          if (name == "items") out.push_back(make_tuple({key, value}));
          else out.push_back(name == "keys" ? key : value);
        }
        return Value::list(std::move(out));
      });
    }
    if (name == "get") {
      return Value::function("dict.get", [object](const CallArgs& args) {
        if (args.positional.empty()) throw EvalError("get expected at least 1 argument, got 0");
        const Value* value = object.as_dict().find(args.positional[0]);
        if (value) return *value;
        return args.positional.size() > 1 ? args.positional[1] : Value::none();
      });
    }
    if (name == "copy") {
      return Value::function("dict.copy", [object](const CallArgs&) {
        Value copy = Value::dict();
        for (const auto& [key, value] : object.as_dict().entries()) copy.as_dict().set(key, value);
        return copy;
      });
    }
    static const std::unordered_set<std::string> mutating = {"pop", "popitem", "setdefault", "update", "clear"};
    if (mutating.count(name)) return unsafe_method(object, name);
    return std::nullopt;
  }

  if (object.is_list()) {
    if (name == "index" || name == "count") {
      return Value::function("list." + name, [object, name](const CallArgs& args) {
        if (args.positional.empty()) throw EvalError(name + "() takes exactly one argument (0 given)");
        int64_t count = 0;
        const ValueList& items = object.as_list();
        for (size_t i = 0; i < items.size(); ++i) {
          if (!items[i].equals(args.positional[0])) continue;
          if (name == "index") return Value(static_cast<int64_t>(i));
          ++count;
        }
        if (name == "index") throw EvalError(args.positional[0].repr() + " is not in list");
        return Value(count);
      });
    }
    if (name == "copy" && !object.is_tuple()) {
      return Value::function("list.copy", [object](const CallArgs&) { return Value::list(object.as_list()); });
    }
    static const std::unordered_set<std::string> mutating = {"append", "extend", "insert", "pop", "remove",
                                                             "reverse", "sort", "clear"};
    if (mutating.count(name) && !object.is_tuple()) return unsafe_method(object, name);
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace brasa::jinja
