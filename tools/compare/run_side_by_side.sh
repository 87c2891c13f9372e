#!/usr/bin/env bash
# Runs `brasa bench` and llama.cpp's llama-batched-bench on one GGUF file,
# interleaved (brasa, llama.cpp, brasa, llama.cpp for each thread count), so
# load from other processes on the machine falls on both engines. Each run's
# raw output goes into OUT_DIR, and summarize.py turns the directory into a table.
#
# Usage: tools/compare/run_side_by_side.sh BRASA LLAMA_BATCHED_BENCH MODEL OUT_DIR [THREADS...]
#   BRASA                path to the brasa binary (build/src/cli/brasa)
#   LLAMA_BATCHED_BENCH  path to llama.cpp's llama-batched-bench, built outside this repository
#   MODEL                GGUF file that both engines load
#   OUT_DIR              created if missing
#   THREADS              thread counts to run (default: 1 2)
# Environment: ROUNDS (default 3) sets the rounds per thread count, and
# LLAMA_EXTRA_ARGS (default -nr) is passed to llama-batched-bench.
set -euo pipefail

if (($# < 4)); then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
brasa=$1
llama_batched_bench=$2
model=$3
out_dir=$4
shift 4
threads=("$@")
((${#threads[@]})) || threads=(1 2)
rounds=${ROUNDS:-3}
# -nr (--no-repack) keeps llama.cpp's Q8_0 weights out of its AMX buffer. On
# the Sapphire Rapids VM the AMX matmul of llama.cpp 0.5.0-dev (commit de3ff81)
# crashes with SIGSEGV in ggml_backend_amx_mul_mat, on its own Q8_0 files too.
read -r -a llama_extra_args <<< "${LLAMA_EXTRA_ARGS--nr}"

for binary in "$brasa" "$llama_batched_bench"; do
  [[ -x $binary ]] || { echo "error: $binary not found or not executable" >&2; exit 1; }
done
[[ -f $model ]] || { echo "error: model $model not found" >&2; exit 1; }
mkdir -p "$out_dir"
"$llama_batched_bench" --version > "$out_dir/llama-version.txt" 2>&1 || true

# The same work in both engines: prefill of 128 and 512 tokens of one sequence
# in one batch, and 32 decode steps of one sequence after a 128-token prompt
# (llama.cpp decodes positions 128 to 159, brasa positions 129 to 160).
uptime > "$out_dir/uptime-start.txt"
for t in "${threads[@]}"; do
  for ((round = 1; round <= rounds; ++round)); do
    echo "threads $t, round $round: brasa" >&2
    "$brasa" bench --model "$model" --threads "$t" --prompts 128,512 --batches 1 \
      --decode-context 128 --decode-steps 32 --json > "$out_dir/brasa-t$t-r$round.json"

    echo "threads $t, round $round: llama.cpp" >&2
    "$llama_batched_bench" -m "$model" -t "$t" -c 1024 -b 2048 -ub 512 -npp 128,512 -ntg 32 -npl 1 \
      "${llama_extra_args[@]}" --output-format jsonl > "$out_dir/llama-t$t-r$round.jsonl" \
      2> "$out_dir/llama-t$t-r$round.log"
  done
done
uptime > "$out_dir/uptime-end.txt"
