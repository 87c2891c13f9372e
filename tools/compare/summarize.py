#!/usr/bin/python3
"""Print a Markdown table of brasa and llama.cpp speeds from the JSON and JSON Lines files
that run_side_by_side.sh writes.

Usage: /usr/bin/python3 tools/compare/summarize.py OUT_DIR

Each cell is the median over rounds of one engine's tokens/s, followed by each
round's figure. The ratio column is brasa divided by llama.cpp, so a value
above 1 means brasa is faster.
"""

import glob
import json
import os
import re
import statistics
import sys

TESTS = [("pp128", "prefill 128 tokens"), ("pp512", "prefill 512 tokens"),
         ("tg32", "decode, batch 1, context 128")]


def brasa_speeds(path):
    """Return {test: tokens/s} from one `brasa bench --json` output."""
    with open(path) as f:
        report = json.load(f)
    speeds = {}
    for result in report["results"]:
        if result["phase"] == "prefill":
            speeds["pp%d" % result["tokens"]] = result["tokens_per_second"]
        elif result["phase"] == "decode" and result["batch"] == 1:
            speeds["tg32"] = result["tokens_per_second"]
    return speeds, report


def llama_speeds(path):
    """Return {test: tokens/s} from one `llama-batched-bench --output-format jsonl` output.

    Decode (tg32) comes from the row after the 128-token prompt, the context
    that brasa's run uses.
    """
    speeds = {}
    row = {}
    with open(path) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            speeds["pp%d" % row["pp"]] = row["speed_pp"]
            if row["pp"] == 128:
                speeds["tg%d" % row["tg"]] = row["speed_tg"]
    return speeds, row


def collect(out_dir, engine, reader):
    """Return {threads: [speeds of each round]} and the last run's metadata."""
    runs = {}
    metadata = {}
    for path in sorted(glob.glob(os.path.join(out_dir, engine + "-t*-r*.json*"))):
        match = re.search(r"-t(\d+)-r(\d+)\.jsonl?$", path)
        speeds, metadata = reader(path)
        runs.setdefault(int(match.group(1)), []).append(speeds)
    return runs, metadata


def cell(values):
    if not values:
        return "missing"
    rounds = ", ".join("%.2f" % v for v in values)
    return "%.2f (%s)" % (statistics.median(values), rounds)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    brasa_runs, brasa_report = collect(out_dir, "brasa", brasa_speeds)
    llama_runs, llama_test = collect(out_dir, "llama", llama_speeds)
    if not brasa_runs or not llama_runs:
        sys.exit("error: no brasa-t*-r*.json or llama-t*-r*.jsonl files in " + out_dir)

    version_path = os.path.join(out_dir, "llama-version.txt")
    if os.path.exists(version_path):
        with open(version_path) as f:
            print("llama.cpp: " + " ".join(line.strip() for line in f if line.strip()))
    print("llama.cpp settings (last run): n_ubatch %s, flash_attn %s" % (llama_test.get("n_ubatch"),
                                                                       llama_test.get("flash_attn")))
    machine = brasa_report.get("machine", {})
    print("brasa machine probe (last run): %.1f GB/s read, %.1f GFLOP/s F32 FMA peak, kernels %s\n" %
          (machine.get("read_bytes_per_second", 0) / 1e9, machine.get("peak_flops", 0) / 1e9, machine.get("isa")))

    print("| threads | test | brasa tokens/s | llama.cpp tokens/s | brasa / llama.cpp |")
    print("|---|---|---|---|---|")
    for threads in sorted(set(brasa_runs) | set(llama_runs)):
        for test, description in TESTS:
            brasa = [run[test] for run in brasa_runs.get(threads, []) if test in run]
            llama = [run[test] for run in llama_runs.get(threads, []) if test in run]
            ratio = "%.2f" % (statistics.median(brasa) / statistics.median(llama)) if brasa and llama else "n/a"
            print("| %d | %s (%s) | %s | %s | %s |" % (threads, description, test, cell(brasa), cell(llama), ratio))


if __name__ == "__main__":
    main()
