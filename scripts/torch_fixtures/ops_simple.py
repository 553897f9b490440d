"""Reference values for round (with decimals), floor, ceil, trunc, isnan, isinf, isfinite, any, all,
flip, roll, repeat, tile, tril and triu (issue 14): forward values and dtypes, and for the
differentiable ones the gradient of sum(w * out) for the stored weights w, from PyTorch 1.13 on
the CPU."""
import torch
from torch_fixtures.common import enc, grad_case

NAN = float('nan')
INF = float('inf')

def generate():
    g = torch.Generator().manual_seed(141)
    r = lambda *s: torch.rand(s, generator=g, dtype=torch.float64) * 4 - 2
    cases = {}

    # ---- rounding: halves (to even), negatives, -0.0, NaN, infinities, big values ----
    vals = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, 1.25, 2.675, -3.7, -0.2, 3.2,
            1e15 + 0.5, 4503599627370497.0, -0.0, NAN, INF, -INF, 123.456, -987.654, 0.045, 1234.5678]
    rounding = []
    for dtype in (torch.float64, torch.float32):
        x = torch.tensor(vals, dtype=dtype)
        run = {'x': enc(x), 'round': enc(torch.round(x)), 'floor': enc(torch.floor(x)),
               'ceil': enc(torch.ceil(x)), 'trunc': enc(torch.trunc(x)), 'decimals': []}
        for d in (1, 2, 3, -1, -2):
            run['decimals'].append({'decimals': d, 'out': enc(torch.round(x, decimals=d))})
        rounding.append(run)
    cases['rounding'] = rounding
    xh = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 3.3, -3.7, 1000.5], dtype=torch.float16)
    xb = torch.tensor([0.5, 1.5, 2.5, -0.5, -2.5, 3.3, -3.7, 1000.5], dtype=torch.bfloat16)
    # torch's CPU kernels have no float16 rounding: computed in float32 (exact here) and cast back,
    # as torch's CUDA kernels compute them
    half = lambda f, t: f(t.float()).to(t.dtype)
    cases['rounding_half'] = [{'x': enc(t), 'round': enc(half(torch.round, t)), 'floor': enc(half(torch.floor, t)),
                               'ceil': enc(half(torch.ceil, t)), 'trunc': enc(half(torch.trunc, t))} for t in (xh, xb)]
    ints = torch.tensor([[3, -7, 0], [2 ** 40, -(2 ** 40) - 1, 5]], dtype=torch.int64)
    cases['rounding_int'] = {'x': enc(ints), 'round': enc(torch.round(ints)), 'floor': enc(torch.floor(ints)),
                             'ceil': enc(torch.ceil(ints)), 'trunc': enc(torch.trunc(ints)),
                             'x32': enc(ints[:, 2:].to(torch.int32)), 'floor32': enc(torch.floor(ints[:, 2:].to(torch.int32))),
                             'xu8': enc(torch.tensor([0, 7, 255], dtype=torch.uint8)),
                             'ceilu8': enc(torch.ceil(torch.tensor([0, 7, 255], dtype=torch.uint8)))}
    cases['rounding_grad'] = [
        dict(grad_case(lambda a: torch.round(a) * a, [r(3, 4)], 1), op='round', decimals=0),
        dict(grad_case(lambda a: torch.round(a, decimals=2) * a, [r(3, 4)], 2), op='round', decimals=2),
        dict(grad_case(lambda a: torch.floor(a) * a, [r(5)], 3), op='floor', decimals=0),
        dict(grad_case(lambda a: torch.ceil(a) * a, [r(5)], 4), op='ceil', decimals=0),
        dict(grad_case(lambda a: torch.trunc(a) * a, [r(5)], 5), op='trunc', decimals=0),
    ]

    # ---- isnan / isinf / isfinite: every dtype ----
    fv = [0.0, -0.0, 1.5, NAN, INF, -INF, -NAN, 1e308, 5e-324]
    preds = []
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        x = torch.tensor(fv, dtype=dtype)
        preds.append({'x': enc(x), 'isnan': enc(torch.isnan(x)), 'isinf': enc(torch.isinf(x)),
                      'isfinite': enc(torch.isfinite(x))})
    for x in (torch.tensor([0, -5, 2 ** 40]), torch.tensor([1, 2], dtype=torch.int32),
              torch.tensor([0, 255], dtype=torch.uint8), torch.tensor([True, False])):
        preds.append({'x': enc(x), 'isnan': enc(torch.isnan(x)), 'isinf': enc(torch.isinf(x)),
                      'isfinite': enc(torch.isfinite(x))})
    cases['predicates'] = preds

    # ---- any / all: every dtype, each dim, keepdim, empty dims, NaN ----
    base = torch.tensor([[[0., 1., 0.], [0., 0., 0.]], [[2., NAN, -1.], [0., 0., 3.]]], dtype=torch.float64)
    reds = []
    for dtype in (torch.float64, torch.float32, torch.int64, torch.int32, torch.uint8, torch.bool):
        x = base.nan_to_num(nan=5.0).to(dtype) if dtype not in (torch.float64, torch.float32) else base.to(dtype)
        run = {'x': enc(x), 'any': enc(torch.any(x)), 'all': enc(torch.all(x)), 'dims': []}
        for dim in (0, 1, 2, -1):
            for keepdim in (False, True):
                run['dims'].append({'dim': dim, 'keepdim': keepdim, 'any': enc(torch.any(x, dim, keepdim=keepdim)),
                                    'all': enc(torch.all(x, dim, keepdim=keepdim))})
        reds.append(run)
    cases['any_all'] = reds
    e = torch.zeros(2, 0, 3)
    cases['any_all_empty'] = {
        'x': enc(e), 'any': enc(torch.any(e)), 'all': enc(torch.all(e)),
        'any1': enc(torch.any(e, 1)), 'all1': enc(torch.all(e, 1)), 'any0': enc(torch.any(e, 0)),
        'all0': enc(torch.all(e, 0)), 'all1k': enc(torch.all(e, 1, keepdim=True)),
        'scalar': enc(torch.tensor(0.0)), 'any_scalar': enc(torch.any(torch.tensor(0.0))),
        'all_scalar_dim0': enc(torch.all(torch.tensor(0.0), 0)),
    }
    ones = torch.ones(4, 5)
    ones[2, 3] = 0
    cases['all_one_zero'] = {'x': enc(ones), 'all': enc(torch.all(ones)), 'all0': enc(torch.all(ones, 0)),
                             'all1': enc(torch.all(ones, 1)), 'any1': enc(torch.any(ones == 0, 1))}

    # ---- flip / roll / repeat / tile / tril / triu, with gradients ----
    cases['flip'] = [dict(grad_case(lambda a, d=d: torch.flip(a, d), [r(*s)], 10 + i), dims=list(d))
                     for i, (s, d) in enumerate([((2, 3, 4), (0,)), ((2, 3, 4), (1, 2)), ((2, 3, 4), (0, 1, 2)),
                                                 ((2, 3, 4), (-1,)), ((5,), (0,)), ((2, 3), ()), ((3, 1, 2), (1,))])]
    cases['flip_int'] = {'x': enc(torch.arange(12, dtype=torch.int32).view(3, 4)),
                         'out': enc(torch.flip(torch.arange(12, dtype=torch.int32).view(3, 4), (0, 1)))}
    rolls = [((2, 3, 4), 1, None), ((2, 3, 4), -5, None), ((2, 3, 4), 2, 1), ((2, 3, 4), (1, -1), (0, 2)),
             ((2, 3, 4), (1, 2, 3), (0, 1, 2)), ((2, 3, 4), (1, 2), (1, 1)), ((2, 3, 4), 7, -1),
             ((2, 3, 4), 0, 0), ((2, 3, 4), 3, 1), ((6,), 13, 0), ((2, 2, 2, 2, 2, 2), (1, 1, 1, 1, 1, 1), (0, 1, 2, 3, 4, 5))]
    cases['roll'] = [dict(grad_case(lambda a, s=s, d=d: torch.roll(a, s, d) if d is not None else torch.roll(a, s),
                                     [r(*shape)], 20 + i),
                          shifts=list(s) if isinstance(s, tuple) else s,
                          dims=(list(d) if isinstance(d, tuple) else d))
                     for i, (shape, s, d) in enumerate(rolls)]
    t = torch.arange(6, dtype=torch.int64).view(2, 3)
    cases['roll_int'] = {'x': enc(t), 'out': enc(torch.roll(t, 1)), 'out01': enc(torch.roll(t, (1, 1), (0, 1))),
                         'empty': enc(torch.roll(torch.zeros(0, 3), 1, 0)), 'scalar': enc(torch.roll(torch.tensor(5.0), 3))}
    reps = [((3,), (2,)), ((2, 3), (2, 1)), ((2, 3), (1, 2)), ((2, 3), (2, 2)), ((2, 3), (3, 1, 2)),
            ((2, 1, 3), (1, 4, 1)), ((2, 3), (2, 0)), ((), (2, 3)), ((2, 3), (1, 1))]
    cases['repeat'] = [dict(grad_case(lambda a, s=s: a.repeat(*s), [r(*shape)], 40 + i), sizes=list(s))
                       for i, (shape, s) in enumerate(reps)]
    cases['repeat_bool'] = {'x': enc(torch.tensor([[True, False]])), 'out': enc(torch.tensor([[True, False]]).repeat(2, 3))}
    tiles = [((2, 3), (2,)), ((2, 3), (2, 2)), ((3,), (2, 2)), ((2, 3), ()), ((2, 1, 2), (3, 1))]
    cases['tile'] = [dict(grad_case(lambda a, s=s: torch.tile(a, s), [r(*shape)], 60 + i), dims=list(s))
                     for i, (shape, s) in enumerate(tiles)]
    tris = [((4, 5), 0), ((4, 5), 1), ((4, 5), -1), ((5, 3), 2), ((2, 3, 4), 0), ((2, 3, 4), -2), ((3, 4), 10),
            ((3, 4), -10), ((2, 2, 3, 3), 1), ((0, 3), 0)]
    cases['tril'] = [dict(grad_case(lambda a, k=k: torch.tril(a, k), [r(*shape)], 80 + i), diagonal=k)
                     for i, (shape, k) in enumerate(tris)]
    cases['triu'] = [dict(grad_case(lambda a, k=k: torch.triu(a, k), [r(*shape)], 100 + i), diagonal=k)
                     for i, (shape, k) in enumerate(tris)]
    bt = torch.ones(3, 4, dtype=torch.bool)
    it = torch.arange(1, 13, dtype=torch.int32).view(3, 4)
    cases['tri_dtypes'] = {'bool': enc(bt), 'tril_bool': enc(torch.tril(bt, -1)), 'triu_bool': enc(torch.triu(bt, 1)),
                           'int32': enc(it), 'tril_int32': enc(torch.tril(it)), 'triu_int32': enc(torch.triu(it, -1))}
    return cases
