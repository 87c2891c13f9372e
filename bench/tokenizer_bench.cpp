// Encode and streaming-decode throughput of the byte-level tokenizers on a
// few MB of mixed text (English, code, digits, CJK, emoji, whitespace),
// generated deterministically. Reads the tokenizers from $BRASA_SHARED_DIR
// (default ../shared, relative to the working directory).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/detokenizer.h"
#include "tokenizer/tokenizer.h"

namespace {

std::string shared_dir() {
  const char* dir = std::getenv("BRASA_SHARED_DIR");
  return dir ? dir : "../shared";
}

// Mixed text of about `target_bytes` bytes from a fixed linear congruential generator.
std::string make_mixed_text(size_t target_bytes) {
  static const char* const kWords[] = {
      "the", "model", "token", "of", "and", "inference", "server", "a", "to", "is", "in", "that", "cache",
      "attention", "layer", "weights", "Hello", "World", "don't", "it's", "THE", "Llama", "batch", "decode",
      "prefill", "sequence", "probability", "distribution", "sampling", "temperature", "über", "naïve", "café"};
  static const char* const kCode[] = {
      "for (int i = 0; i < n; ++i) {\n", "    return x * 2;\n", "}\n", "def f(x):\n", "  if x > 0:\n",
      "std::vector<int32_t> ids;", "#include <string>\n", "{\"key\": [1, 2, 3]}", "x += y;  // comment\n"};
  static const char* const kOther[] = {
      "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96\xE7\x95\x8C", "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF",
      "\xF0\x9F\x98\x80", "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9", "\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7", "  ", "\n\n", "\t", "...", "!", "?", ",", "3.14159", "2026"};

  uint64_t state = 0x9E3779B97F4A7C15ull;
  const auto next = [&state](uint64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % bound;
  };

  std::string text;
  text.reserve(target_bytes + 64);
  while (text.size() < target_bytes) {
    const uint64_t kind = next(100);
    if (kind < 70) {
      text += kWords[next(std::size(kWords))];
      text += ' ';
    } else if (kind < 82) {
      text += kCode[next(std::size(kCode))];
    } else if (kind < 90) {
      text += std::to_string(next(1000000));
      text += ' ';
    } else {
      text += kOther[next(std::size(kOther))];
    }
  }
  return text;
}

const std::string& mixed_text() {
  static const std::string text = make_mixed_text(4 << 20);
  return text;
}

const brasa::Tokenizer& tokenizer(const std::string& relative) {
  static std::map<std::string, std::unique_ptr<brasa::Tokenizer>> cache;
  auto& slot = cache[relative];
  if (!slot) slot = brasa::load_tokenizer(shared_dir() + "/" + relative);
  return *slot;
}

void encode_benchmark(benchmark::State& state, const char* relative) {
  const brasa::Tokenizer& t = tokenizer(relative);
  const std::string& text = mixed_text();
  size_t n_tokens = 0;
  for (auto _ : state) {
    const std::vector<int32_t> ids = t.encode(text, false, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

void BM_EncodeLlama4Tiktoken(benchmark::State& state) {
  encode_benchmark(state, "testdata/llama-models/llama4/tokenizer.model");
}
BENCHMARK(BM_EncodeLlama4Tiktoken)->Unit(benchmark::kMillisecond);

void BM_EncodeLlama3Json(benchmark::State& state) { encode_benchmark(state, "testdata/tokenizers/llama3/tokenizer.json"); }
BENCHMARK(BM_EncodeLlama3Json)->Unit(benchmark::kMillisecond);

void BM_DetokenizeStreamLlama4(benchmark::State& state) {
  const brasa::Tokenizer& t = tokenizer("testdata/llama-models/llama4/tokenizer.model");
  const std::vector<int32_t> ids = t.encode(mixed_text(), false, false);
  for (auto _ : state) {
    brasa::Detokenizer detokenizer(t, true);
    size_t bytes = 0;
    for (int32_t id : ids) bytes += detokenizer.push(id).size();
    bytes += detokenizer.flush().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ids.size()));
}
BENCHMARK(BM_DetokenizeStreamLlama4)->Unit(benchmark::kMillisecond);

}  // namespace
