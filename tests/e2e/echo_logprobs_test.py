"""Echo logprobs of `brasa serve` against the independent numpy reference.

Usage: echo_logprobs_test.py BRASA_BINARY PRESET DTYPE WORK_DIR
Writes a Llama 4 test checkpoint with `brasa make-test-model`, serves it, and
scores a prompt of a few hundred tokens, which crosses many chunks of the
checkpoint's chunked local attention:
(a) /v1/completions with the prompt as text, echo, logprobs 5 and max_tokens 0,
(b) the same with the prompt as token ids,
(c) /v1/chat/completions with prompt_logprobs 5.
Every logprob, and every top-5 alternative, must match the log-softmax of the
float64 logits of tools/reference/llama4_reference.py. The prompt token ids
come from js-tiktoken (tests/node/tokenize_oracle.mjs) and the chat prompt text
from Python's jinja2, so brasa's tokenizer and template are checked as well.
"""

import base64
import json
import os
import subprocess
import sys
import unittest

import numpy as np
import requests

from serve_fixture import BrasaServer, main_with_server

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools", "reference"))
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools", "templates"))
from llama4_reference import Llama4Reference  # noqa: E402
from render_jinja2 import make_environment  # noqa: E402

BINARY, PRESET, DTYPE, WORK_DIR = sys.argv[1:5]
MODEL_DIR = os.path.join(WORK_DIR, f"echo-logprobs-{PRESET}-{DTYPE}")
SERVER = None
TOP_N = 5

# Allowed error of a logprob, as a fraction of its row's logit range (max - min),
# the bounds of tests/models/golden_logits_test.cpp: brasa runs the reference's
# math in F32, and the BF16 and FP8 bound also admits kernels that round
# activations to BF16.
# NOTE: a backend that rounds activations can flip a near-tied expert choice
# (router logits within about 1e-3 of each other occur in these prompts), which
# moves the logprobs of that position far past these bounds.
TOLERANCE_FRACTION = {"f32": 1e-3, "bf16": 5e-3, "fp8": 5e-3}[DTYPE]

# The o200k pre-tokenizer pattern that Meta's Llama 4 tiktoken tokenizer uses.
O200K_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# The Llama 4 special tokens that the chat template writes, with their ids.
SPECIAL_TOKENS = {
    "<|begin_of_text|>": 200000,
    "<|end_of_text|>": 200001,
    "<|header_start|>": 200005,
    "<|header_end|>": 200006,
    "<|eom|>": 200007,
    "<|eot|>": 200008,
}
BOS_ID = SPECIAL_TOKENS["<|begin_of_text|>"]

# About 310 tokens of plain English with digits and punctuation, so the prompt
# spans ten 32-token attention chunks.
PROMPT_TEXT = (
    "The lighthouse keeper climbed the spiral stairs at dusk, counting each of the 114 iron steps as his father had "
    "taught him. At the top, he wiped salt from the glass, trimmed the wick, and checked the clockwork that turned "
    "the great lens once every 20 seconds. Ships passing the reef relied on that rhythm: two long flashes, a pause, "
    "then one short flash. If the rhythm ever changed, a captain would know something was wrong.\n\n"
    "That winter the storms came early. On the third night of December, waves broke over the lower gallery and the "
    "wind tore a shutter from its hinges. The keeper tied a rope around his waist, fixed the shutter with four new "
    "bolts, and went back to the lamp. By midnight the oil was low, so he carried two more cans up from the store "
    "room, resting on every landing. His log for that night reads: \"Wind north-east, force 9. Visibility poor. "
    "Light kept burning. One steamer seen at 02:40, heading south.\"\n\n"
    "In spring, a letter arrived from the harbour master. The steamer had been the Margaret Ellis, carrying 63 "
    "passengers and a cargo of wool. Her captain wrote that he had lost his bearings in the snow and would have run "
    "onto the rocks if he had not seen the light. The keeper read the letter twice, folded it, and put it in the "
    "drawer with his log books. Then he climbed the stairs again, because the glass needed cleaning and the sun was "
    "already going down over the water."
)


# A short chat, so that its template markers are scored too.
CHAT_MESSAGES = [{"role": "system", "content": "You answer in one word."},
                 {"role": "user", "content": PROMPT_TEXT[: PROMPT_TEXT.index("\n")] + "\n\nWhat did he count?"}]


def tiktoken_ids(texts):
    """Tokenize texts with js-tiktoken over the checkpoint's tokenizer.model,
    reading special tokens in the text as the server does."""
    request = {
        "kind": "tiktoken",
        "ranks_file": os.path.join(MODEL_DIR, "tokenizer.model"),
        "pattern": O200K_PATTERN,
        "special_tokens": SPECIAL_TOKENS,
        "parse_special": True,
        "inputs": [base64.b64encode(text.encode()).decode() for text in texts],
    }
    oracle = os.path.join(SOURCE_DIR, "tests", "node", "tokenize_oracle.mjs")
    result = subprocess.run(["node", oracle], input=json.dumps(request), capture_output=True, text=True,
                            cwd=os.path.dirname(oracle), check=True)
    return json.loads(result.stdout)


def render_chat(messages):
    """Render the checkpoint's chat template with jinja2, as transformers does."""
    with open(os.path.join(MODEL_DIR, "tokenizer_config.json")) as config_file:
        config = json.load(config_file)
    template = make_environment(0).from_string(config["chat_template"])
    return template.render(messages=messages, add_generation_prompt=True, bos_token=config["bos_token"],
                           eos_token=config.get("eos_token", ""), tools=None)


def read_pieces():
    """Return each token's text: the base64 bytes of tokenizer.model, then the special tokens."""
    pieces = {}
    with open(os.path.join(MODEL_DIR, "tokenizer.model")) as ranks:
        for line in ranks:
            token, rank = line.split()
            pieces[int(rank)] = base64.b64decode(token).decode("utf-8", errors="replace")
    for text, token_id in SPECIAL_TOKENS.items():
        pieces[token_id] = text
    return pieces


def top_ids(row, count):
    """Return the ids of the `count` largest entries of row, largest first."""
    # Most of a 200k row lies far below its maximum, so search only near it.
    candidates = np.flatnonzero(row >= row.max() - 2.0)
    if len(candidates) < count:
        candidates = np.argpartition(-row, count)[:count]
    best = candidates[np.argsort(-row[candidates], kind="stable")[:count]]
    return [int(i) for i in best]


class ReferenceScores:
    """Log-softmax of the reference logits: row i scores the token at position i + 1."""

    def __init__(self, reference, output_weight, token_ids):
        # The float64 hidden states go through the 200k-wide output projection in
        # F32, in batches to bound memory. That moves a logit by about 1e-6, far
        # below the tolerance, and saves most of the test's time.
        hidden = reference.hidden_states(token_ids).astype(np.float32)
        self.rows = []
        for begin in range(0, len(token_ids) - 1, 64):
            end = min(begin + 64, len(token_ids) - 1)
            logits = hidden[begin:end] @ output_weight
            top = logits.max(axis=1, keepdims=True)
            log_sum = np.log(np.exp(logits - top).sum(axis=1, dtype=np.float64, keepdims=True))
            ranges = logits.max(axis=1) - logits.min(axis=1)
            for row in range(end - begin):
                log_softmax = logits[row] - float(top[row, 0] + log_sum[row, 0])
                best = top_ids(log_softmax, TOP_N + 1)
                self.rows.append({
                    "next": float(log_softmax[token_ids[begin + row + 1]]),
                    "row": log_softmax,
                    "top_ids": best,
                    "top_logprobs": [float(log_softmax[i]) for i in best],
                    "tolerance": TOLERANCE_FRACTION * float(ranges[row]),
                })


class EchoLogprobsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pieces = read_pieces()
        cls.reference = Llama4Reference(MODEL_DIR)
        cls.model = requests.get(SERVER.base + "/v1/models").json()["data"][0]["id"]
        text_ids, cls.chat_ids = tiktoken_ids([PROMPT_TEXT, render_chat(CHAT_MESSAGES)])
        cls.prompt_ids = [BOS_ID] + text_ids
        chunk = cls.reference.config["attention_chunk_size"]
        assert len(cls.prompt_ids) > 8 * chunk, f"the prompt has {len(cls.prompt_ids)} tokens, chunks are {chunk}"
        cls.output_weight = np.ascontiguousarray(cls.reference.lm_head.T, dtype=np.float32)
        cls.prompt_scores = ReferenceScores(cls.reference, cls.output_weight, cls.prompt_ids)

    def completion(self, prompt):
        body = {"model": self.model, "prompt": prompt, "echo": True, "logprobs": TOP_N, "max_tokens": 0}
        reply = requests.post(SERVER.base + "/v1/completions", json=body, timeout=120)
        self.assertEqual(reply.status_code, 200, reply.text)
        return reply.json()

    def check_echo(self, response):
        choice = response["choices"][0]
        self.assertEqual(choice["text"], PROMPT_TEXT)
        self.assertEqual(response["usage"]["prompt_tokens"], len(self.prompt_ids))
        self.assertEqual(response["usage"]["completion_tokens"], 0)
        logprobs = choice["logprobs"]
        self.assertEqual(logprobs["tokens"], [self.pieces[i] for i in self.prompt_ids])
        self.assertIsNone(logprobs["token_logprobs"][0])
        self.assertIsNone(logprobs["top_logprobs"][0])

        # BOS is not part of the echoed text, and every later piece starts at its offset.
        offsets = logprobs["text_offset"]
        self.assertEqual(len(offsets), len(self.prompt_ids))
        self.assertEqual(offsets[0], 0)
        self.assertEqual(offsets[1], 0)
        for i in range(1, len(self.prompt_ids)):
            piece = self.pieces[self.prompt_ids[i]]
            self.assertEqual(PROMPT_TEXT[offsets[i] : offsets[i] + len(piece)], piece, f"text_offset[{i}]")
        self.assertEqual(offsets[-1] + len(self.pieces[self.prompt_ids[-1]]), len(PROMPT_TEXT))

        worst = 0.0
        for i in range(1, len(self.prompt_ids)):
            expected = self.prompt_scores.rows[i - 1]
            error = abs(logprobs["token_logprobs"][i] - expected["next"])
            worst = max(worst, error / expected["tolerance"])
            self.assertLessEqual(error, expected["tolerance"],
                                 f"position {i}: brasa {logprobs['token_logprobs'][i]}, reference {expected['next']}")
            self.check_top_pieces(i, logprobs["top_logprobs"][i], expected)
        print(f"worst logprob error: {worst:.3f} of the tolerance")

    def check_top_pieces(self, position, top, expected):
        """The legacy top_logprobs map pieces to logprobs; the values must be the reference's top values."""
        where = f"top_logprobs[{position}]"
        self.assertLessEqual(len(top), TOP_N, where)
        # Two ids may share a piece once invalid UTF-8 is replaced, and then the map has fewer keys.
        if len(top) == TOP_N:
            values = sorted(top.values(), reverse=True)
            for rank, (value, reference_value) in enumerate(zip(values, expected["top_logprobs"])):
                self.assertLessEqual(abs(value - reference_value), expected["tolerance"], f"{where}, rank {rank + 1}")
        # Each piece is one of the ids that can rank in the top 5 once logprobs
        # move by the tolerance, and its value is that id's reference logprob.
        fifth = expected["top_logprobs"][TOP_N - 1]
        contenders = np.flatnonzero(expected["row"] >= fifth - 2 * expected["tolerance"])
        for piece, value in top.items():
            candidates = [i for i in contenders if self.pieces.get(int(i), piece) == piece]
            self.assertTrue(candidates, f"{where}: '{piece}' is not among the reference's top tokens")
            errors = [abs(value - float(expected["row"][i])) for i in candidates]
            self.assertLessEqual(min(errors), expected["tolerance"], f"{where}: '{piece}'")

    def test_text_prompt(self):
        self.check_echo(self.completion(PROMPT_TEXT))

    def test_token_id_prompt(self):
        self.check_echo(self.completion(self.prompt_ids))

    def test_chat_prompt_logprobs(self):
        body = {"model": self.model, "messages": CHAT_MESSAGES, "prompt_logprobs": TOP_N, "max_tokens": 1,
                "temperature": 0}
        reply = requests.post(SERVER.base + "/v1/chat/completions", json=body, timeout=120)
        self.assertEqual(reply.status_code, 200, reply.text)
        response = reply.json()

        # The expected prompt: the checkpoint's template rendered by jinja2, tokenized by js-tiktoken.
        prompt_ids = self.chat_ids
        self.assertEqual(prompt_ids[0], BOS_ID)
        self.assertEqual(response["usage"]["prompt_tokens"], len(prompt_ids))

        scores = ReferenceScores(self.reference, self.output_weight, prompt_ids)
        prompt_logprobs = response["prompt_logprobs"]
        self.assertEqual(len(prompt_logprobs), len(prompt_ids))
        self.assertIsNone(prompt_logprobs[0])
        for i in range(1, len(prompt_ids)):
            entry = prompt_logprobs[i]
            expected = scores.rows[i - 1]
            tolerance = expected["tolerance"]
            where = f"prompt_logprobs[{i}]"

            # The prompt token itself, ranked or not.
            token = entry[str(prompt_ids[i])]
            self.assertLessEqual(abs(token["logprob"] - expected["next"]), tolerance, where)
            self.assertEqual(token["decoded_token"], self.pieces[prompt_ids[i]], where)

            # Ranks 1..5: each value is the reference's logprob of that id, and the
            # ids are the reference's top 5 except where logprobs tie within tolerance.
            ranked = sorted((value["rank"], int(key), value["logprob"]) for key, value in entry.items()
                            if value["rank"] is not None)
            self.assertEqual([rank for rank, _, _ in ranked], list(range(1, TOP_N + 1)), where)
            fifth = expected["top_logprobs"][TOP_N - 1]
            for rank, token_id, value in ranked:
                self.assertLessEqual(abs(value - float(expected["row"][token_id])), tolerance, f"{where}, id {token_id}")
                self.assertGreaterEqual(value, fifth - 2 * tolerance, f"{where}, id {token_id}")
                # Reserved special tokens have names this test does not know.
                if token_id in self.pieces:
                    self.assertEqual(entry[str(token_id)]["decoded_token"], self.pieces[token_id], where)
            for token_id, value in zip(expected["top_ids"][:TOP_N], expected["top_logprobs"]):
                if value > expected["top_logprobs"][TOP_N] + 2 * tolerance:
                    self.assertIn(str(token_id), entry, f"{where}: reference top id {token_id} is missing")


if __name__ == "__main__":
    subprocess.run([BINARY, "make-test-model", "--preset", PRESET, "--dtype", DTYPE, "--out", MODEL_DIR],
                   cwd=SOURCE_DIR, check=True)
    main_with_server(globals(), BINARY, MODEL_DIR)
