#include "templates/jinja_globals.h"

#include "templates/jinja_builtins.h"
#include "templates/jinja_error.h"

namespace brasa::jinja {

namespace {

Value range_function(const CallArgs& args) {
  if (!args.keyword.empty()) throw EvalError("range() takes no keyword arguments");
  std::vector<int64_t> bounds;
  for (const Value& value : args.positional) {
    if (!value.is_int() && !value.is_bool()) throw EvalError("'" + value.type_name() + "' object cannot be interpreted as an integer");
    bounds.push_back(value.as_int());
  }
  int64_t start = 0, stop = 0, step = 1;
  if (bounds.size() == 1) {
    stop = bounds[0];
  } else if (bounds.size() == 2 || bounds.size() == 3) {
    start = bounds[0];
    stop = bounds[1];
    if (bounds.size() == 3) step = bounds[2];
  } else {
    throw EvalError("range expected at most 3 arguments, got " + std::to_string(bounds.size()));
  }
  if (step == 0) throw EvalError("range() arg 3 must not be zero");

  // jinja2's sandbox caps range() at 100000 items (MAX_RANGE).
  constexpr int64_t kMaxRange = 100000;
  int64_t count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                           : (start > stop ? (start - stop - step - 1) / (-step) : 0);
  if (count > kMaxRange) throw EvalError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  ValueList items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) items.push_back(Value(start + i * step));
  return Value::list(std::move(items));
}

Value dict_function(const CallArgs& args) {
  Value dict = Value::dict();
  for (const Value& source : args.positional) {
    if (source.is_dict()) {
      for (const auto& [key, value] : source.as_dict().entries()) dict.as_dict().set(key, value);
      continue;
    }
    for (const Value& pair : iterate(source)) {
      ValueList items = iterate(pair);
      if (items.size() != 2) throw EvalError("dictionary update sequence element has length " + std::to_string(items.size()) + "; 2 is required");
      dict.as_dict().set(items[0], items[1]);
    }
  }
  for (const auto& [key, value] : args.keyword) dict.as_dict().set(Value(key), value);
  return dict;
}

Value namespace_function(const CallArgs& args) {
  Value ns = Value::namespace_object();
  for (const Value& source : args.positional) {
    if (!source.is_dict()) throw EvalError("namespace() positional argument must be a mapping");
    for (const auto& [key, value] : source.as_dict().entries()) ns.as_dict().set(key, value);
  }
  for (const auto& [key, value] : args.keyword) ns.as_dict().set(Value(key), value);
  return ns;
}

Value joiner_function(const CallArgs& args) {
  std::string separator = ", ";
  if (auto sep = args.get(0, "sep")) separator = sep->str();
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [separator, used](const CallArgs&) {
    if (!*used) {
      *used = true;
      return Value(std::string());
    }
    return Value(separator);
  });
}

}  // namespace

std::vector<std::pair<std::string, Value>> make_globals(std::optional<std::time_t> now,
                                                        std::vector<Value>* created_namespaces) {
  std::vector<std::pair<std::string, Value>> globals;
  globals.emplace_back("range", Value::function("range", range_function));
  globals.emplace_back("dict", Value::function("dict", dict_function));
  globals.emplace_back("namespace", Value::function("namespace", [created_namespaces](const CallArgs& args) {
    Value ns = namespace_function(args);
    if (created_namespaces) created_namespaces->push_back(ns);
    return ns;
  }));
  globals.emplace_back("joiner", Value::function("joiner", joiner_function));

  globals.emplace_back("raise_exception", Value::function("raise_exception", [](const CallArgs& args) -> Value {
    std::string message = args.positional.empty() ? std::string() : args.positional[0].str();
    throw EvalError(message);
  }));

  globals.emplace_back("strftime_now", Value::function("strftime_now", [now](const CallArgs& args) {
    if (args.positional.empty() || !args.positional[0].is_string()) throw EvalError("strftime_now() expects a format string");
    std::time_t t = now ? *now : std::time(nullptr);
    std::tm local{};
    localtime_r(&t, &local);
    const std::string& format = args.positional[0].as_string();
    std::string buffer(format.size() * 4 + 64, '\0');
    size_t written = std::strftime(buffer.data(), buffer.size(), format.c_str(), &local);
    buffer.resize(written);
    return Value(buffer);
  }));
  return globals;
}

}  // namespace brasa::jinja
