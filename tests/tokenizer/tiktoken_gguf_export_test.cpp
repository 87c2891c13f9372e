// Exports Meta's Llama 4 tiktoken vocabulary as a GGUF "gpt2" vocabulary with
// merges derived from the ranks, and checks that the GGUF tokenizer encodes a
// hard corpus exactly as the tiktoken rank file does.
#include <gtest/gtest.h>

#include <filesystem>

#include "test_work_dir.h"
#include "formats/gguf_vocab.h"
#include "formats/gguf_writer.h"
#include "hard_corpus.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"

namespace brasa {
namespace {

const std::string kLlama4Model = test::shared_path("testdata/llama-models/llama4/tokenizer.model");

// The GGUF vocabulary of the Llama 4 tokenizer, written once per test binary.
const std::string& exported_gguf() {
  static const std::string path = [] {
    const Tokenizer& tiktoken = test::cached_tokenizer(kLlama4Model);
    std::vector<std::string> base;
    std::vector<std::string> specials;
    for (int32_t id = 0; id < tiktoken.vocab_size(); ++id) {
      if (tiktoken.is_special(id)) {
        specials.push_back(tiktoken.token_text(id));
      } else {
        base.push_back(tiktoken.token_bytes(id));
      }
    }
    GgufBpeVocab vocab = tiktoken_to_gguf_vocab(base, specials);
    vocab.pre = "llama4";
    vocab.bos_id = tiktoken.bos_id();
    vocab.eot_id = tiktoken.token_id("<|eot|>");
    vocab.eos_id = vocab.eot_id;
    vocab.eom_id = tiktoken.token_id("<|eom|>");

    GgufWriter writer;
    writer.add_string("general.architecture", "llama4");
    add_gguf_vocab(writer, vocab);
    const std::string out = ::brasa::test::work_dir() + "/llama4-vocab-export.gguf";
    writer.write(out);
    return out;
  }();
  return path;
}

// A few hand-checked cases of the derivation on a toy rank list.
TEST(DeriveMerges, ToyRanks) {
  std::vector<std::string> ranks;
  for (int b = 0; b < 256; ++b) ranks.push_back(std::string(1, char(b)));
  ranks.push_back("ab");    // 256: a + b
  ranks.push_back("abc");   // 257: ab + c
  ranks.push_back("bc");    // 258: ranked after abc, so abc is not built from it
  ranks.push_back("abcd");  // 259: abc + d
  ranks.push_back("xyz");   // 260: unreachable, since no pair of x, y, z is a token
  const auto merges = derive_bpe_merges(ranks);
  ASSERT_EQ(merges.size(), 4u);
  EXPECT_EQ(merges[0], std::make_pair(int32_t('a'), int32_t('b')));
  EXPECT_EQ(merges[1], std::make_pair(256, int32_t('c')));
  EXPECT_EQ(merges[2], std::make_pair(int32_t('b'), int32_t('c')));
  EXPECT_EQ(merges[3], std::make_pair(257, int32_t('d')));
}

TEST(DeriveMerges, MissingByteIsAnError) {
  std::vector<std::string> ranks = {"a", "b", "ab"};
  EXPECT_THROW(derive_bpe_merges(ranks), Error);
}

// GPT-2's alphabet: printable ASCII stays, a space is U+0120 and a newline U+010A.
TEST(Gpt2Alphabet, KnownBytes) {
  EXPECT_EQ(bytes_to_gpt2_text("Hi!"), "Hi!");
  EXPECT_EQ(bytes_to_gpt2_text(" the"), "\xC4\xA0the");
  EXPECT_EQ(bytes_to_gpt2_text("\n"), "\xC4\x8A");
  EXPECT_EQ(bytes_to_gpt2_text("\xAD"), "\xC5\x83");  // the soft hyphen is not printable, so it maps to U+0143
  EXPECT_EQ(bytes_to_gpt2_text("\xE9"), "\xC3\xA9");  // Latin-1 printable bytes keep their code point
}

TEST(TiktokenGgufExport, EncodesHardCorpusAsTiktoken) {
  const Tokenizer& tiktoken = test::cached_tokenizer(kLlama4Model);
  const std::unique_ptr<Tokenizer> gguf = load_tokenizer(exported_gguf());
  ASSERT_EQ(gguf->vocab_size(), tiktoken.vocab_size());

  std::vector<std::string> corpus = test::hard_corpus();
  // Long words and runs exercise deep merge chains.
  corpus.push_back("Supercalifragilisticexpialidocious antidisestablishmentarianism internationalization");
  corpus.push_back(std::string(300, 'a') + " " + std::string(97, '=') + " " + std::string(64, ' ') + "x");
  corpus.push_back("<|begin_of_text|><|header_start|>user<|header_end|>\n\nHi<|eot|>");
  for (const std::string& text : corpus) {
    for (bool parse_special : {false, true}) {
      EXPECT_EQ(gguf->encode(text, false, parse_special), tiktoken.encode(text, false, parse_special))
          << "text: " << text << ", parse_special " << parse_special;
    }
  }
}

// Every base token, encoded alone from its own bytes, must come back as itself:
// the merge list can build each token that tiktoken can.
TEST(TiktokenGgufExport, EveryTokenRoundTrips) {
  const Tokenizer& tiktoken = test::cached_tokenizer(kLlama4Model);
  const std::unique_ptr<Tokenizer> gguf = load_tokenizer(exported_gguf());
  int64_t mismatches = 0;
  int32_t first_mismatch = -1;
  for (int32_t id = 0; id < tiktoken.vocab_size(); ++id) {
    if (tiktoken.is_special(id)) continue;
    EXPECT_EQ(gguf->token_bytes(id), tiktoken.token_bytes(id)) << "token " << id;
    const std::string bytes = tiktoken.token_bytes(id);
    if (gguf->encode(bytes, false, false) != tiktoken.encode(bytes, false, false)) {
      if (first_mismatch < 0) first_mismatch = id;
      ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0) << "first mismatching token id " << first_mismatch;
}

TEST(TiktokenGgufExport, SpecialIds) {
  const std::unique_ptr<Tokenizer> gguf = load_tokenizer(exported_gguf());
  EXPECT_EQ(gguf->bos_id(), 200000);
  EXPECT_EQ(gguf->token_id("<|eot|>"), 200008);
  EXPECT_TRUE(gguf->is_special(200008));
  EXPECT_FALSE(gguf->is_special(1000));
}

}  // namespace
}  // namespace brasa
