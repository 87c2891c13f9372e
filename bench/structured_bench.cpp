// Per-token cost of constrained decoding on real vocabularies: the Llama 3
// tiktoken file (128,000 ranked tokens + 256 specials) and the Llama 4 one
// (200,000 + 2,048 specials), read from ../shared/testdata.
//
//   build-*/bench/structured_bench [--benchmark_filter=...]

#include <cstdlib>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "structured/grammar_constraint.h"
#include "structured/grammar_matcher.h"
#include "structured/json_schema_grammar.h"
#include "structured/lazy_tool_call_constraint.h"
#include "structured/string_body_mask.h"

namespace {

// The shared/ folder: $BRASA_SHARED_DIR, or ../shared beside the checkout
// that contains this file.
std::string bench_shared_dir() {
  if (const char* from_environment = std::getenv("BRASA_SHARED_DIR")) return from_environment;
  std::string source = __FILE__;
  std::string checkout = source.substr(0, source.rfind("bench/structured_bench.cpp"));
  return (checkout.empty() ? std::string(".") : checkout.substr(0, checkout.size() - 1)) + "/../shared";
}

}  // namespace

#define BRASA_SHARED_DIR bench_shared_dir()
#include "../tests/structured/tiktoken_vocab.h"

namespace brasa {
namespace {

using nlohmann::json;

const json& bench_schema() {
  static json schema = json::parse(R"({"type": "object", "properties": {
      "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150},
      "tags": {"type": "array", "items": {"type": "string", "enum": ["red", "green", "blue"]}, "maxItems": 5},
      "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string", "maxLength": 10}},
                  "required": ["city"]}},
    "required": ["name", "age"], "additionalProperties": false})");
  return schema;
}

std::shared_ptr<const VocabularyIndex> vocabulary_for(int64_t llama_version) {
  static std::shared_ptr<const VocabularyIndex> llama3 = testing::llama3_vocabulary();
  static std::shared_ptr<const VocabularyIndex> llama4 = testing::llama4_vocabulary();
  return llama_version == 3 ? llama3 : llama4;
}

// States whose text changes the grammar state at every token: long bounded
// strings, numbers with many digits, and a long enum.
const json& churn_schema() {
  static json schema = [] {
    json colors = json::array();
    for (int i = 0; i < 500; ++i) colors.push_back("color-" + std::to_string(i * 7919 % 100000));
    return json{{"type", "object"},
                {"properties", {{"text", {{"type", "string"}, {"maxLength", 200}}},
                                {"score", {{"type", "number"}}},
                                {"color", {{"enum", colors}}}}},
                {"additionalProperties", false}};
  }();
  return schema;
}

const std::vector<ForcedTool>& bench_tools() {
  static std::vector<ForcedTool> tools = {
      {"get_weather",
       json::parse(R"({"type": "object", "properties": {"location": {"type": "string", "maxLength": 40},
                       "unit": {"enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer", "minimum": 1, "maximum": 14}},
                       "required": ["location"]})"),
       "tools[0]"},
      {"search", json::parse(R"({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]})"),
       "tools[1]"}};
  return tools;
}

// Matcher states to mask from: a grammar and the text generated so far.
struct MaskCase {
  int grammar;  // 0: bench_schema, 1: churn_schema, 2: pythonic calls of bench_tools
  const char* prefix;
};
const MaskCase kCases[] = {
    {0, ""},                                       // before the object
    {0, "{\""},                                    // a member name
    {0, "{\"address\":{\"city\":\"Lis"},             // inside an unbounded string
    {0, "{\"address\":{\"city\":\"X\",\"zip\":\"12"},  // inside a string with maxLength 10
    {0, "{\"age\":1"},                             // inside a bounded integer
    {1, "{\"text\":\"It was a dark and stormy"},    // inside a string with maxLength 200
    {1, "{\"score\":1234567.89"},                  // inside a number with many digits
    {1, "{\"color\":"},                            // before an enum of 500 strings
    {1, "{\"color\":\"color-1"},                   // inside that enum
    {2, ""},                                       // before a pythonic call list
    {2, "[get_weather("},                          // keyword arguments
    {2, "[get_weather(days=2, location='Lis"},     // inside a Python string with maxLength 40
    {1, "{\"text\":\"caf\xC3"},                      // inside a UTF-8 sequence in a bounded string
    {1, "{\"text\":\"a\\"},                         // inside an escape in a bounded string
};

std::shared_ptr<const Grammar> grammar_for(int grammar_index) {
  static auto json_grammar = std::make_shared<const Grammar>(compile_json_schema(bench_schema()));
  static auto churn_grammar = std::make_shared<const Grammar>(compile_json_schema(churn_schema()));
  static auto pythonic_grammar = std::make_shared<const Grammar>(compile_pythonic_tool_calls(bench_tools(), true));
  if (grammar_index == 0) return json_grammar;
  if (grammar_index == 1) return churn_grammar;
  return pythonic_grammar;
}

std::string case_label(const benchmark::State& state) {
  const MaskCase& mask_case = kCases[state.range(1)];
  // Bytes outside printable ASCII are written as \xNN, so the output stays text.
  std::string prefix;
  for (char c : std::string(mask_case.prefix)) {
    auto byte = static_cast<uint8_t>(c);
    if (byte >= 0x20 && byte < 0x7F) {
      prefix += c;
    } else {
      const char* digits = "0123456789ABCDEF";
      prefix += std::string("\\x") + digits[byte >> 4] + digits[byte & 15];
    }
  }
  return std::string("llama") + std::to_string(state.range(0)) + " grammar " + std::to_string(mask_case.grammar) +
         " after '" + prefix + "'";
}

// A full trie walk: the cost of a state seen for the first time, and before
// the string fast path, of every token inside a bounded string.
void BM_MaskTrieWalk(benchmark::State& state) {
  auto vocabulary = vocabulary_for(state.range(0));
  GrammarMatcher matcher(grammar_for(kCases[state.range(1)].grammar));
  if (!matcher.accept_bytes(kCases[state.range(1)].prefix)) state.SkipWithError("prefix rejected");
  std::vector<uint64_t> bits((vocabulary->vocab_size() + 63) / 64);
  for (auto _ : state) {
    std::fill(bits.begin(), bits.end(), 0);
    matcher.fill_token_bitmask(*vocabulary, bits);
    benchmark::DoNotOptimize(bits.data());
  }
  state.SetLabel(case_label(state));
}
BENCHMARK(BM_MaskTrieWalk)->ArgsProduct({{3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}})->Unit(benchmark::kMillisecond);

// The string fast path on its own: the bitmask of a state inside a string body.
void BM_MaskStringFastPath(benchmark::State& state) {
  auto vocabulary = vocabulary_for(state.range(0));
  auto grammar = grammar_for(kCases[state.range(1)].grammar);
  auto compiled = std::make_shared<CompiledGrammar>(grammar, vocabulary);
  GrammarMatcher matcher(grammar);
  if (!matcher.accept_bytes(kCases[state.range(1)].prefix)) state.SkipWithError("prefix rejected");
  std::vector<uint64_t> bits((vocabulary->vocab_size() + 63) / 64);
  if (!fill_string_body_mask(matcher, *compiled, bits)) state.SkipWithError("not inside a string body");
  for (auto _ : state) {
    std::fill(bits.begin(), bits.end(), 0);
    fill_string_body_mask(matcher, *compiled, bits);
    benchmark::DoNotOptimize(bits.data());
  }
  state.SetLabel(case_label(state));
}
BENCHMARK(BM_MaskStringFastPath)->ArgsProduct({{3, 4}, {2, 3, 5, 11}})->Unit(benchmark::kMicrosecond);

// Byte tokens, so a constraint can be driven over any text.
std::vector<int32_t> byte_tokens(const VocabularyIndex& vocabulary, const std::string& text) {
  std::vector<int32_t> by_byte(256, -1);
  for (int32_t id = 0; id < vocabulary.vocab_size(); ++id) {
    const std::string& bytes = vocabulary.token_bytes(id);
    if (bytes.size() == 1 && by_byte[static_cast<uint8_t>(bytes[0])] < 0) by_byte[static_cast<uint8_t>(bytes[0])] = id;
  }
  std::vector<int32_t> tokens;
  for (char c : text) tokens.push_back(by_byte[static_cast<uint8_t>(c)]);
  return tokens;
}

// TokenConstraint::mask per decode step while writing a string with
// maxLength: each step moves one character further, so no two steps share a
// state and the mask cache never hits.
void BM_MaskBoundedStringSteps(benchmark::State& state) {
  auto vocabulary = vocabulary_for(state.range(0));
  auto compiled = std::make_shared<CompiledGrammar>(grammar_for(1), vocabulary);
  std::vector<int32_t> opening = byte_tokens(*vocabulary, "{\"text\":\"");
  int32_t letter = byte_tokens(*vocabulary, "a")[0];
  std::vector<uint8_t> allowed(vocabulary->vocab_size(), 1);
  std::unique_ptr<GrammarConstraint> constraint;
  int written = 200;
  for (auto _ : state) {
    if (written == 200) {
      state.PauseTiming();
      constraint = std::make_unique<GrammarConstraint>(compiled);
      for (int32_t token : opening) constraint->accept(token);
      written = 0;
      state.ResumeTiming();
    }
    std::fill(allowed.begin(), allowed.end(), 1);
    constraint->mask(allowed);
    constraint->accept(letter);
    ++written;
    benchmark::DoNotOptimize(allowed.data());
  }
  state.SetLabel(std::string("llama") + std::to_string(state.range(0)) + ", maxLength 200");
}
BENCHMARK(BM_MaskBoundedStringSteps)->Arg(3)->Arg(4)->Unit(benchmark::kMicrosecond);

// LazyToolCallConstraint::mask before a call has started: at the start the
// tokens that start with '{' are checked against the JSON call grammar, and
// those with "(" against "[name(". After plain text, only the tokens that
// could open a call from the pending tail are checked.
void BM_MaskLazyUndecided(benchmark::State& state) {
  auto vocabulary = vocabulary_for(state.range(0));
  LazyToolCallGrammars grammars;
  grammars.json = std::make_shared<CompiledGrammar>(std::make_shared<const Grammar>(compile_forced_tool_calls(bench_tools(), true)), vocabulary);
  grammars.pythonic = std::make_shared<CompiledGrammar>(grammar_for(2), vocabulary);
  for (const ForcedTool& tool : bench_tools()) grammars.tool_names.push_back(tool.name);
  LazyToolCallConstraint constraint(grammars, vocabulary);
  const char* prefixes[] = {"",           "[get_", "See below.", "See below. [get_", "See below. {\"name\":\"get_",
                            "See below. {\"name\": \"get_"};
  for (int32_t token : byte_tokens(*vocabulary, prefixes[state.range(1)])) constraint.accept(token);
  std::vector<uint8_t> allowed(vocabulary->vocab_size(), 1);
  for (auto _ : state) {
    std::fill(allowed.begin(), allowed.end(), 1);
    constraint.mask(allowed);
    benchmark::DoNotOptimize(allowed.data());
  }
  state.SetLabel(std::string("llama") + std::to_string(state.range(0)) + " after '" + prefixes[state.range(1)] + "'");
}
// 0, 1: undecided at the start. 2: plain text with no call pending. 3, 4: a
// pythonic or JSON call that may open after plain text. 5: a JSON call in a
// spacing the grammar rejects, so every token that would open it is cleared.
BENCHMARK(BM_MaskLazyUndecided)->ArgsProduct({{3, 4}, {0, 1, 2, 3, 4, 5}})->Unit(benchmark::kMicrosecond);

void BM_BuildStringBodyTables(benchmark::State& state) {
  auto vocabulary = vocabulary_for(state.range(0));
  ByteSet escapes;
  for (char c : std::string("\"\\/bfnrt")) escapes.add(static_cast<uint8_t>(c));
  for (auto _ : state) {
    // A fresh index each time, since the tables are kept with it.
    state.PauseTiming();
    std::vector<std::string> tokens(vocabulary->vocab_size());
    for (int32_t id = 0; id < vocabulary->vocab_size(); ++id) tokens[id] = vocabulary->token_bytes(id);
    VocabularyIndex index(tokens, {}, {});
    state.ResumeTiming();
    benchmark::DoNotOptimize(string_body_tokens(index, {'"', escapes}));
  }
  state.SetLabel(std::string("llama") + std::to_string(state.range(0)));
}
BENCHMARK(BM_BuildStringBodyTables)->Arg(3)->Arg(4)->Unit(benchmark::kMillisecond)->Iterations(3);

// TokenConstraint::mask on a state whose bitmask is cached: what a step costs
// inside an unbounded string, where every character returns to the same state.
void BM_MaskCached(benchmark::State& state) {
  auto vocabulary = vocabulary_for(state.range(0));
  auto compiled = std::make_shared<CompiledGrammar>(grammar_for(0), vocabulary);
  GrammarConstraint constraint(compiled);
  std::vector<uint8_t> allowed(vocabulary->vocab_size(), 1);
  constraint.mask(allowed);
  for (auto _ : state) {
    std::fill(allowed.begin(), allowed.end(), 1);
    constraint.mask(allowed);
    benchmark::DoNotOptimize(allowed.data());
  }
  state.SetLabel(std::string("llama") + std::to_string(state.range(0)));
}
BENCHMARK(BM_MaskCached)->Arg(3)->Arg(4)->Unit(benchmark::kMicrosecond);

void BM_CompileSchema(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(compile_json_schema(bench_schema()));
}
BENCHMARK(BM_CompileSchema)->Unit(benchmark::kMicrosecond);

void BM_BuildVocabularyIndex(benchmark::State& state) {
  auto vocabulary = vocabulary_for(state.range(0));
  std::vector<std::string> tokens(vocabulary->vocab_size());
  for (int32_t id = 0; id < vocabulary->vocab_size(); ++id) tokens[id] = vocabulary->token_bytes(id);
  for (auto _ : state) {
    VocabularyIndex index(tokens, {}, {});
    benchmark::DoNotOptimize(index.nodes().data());
  }
  state.SetLabel(std::to_string(vocabulary->nodes().size()) + " trie nodes");
}
BENCHMARK(BM_BuildVocabularyIndex)->Arg(3)->Arg(4)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace brasa
