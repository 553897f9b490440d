#!/usr/bin/env python3
"""torch.distributed.rpc (TensorPipe) baseline for bench/rpc.ts: 2 processes on this host,
worker0 calls worker1. Prints one JSON line: mean round trip of an empty rpc_sync (us), MB/s of
rpc_sync calls taking one float32 tensor of --mib MiB (returning None), and MB/s of calls
returning it (both directions counted).

    python3 bench/compare/torch_rpc.py --port 29600 [--iters 5000] [--tensor-iters 100] [--mib 4]
"""
import argparse
import json
import os
import sys
import time


def noop():
    return None


def take(t):
    return None


def echo(t):
    return t


def run(rank, a):
    import torch
    import torch.distributed.rpc as rpc

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(a.port)
    opts = rpc.TensorPipeRpcBackendOptions(num_worker_threads=16, rpc_timeout=120)
    rpc.init_rpc(f"worker{rank}", rank=rank, world_size=2, rpc_backend_options=opts)
    if rank == 0:
        for _ in range(min(500, a.iters)):
            rpc.rpc_sync("worker1", noop)
        t0 = time.perf_counter()
        for _ in range(a.iters):
            rpc.rpc_sync("worker1", noop)
        latency_us = (time.perf_counter() - t0) / a.iters * 1e6
        x = torch.randn(a.mib * 2**20 // 4)
        nbytes = a.mib * 2**20
        for _ in range(50):
            rpc.rpc_sync("worker1", take, args=(x,))
        t0 = time.perf_counter()
        for _ in range(a.tensor_iters):
            rpc.rpc_sync("worker1", take, args=(x,))
        arg = a.tensor_iters * nbytes / (time.perf_counter() - t0) / 1e6
        for _ in range(50):
            rpc.rpc_sync("worker1", echo, args=(x,))
        t0 = time.perf_counter()
        for _ in range(a.tensor_iters):
            rpc.rpc_sync("worker1", echo, args=(x,))
        echo_mbps = 2 * a.tensor_iters * nbytes / (time.perf_counter() - t0) / 1e6
        print(json.dumps({"impl": "torch", "transport": f"TensorPipe (torch {torch.__version__})", "latencyUs": latency_us,
                          "argMBps": arg, "echoMBps": echo_mbps, "mib": a.mib}), flush=True)
    rpc.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--iters", type=int, default=5000)
    ap.add_argument("--tensor-iters", type=int, default=100)
    ap.add_argument("--mib", type=int, default=4)
    a = ap.parse_args()
    try:
        import torch
        import torch.distributed.rpc as rpc
        import torch.multiprocessing as mp
    except ImportError as e:
        print(json.dumps({"skipped": f"no torch.distributed.rpc in this python ({e})"}))
        return 0
    if not rpc.is_available():
        print(json.dumps({"skipped": "this torch was built without torch.distributed.rpc"}))
        return 0
    mp.spawn(run, args=(a,), nprocs=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
