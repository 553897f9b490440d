#!/usr/bin/env python3
"""PyTorch eager baseline for bench/ops.ts (same shapes, same byte counts, same output format):
element-wise add/mul/gelu on 2^26 float32 plus the device-to-device copy (clone), softmax and
layerNorm over the last dim of 4096 x 4096, and the host overhead of one 1-element add (1e5
launches). Without a GPU it says so, and still measures the CPU host overhead per op.

    python3 bench/compare/torch_ops.py [--iters 50] [--launches 100000]
"""
import argparse
import json
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--launches", type=int, default=100000)
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("# no torch in this python: nothing to compare")
        print(json.dumps({"impl": "torch", "skipped": "no torch in this python"}))
        return 0
    gpu = torch.cuda.is_available()
    device = "cuda:0" if gpu else "cpu"
    if not gpu:
        print("# no GPU (torch.cuda.is_available() is False): reporting the CPU host overhead per op only")
    results = {}

    def sync():
        if gpu:
            torch.cuda.synchronize()

    def bench(name, fn, n, nbytes=None):
        for _ in range(min(3, n)):
            fn()
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        sync()
        sec = (time.perf_counter() - t0) / n
        r = {"timeUs": sec * 1e6}
        if nbytes:
            r["gbps"] = nbytes / sec / 1e9
        results[name] = r
        print(f"{name:<28} {sec * 1e6:12.2f} us " + (f"{r['gbps']:9.1f} GB/s" if nbytes else ""))

    torch.backends.cuda.matmul.allow_tf32 = False
    with torch.no_grad():
        print(f"# torch {torch.__version__} ops on {device}")
        if gpu:
            n = 1 << 26
            x = torch.randn(n, device=device)
            y = torch.randn(n, device=device)
            bench("copy (clone) 2^26", lambda: x.clone(), a.iters, 2 * 4 * n)
            bench("add 2^26", lambda: torch.add(x, y), a.iters, 3 * 4 * n)
            bench("mul 2^26", lambda: torch.mul(x, y), a.iters, 3 * 4 * n)
            bench("gelu 2^26", lambda: torch.nn.functional.gelu(x), a.iters, 2 * 4 * n)
            del x, y
            rows = 4096
            m = torch.randn(rows, rows, device=device)
            w = torch.randn(rows, device=device)
            b = torch.randn(rows, device=device)
            bench(f"softmax {rows}x{rows}", lambda: torch.softmax(m, -1), a.iters, 2 * 4 * rows * rows)
            bench(f"layerNorm {rows}x{rows}", lambda: torch.nn.functional.layer_norm(m, (rows,), w, b), a.iters, 2 * 4 * rows * rows)
        one = torch.randn(1, device=device)
        two = torch.randn(1, device=device)
        bench("host overhead 1-elem add", lambda: torch.add(one, two), a.launches)
    print(json.dumps({"impl": "torch", "device": device, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
