#pragma once

// Test helper: a small JSON Schema validator for the keywords the tool tests
// use, written apart from the grammar compiler so that it checks the
// compiler's output instead of sharing its mistakes.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace brasa::testing {

// Counts code points, as JSON Schema's minLength and maxLength do.
inline int64_t count_code_points(const std::string& text) {
  int64_t count = 0;
  for (char c : text) count += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return count;
}

inline bool has_type(const nlohmann::json& value, const std::string& type) {
  if (type == "string") return value.is_string();
  if (type == "integer") return value.is_number_integer();
  if (type == "number") return value.is_number();
  if (type == "boolean") return value.is_boolean();
  if (type == "null") return value.is_null();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  return false;
}

// Returns "" when `value` is valid, else what is wrong and where. Supports
// type, enum, properties, required, additionalProperties, items, minItems,
// maxItems, minLength, maxLength, minimum and maximum.
inline std::string schema_violation(const nlohmann::json& value, const nlohmann::json& schema, const std::string& where = "$") {
  using nlohmann::json;
  if (schema.is_boolean()) return schema.get<bool>() ? "" : where + ": schema false";

  if (schema.contains("type")) {
    json types = schema["type"].is_array() ? schema["type"] : json::array({schema["type"]});
    bool matched = false;
    for (const json& type : types) matched = matched || has_type(value, type.get<std::string>());
    if (!matched) return where + ": wrong type for " + value.dump();
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const json& option : schema["enum"]) found = found || option == value;
    if (!found) return where + ": not in enum: " + value.dump();
  }

  if (value.is_string()) {
    int64_t length = count_code_points(value.get<std::string>());
    if (schema.contains("minLength") && length < schema["minLength"].get<int64_t>()) return where + ": shorter than minLength";
    if (schema.contains("maxLength") && length > schema["maxLength"].get<int64_t>()) return where + ": longer than maxLength";
  }
  if (value.is_number()) {
    double number = value.get<double>();
    if (schema.contains("minimum") && number < schema["minimum"].get<double>()) return where + ": below minimum";
    if (schema.contains("maximum") && number > schema["maximum"].get<double>()) return where + ": above maximum";
  }
  if (value.is_array()) {
    if (schema.contains("minItems") && value.size() < schema["minItems"].get<size_t>()) return where + ": too few items";
    if (schema.contains("maxItems") && value.size() > schema["maxItems"].get<size_t>()) return where + ": too many items";
    if (schema.contains("items")) {
      for (size_t i = 0; i < value.size(); ++i) {
        std::string problem = schema_violation(value[i], schema["items"], where + "[" + std::to_string(i) + "]");
        if (!problem.empty()) return problem;
      }
    }
  }
  if (value.is_object()) {
    json properties = schema.value("properties", json::object());
    for (const json& name : schema.value("required", json::array())) {
      if (!value.contains(name.get<std::string>())) return where + ": missing required " + name.dump();
    }
    for (const auto& [name, member] : value.items()) {
      std::string member_path = where + "." + name;
      if (properties.contains(name)) {
        std::string problem = schema_violation(member, properties[name], member_path);
        if (!problem.empty()) return problem;
      } else if (schema.contains("additionalProperties")) {
        std::string problem = schema_violation(member, schema["additionalProperties"], member_path);
        if (!problem.empty()) return problem;
      }
    }
  }
  return "";
}

}  // namespace brasa::testing
