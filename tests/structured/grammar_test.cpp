#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "structured/grammar_matcher.h"
#include "structured/json_schema_grammar.h"

namespace brasa {
namespace {

using nlohmann::json;

// True when `text` is a whole sentence of the schema's grammar.
bool matches(const std::shared_ptr<const Grammar>& grammar, const std::string& text) {
  GrammarMatcher matcher(grammar);
  return matcher.accept_bytes(text) && matcher.can_end();
}

std::shared_ptr<const Grammar> compile(const std::string& schema) {
  return std::make_shared<const Grammar>(compile_json_schema(json::parse(schema)));
}

TEST(JsonSchemaGrammar, IntegerBoundsMatchArithmetic) {
  struct Range {
    const char* schema;
    int64_t low;
    int64_t high;
  };
  const Range ranges[] = {
      {R"({"type": "integer", "minimum": 0, "maximum": 0})", 0, 0},
      {R"({"type": "integer", "minimum": 7, "maximum": 1234})", 7, 1234},
      {R"({"type": "integer", "minimum": -999, "maximum": -10})", -999, -10},
      {R"({"type": "integer", "minimum": -57, "maximum": 305})", -57, 305},
      {R"({"type": "integer", "exclusiveMinimum": 9, "exclusiveMaximum": 101})", 10, 100},
      {R"({"type": "integer", "minimum": 2.5, "maximum": 19.9})", 3, 19},
      {R"({"type": "integer", "minimum": 1000})", 1000, INT64_MAX},
      {R"({"type": "integer", "maximum": -3})", INT64_MIN, -3},
  };
  for (const Range& range : ranges) {
    auto grammar = compile(range.schema);
    for (int64_t v = -1300; v <= 1300; ++v) {
      bool expected = v >= range.low && v <= range.high;
      EXPECT_EQ(matches(grammar, std::to_string(v)), expected) << range.schema << " value " << v;
    }
  }
}

TEST(JsonSchemaGrammar, IntegerSyntax) {
  auto grammar = compile(R"({"type": "integer"})");
  EXPECT_TRUE(matches(grammar, "0"));
  EXPECT_TRUE(matches(grammar, "-12"));
  EXPECT_TRUE(matches(grammar, "9999999999999999"));
  EXPECT_FALSE(matches(grammar, "99999999999999999"));  // 17 digits
  EXPECT_FALSE(matches(grammar, "007"));
  EXPECT_FALSE(matches(grammar, "1.0"));
  EXPECT_FALSE(matches(grammar, "+1"));
  EXPECT_FALSE(matches(grammar, " 1"));
}

TEST(JsonSchemaGrammar, NumberBoundsAreSound) {
  auto grammar = compile(R"({"type": "number", "minimum": -2.5, "maximum": 13})");
  // Bounds are rounded inward to [-2, 13].
  EXPECT_TRUE(matches(grammar, "13"));
  EXPECT_TRUE(matches(grammar, "13.000"));
  EXPECT_TRUE(matches(grammar, "12.999"));
  EXPECT_TRUE(matches(grammar, "-1.75"));
  EXPECT_TRUE(matches(grammar, "-2"));
  EXPECT_TRUE(matches(grammar, "-0.5"));
  EXPECT_FALSE(matches(grammar, "13.001"));
  EXPECT_FALSE(matches(grammar, "-2.01"));
  EXPECT_FALSE(matches(grammar, "1e1"));

  // Every accepted string of a random sample lies within the bounds.
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    std::string text = (rng() % 2 ? "-" : "") + std::to_string(rng() % 20) + (rng() % 2 ? "." + std::to_string(rng() % 1000) : "");
    if (matches(grammar, text)) {
      double value = std::stod(text);
      EXPECT_GE(value, -2.5) << text;
      EXPECT_LE(value, 13.0) << text;
    }
  }
}

TEST(JsonSchemaGrammar, StringLengthCountsCharacters) {
  auto grammar = compile(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  EXPECT_TRUE(matches(grammar, "\"ab\""));
  EXPECT_TRUE(matches(grammar, "\"é😀\""));   // two code points, six bytes
  EXPECT_TRUE(matches(grammar, "\"\\n\\u00e9x\""));
  EXPECT_FALSE(matches(grammar, "\"a\""));
  EXPECT_FALSE(matches(grammar, "\"abcd\""));
  EXPECT_FALSE(matches(grammar, "\"\\ud83d\\ude00\""));  // surrogate escapes are left out
}

TEST(JsonSchemaGrammar, StringRejectsInvalidUtf8AndControls) {
  auto grammar = compile(R"({"type": "string"})");
  EXPECT_TRUE(matches(grammar, "\"ok \\\" \\\\ \\/ \\t\""));
  EXPECT_FALSE(matches(grammar, "\"\xC0\x80\""));      // overlong
  EXPECT_FALSE(matches(grammar, "\"\xED\xA0\x80\""));  // UTF-16 surrogate in UTF-8
  EXPECT_FALSE(matches(grammar, "\"\xF5\x80\x80\x80\""));
  EXPECT_FALSE(matches(grammar, "\"tab\there\""));
  EXPECT_FALSE(matches(grammar, "\"\\x41\""));
}

TEST(JsonSchemaGrammar, Formats) {
  auto date = compile(R"({"type": "string", "format": "date"})");
  EXPECT_TRUE(matches(date, "\"2024-12-31\""));
  EXPECT_TRUE(matches(date, "\"1999-02-28\""));
  EXPECT_FALSE(matches(date, "\"2024-02-30\""));
  EXPECT_FALSE(matches(date, "\"2024-04-31\""));
  EXPECT_FALSE(matches(date, "\"2024-13-01\""));

  auto date_time = compile(R"({"type": "string", "format": "date-time"})");
  EXPECT_TRUE(matches(date_time, "\"2024-06-01T23:59:59.123Z\""));
  EXPECT_TRUE(matches(date_time, "\"2024-06-01T00:00:00+05:30\""));
  EXPECT_FALSE(matches(date_time, "\"2024-06-01T24:00:00Z\""));
  EXPECT_FALSE(matches(date_time, "\"2024-06-01T12:00:00\""));

  auto uuid = compile(R"({"type": "string", "format": "uuid"})");
  EXPECT_TRUE(matches(uuid, "\"123e4567-e89b-12d3-a456-426614174000\""));
  EXPECT_FALSE(matches(uuid, "\"123e4567e89b12d3a456426614174000\""));

  auto ipv4 = compile(R"({"type": "string", "format": "ipv4"})");
  EXPECT_TRUE(matches(ipv4, "\"192.168.0.255\""));
  EXPECT_FALSE(matches(ipv4, "\"256.1.1.1\""));
  EXPECT_FALSE(matches(ipv4, "\"01.1.1.1\""));
}

TEST(JsonSchemaGrammar, ObjectMembers) {
  auto grammar = compile(R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "boolean"}},
    "required": ["b"], "additionalProperties": {"type": "string"}})");
  EXPECT_TRUE(matches(grammar, R"({"b":true})"));
  EXPECT_TRUE(matches(grammar, R"({"a":1,"b":false})"));
  EXPECT_TRUE(matches(grammar, R"({"a":1,"b":false,"ab":"x","":"y"})"));
  EXPECT_FALSE(matches(grammar, R"({"a":1})"));               // b is required
  EXPECT_FALSE(matches(grammar, R"({"b":true,"a":"x"})"));     // a declared: no extra named a
  EXPECT_FALSE(matches(grammar, R"({"b":true,"c":1})"));       // extras are strings
  EXPECT_FALSE(matches(grammar, R"({"b":true,})"));
  EXPECT_FALSE(matches(grammar, R"({ "b":true})"));            // no whitespace

  auto closed = compile(R"({"properties": {"x": {"type": "null"}}})");
  EXPECT_TRUE(matches(closed, "{}"));
  EXPECT_TRUE(matches(closed, R"({"x":null})"));
  EXPECT_FALSE(matches(closed, R"({"y":null})"));

  auto open = compile(R"({"type": "object"})");
  EXPECT_TRUE(matches(open, R"({"k":[1,{"z":null}],"":"é"})"));
}

TEST(JsonSchemaGrammar, ArraysAndRecursion) {
  auto grammar = compile(R"({"$defs": {"tree": {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/tree"}]},
    "maxItems": 2}}, "$ref": "#/$defs/tree"})");
  EXPECT_TRUE(matches(grammar, "[]"));
  EXPECT_TRUE(matches(grammar, "[1,[2,[[],3]]]"));
  EXPECT_FALSE(matches(grammar, "[1,2,3]"));
  EXPECT_FALSE(matches(grammar, "[[1,2,3]]"));

  auto bounded = compile(R"({"type": "array", "items": {"const": "x"}, "minItems": 2, "maxItems": 3})");
  EXPECT_FALSE(matches(bounded, R"(["x"])"));
  EXPECT_TRUE(matches(bounded, R"(["x","x"])"));
  EXPECT_TRUE(matches(bounded, R"(["x","x","x"])"));
  EXPECT_FALSE(matches(bounded, R"(["x","x","x","x"])"));
}

TEST(JsonSchemaGrammar, EnumTypesAndNullable) {
  auto grammar = compile(R"({"type": "string", "enum": ["a\"b", 3, "é"]})");
  EXPECT_TRUE(matches(grammar, R"("a\"b")"));
  EXPECT_TRUE(matches(grammar, "\"é\""));
  EXPECT_FALSE(matches(grammar, "3"));  // filtered out by the type

  auto nullable = compile(R"({"type": ["integer", "null"], "nullable": true})");
  EXPECT_TRUE(matches(nullable, "null"));
  EXPECT_TRUE(matches(nullable, "-4"));
  EXPECT_FALSE(matches(nullable, "\"x\""));
}

TEST(JsonSchemaGrammar, ErrorsNameTheKeyword) {
  struct Case {
    const char* schema;
    const char* path;
  };
  const Case cases[] = {
      {R"({"type": "string", "pattern": "^a$"})", "pattern"},
      {R"({"properties": {"x": {"properties": {"y": {"multipleOf": 2}}}}})", "properties.x.properties.y.multipleOf"},
      {R"({"type": "strnig"})", "type"},
      {R"({"type": "string", "minLength": 5, "maxLength": 2})", "minLength"},
      {R"({"type": "string", "format": "hostname"})", "format"},
      {R"({"$ref": "https://example.com/schema.json"})", "$ref"},
      {R"({"$ref": "#/$defs/missing"})", "$ref"},
      {R"({"anyOf": []})", "anyOf"},
      {R"({"allOf": [{"type": "string"}, {"maxLength": 3}]})", "allOf"},
      {R"({"type": "array", "items": {"type": "string"}, "uniqueItems": true})", "uniqueItems"},
      {R"({"type": "array", "maxItems": 1000000})", "maxItems"},
      {R"({"type": "integer", "minimum": 5, "maximum": 4})", "minimum"},
      {R"({"properties": {"a": {"type": "integer"}}, "required": ["b"], "additionalProperties": false})", "required"},
      {R"({"$defs": {"a": {"not": {}}}, "$ref": "#/$defs/a"})", "$defs.a.not"},
      {R"({"type": "object", "properties": {"a": 3}})", "properties.a"},
      {"false", ""},
  };
  for (const Case& c : cases) {
    try {
      compile_json_schema(json::parse(c.schema));
      ADD_FAILURE() << "no error for " << c.schema;
    } catch (const SchemaError& error) {
      EXPECT_EQ(error.path(), c.path) << c.schema << ": " << error.what();
      EXPECT_FALSE(std::string(error.what()).empty());
    }
  }
}

TEST(JsonSchemaGrammar, DeepNestingIsRejected) {
  json schema = {{"type", "string"}};
  for (int i = 0; i < 100; ++i) schema = {{"type", "array"}, {"items", schema}};
  EXPECT_THROW(compile_json_schema(schema), SchemaError);
}

}  // namespace
}  // namespace brasa

namespace brasa {
namespace {

TEST(JsonSchemaGrammar, NullableAppliesToRefAndUnion) {
  auto ref = std::make_shared<const Grammar>(compile_json_schema(json::parse(
      R"({"$defs": {"n": {"type": "integer"}}, "properties": {"x": {"$ref": "#/$defs/n", "nullable": true}}, "required": ["x"]})")));
  GrammarMatcher with_null(ref);
  EXPECT_TRUE(with_null.accept_bytes(R"({"x":null})"));
  EXPECT_TRUE(with_null.can_end());
  GrammarMatcher with_number(ref);
  EXPECT_TRUE(with_number.accept_bytes(R"({"x":5})"));
  EXPECT_TRUE(with_number.can_end());

  auto any_of = std::make_shared<const Grammar>(compile_json_schema(json::parse(
      R"({"anyOf": [{"type": "boolean"}], "nullable": true})")));
  GrammarMatcher matcher(any_of);
  EXPECT_TRUE(matcher.accept_bytes("null"));
  EXPECT_TRUE(matcher.can_end());
}

}  // namespace
}  // namespace brasa
