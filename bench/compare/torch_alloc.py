#!/usr/bin/env python3
"""PyTorch baseline for bench/alloc.ts: mixed-size allocate/free pairs per second with torch's
caching allocator (torch.empty(n, dtype=torch.uint8, device='cuda') then del), the same size
sequence (same LCG, same size list) and the same two workloads ("pairs" and "window").

    python3 bench/compare/torch_alloc.py [--iters 200000] [--window 64]
"""
import argparse
import json
import time

from torch_guard import cuda_torch_or_skip

SIZES = [512, 100, 4096, 3000, 65536, 777777, 1 << 20, (1 << 20) + 1, 4 << 20, 16 << 20, 123, 262144]


def size_sequence(n, seed=1):
    out = []
    x = seed
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(SIZES[x % len(SIZES)])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=200000)
    ap.add_argument("--window", type=int, default=64)
    a = ap.parse_args()
    torch = cuda_torch_or_skip()
    if torch is None:
        return 0
    seq = size_sequence(a.iters)
    dev = torch.device("cuda:0")
    for n in SIZES:
        del_me = torch.empty(n, dtype=torch.uint8, device=dev)
        del del_me
    torch.cuda.synchronize()

    t0 = time.perf_counter()
    for n in seq:
        t = torch.empty(n, dtype=torch.uint8, device=dev)
        del t
    pairs = a.iters / (time.perf_counter() - t0)

    ring = [None] * a.window
    t0 = time.perf_counter()
    for i, n in enumerate(seq):
        ring[i % a.window] = None
        ring[i % a.window] = torch.empty(n, dtype=torch.uint8, device=dev)
    window = a.iters / (time.perf_counter() - t0)
    ring = None
    torch.cuda.synchronize()
    out = {"impl": "torch", "torch": torch.__version__, "iters": a.iters, "window": a.window,
           "pairs_per_s": pairs, "window_pairs_per_s": window}
    print("# torch allocator: %d mixed-size allocate/free pairs" % a.iters)
    print("pairs            %.3f M pairs/s" % (pairs / 1e6))
    print("window(%d)       %.3f M pairs/s" % (a.window, window / 1e6))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
