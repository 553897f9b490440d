#!/usr/bin/env python3
"""PyTorch eager baseline for bench/train-step.ts: the same MLP (784-4096-4096-10), batch 512,
AdamW (torch defaults: lr 1e-3, weight_decay 1e-2), cross entropy, one step = zero_grad + forward +
loss + backward + step. Prints one JSON line per dtype: step time (ms, mean over --steps after
--warmup) and peak allocated device memory (bytes) during the timed steps.

    python3 bench/compare/torch_train_step.py [--dtype fp32|bf16|both] [--steps 50] [--warmup 10]
"""
import argparse
import json
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="both", choices=["fp32", "bf16", "both"])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=512)
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        print(json.dumps({"impl": "torch", "skipped": "no torch in this python"}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"impl": "torch", "skipped": "no GPU (torch.cuda.is_available() is False)"}))
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False  # as node-nccl's default (cuda.matmulAllowTf32 = false)
    dev = torch.device("cuda:0")
    for name in (["fp32", "bf16"] if a.dtype == "both" else [a.dtype]):
        dtype = torch.float32 if name == "fp32" else torch.bfloat16
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.Linear(784, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 10)
        ).to(device=dev, dtype=dtype)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.randn(a.batch, 784, device=dev, dtype=dtype)
        y = torch.randint(0, 10, (a.batch,), device=dev)

        def step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        for _ in range(a.warmup):
            step()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) * 1e3 / a.steps
        print(json.dumps({
            "impl": "torch", "torch": torch.__version__, "device": torch.cuda.get_device_name(0), "dtype": name,
            "batch": a.batch, "steps": a.steps, "stepMs": round(ms, 4), "peakBytes": torch.cuda.max_memory_allocated(),
        }))
        del model, opt, x, y
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
