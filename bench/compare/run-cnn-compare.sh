#!/usr/bin/env bash
# The CNN example against PyTorch in one run: `npm start -- --model cnn` (2 cpu ranks, batch 64 per
# rank, DDP; with SyncBatchNorm and with per-rank BatchNorm) and bench/compare/torch_mnist_cnn.py
# (the same network, batch, optimizer and 2 ranks of DDP over gloo, one thread per rank; torch
# 1.13's SyncBatchNorm is GPU-only, so its batch norms are per rank). Prints samples/s, training
# seconds and held-out accuracy of each, and the ratios. Run from a built checkout:
#
#   bash bench/compare/run-cnn-compare.sh [epochs]        # default 3 epochs each
#   PYTHON=/usr/bin/python3 RANKS=2 bash bench/compare/run-cnn-compare.sh 8
set -euo pipefail
cd "$(dirname "$0")/../.."
EPOCHS="${1:-3}"
RANKS="${RANKS:-2}"
PYTHON="${PYTHON:-/usr/bin/python3}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

ours() {  # $1: label, rest: extra flags
  local label="$1"; shift
  local log="$OUT/$label.log"
  node bin/node-nccl.js run --nproc-per-node "$RANKS" dist/examples/mnist-ddp.js --model cnn --backend cpu \
    --epochs "$EPOCHS" --out "$OUT/ckpt-$label" "$@" > "$log" 2>&1 || { cat "$log"; exit 1; }
  local sps secs acc
  sps=$(sed -n 's/.*trained [0-9]* samples in \([0-9.]*\) s (\([0-9]*\) samples\/s.*/\2/p' "$log")
  secs=$(sed -n 's/.*trained [0-9]* samples in \([0-9.]*\) s.*/\1/p' "$log")
  acc=$(sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$log")
  echo "$label $sps $secs $acc"
}

echo "# MNIST CNN (LeNet-5 layout, batch norm, 16/32 maps), $RANKS cpu ranks, batch 64/rank, $EPOCHS epochs, $(nproc) cores"
echo "# node $(node --version); $($PYTHON -c 'import torch; print("torch", torch.__version__)' 2>/dev/null || echo 'no torch')"
read -r _ s_sps s_secs s_acc < <(ours syncbn)
read -r _ b_sps b_secs b_acc < <(ours bn --no-sync-bn)
t_json=$("$PYTHON" bench/compare/torch_mnist_cnn.py --ranks "$RANKS" --epochs "$EPOCHS")
t_sps=$(echo "$t_json" | "$PYTHON" -c 'import json,sys; print(round(json.load(sys.stdin)["samples_per_s"]))')
t_secs=$(echo "$t_json" | "$PYTHON" -c 'import json,sys; print(round(json.load(sys.stdin)["train_s"], 1))')
t_acc=$(echo "$t_json" | "$PYTHON" -c 'import json,sys; print(round(100 * json.load(sys.stdin)["test_accuracy"], 2))')
printf '%-34s %12s %10s %10s\n' "implementation" "samples/s" "train s" "accuracy"
printf '%-34s %12s %10s %9s%%\n' "node-nccl, SyncBatchNorm" "$s_sps" "$s_secs" "$s_acc"
printf '%-34s %12s %10s %9s%%\n' "node-nccl, BatchNorm per rank" "$b_sps" "$b_secs" "$b_acc"
printf '%-34s %12s %10s %9s%%\n' "torch (gloo), BatchNorm per rank" "$t_sps" "$t_secs" "$t_acc"
awk -v s="$s_sps" -v b="$b_sps" -v t="$t_sps" 'BEGIN { printf "ratio node-nccl/torch: SyncBatchNorm %.2f, BatchNorm %.2f (same-layer comparison)\n", s / t, b / t }'
