#!/usr/bin/env bash
# node-nccl's cpu backend against Open MPI, in one run on this machine, same sizes and checks:
#   bash bench/compare/run-cpu-compare.sh [outdir]     (default bench/results/cpu-<date>)
# Writes node-nccl.json, openmpi.json, report.html and report.md (tables + ratios) to outdir.
# Env: NP (default 2), ARGS (default "-b 8 -e 16M -f 2 -n 20 -w 5 -c 1").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
np=${NP:-2}
args=${ARGS:--b 8 -e 16M -f 2 -n 20 -w 5 -c 1}
out=${1:-bench/results/cpu-$(date -u +%Y%m%dT%H%MZ)}
mkdir -p "$out"
# shellcheck disable=SC2086
node bin/node-nccl.js bench all-reduce --backend cpu --np "$np" $args --json "$out/node-nccl.json"
# shellcheck disable=SC2086
NP=$np bash bench/compare/run-mpi.sh $args --json "$out/openmpi.json"
node bin/node-nccl.js bench report "$out/node-nccl.json" "$out/openmpi.json" --html "$out/report.html" --markdown "$out/report.md"
