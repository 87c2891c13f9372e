#!/usr/bin/env bash
# Installs every Debian and npm package that building and testing brasa needs,
# on a fresh Debian 12 machine. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libpcre2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # Only bench/gemm_library_bench links these, and the build skips it without them.
  libopenblas-dev libdnnl-dev
  clang libclang-rt-14-dev
  python3 python3-numpy python3-jinja2 python3-requests python3-jsonschema
  curl
)
# Node may come from another package that bundles npm and conflicts with
# Debian's npm package, so Debian's nodejs and npm are installed only when absent.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [[ $(id -u) -eq 0 ]] || sudo_cmd="sudo"
  $sudo_cmd apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y "${missing[@]}"
fi

# Node packages used as independent oracles and clients by the tests.
if [[ ! -d tests/node/node_modules ]] || [[ tests/node/package-lock.json -nt tests/node/node_modules ]]; then
  (cd tests/node && npm ci --no-audit --no-fund)
fi
