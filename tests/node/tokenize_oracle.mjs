// Tokenizer oracle for brasa's tests: reads one JSON request on stdin and
// writes the token ids of every input as JSON on stdout.
//
// Request:
//   {"kind": "hf", "tokenizer_json": PATH, "tokenizer_config": PATH (optional),
//    "inputs": [BASE64, ...]}
//     -> @lenml/tokenizers (a port of Hugging Face tokenizers), no special
//        tokens added; added tokens in the text are recognised.
//   {"kind": "tiktoken", "ranks_file": PATH, "pattern": REGEX,
//    "special_tokens": {TEXT: ID, ...}, "parse_special": BOOL, "inputs": [...]}
//     -> js-tiktoken with those ranks, pattern and special tokens.
// Inputs are base64 so that they can hold any bytes; they are decoded as
// UTF-8 with U+FFFD for invalid sequences (TextDecoder, WHATWG rules).
// Output: [[id, ...], ...], one list per input.

import { readFileSync } from "node:fs";
import { TokenizerLoader } from "@lenml/tokenizers";
import { Tiktoken } from "js-tiktoken/lite";

const request = JSON.parse(readFileSync(0, "utf8"));
const decoder = new TextDecoder("utf-8");
const texts = request.inputs.map((b64) => decoder.decode(Buffer.from(b64, "base64")));

// JavaScript regexes in Node 20 have no inline flag groups, so the
// case-insensitive contraction group is spelled out, as js-tiktoken's own
// o200k_base pattern does.
function toJavaScriptPattern(pattern) {
  const contractions = ["s", "t", "re", "ve", "m", "ll", "d"];
  const spelled = contractions
    .flatMap((suffix) => {
      let variants = [""];
      for (const ch of suffix) variants = variants.flatMap((v) => [v + ch, v + ch.toUpperCase()]);
      return variants.map((v) => "'" + v);
    })
    .join("|");
  return pattern.replaceAll("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "(" + spelled + ")");
}

let results;
if (request.kind === "hf") {
  const tokenizer = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(request.tokenizer_json, "utf8")),
    tokenizerConfig: request.tokenizer_config ? JSON.parse(readFileSync(request.tokenizer_config, "utf8")) : {},
  });
  results = texts.map((text) => Array.from(tokenizer.encode(text, { add_special_tokens: false })));
} else if (request.kind === "tiktoken") {
  const tokens = readFileSync(request.ranks_file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line, rank) => {
      const [token, rankText] = line.split(" ");
      if (Number(rankText) !== rank) throw new Error(`rank out of order at line ${rank + 1}`);
      return token;
    });
  const encoding = new Tiktoken({
    pat_str: toJavaScriptPattern(request.pattern),
    special_tokens: request.special_tokens,
    bpe_ranks: "! 0 " + tokens.join(" "),
  });
  const allowed = request.parse_special ? "all" : [];
  results = texts.map((text) => encoding.encode(text, allowed, []));
} else {
  throw new Error(`unknown request kind: ${request.kind}`);
}
process.stdout.write(JSON.stringify(results));
