#!/usr/bin/env python3
"""PyTorch reference for node-nccl's benchmarks, writing the same JSON schema (node-nccl-bench/1).

Collectives (one process per rank, started by torchrun; rank 0 prints and writes JSON):
    torchrun --nproc-per-node 1 bench/compare/torch_bench.py coll all-reduce -b 8 -e 256M -f 2 --json torch-ar.json
  same flags and meanings as `node-nccl bench <collective>`: -b -e -f -i -n -w -c -d -o -r -a,
  --backend nccl|gloo. Times, algbw/busbw (nccl-tests factors), the fill pattern and the check are
  the same as lib/bench (pattern.ts, collectives.ts), so the two tables compare row for row.
  torch.distributed's API is in place (like node-nccl's); out of place copies send into recv first,
  exactly as node-nccl's driver does.
Matmul:
    python3 bench/compare/torch_bench.py gemm --shapes 4096x4096x4096 -d float32,bfloat16 --tf32 both --json torch-gemm.json
DDP (under torchrun at each world size; rank 0 appends its rows):
    torchrun --nproc-per-node 1 bench/compare/torch_bench.py ddp --overlap both --json torch-ddp.json
"""
import argparse
import datetime
import json
import os
import platform
import socket
import sys
import time

import torch
import torch.distributed as dist

SCHEMA = "node-nccl-bench/1"
NCCL_NAMES = {"float32": "float", "float64": "double", "float16": "half", "bfloat16": "bfloat16",
              "int32": "int32", "int64": "int64", "uint8": "uint8"}
ALIASES = {"float": "float32", "double": "float64", "half": "float16", "fp16": "float16", "bf16": "bfloat16",
           "float32": "float32", "float64": "float64", "float16": "float16", "bfloat16": "bfloat16",
           "int32": "int32", "int64": "int64", "uint8": "uint8"}
OPS = ["sum", "prod", "max", "min", "avg"]
COLLS = ["all-reduce", "all-gather", "reduce-scatter", "broadcast", "reduce", "all-to-all", "send-recv"]


def parse_size(v):
    s = v.strip().lower().rstrip("b").rstrip("i")
    unit = 1
    if s and s[-1] in "kmgt":
        unit = 1024 ** ("kmgt".index(s[-1]) + 1)
        s = s[:-1]
    try:
        x = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size '{v}' (expected bytes with an optional K, M or G)")
    if x < 0:
        raise argparse.ArgumentTypeError(f"invalid size '{v}'")
    return int(x * unit)


def size_steps(lo, hi, factor, step):
    out, s = [], lo
    while s <= hi:
        out.append(s)
        nxt = s * factor if factor > 1 else s + step
        if nxt <= s:
            break
        s = nxt
    return out


# ---- lib/bench/pattern.ts -------------------------------------------------------------------
def pattern(op, rank, idx, rep):
    """The value rank `rank` holds at logical indices idx (a LongTensor) in repetition rep."""
    h = (idx * 3 + rank * 5 + rep * 7) % 13
    if op == "prod":
        return torch.where(h % 4 == 0, 2, 1)
    return h % 4


def wrap(dtype, v):
    if dtype == "uint8":
        return v % 256
    if dtype == "int32":
        return ((v + 2 ** 31) % 2 ** 32) - 2 ** 31
    return v


def reduced(dtype, op, n, idx, rep):
    acc = pattern(op, 0, idx, rep).to(torch.float64)
    for r in range(1, n):
        v = pattern(op, r, idx, rep).to(torch.float64)
        if op in ("sum", "avg"):
            acc = wrap(dtype, acc + v)
        elif op == "prod":
            acc = wrap(dtype, acc * v)
        elif op == "min":
            acc = torch.minimum(acc, v)
        else:
            acc = torch.maximum(acc, v)
    if op == "avg":
        acc = acc / n if dtype.startswith(("float", "bfloat")) else torch.trunc(acc / n)
    return acc


def tolerance(dtype, op):
    if op != "avg" or not dtype.startswith(("float", "bfloat")):
        return 0.0
    return {"float16": 2 ** -10, "bfloat16": 2 ** -7, "float32": 2 ** -22}.get(dtype, 2 ** -50)


# ---- collectives: lib/bench/collectives.ts --------------------------------------------------
def counts(coll, count, n):
    per = count // n
    if coll == "all-gather":
        return dict(send=per, recv=per * n, param=per, send_ip=per, recv_ip=0)
    if coll == "reduce-scatter":
        return dict(send=per * n, recv=per, param=per, send_ip=0, recv_ip=per)
    if coll == "all-to-all":
        return dict(send=per * n, recv=per * n, param=per, send_ip=0, recv_ip=0)
    return dict(send=count, recv=count, param=count, send_ip=0, recv_ip=0)


def bus_factor(coll, n):
    if coll == "all-reduce":
        return 2 * (n - 1) / n
    if coll in ("all-gather", "reduce-scatter", "all-to-all"):
        return (n - 1) / n
    return 1.0


def alg_bytes(coll, param, esize, n):
    return param * esize * (n if coll in ("all-gather", "reduce-scatter", "all-to-all") else 1)


def torch_op(op):
    return {"sum": dist.ReduceOp.SUM, "prod": dist.ReduceOp.PRODUCT, "min": dist.ReduceOp.MIN,
            "max": dist.ReduceOp.MAX, "avg": getattr(dist.ReduceOp, "AVG", None)}[op]


def run_coll(coll, send, recv, op, root, rank, n):
    """Issues one collective; returns the Work handles (async_op=True), as node-nccl's driver does."""
    if coll == "all-reduce":
        if send.data_ptr() != recv.data_ptr():
            recv.copy_(send)
        return [dist.all_reduce(recv, op=torch_op(op), async_op=True)]
    if coll == "all-gather":
        if dist.get_backend() == "gloo":  # gloo has only the list form; the list holds views of recv
            return [dist.all_gather(list(recv.chunk(n)), send, async_op=True)]
        return [dist.all_gather_into_tensor(recv, send, async_op=True)]
    if coll == "reduce-scatter":
        return [dist.reduce_scatter_tensor(recv, send, op=torch_op(op), async_op=True)]
    if coll == "broadcast":
        if rank == root and send.data_ptr() != recv.data_ptr():
            recv.copy_(send)
        return [dist.broadcast(recv, src=root, async_op=True)]
    if coll == "reduce":
        if send.data_ptr() != recv.data_ptr():
            recv.copy_(send)
        return [dist.reduce(recv, dst=root, op=torch_op(op), async_op=True)]
    if coll == "all-to-all":
        return [dist.all_to_all_single(recv, send, async_op=True)]
    ops = [dist.P2POp(dist.isend, send, (rank + 1) % n), dist.P2POp(dist.irecv, recv, (rank - 1 + n) % n)]
    return dist.batch_isend_irecv(ops)


def input_values(coll, op, rank, count, rep):
    idx = torch.arange(count, dtype=torch.int64)
    return pattern(op if coll in ("all-reduce", "reduce-scatter", "reduce") else None, rank, idx, rep)


def expected_values(coll, dtype, op, rank, n, root, c, rep):
    idx = torch.arange(c["recv"], dtype=torch.int64)
    per = c["param"]
    if coll == "all-reduce":
        return reduced(dtype, op, n, idx, rep)
    if coll == "reduce":
        return reduced(dtype, op, n, idx, rep) if rank == root else None
    if coll == "reduce-scatter":
        return reduced(dtype, op, n, rank * per + idx, rep)
    if coll == "broadcast":
        return pattern(None, root, idx, rep)
    if coll == "all-gather":
        out = torch.empty(c["recv"], dtype=torch.int64)
        for j in range(n):
            out[j * per:(j + 1) * per] = pattern(None, j, torch.arange(per), rep)
        return out
    if coll == "all-to-all":
        out = torch.empty(c["recv"], dtype=torch.int64)
        for j in range(n):
            out[j * per:(j + 1) * per] = pattern(None, j, rank * per + torch.arange(per), rep)
        return out
    return pattern(None, (rank - 1 + n) % n, idx, rep)


def environment(device_desc):
    cuda = torch.cuda.is_available()
    drv = None
    if cuda:
        try:
            import subprocess
            drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
        except Exception:
            drv = None
    nccl = None
    if cuda:
        try:
            v = torch.cuda.nccl.version()
            nccl = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
        except Exception:
            nccl = None
    cublas = None
    try:
        import importlib.metadata as md
        for pkg in ("nvidia-cublas", "nvidia-cublas-cu13", "nvidia-cublas-cu12"):
            try:
                cublas = md.version(pkg)
                break
            except md.PackageNotFoundError:
                pass
    except Exception:
        cublas = None
    cpu_model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        pass
    return {
        "device": device_desc,
        "driver": drv,
        "cuda": torch.version.cuda if cuda else None,
        "nccl": nccl,
        "cublas": cublas,
        "node": None,
        "packages": {"torch": torch.__version__, "python": platform.python_version()},
        "host": {"hostname": socket.gethostname(), "platform": f"linux {platform.release()}",
                 "arch": {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine()),
                 "cpus": os.cpu_count() or 1, "cpuModel": cpu_model, "memoryBytes": mem},
    }


def gpu_desc():
    if not torch.cuda.is_available():
        return None
    n = torch.cuda.device_count()
    return f"{torch.cuda.get_device_name(0)} x{n}"


def command(argv):
    return {"argv": argv, "line": " ".join(["python3", "bench/compare/torch_bench.py"] + argv)}


def write_json(path, result):
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"# Results written to {os.path.abspath(path)}", flush=True)


def fmt_time(us):
    return f"{us:7.0f}" if us >= 10000 else f"{us:7.1f}" if us >= 100 else f"{us:7.2f}"


# ---- coll ------------------------------------------------------------------------------------
def cmd_coll(a, argv):
    backend = a.backend or ("nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if backend == "nccl":
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
        device = torch.device("cuda", torch.cuda.current_device())
    else:
        device = torch.device("cpu")
    dist.init_process_group(backend)
    rank, n = dist.get_rank(), dist.get_world_size()
    dtype = ALIASES[a.dtype]
    tdt = getattr(torch, dtype)
    esize = torch.tensor([], dtype=tdt).element_size()
    coll, op, root = a.coll, a.op, a.root
    uses_op = coll in ("all-reduce", "reduce-scatter", "reduce")
    uses_root = coll in ("broadcast", "reduce")
    check_ip = coll not in ("all-to-all", "send-recv")
    sizes = size_steps(a.minbytes, a.maxbytes, a.stepfactor, a.stepbytes)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def complete(works):
        for w in works:
            w.wait()
        sync()

    def agg_time(sec):
        t = torch.tensor([sec if (a.average != 0 or rank == 0) else 0.0], dtype=torch.float64, device=device)
        o = dist.ReduceOp.SUM if a.average in (0, 1) else dist.ReduceOp.MIN if a.average == 2 else dist.ReduceOp.MAX
        dist.all_reduce(t, op=o)
        v = t.item()
        return v / n if a.average == 1 else v

    def all_sum(v):
        t = torch.tensor([float(v)], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return int(t.item())

    maxc = counts(coll, a.maxbytes // esize, n)
    total = max(maxc["send"], maxc["recv"], 1)
    sendbuf = torch.zeros(total, dtype=tdt, device=device)
    recvbuf = torch.zeros(total, dtype=tdt, device=device)

    def views(c, in_place):
        if not in_place:
            return sendbuf[:c["send"]], recvbuf[:c["recv"]]
        return (recvbuf[c["send_ip"] * rank:c["send_ip"] * rank + c["send"]],
                recvbuf[c["recv_ip"] * rank:c["recv_ip"] * rank + c["recv"]])

    def init(c, s, r, in_place, rep):
        if not in_place:
            r.zero_()
        s.copy_(input_values(coll, op if uses_op else None, rank, c["send"], rep).to(tdt))

    lines = []

    def emit(line):
        if rank == 0:
            print(line, flush=True)

    emit(f"# nThread 1 nGpus 1 minBytes {a.minbytes} maxBytes {a.maxbytes} step: "
         f"{a.stepfactor if a.stepfactor > 1 else a.stepbytes}({'factor' if a.stepfactor > 1 else 'bytes'}) "
         f"warmup iters: {a.warmup_iters} iters: {a.iters} agg iters: 1 validation: {a.check} graph: 0")
    emit("#")
    emit(f"# Using {'devices' if backend == 'nccl' else 'ranks'} (torch.distributed {backend}, world size {n})")
    devline = f"Rank {rank:2d} Group  0 Pid {os.getpid():6d} on {socket.gethostname():>10s} " + (
        f"device {device.index:2d} {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "cpu")
    gathered = [None] * n
    dist.all_gather_object(gathered, devline)
    for d in gathered:
        emit(f"#  {d}")
    emit("#")
    emit(f"# {'':>10}  {'':>12}  {'':>8}  {'':>6}  {'':>6}           out-of-place                       in-place          ")
    emit(f"# {'size':>10}  {'count':>12}  {'type':>8}  {'redop':>6}  {'root':>6}  {'time':>7}  {'algbw':>6}  {'busbw':>6} {'#wrong':>6}  {'time':>7}  {'algbw':>6}  {'busbw':>6} {'#wrong':>6}")
    emit(f"# {'(B)':>10}  {'(elements)':>12}  {'':>8}  {'':>6}  {'':>6}  {'(us)':>7}  {'(GB/s)':>6}  {'(GB/s)':>6}  {'':>5}  {'(us)':>7}  {'(GB/s)':>6}  {'(GB/s)':>6}  {'':>5}")

    dist.barrier()
    for sz in dict.fromkeys([a.maxbytes, a.minbytes]):
        c = counts(coll, sz // esize, n)
        s, r = views(c, False)
        complete([w for _ in range(a.warmup_iters) for w in run_coll(coll, s, r, op, root, rank, n)])
    dist.barrier()

    rows, bw_sum, bw_n, errors = [], 0.0, 0, 0
    for sz in sizes:
        c = counts(coll, sz // esize, n)
        cells = []
        for in_place in (False, True):
            s, r = views(c, in_place)
            if a.check:
                init(c, s, r, in_place, 99)
            complete(run_coll(coll, s, r, op, root, rank, n))
            dist.barrier()
            t0 = time.perf_counter()
            works = []
            for _ in range(a.iters):
                works += run_coll(coll, s, r, op, root, rank, n)
            complete(works)
            sec = agg_time((time.perf_counter() - t0) / a.iters)
            algbw = alg_bytes(coll, c["param"], esize, n) / 1e9 / sec if sec > 0 else 0.0
            busbw = algbw * bus_factor(coll, n)
            dist.barrier()
            wrong = None
            if a.check:
                init(c, s, r, in_place, 1)
                complete(run_coll(coll, s, r, op, root, rank, n))
                local = 0
                if not in_place or check_ip:
                    exp = expected_values(coll, dtype, op, rank, n, root, c, 1)
                    if exp is not None:
                        exp_t = exp.to(torch.float64).to(tdt).to(torch.float64)
                        got = r.to("cpu", torch.float64)
                        tol = tolerance(dtype, op if uses_op else None)
                        if tol == 0:
                            local = int((got != exp_t).sum().item())
                        else:
                            local = int((~((got - exp_t).abs() <= tol * exp_t.abs().clamp(min=1))).sum().item())
                wrong = all_sum(local) if (not in_place or check_ip) else None
                if wrong:
                    errors += 1
            bw_sum += busbw
            bw_n += 1
            cells.append({"timeUs": sec * 1e6, "algBw": algbw, "busBw": busbw, "wrong": wrong})
        row = {"size": max(c["send"], c["recv"]) * esize, "count": c["param"], "type": NCCL_NAMES[dtype],
               "redop": op if uses_op else "none", "root": root if uses_root else -1,
               "outOfPlace": cells[0], "inPlace": cells[1]}
        rows.append(row)
        line = f"{row['size']:12d}  {row['count']:12d}  {row['type']:>8}  {row['redop']:>6}  {row['root']:6d}"
        for cell in cells:
            w = "N/A" if cell["wrong"] is None else str(cell["wrong"])
            line += f"  {fmt_time(cell['timeUs'])}  {cell['algBw']:6.2f}  {cell['busBw']:6.2f}  {w:>5}"
        emit(line)
    avg = bw_sum / bw_n if bw_n else 0.0
    emit(f"# Out of bounds values : {errors} {'FAILED' if errors else 'OK'}")
    emit(f"# Avg bus bandwidth    : {avg:g} ")
    emit("#")
    if rank == 0 and a.json:
        write_json(a.json, {
            "schema": SCHEMA, "kind": "collective", "tool": "torch", "label": f"torch.distributed {backend} np={n}",
            "benchmark": coll, "createdAt": datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
            "command": command(argv), "environment": environment(gpu_desc() if backend == "nccl" else None),
            "config": {"backend": backend, "worldSize": n, "minBytes": a.minbytes, "maxBytes": a.maxbytes,
                       "stepFactor": a.stepfactor, "stepBytes": a.stepbytes, "iters": a.iters,
                       "warmupIters": a.warmup_iters, "check": a.check, "blocking": False, "average": a.average,
                       "graphLaunches": 0},
            "devices": gathered, "rows": rows, "summary": {"outOfBounds": errors, "avgBusBw": avg}})
    dist.destroy_process_group()
    return 1 if errors else 0


# ---- gemm ------------------------------------------------------------------------------------
def cmd_gemm(a, argv):
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    shapes = [tuple(int(x) for x in (s.split("x") if "x" in s else [s] * 3)) for s in a.shapes.split(",")] if a.shapes else (
        [(1024,) * 3, (2048,) * 3, (4096,) * 3] if device == "cuda" else [(256,) * 3, (512,) * 3, (1024,) * 3])
    dtypes = [ALIASES[d] for d in a.dtype.split(",")]
    modes = {"both": [False, True], "on": [True], "off": [False]}[a.tf32]
    rows = []
    print(f"# torch.matmul on {device}: {a.iters} iterations after {a.warmup_iters} warm-up")
    prev = torch.backends.cuda.matmul.allow_tf32
    for (m, n, k) in shapes:
        for dt in dtypes:
            for tf in (modes if device == "cuda" and dt == "float32" else [False]):
                torch.backends.cuda.matmul.allow_tf32 = tf
                A = torch.randn(m, k, dtype=getattr(torch, dt), device=device)
                B = torch.randn(k, n, dtype=getattr(torch, dt), device=device)
                for _ in range(a.warmup_iters):
                    torch.matmul(A, B)
                if device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(a.iters):
                    torch.matmul(A, B)
                if device == "cuda":
                    torch.cuda.synchronize()
                sec = (time.perf_counter() - t0) / a.iters
                row = {"m": m, "n": n, "k": k, "dtype": dt, "tf32": tf, "device": "cuda:0" if device == "cuda" else "cpu",
                       "timeUs": sec * 1e6, "tflops": 2 * m * n * k / sec / 1e12}
                rows.append(row)
                print(f" {m:7d} {n:7d} {k:7d} {dt:>9} {'on' if tf else 'off':>5} {row['timeUs']:11.1f} {row['tflops']:9.3f}", flush=True)
    torch.backends.cuda.matmul.allow_tf32 = prev
    if a.json:
        write_json(a.json, {
            "schema": SCHEMA, "kind": "gemm", "tool": "torch", "label": f"torch.matmul {device}", "benchmark": "gemm",
            "createdAt": datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
            "command": command(argv), "environment": environment(gpu_desc() if device == "cuda" else None),
            "config": {"iters": a.iters, "warmupIters": a.warmup_iters}, "rows": rows})
    return 0


# ---- ddp -------------------------------------------------------------------------------------
def cmd_ddp(a, argv):
    from torch.nn.parallel import DistributedDataParallel as DDP
    backend = a.backend or ("nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend)
    rank, n = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(1234 + rank)
    layers = []
    for i in range(a.layers):
        layers.append(torch.nn.Linear(a.in_features if i == 0 else a.hidden, a.classes if i == a.layers - 1 else a.hidden))
        if i < a.layers - 1:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    ddp = DDP(model, device_ids=[local_rank] if device.type == "cuda" else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01)
    x = torch.randn(a.batch, a.in_features, device=device)
    y = torch.randint(0, a.classes, (a.batch,), device=device)
    params = [p for p in ddp.parameters() if p.requires_grad]

    def step(overlap):
        loss = torch.nn.functional.cross_entropy(ddp(x), y)
        if overlap:
            loss.backward()
        else:
            with ddp.no_sync():
                loss.backward()
            works = [dist.all_reduce(p.grad, async_op=True) for p in params]
            for w in works:
                w.wait()
            for p in params:
                p.grad.div_(n)
        opt.step()
        opt.zero_grad()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    rows = []
    model_name = f"MLP {a.in_features}-{'-'.join([str(a.hidden)] * (a.layers - 1))}-{a.classes}, batch {a.batch}/rank, SGD"
    for overlap in {"both": [True, False], "on": [True], "off": [False]}[a.overlap]:
        for _ in range(a.warmup_iters):
            step(overlap)
        sync()
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(a.iters):
            step(overlap)
        sync()
        dist.barrier()
        step_ms = (time.perf_counter() - t0) * 1000 / a.iters
        rows.append({"worldSize": n, "overlap": overlap, "backend": backend, "batchSize": a.batch,
                     "stepMs": step_ms, "samplesPerSec": a.batch * n * 1000 / step_ms})
        if rank == 0:
            print(f" {n:6d} {'on' if overlap else 'off':>8} {step_ms:10.3f} {rows[-1]['samplesPerSec']:11.1f}", flush=True)
    if rank == 0 and a.json:
        # Appends to an existing file of the same kind, so one file holds every world size.
        prev_rows = []
        if os.path.exists(a.json):
            with open(a.json) as f:
                old = json.load(f)
            if old.get("kind") == "ddp" and old.get("tool") == "torch":
                prev_rows = old["rows"]
        write_json(a.json, {
            "schema": SCHEMA, "kind": "ddp", "tool": "torch", "label": f"torch DDP {backend}", "benchmark": "ddp",
            "createdAt": datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z"),
            "command": command(argv), "environment": environment(gpu_desc() if device.type == "cuda" else None),
            "config": {"iters": a.iters, "warmupIters": a.warmup_iters, "model": model_name},
            "rows": prev_rows + rows})
    dist.destroy_process_group()
    return 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("coll")
    c.add_argument("coll", choices=COLLS)
    c.add_argument("-b", "--minbytes", type=parse_size, default=32 << 20)
    c.add_argument("-e", "--maxbytes", type=parse_size, default=32 << 20)
    c.add_argument("-f", "--stepfactor", type=int, default=1)
    c.add_argument("-i", "--stepbytes", type=parse_size, default=1 << 20)
    c.add_argument("-n", "--iters", type=int, default=20)
    c.add_argument("-w", "--warmup_iters", type=int, default=5)
    c.add_argument("-c", "--check", type=int, default=1, choices=[0, 1])
    c.add_argument("-d", "--dtype", default="float", choices=sorted(ALIASES))
    c.add_argument("-o", "--op", default="sum", choices=OPS)
    c.add_argument("-r", "--root", type=int, default=0)
    c.add_argument("-a", "--average", type=int, default=1, choices=[0, 1, 2, 3])
    c.add_argument("--backend", choices=["nccl", "gloo"])
    c.add_argument("--json")
    g = sub.add_parser("gemm")
    g.add_argument("--shapes")
    g.add_argument("-d", "--dtype", default="float32")
    g.add_argument("--tf32", default="both", choices=["on", "off", "both"])
    g.add_argument("--device", choices=["cpu", "cuda"])
    g.add_argument("-n", "--iters", type=int, default=20)
    g.add_argument("-w", "--warmup_iters", type=int, default=3)
    g.add_argument("--json")
    d = sub.add_parser("ddp")
    d.add_argument("--overlap", default="both", choices=["on", "off", "both"])
    d.add_argument("--backend", choices=["nccl", "gloo"])
    d.add_argument("--batch", type=int, default=64)
    d.add_argument("--in-features", dest="in_features", type=int, default=784)
    d.add_argument("--hidden", type=int, default=1024)
    d.add_argument("--layers", type=int, default=4)
    d.add_argument("--classes", type=int, default=10)
    d.add_argument("-n", "--iters", type=int, default=20)
    d.add_argument("-w", "--warmup_iters", type=int, default=3)
    d.add_argument("--json")
    a = p.parse_args(argv)
    if a.cmd == "coll":
        if a.minbytes > a.maxbytes:
            p.error(f"invalid sizes for 'minbytes' and 'maxbytes': {a.minbytes} > {a.maxbytes}")
        if a.backend == "gloo" and (a.coll == "reduce-scatter" or a.op == "avg"):
            p.error("torch's gloo backend has no reduce_scatter and no ReduceOp.AVG; use --backend nccl")
        return cmd_coll(a, argv)
    if a.cmd == "gemm":
        return cmd_gemm(a, argv)
    return cmd_ddp(a, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
