#!/usr/bin/env python3
"""PyTorch baseline for bench/copy.ts: pinned host <-> device copy bandwidth, copies queued back to
back on one stream and timed with CUDA events ("dma"), and the wall-clock of synchronous copies
("api": copy_ then torch.cuda.current_stream().synchronize()).

    python3 bench/compare/torch_copy.py [--sizes 1,16,256] [--iters 20]
"""
import argparse
import json
import time

from torch_guard import cuda_torch_or_skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,16,256")
    ap.add_argument("--iters", type=int, default=20)
    a = ap.parse_args()
    torch = cuda_torch_or_skip()
    if torch is None:
        return 0
    stream = torch.cuda.Stream()
    rows = []
    for mib in [float(x) for x in a.sizes.split(",")]:
        n = int(mib * (1 << 20))
        host = torch.ones(n, dtype=torch.uint8).pin_memory()
        dev = torch.empty(n, dtype=torch.uint8, device="cuda:0")
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        for d in ("h2d", "d2h"):
            def enqueue():
                if d == "h2d":
                    dev.copy_(host, non_blocking=True)
                else:
                    host.copy_(dev, non_blocking=True)
            with torch.cuda.stream(stream):
                for _ in range(3):
                    enqueue()
                stream.synchronize()
                start.record(stream)
                for _ in range(a.iters):
                    enqueue()
                end.record(stream)
                end.synchronize()
                dma = n * a.iters / (start.elapsed_time(end) / 1e3)
                t0 = time.perf_counter()
                for _ in range(a.iters):
                    enqueue()
                    stream.synchronize()
                api = n * a.iters / (time.perf_counter() - t0)
            rows.append({"dir": d, "bytes": n, "dma_GBps": dma / 1e9, "api_GBps": api / 1e9})
    out = {"impl": "torch", "torch": torch.__version__, "device": torch.cuda.get_device_name(0), "iters": a.iters, "rows": rows}
    print("# torch pinned copy bandwidth on %s" % out["device"])
    print("dir   MiB     dma GB/s   api GB/s")
    for r in rows:
        print("%-5s %4d   %8.2f   %8.2f" % (r["dir"], r["bytes"] >> 20, r["dma_GBps"], r["api_GBps"]))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
