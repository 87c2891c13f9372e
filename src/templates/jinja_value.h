#pragma once

// The value model of the Jinja interpreter. It follows the Python objects that
// jinja2 works on, because chat templates rely on Python semantics: dicts keep
// insertion order, lists and dicts are shared by reference, 1 == 1.0 == True,
// str() of a list prints Python's repr, and an undefined name is a value of its
// own that renders as an empty string but fails when it is used further.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace brasa::jinja {

class Value;
class ValueDict;
struct CallArgs;
using Function = std::function<Value(const CallArgs&)>;
using ValueList = std::vector<Value>;

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Function };

  Value() = default;  // undefined
  static Value undefined(std::string hint = {});
  static Value none();
  Value(bool b);
  Value(int v) : Value(static_cast<int64_t>(v)) {}
  Value(int64_t v);
  Value(double v);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  // A markupsafe.Markup string: `+` and `%` HTML-escape the plain strings combined
  // with it, the way jinja2 treats the output of the safe and escape filters.
  static Value safe_string(std::string s);
  static Value list(ValueList items = {});
  static Value dict();
  // A namespace() object: a dict whose keys `set ns.key = ...` may assign.
  static Value namespace_object();
  // `name` is what error messages call the callable.
  static Value function(std::string name, Function fn);
  // Converts JSON data; throws std::runtime_error for JSON nested deeper than 512 levels.
  static Value from_json(const nlohmann::json& j);
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_function() const { return kind_ == Kind::Function; }
  bool is_namespace() const { return kind_ == Kind::Dict && namespace_; }
  bool is_safe() const { return kind_ == Kind::String && safe_; }
  // A tuple is a list that prints with parentheses and whose mutating methods do not exist.
  bool is_tuple() const { return kind_ == Kind::List && tuple_; }
  void mark_tuple() { tuple_ = true; }

  bool as_bool() const { return boolean_; }
  int64_t as_int() const { return integer_; }
  double as_double() const;  // Int, Float or Bool
  const std::string& as_string() const { return string_; }
  ValueList& as_list() const { return *list_; }
  ValueDict& as_dict() const { return *dict_; }
  const Function& as_function() const { return function_->fn; }
  const std::string& function_name() const { return function_->name; }
  // For undefined values: the message to raise when the value is used.
  std::string undefined_message() const;

  // Python truthiness.
  bool truthy() const;
  // Python str(): what `{{ value }}` prints.
  std::string str() const;
  // Python repr(): how a value prints inside a list or dict.
  std::string repr() const;
  // jinja2's name for the type in messages: "dict object", "str object", "None".
  std::string type_name() const;

  // Python ==, deep for lists and dicts.
  bool equals(const Value& other) const;
  // The identity of a dict key: equal keys (1, 1.0, True) get the same string.
  std::string hash_key() const;

  // json.dumps with ensure_ascii=False; indent < 0 means no indentation. Throws
  // std::runtime_error for values JSON cannot hold (undefined, functions).
  std::string to_json(int indent, const std::string& item_separator, const std::string& key_separator,
                      bool sort_keys) const;
  nlohmann::json to_nlohmann() const;

 private:
  struct FunctionData {
    std::string name;
    Function fn;
  };

  Kind kind_ = Kind::Undefined;
  bool boolean_ = false;
  bool namespace_ = false;
  bool tuple_ = false;
  bool safe_ = false;
  int64_t integer_ = 0;
  double real_ = 0.0;
  std::string string_;  // String, or the hint of an Undefined
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<ValueDict> dict_;
  std::shared_ptr<FunctionData> function_;
};

// An insertion-ordered dict, like Python's. Keys are Values (strings in JSON data,
// but template dict literals may use numbers).
class ValueDict {
 public:
  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value value);
  bool erase(const Value& key);
  void clear() {
    entries_.clear();
    index_.clear();
  }
  size_t size() const { return entries_.size(); }
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<Value, Value>> entries_;
  std::unordered_map<std::string, size_t> index_;  // hash_key(key) -> position in entries_
};

// Arguments of a call from a template: positional values, then keyword arguments
// in the order the template wrote them.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  // Returns the argument given by position `index` or by `name`, or nullopt.
  // Throws when the same argument was given both ways.
  std::optional<Value> get(size_t index, const std::string& name) const;
  const Value* find_keyword(const std::string& name) const;
};

// markupsafe.escape of plain text: & < > " ' become entities.
std::string html_escape(const std::string& s);

// Python's repr() of a float: the shortest digits that round-trip, in fixed
// notation for exponents -4..15 and scientific notation ("1e+16") outside.
std::string format_python_float(double v);

// Python's repr() of a str: single quotes unless the text has ' and no ".
std::string python_string_repr(const std::string& s);

// json.dumps of a string with ensure_ascii=False.
std::string json_string_literal(const std::string& s);

}  // namespace brasa::jinja
