#!/usr/bin/env bash
# Sets up and builds brasa, then serves a model over the OpenAI API on 127.0.0.1:8000.
# With no arguments it generates the tiny Llama 4 test checkpoint and serves that;
# pass brasa serve options to serve a real checkpoint, e.g. --model /path/to/Llama-4-Scout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
if [[ " $* " != *" --model "* ]]; then
  model=build/models/llama4-scout-tiny
  [[ -f $model/config.json ]] || build/src/cli/brasa make-test-model --preset scout-tiny --out "$model"
  set -- --model "$model" "$@"
fi
exec build/src/cli/brasa serve "$@"
