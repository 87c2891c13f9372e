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

// Matcher states to mask from: the text generated so far.
const char* kPrefixes[] = {
    "",                                     // before the object
    "{\"",                                  // a member name
    "{\"address\":{\"city\":\"Lis",         // inside an unbounded string
    "{\"address\":{\"city\":\"X\",\"zip\":\"12",  // inside a bounded string
    "{\"age\":1",                           // inside a bounded integer
};

// A full trie walk: the cost of a state seen for the first time.
void BM_MaskTrieWalk(benchmark::State& state) {
  auto vocabulary = vocabulary_for(state.range(0));
  auto grammar = std::make_shared<const Grammar>(compile_json_schema(bench_schema()));
  GrammarMatcher matcher(grammar);
  if (!matcher.accept_bytes(kPrefixes[state.range(1)])) state.SkipWithError("prefix rejected");
  std::vector<uint64_t> bits((vocabulary->vocab_size() + 63) / 64);
  for (auto _ : state) {
    std::fill(bits.begin(), bits.end(), 0);
    matcher.fill_token_bitmask(*vocabulary, bits);
    benchmark::DoNotOptimize(bits.data());
  }
  state.SetLabel(std::string("llama") + std::to_string(state.range(0)) + " after '" + kPrefixes[state.range(1)] + "'");
}
BENCHMARK(BM_MaskTrieWalk)->ArgsProduct({{3, 4}, {0, 1, 2, 3, 4}})->Unit(benchmark::kMillisecond);

// TokenConstraint::mask on a state whose bitmask is cached: what a step costs
// inside an unbounded string, where every character returns to the same state.
void BM_MaskCached(benchmark::State& state) {
  auto vocabulary = vocabulary_for(state.range(0));
  auto grammar = std::make_shared<const Grammar>(compile_json_schema(bench_schema()));
  auto compiled = std::make_shared<CompiledGrammar>(grammar, vocabulary);
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
