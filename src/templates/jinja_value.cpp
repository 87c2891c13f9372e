#include "templates/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "templates/jinja_unicode.h"

namespace brasa::jinja {

// ---- CallArgs ----

const Value* CallArgs::find_keyword(const std::string& name) const {
  for (const auto& [key, value] : keyword) {
    if (key == name) return &value;
  }
  return nullptr;
}

std::optional<Value> CallArgs::get(size_t index, const std::string& name) const {
  const Value* by_name = find_keyword(name);
  if (index < positional.size()) {
    if (by_name) throw std::runtime_error("got multiple values for argument '" + name + "'");
    return positional[index];
  }
  if (by_name) return *by_name;
  return std::nullopt;
}

// ---- ValueDict ----

const Value* ValueDict::find(const Value& key) const {
  auto it = index_.find(key.hash_key());
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

Value* ValueDict::find(const Value& key) {
  auto it = index_.find(key.hash_key());
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Value* ValueDict::find(const std::string& key) const { return find(Value(key)); }

void ValueDict::set(const Value& key, Value value) {
  std::string hash = key.hash_key();
  auto it = index_.find(hash);
  if (it != index_.end()) {
    entries_[it->second].second = std::move(value);
    return;
  }
  index_.emplace(std::move(hash), entries_.size());
  entries_.emplace_back(key, std::move(value));
}

bool ValueDict::erase(const Value& key) {
  auto it = index_.find(key.hash_key());
  if (it == index_.end()) return false;
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(it->second));
  index_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first.hash_key(), i);
  return true;
}

// ---- Nesting guard ----

namespace {

// Walks over nested values (repr, tojson, equality) recurse once per level. A
// namespace can contain itself, so the walks stop at this depth with an error.
constexpr int kMaxWalkDepth = 512;
thread_local int walk_depth = 0;

struct WalkGuard {
  WalkGuard() {
    if (++walk_depth > kMaxWalkDepth) {
      --walk_depth;
      throw std::runtime_error("value nests deeper than " + std::to_string(kMaxWalkDepth) +
                               " levels (does a namespace contain itself?)");
    }
  }
  ~WalkGuard() { --walk_depth; }
};

}  // namespace

// ---- Value construction ----

Value Value::undefined(std::string hint) {
  Value v;
  v.string_ = std::move(hint);
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value::Value(bool b) : kind_(Kind::Bool), boolean_(b), integer_(b ? 1 : 0) {}
Value::Value(int64_t v) : kind_(Kind::Int), integer_(v) {}
Value::Value(double v) : kind_(Kind::Float), real_(v) {}
Value::Value(std::string s) : kind_(Kind::String), string_(std::move(s)) {}

Value Value::safe_string(std::string s) {
  Value v(std::move(s));
  v.safe_ = true;
  return v;
}

Value Value::list(ValueList items) {
  Value v;
  v.kind_ = Kind::List;
  v.list_ = std::make_shared<ValueList>(std::move(items));
  return v;
}

Value Value::dict() {
  Value v;
  v.kind_ = Kind::Dict;
  v.dict_ = std::make_shared<ValueDict>();
  return v;
}

Value Value::namespace_object() {
  Value v = dict();
  v.namespace_ = true;
  return v;
}

Value Value::function(std::string name, Function fn) {
  Value v;
  v.kind_ = Kind::Function;
  v.function_ = std::make_shared<FunctionData>(FunctionData{std::move(name), std::move(fn)});
  return v;
}

namespace {

// JSON nested deeper than this is rejected: every walk over a Value (repr, tojson,
// equality) recurses once per level.
constexpr int kMaxJsonDepth = 512;

template <typename Json>
Value value_from_json(const Json& j, int depth = 0) {
  if (depth > kMaxJsonDepth) {
    throw std::runtime_error("JSON input nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(value_from_json(item, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value d = Value::dict();
      for (auto it = j.begin(); it != j.end(); ++it) d.as_dict().set(Value(it.key()), value_from_json(it.value(), depth + 1));
      return d;
    }
    default:
      return Value::none();
  }
}

}  // namespace

Value Value::from_json(const nlohmann::json& j) { return value_from_json(j); }
Value Value::from_json(const nlohmann::ordered_json& j) { return value_from_json(j); }

// ---- Queries ----

double Value::as_double() const {
  if (kind_ == Kind::Float) return real_;
  return static_cast<double>(integer_);
}

std::string Value::undefined_message() const {
  return string_.empty() ? "value is undefined" : string_;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return boolean_;
    case Kind::Int:
      return integer_ != 0;
    case Kind::Float:
      return real_ != 0.0;
    case Kind::String:
      return !string_.empty();
    case Kind::List:
      return !list_->empty();
    case Kind::Dict:
      // A namespace is an object, and Python objects are truthy.
      return namespace_ || dict_->size() != 0;
    case Kind::Function:
      return true;
  }
  return false;
}

std::string Value::str() const {
  switch (kind_) {
    case Kind::Undefined:
      return "";
    case Kind::String:
      return string_;
    default:
      return repr();
  }
}

std::string Value::repr() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return boolean_ ? "True" : "False";
    case Kind::Int:
      return std::to_string(integer_);
    case Kind::Float:
      return format_python_float(real_);
    case Kind::String:
      return python_string_repr(string_);
    case Kind::List: {
      WalkGuard guard;
      std::string out = tuple_ ? "(" : "[";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        out += (*list_)[i].repr();
      }
      if (tuple_ && list_->size() == 1) out += ",";
      out += tuple_ ? ")" : "]";
      return out;
    }
    case Kind::Dict: {
      WalkGuard guard;
      std::string out = namespace_ ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [key, value] : dict_->entries()) {
        if (!first) out += ", ";
        first = false;
        out += key.repr() + ": " + value.repr();
      }
      out += namespace_ ? "}>" : "}";
      return out;
    }
    case Kind::Function:
      return "<function " + function_->name + ">";
  }
  return "";
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return "bool object";
    case Kind::Int:
      return "int object";
    case Kind::Float:
      return "float object";
    case Kind::String:
      return "str object";
    case Kind::List:
      return tuple_ ? "tuple object" : "list object";
    case Kind::Dict:
      return namespace_ ? "jinja2.utils.Namespace object" : "dict object";
    case Kind::Function:
      return "function object";
  }
  return "object";
}

bool Value::equals(const Value& other) const {
  if (is_number() && other.is_number()) {
    if (kind_ != Kind::Float && other.kind_ != Kind::Float) return integer_ == other.integer_;
    return as_double() == other.as_double();
  }
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::String:
      return string_ == other.string_;
    case Kind::List: {
      if (list_ == other.list_) return true;
      WalkGuard guard;
      if (list_->size() != other.list_->size()) return false;
      for (size_t i = 0; i < list_->size(); ++i) {
        if (!(*list_)[i].equals((*other.list_)[i])) return false;
      }
      return true;
    }
    case Kind::Dict: {
      if (dict_ == other.dict_) return true;
      WalkGuard guard;
      if (namespace_ || other.namespace_) return false;
      if (dict_->size() != other.dict_->size()) return false;
      for (const auto& [key, value] : dict_->entries()) {
        const Value* theirs = other.dict_->find(key);
        if (!theirs || !value.equals(*theirs)) return false;
      }
      return true;
    }
    case Kind::Function:
      return function_ == other.function_;
    default:
      return false;
  }
}

std::string Value::hash_key() const {
  switch (kind_) {
    case Kind::String:
      return "s" + string_;
    case Kind::Bool:
    case Kind::Int:
      return "n" + std::to_string(integer_);
    case Kind::Float:
      if (std::floor(real_) == real_ && std::fabs(real_) < 9.2e18) return "n" + std::to_string(static_cast<int64_t>(real_));
      return "f" + format_python_float(real_);
    case Kind::None:
      return "N";
    default:
      return "r" + repr();
  }
}

// ---- JSON ----

namespace {

void append_indent(std::string& out, int indent, int depth) {
  out += '\n';
  out.append(static_cast<size_t>(indent) * static_cast<size_t>(depth), ' ');
}

std::string json_key(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::String:
      return key.as_string();
    case Value::Kind::Bool:
      return key.as_bool() ? "true" : "false";
    case Value::Kind::None:
      return "null";
    case Value::Kind::Int:
    case Value::Kind::Float:
      return key.repr();
    default:
      throw std::runtime_error("keys must be str, int, float, bool or None, not " + key.type_name());
  }
}

std::string json_float(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return format_python_float(v);
}

void dump_json(const Value& v, std::string& out, int indent, const std::string& item_sep, const std::string& key_sep,
               bool sort_keys, int depth) {
  switch (v.kind()) {
    case Value::Kind::None:
      out += "null";
      return;
    case Value::Kind::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Kind::Int:
      out += std::to_string(v.as_int());
      return;
    case Value::Kind::Float:
      out += json_float(v.as_double());
      return;
    case Value::Kind::String:
      out += json_string_literal(v.as_string());
      return;
    case Value::Kind::List: {
      WalkGuard guard;
      const ValueList& items = v.as_list();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_sep;
        if (indent >= 0) append_indent(out, indent, depth + 1);
        dump_json(items[i], out, indent, item_sep, key_sep, sort_keys, depth + 1);
      }
      if (indent >= 0) append_indent(out, indent, depth);
      out += ']';
      return;
    }
    case Value::Kind::Dict: {
      if (v.is_namespace()) throw std::runtime_error("Object of type Namespace is not JSON serializable");
      std::vector<std::pair<std::string, const Value*>> entries;
      for (const auto& [key, value] : v.as_dict().entries()) entries.emplace_back(json_key(key), &value);
      if (entries.empty()) {
        out += "{}";
        return;
      }
      if (sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      out += '{';
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += item_sep;
        if (indent >= 0) append_indent(out, indent, depth + 1);
        out += json_string_literal(entries[i].first);
        out += key_sep;
        dump_json(*entries[i].second, out, indent, item_sep, key_sep, sort_keys, depth + 1);
      }
      if (indent >= 0) append_indent(out, indent, depth);
      out += '}';
      return;
    }
    case Value::Kind::Undefined:
      throw std::runtime_error("Object of type Undefined is not JSON serializable");
    case Value::Kind::Function:
      throw std::runtime_error("Object of type function is not JSON serializable");
  }
}

}  // namespace

std::string Value::to_json(int indent, const std::string& item_separator, const std::string& key_separator,
                           bool sort_keys) const {
  std::string out;
  dump_json(*this, out, indent, item_separator, key_separator, sort_keys, 0);
  return out;
}

nlohmann::json Value::to_nlohmann() const {
  switch (kind_) {
    case Kind::None:
    case Kind::Undefined:
      return nullptr;
    case Kind::Bool:
      return boolean_;
    case Kind::Int:
      return integer_;
    case Kind::Float:
      return real_;
    case Kind::String:
      return string_;
    case Kind::List: {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& item : *list_) out.push_back(item.to_nlohmann());
      return out;
    }
    case Kind::Dict: {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [key, value] : dict_->entries()) out[key.str()] = value.to_nlohmann();
      return out;
    }
    case Kind::Function:
      return nullptr;
  }
  return nullptr;
}

// ---- Formatting helpers ----

std::string format_python_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0.0) return std::signbit(v) ? "-0.0" : "0.0";

  // Shortest round-trip digits in scientific form, e.g. "1.2345e+02".
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), v, std::chars_format::scientific);
  std::string sci(buffer, result.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }

  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out += digits + std::string(static_cast<size_t>(exponent) + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exponent) + 1) + "." + digits.substr(static_cast<size_t>(exponent) + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp_text[16];
  std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out + exp_text;
}

std::string python_string_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';

  std::string out(1, quote);
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = pos;
    uint32_t cp = decode_utf8(s, pos);
    char escape[16];
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp == static_cast<uint32_t>(quote)) {
      out += '\\';
      out += quote;
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (!is_printable(cp)) {
      if (cp <= 0xff) {
        std::snprintf(escape, sizeof(escape), "\\x%02x", cp);
      } else if (cp <= 0xffff) {
        std::snprintf(escape, sizeof(escape), "\\u%04x", cp);
      } else {
        std::snprintf(escape, sizeof(escape), "\\U%08x", cp);
      }
      out += escape;
    } else {
      out.append(s, start, pos - start);
    }
  }
  out += quote;
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string json_string_literal(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          char escape[8];
          std::snprintf(escape, sizeof(escape), "\\u%04x", c);
          out += escape;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace brasa::jinja
