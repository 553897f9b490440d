"""torch's data orders (PyTorch 1.13, CPU): torch.randperm on a seeded torch.Generator, torch.randint,
DistributedSampler(shuffle=True, seed) after set_epoch, RandomSampler with and without a generator,
and DataLoader(shuffle=True) with and without one (its iterator draws a base seed from the generator
before the sampler draws). test/tensor/generator.test.ts and test/parallel/sampler-torch.test.ts
must reproduce every list exactly.
"""
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler


def randperms():
    out = []
    for n in [0, 1, 2, 3, 10, 97, 1000, 60000]:
        for seed in [0, 1, 7, 42, 2**32 + 5, 2**40 + 3]:
            g = torch.Generator().manual_seed(seed)
            first = torch.randperm(n, generator=g).tolist()
            second = torch.randperm(n, generator=g).tolist()  # the generator's state carries on
            if n > 1000:
                first, second = first[:50] + first[-50:], second[:50] + second[-50:]
            out.append({'n': n, 'seed': str(seed), 'first': first, 'second': second})
    return out


def randints():
    out = []
    for high, size, seed in [(10, 40, 3), (60000, 33, 11), (2**33, 8, 5)]:
        g = torch.Generator().manual_seed(seed)
        out.append({'high': high, 'size': size, 'seed': seed,
                    'values': torch.randint(high=high, size=(size,), dtype=torch.int64, generator=g).tolist()})
    return out


def distributed():
    out = []
    for n, replicas, drop_last, seed in [(23, 2, False, 7), (23, 3, False, 0), (23, 3, True, 5), (100, 4, False, 123)]:
        for rank in range(replicas):
            s = DistributedSampler(list(range(n)), num_replicas=replicas, rank=rank, shuffle=True, seed=seed, drop_last=drop_last)
            epochs = []
            for e in range(3):
                s.set_epoch(e)
                epochs.append(list(iter(s)))
            out.append({'n': n, 'replicas': replicas, 'rank': rank, 'dropLast': drop_last, 'seed': seed, 'epochs': epochs})
    return out


def random_samplers():
    ds = list(range(37))
    g = torch.Generator().manual_seed(5)
    with_gen = RandomSampler(ds, generator=g)
    passes_gen = [list(iter(with_gen)) for _ in range(3)]
    torch.manual_seed(3)
    no_gen = RandomSampler(ds)
    passes_default = [list(iter(no_gen)) for _ in range(3)]
    g2 = torch.Generator().manual_seed(9)
    more = RandomSampler(ds, generator=g2, num_samples=80)
    g3 = torch.Generator().manual_seed(4)
    repl = RandomSampler(ds, generator=g3, replacement=True, num_samples=70)
    return {'n': len(ds), 'generatorSeed': 5, 'withGenerator': passes_gen, 'defaultSeed': 3, 'withoutGenerator': passes_default,
            'numSamples80Seed9': list(iter(more)), 'replacement70Seed4': list(iter(repl))}


def loaders():
    ds = list(range(30))
    collate = lambda b: b  # noqa: E731 (the index batches themselves)
    g = torch.Generator().manual_seed(11)
    dl = DataLoader(ds, batch_size=4, shuffle=True, generator=g, collate_fn=collate)
    with_gen = [list(dl) for _ in range(3)]
    torch.manual_seed(21)
    dl2 = DataLoader(ds, batch_size=4, shuffle=True, collate_fn=collate)
    without_gen = [list(dl2) for _ in range(3)]
    return {'n': len(ds), 'batchSize': 4, 'generatorSeed': 11, 'withGenerator': with_gen, 'defaultSeed': 21, 'withoutGenerator': without_gen}


def generate():
    return {'torch': torch.__version__, 'randperm': randperms(), 'randint': randints(), 'distributed': distributed(),
            'randomSampler': random_samplers(), 'dataLoader': loaders()}
