#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "structured/grammar.h"

namespace brasa {

// A schema that is invalid or uses a keyword the compiler cannot enforce.
class SchemaError : public std::runtime_error {
 public:
  SchemaError(std::string path, const std::string& message)
      : std::runtime_error(message), path_(std::move(path)) {}

  // Location of the offending keyword inside the schema, e.g. "properties.age.pattern";
  // empty for the schema itself.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Compiles a JSON schema to a grammar of compact JSON text (no whitespace
// between tokens) whose every sentence validates against the schema. Throws
// SchemaError naming the keyword it cannot enforce.
//
// Supported: type (one or a list), enum, const, nullable (OpenAPI), anyOf,
// oneOf, allOf with one member, $ref to "#" or a JSON pointer into the same
// document ($defs, definitions; recursion allowed), boolean schemas.
//   object: properties, required, additionalProperties (false, true or a schema).
//   array: items, minItems, maxItems.
//   string: minLength, maxLength, format (date, time, date-time, uuid, email, ipv4).
//   integer and number: minimum, maximum, exclusiveMinimum, exclusiveMaximum.
// Rejected: pattern, patternProperties, multipleOf, uniqueItems: true,
// minProperties, maxProperties, prefixItems, contains, propertyNames, not,
// if/then/else, dependentRequired, dependentSchemas, unevaluatedProperties,
// unevaluatedItems, allOf with several members, remote $ref, other formats,
// and $ref, anyOf, oneOf or allOf beside other validation keywords.
// Unknown keywords are ignored, as JSON Schema prescribes.
//
// The grammar accepts a subset of the valid documents, chosen so generation
// stays bounded and valid:
//   - properties appear in the order of the schema object (nlohmann::json sorts
//     them by name), each at most once, and extra properties follow them;
//   - an object with properties and no additionalProperties gets no extra
//     properties except required names missing from properties; extra
//     property names are ASCII without escapes;
//   - integers have at most 16 digits; numbers have at most 16 integer
//     digits, 16 fraction digits and a 2-digit exponent; bounds must be below
//     1e16 in magnitude, and a bounded number has its bounds rounded inward to
//     integers and no exponent;
//   - strings never contain \u escapes of UTF-16 surrogates;
//   - dates have years 1000-9999 and exclude February 29, and times exclude
//     leap seconds.
// NOTE: oneOf is compiled like anyOf, so a document that matches two branches
// can be produced and then fails oneOf validation. Keep oneOf branches disjoint.
Grammar compile_json_schema(const nlohmann::json& schema);

// A grammar for any JSON object ({"type": "json_object"}).
Grammar compile_any_json_object();

// A function the output must call, for forced tool calls.
struct ForcedTool {
  std::string name;
  nlohmann::json parameters;  // JSON schema of the arguments
  std::string path;           // where `parameters` sits in the request, for errors
};

// Compiles the forced tool-call syntax: {"name":"<tool>","parameters":<arguments>}
// for one of `tools`, or with `parallel` one or more such objects separated by
// ';'. SchemaError paths start with the tool's `path`.
Grammar compile_forced_tool_calls(const std::vector<ForcedTool>& tools, bool parallel);

// Compiles a pythonic call list as Llama 4 writes it, which parse_tool_calls
// reads back: "[name(key=value, ...)]", or with
// `parallel` several calls separated by ", ". Keywords are the properties of
// the tool's parameters schema, in schema order. Optional ones may be left
// out, and extra ones are written as additionalProperties allows. Values are
// Python literals that validate against the property schemas: strings in
// either quote style, numbers, True/False/None, lists and dicts. The arguments schema must be an
// object schema, and a required property must be a Python identifier. Tools
// whose names do not start with a letter or '_' are left out. Throws
// SchemaError when no tool is left or a schema cannot be enforced.
Grammar compile_pythonic_tool_calls(const std::vector<ForcedTool>& tools, bool parallel);

}  // namespace brasa
