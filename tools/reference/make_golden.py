#!/usr/bin/python3
"""Write golden logits of the test checkpoints for tests/models/golden_logits_test.cpp.

For each preset and dtype this runs `brasa make-test-model` (unless the
checkpoint directory already exists), computes float64 logits with the numpy
reference in llama4_reference.py, and writes
tests/models/data/golden_<preset>_<dtype>.json. Full rows (202048 logits) are
too large to commit, so each position keeps the argmax, the logsumexp, the row
max and min, the logits at a fixed set of vocabulary indices, and the top-8 ids.

Usage:
  /usr/bin/python3 tools/reference/make_golden.py --brasa build/src/cli/brasa \
      [--work /tmp/brasa-golden] [--out tests/models/data] [--presets scout-tiny maverick-tiny] \
      [--dtypes f32 bf16 fp8] [--regenerate]
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama4_reference import Llama4Reference, logsumexp  # noqa: E402

SEED = 0
BOS = 200000
HEADER_START = 200005
HEADER_END = 200006
EOT = 200008

# Logits kept per position: a few special tokens, the last id, and 58 ids spread
# evenly over the BPE range.
VOCAB_INDICES = sorted({0, BOS, 200001, 200007, EOT, 202047} | set(range(1, 200000, 3449)))


def prompts():
    """Token sequences to score. Lengths cross floor_scale (8) and attention_chunk_size (32)."""
    rng = np.random.default_rng(20250405)

    def ids(n):
        return [int(t) for t in rng.integers(0, 200000, size=n)]

    return [
        [BOS] + ids(5),
        # A chat-shaped prompt: header tokens, text, end of turn, next header.
        [BOS, HEADER_START] + ids(1) + [HEADER_END] + ids(12) + [EOT, HEADER_START] + ids(1) + [HEADER_END],
        [BOS] + ids(69),
    ]


def checkpoint_sha256(model_dir):
    digest = hashlib.sha256()
    for name in sorted(os.listdir(model_dir)):
        if name.endswith(".safetensors"):
            with open(os.path.join(model_dir, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def round6(x):
    return float(f"{x:.6g}")


def golden_for(model_dir, preset, dtype):
    reference = Llama4Reference(model_dir)
    records = []
    for tokens in prompts():
        logits = reference.logits(tokens)
        positions = []
        for row in logits:
            top8 = np.argsort(-row, kind="stable")[:8]
            positions.append(
                {
                    "argmax": int(top8[0]),
                    "logsumexp": round6(logsumexp(row)),
                    "max": round6(float(row.max())),
                    "min": round6(float(row.min())),
                    "logits": [round6(float(row[i])) for i in VOCAB_INDICES],
                    "top8": [int(i) for i in top8],
                }
            )
        records.append({"tokens": tokens, "positions": positions})
    return {
        "preset": preset,
        "dtype": dtype,
        "seed": SEED,
        "generator": f"brasa make-test-model --preset {preset} --dtype {dtype} --seed {SEED}",
        "checkpoint_sha256": checkpoint_sha256(model_dir),
        "reference": "tools/reference/llama4_reference.py (float64)",
        "vocab_indices": VOCAB_INDICES,
        "prompts": records,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brasa", required=True, help="path of the brasa binary")
    parser.add_argument("--work", default="/tmp/brasa-golden", help="folder for the generated checkpoints")
    parser.add_argument("--out", default="tests/models/data", help="folder for the golden JSON files")
    parser.add_argument("--presets", nargs="+", default=["scout-tiny", "maverick-tiny"])
    parser.add_argument("--dtypes", nargs="+", default=["f32", "bf16", "fp8"])
    parser.add_argument("--regenerate", action="store_true", help="rewrite checkpoints that already exist")
    args = parser.parse_args()

    os.makedirs(args.out, exist_ok=True)
    for preset in args.presets:
        for dtype in args.dtypes:
            model_dir = os.path.join(args.work, f"{preset}-{dtype}")
            if args.regenerate or not os.path.exists(os.path.join(model_dir, "config.json")):
                subprocess.run(
                    [args.brasa, "make-test-model", "--preset", preset, "--dtype", dtype, "--seed", str(SEED),
                     "--out", model_dir],
                    check=True,
                )
            golden = golden_for(model_dir, preset, dtype)
            path = os.path.join(args.out, f"golden_{preset}_{dtype}.json")
            with open(path, "w") as f:
                json.dump(golden, f, separators=(",", ":"))
                f.write("\n")
            print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
