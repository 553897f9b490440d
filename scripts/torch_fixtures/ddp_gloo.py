"""torch DDP on gloo, 2 ranks, 10 steps, PyTorch's own training loop: the reference the JavaScript
port of the same loop (test/parallel/torch-ddp.test.ts) must reproduce.

init_process_group('gloo'); DistributedSampler(shuffle=True, seed=SEED) + set_epoch; DataLoader;
DDP(model); loss.backward(); opt.step(); state_dict on rank 0. The data and the initial weights are
fixed here and shipped in the fixture, so both sides start from the same numbers.
"""
import os
import socket
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from torch_fixtures.common import enc

WORLD = 2
SEED = 7
N, IN, HIDDEN, CLASSES = 52, 6, 16, 3
BATCH, STEPS, LR, MOMENTUM = 4, 10, 0.1, 0.9


def make_model():
    return nn.Sequential(nn.Linear(IN, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, CLASSES))


def data():
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(N, IN, generator=g)
    y = torch.randint(0, CLASSES, (N,), generator=g)
    return x, y


def initial_state():
    torch.manual_seed(99)
    return {k: v.clone() for k, v in make_model().state_dict().items()}


def worker(rank, port, out_path):
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    dist.init_process_group('gloo', rank=rank, world_size=WORLD)
    x, y = data()
    ds = TensorDataset(x, y)
    model = make_model()
    model.load_state_dict(initial_state())
    if rank == 1:  # a different start on rank 1: DDP must broadcast rank 0's weights
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
    ddp = DDP(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=LR, momentum=MOMENTUM)
    sampler = DistributedSampler(ds, shuffle=True, seed=SEED)
    loader = DataLoader(ds, batch_size=BATCH, sampler=sampler)
    step, epoch, order = 0, 0, []
    while step < STEPS:
        sampler.set_epoch(epoch)
        order.append(list(iter(sampler)))
        for xb, yb in loader:
            loss = F.cross_entropy(ddp(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step == STEPS:
                break
        epoch += 1
    if rank == 0:
        torch.save({'state': ddp.module.state_dict(), 'order': order}, out_path)
    dist.barrier()
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def generate():
    torch.set_num_threads(1)
    x, y = data()
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, 'final.pt')
        mp.spawn(worker, args=(free_port(), out), nprocs=WORLD, join=True)
        res = torch.load(out)
    return {
        'config': {'world': WORLD, 'seed': SEED, 'batch': BATCH, 'steps': STEPS, 'lr': LR, 'momentum': MOMENTUM,
                   'in': IN, 'hidden': HIDDEN, 'classes': CLASSES},
        'x': enc(x), 'y': enc(y),
        'initial': {k: enc(v) for k, v in initial_state().items()},
        'final': {k: enc(v) for k, v in res['state'].items()},
        'rank0Order': res['order'],
        # what DistributedSampler yields on each rank in epochs 0 and 1 (for diagnosing a mismatch)
        'orders': [[list(_sampler(r, e)) for e in range(2)] for r in range(WORLD)],
    }


def _sampler(rank, epoch):
    x, y = data()
    s = DistributedSampler(TensorDataset(x, y), num_replicas=WORLD, rank=rank, shuffle=True, seed=SEED)
    s.set_epoch(epoch)
    return iter(s)
