#pragma once

#include <string>
#include <vector>

namespace brasa::test {

// Strings that stress pre-tokenizer regexes and BPE: scripts, emoji, marks,
// whitespace runs, digits, code, special-token look-alikes and invalid UTF-8.
//
// Left out on purpose, because the JavaScript oracles differ from the Rust
// regex engines of Hugging Face tokenizers and tiktoken there: U+0085 and
// U+FEFF (whitespace or not), and U+017F after an apostrophe (case folding in
// the contraction group). brasa follows the Rust engines.
inline std::vector<std::string> hard_corpus() {
  return {
      "",
      " ",
      "Hello world",
      " Hello world",
      "Hello, world! How's it going? I'M FINE, you'LL see, we'd've",
      "don't DON'T Don'T can't won't it's IT'S",
      // Emoji: ZWJ sequences, skin tones, flags, keycaps, variation selectors.
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6 family",
      "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD \xF0\x9F\x87\xBA\xF0\x9F\x87\xB8\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5 1\xEF\xB8\x8F\xE2\x83\xA3 \xE2\x9D\xA4\xEF\xB8\x8F",
      "\xF0\x9F\xA6\x99.cpp \xF0\x9F\x98\x80\xF0\x9F\x98\x81\xF0\x9F\x98\x82",
      // CJK, Japanese, Korean, Thai, Khmer, Arabic, Hebrew, Devanagari.
      "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xEF\xBC\x81\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD\xE3\x80\x82",
      "\xE3\x81\x93\xE3\x82\x93\xE3\x81\xAB\xE3\x81\xA1\xE3\x81\xAF\xE4\xB8\x96\xE7\x95\x8C \xE3\x82\xAB\xE3\x82\xBF\xE3\x82\xAB\xE3\x83\x8A \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
      "\xE0\xB8\xAA\xE0\xB8\xA7\xE0\xB8\xB1\xE0\xB8\xAA\xE0\xB8\x94\xE0\xB8\xB5 \xE1\x9E\x80\xE1\x9E\xB6\xE1\x9E\x93\xE1\x9F\x8B",
      "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D \xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87",
      // Combining marks, precomposed and decomposed.
      "caf\xC3\xA9 cafe\xCC\x81 na\xC3\xAFve Zo\xC3\xAB A\xCC\x8A\xCC\x81 e\xCC\x81\xCC\x82\xCC\x83",
      "\xC3\x84pfel \xC3\x9C" "bermut \xC3\x9F\xC3\x9F \xCE\x9A\xCE\xB1\xCE\xBB\xCE\xB7\xCE\xBC\xCE\xAD\xCF\x81\xCE\xB1 \xD0\xBD\xD0\xB5\xD1\x89\xD0\xBE",
      // Whitespace runs and newlines.
      "   ",
      "\t\t\t",
      "\n\n\n",
      "a  b   c    d     e",
      "line one\nline two\r\nline three\n\n\n   indented\n\t\ttabbed   \n",
      "trailing spaces     ",
      "     leading spaces",
      " \n \n\n  \t \r\n x",
      "\xC2\xA0non-breaking\xC2\xA0space \xE3\x80\x80ideographic\xE2\x80\x83" "em\xE2\x80\xA8line\xE2\x80\xA9para",
      "zero\xE2\x80\x8Bwidth\xE2\x80\x8Cnon\xE2\x80\x8Djoiner",
      // Digits.
      "1 12 123 1234 12345 123456 1234567890",
      "3.14159 2,718,281 -42 +7 1e-10 0x1F 0b1010 \xD9\xA1\xD9\xA2\xD9\xA3 \xE0\xA5\xA7\xE0\xA5\xA8",
      "year 2026, version 1.2.3-rc4",
      // Code.
      "def main():\n    print(\"Hello, world!\")\n    return 0\n",
      "int main(int argc, char** argv) {\n  for (int i = 0; i < argc; ++i) { std::cout << argv[i]; }\n}\n",
      "const x = {a: 1, 'b': [2, 3], \"c\": null}; // comment\n/* block */",
      "<div class=\"x\">&nbsp;&amp;</div> SELECT * FROM t WHERE id=1; $HOME ~/.bashrc",
      "    if (x) {\n        y();\n    }\n\n\n",
      "https://example.com/path?q=1&r=two#frag user@example.com",
      // Special-token look-alikes and real special-token strings.
      "<|begin_of_text|>Hello<|eot_id|>",
      "<|eot_id|<|eot_id <|eot_id|> < |eot_id| > <|EOT_ID|>",
      "abc<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>def",
      "<|header_start|>user<|header_end|>\n\nhi<|eot|><|eom|>",
      "<|begin_of_text|><|begin_of_text|><|end_of_text|>",
      "<|reserved_special_token_5|> <|reserved_special_token_250|> <|image|>",
      "<|endoftext|> <s> </s> <unk> [INST] <<SYS>>",
      "<|<|<|||>>>|>",
      // Invalid UTF-8: truncated, stray continuation, overlong, surrogate, out of range.
      "abc\xE2\x82",
      "\xFF\xFE\xFD",
      "x\x80y\xBFz",
      "\xC0\xAF overlong \xE0\x80\xAF",
      "\xED\xA0\x80 surrogate \xF4\x90\x80\x80 too large",
      "\xF0\x9F\x98 cut emoji \xF0\x9F",
      "\xC3",
      // Control characters.
      std::string("nul\0char", 8),
      "bell\x07 esc\x1B[0m del\x7F",
      // Long runs.
      std::string(300, 'a'),
      std::string(200, ' ') + "x",
      std::string(100, '!') + std::string(50, '\n'),
      "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
      "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip.",
  };
}

}  // namespace brasa::test
