// Random sampling under the mask, checked by an independent validator. For
// many schemas and seeds, tokens of the real Llama 3 vocabulary are drawn at
// random among those the constraint allows. Every finished output must parse
// and validate with python3-jsonschema.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_work_dir.h"
#include "structured/grammar_constraint.h"
#include "structured/json_schema_grammar.h"
#include "structured/tiktoken_vocab.h"
#include "structured/tool_call_parser.h"

namespace brasa {
namespace {

using nlohmann::json;

const std::shared_ptr<const VocabularyIndex>& vocabulary() {
  static std::shared_ptr<const VocabularyIndex> vocab = testing::llama3_vocabulary();
  return vocab;
}

// Draws tokens among those the constraint allows until it completes, EOS is
// drawn or max_tokens pass. Half of the draws prefer tokens that contain a
// JSON delimiter, so strings and arrays close within a test's budget. The
// rest are uniform over the allowed set.
struct Sample {
  std::string text;
  bool finished = false;
};

// Per token: 1 when its bytes hold a JSON delimiter or it is EOS.
const std::vector<uint8_t>& delimiter_tokens() {
  static std::vector<uint8_t> flags = [] {
    const VocabularyIndex& vocab = *vocabulary();
    std::vector<uint8_t> out(vocab.vocab_size(), 0);
    for (int32_t id = 0; id < vocab.vocab_size(); ++id) {
      out[id] = vocab.token_bytes(id).find_first_of("\"]},:") != std::string::npos || vocab.is_eos(id);
    }
    return out;
  }();
  return flags;
}

Sample sample(TokenConstraint& constraint, std::mt19937& rng, int max_tokens) {
  const VocabularyIndex& vocab = *vocabulary();
  const std::vector<uint8_t>& delimiter = delimiter_tokens();
  Sample out;
  std::vector<uint8_t> allowed;
  for (int step = 0; step < max_tokens; ++step) {
    if (constraint.is_complete()) {
      out.finished = true;
      return out;
    }
    allowed.assign(vocab.vocab_size(), 1);
    constraint.mask(allowed);

    std::vector<int32_t> any;
    std::vector<int32_t> delimited;
    for (int32_t id = 0; id < vocab.vocab_size(); ++id) {
      if (!allowed[id]) continue;
      any.push_back(id);
      if (delimiter[id]) delimited.push_back(id);
    }
    if (any.empty()) return out;
    const std::vector<int32_t>& pool = (!delimited.empty() && rng() % 2 == 0) ? delimited : any;
    int32_t token = pool[rng() % pool.size()];
    if (vocab.is_eos(token)) {
      out.finished = true;
      return out;
    }
    out.text += vocab.token_bytes(token);
    constraint.accept(token);
  }
  out.finished = constraint.is_complete();
  return out;
}

// A random schema from the supported subset. Depth bounds the nesting.
json random_schema(std::mt19937& rng, int depth) {
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  int kind = depth <= 0 ? 2 + pick(7) : pick(11);
  switch (kind) {
    case 0:
    case 1: {
      json schema = {{"type", "object"}, {"properties", json::object()}};
      int n = 1 + pick(4);
      json required = json::array();
      for (int i = 0; i < n; ++i) {
        std::string name = std::string(1, static_cast<char>('a' + pick(26))) + std::to_string(i);
        schema["properties"][name] = random_schema(rng, depth - 1);
        if (pick(2) == 0) required.push_back(name);
      }
      schema["required"] = required;
      int extra = pick(3);
      if (extra == 0) schema["additionalProperties"] = false;
      if (extra == 1) schema["additionalProperties"] = {{"type", "integer"}};
      return schema;
    }
    case 2: {
      int min_items = pick(3);
      return {{"type", "array"}, {"items", random_schema(rng, depth - 1)}, {"minItems", min_items}, {"maxItems", min_items + pick(3)}};
    }
    case 3: {
      json schema = {{"type", "string"}};
      int variant = pick(4);
      if (variant == 1) schema["maxLength"] = 1 + pick(6);
      if (variant == 2) schema["minLength"] = 1 + pick(3), schema["maxLength"] = 4 + pick(4);
      if (variant == 3) {
        const char* formats[] = {"date", "time", "date-time", "uuid", "email", "ipv4"};
        schema["format"] = formats[pick(6)];
      }
      return schema;
    }
    case 4: {
      json schema = {{"type", "integer"}};
      int variant = pick(4);
      if (variant == 1) schema["minimum"] = -50 + pick(100);
      if (variant == 2) schema["maximum"] = -50 + pick(100);
      if (variant == 3) schema["minimum"] = -1000 + pick(1000), schema["exclusiveMaximum"] = 1 + pick(5000);
      return schema;
    }
    case 5: {
      json schema = {{"type", "number"}};
      if (pick(2) == 0) schema["minimum"] = -3.5, schema["maximum"] = 12.25;
      return schema;
    }
    case 6:
      return {{"enum", {"red", "green", 3, nullptr, json::array({1, "x"})}}};
    case 7:
      return {{"type", json::array({"string", "null"})}, {"maxLength", 5}};
    case 8:
      return {{"type", "boolean"}};
    case 9:
      return {{"anyOf", {random_schema(rng, depth - 1), random_schema(rng, depth - 1)}}};
    default:
      return {{"const", {{"k", "v"}, {"n", 1.5}}}};
  }
}

std::vector<json> fixed_schemas() {
  return {
      json::parse(R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 130},
        "email": {"type": "string", "format": "email"}}, "required": ["name", "age"], "additionalProperties": false})"),
      json::parse(R"({"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
        "required": ["value"], "additionalProperties": false}}, "$ref": "#/$defs/node"})"),
      json::parse(R"({"oneOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "minimum": 5, "maximum": 9}]})"),
      json::parse(R"({"type": "object", "properties": {"when": {"type": "string", "format": "date-time"},
        "id": {"type": "string", "format": "uuid"}, "ip": {"type": "string", "format": "ipv4"}},
        "required": ["when", "id", "ip"]})"),
      json::parse(R"({"type": "object", "properties": {"kind": {"const": "point"}, "x": {"type": "number"},
        "y": {"type": "number", "exclusiveMinimum": 0}}, "required": ["kind", "x", "y"], "additionalProperties": {"type": "string", "maxLength": 3}})"),
      json::parse(R"({"type": "object"})"),
      json::parse(R"({"type": "array", "items": {"type": "string", "enum": ["a", "b\"c", "ü"]}, "minItems": 2, "maxItems": 4})"),
      json::parse(R"({"type": "object", "properties": {"p": {"type": "integer", "minimum": -123456789012, "maximum": 98765}},
        "required": ["p", "q"]})"),
      json::parse(R"({"definitions": {"leaf": {"type": ["integer", "null"], "maximum": -7}},
        "type": "array", "items": {"allOf": [{"$ref": "#/definitions/leaf"}]}, "maxItems": 5})"),
  };
}

std::string run_validator(const std::string& pairs_path) {
  std::string command = "/usr/bin/python3 " + std::string(BRASA_SOURCE_DIR) + "/tools/structured/validate_outputs.py " +
                        pairs_path + " 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "failed to start the validator";
  char buffer[4096];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  int status = pclose(pipe);
  if (status != 0) output += "\nvalidator exit status " + std::to_string(status);
  return output;
}

TEST(SchemaSampling, OutputsValidateWithJsonschema) {
  std::vector<json> schemas = fixed_schemas();
  std::mt19937 schema_rng(20261204);
  for (int i = 0; i < 40; ++i) schemas.push_back(random_schema(schema_rng, 2));

  std::string pairs_path = ::brasa::test::work_dir() + "/schema_sampling_pairs.jsonl";
  std::ofstream pairs(pairs_path);
  int n_finished = 0;
  int n_total = 0;
  for (size_t s = 0; s < schemas.size(); ++s) {
    auto grammar = std::make_shared<const Grammar>(compile_json_schema(schemas[s]));
    auto compiled = std::make_shared<CompiledGrammar>(grammar, vocabulary());
    GrammarConstraint prototype(compiled);
    for (uint32_t seed = 0; seed < 3; ++seed) {
      std::mt19937 rng(seed * 7919 + static_cast<uint32_t>(s));
      std::unique_ptr<TokenConstraint> constraint = prototype.clone_initial();
      Sample result = sample(*constraint, rng, 400);
      ++n_total;
      if (!result.finished) continue;
      ++n_finished;
      EXPECT_TRUE(json::accept(result.text)) << schemas[s].dump() << "\n" << result.text;
      pairs << json({{"schema", schemas[s]}, {"output", result.text}}).dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    }
  }
  pairs.close();

  // Most samples must finish, or the validation below covers little.
  EXPECT_GE(n_finished, n_total * 8 / 10);
  std::string report = run_validator(pairs_path);
  EXPECT_EQ(report.find("invalid output"), std::string::npos) << report;
  EXPECT_NE(report.find(" 0 invalid"), std::string::npos) << report;
}

TEST(SchemaSampling, ForcedToolCallsParseBack) {
  std::vector<ForcedTool> tools = {
      {"get_weather", json::parse(R"({"type": "object", "properties": {"location": {"type": "string"},
        "unit": {"enum": ["c", "f"]}}, "required": ["location"]})"), "tools[0].function.parameters"},
      {"add", json::parse(R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"], "additionalProperties": false})"), "tools[1].function.parameters"},
  };
  std::string pairs_path = ::brasa::test::work_dir() + "/forced_tool_pairs.jsonl";
  std::ofstream pairs(pairs_path);

  for (bool parallel : {false, true}) {
    auto grammar = std::make_shared<const Grammar>(compile_forced_tool_calls(tools, parallel));
    auto compiled = std::make_shared<CompiledGrammar>(grammar, vocabulary());
    for (uint32_t seed = 0; seed < 8; ++seed) {
      std::mt19937 rng(seed);
      GrammarConstraint constraint(compiled);
      Sample result = sample(constraint, rng, 300);
      if (!result.finished) continue;

      ParsedToolOutput parsed = parse_tool_calls(result.text);
      ASSERT_FALSE(parsed.tool_calls.empty()) << result.text;
      EXPECT_EQ(parsed.content, "") << result.text;
      if (!parallel) {
        EXPECT_EQ(parsed.tool_calls.size(), 1u) << result.text;
      }
      for (const ToolCall& call : parsed.tool_calls) {
        const ForcedTool* tool = call.name == "add" ? &tools[1] : &tools[0];
        EXPECT_TRUE(call.name == "add" || call.name == "get_weather") << call.name;
        pairs << json({{"schema", tool->parameters}, {"output", call.arguments}}).dump() << "\n";
      }
    }
  }
  pairs.close();
  std::string report = run_validator(pairs_path);
  EXPECT_NE(report.find(" 0 invalid"), std::string::npos) << report;
}

}  // namespace
}  // namespace brasa
