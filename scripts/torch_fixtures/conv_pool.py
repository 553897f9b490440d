"""Reference values for conv2d / conv1d and max / average / adaptive average pooling (issue 15):
forward values and the gradients of sum(w * out) for stored weights w, from PyTorch 1.13 on the
CPU, in float64 (and one float32 case)."""
import torch
import torch.nn.functional as F
from torch_fixtures.common import enc

NAN = float('nan')


def _weights(out, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(out.shape, generator=g, dtype=out.dtype) * 2 - 1


def _conv_case(name, fn, x, w, b, opts, seed, **torch_opts):
    leaves = [t.clone().requires_grad_(True) if t is not None else None for t in (x, w, b)]
    out = fn(leaves[0], leaves[1], leaves[2], **torch_opts)
    gw = _weights(out, seed)
    (out * gw).sum().backward()
    return {'name': name, 'opts': opts, 'x': enc(x), 'w': enc(w), 'b': enc(b), 'out': enc(out), 'gout': enc(gw),
            'gx': enc(leaves[0].grad), 'gw': enc(leaves[1].grad), 'gb': enc(leaves[2].grad if b is not None else None)}


def _pool_case(name, fn, x, opts, seed, **torch_opts):
    leaf = x.clone().requires_grad_(True)
    res = fn(leaf, **torch_opts)
    out, idx = res if isinstance(res, tuple) else (res, None)
    gw = _weights(out, seed)
    (out * gw).sum().backward()
    return {'name': name, 'opts': opts, 'x': enc(x), 'out': enc(out), 'indices': enc(idx), 'gout': enc(gw),
            'gx': enc(leaf.grad)}


def generate():
    g = torch.Generator().manual_seed(15)
    r = lambda *s, dtype=torch.float64: (torch.rand(*s, generator=g, dtype=torch.float64) * 2 - 1).to(dtype)
    conv = []
    c = lambda name, x, w, b, opts, seed, **t: conv.append(_conv_case(name, F.conv2d, x, w, b, opts, seed, **t))
    c('basic', r(2, 3, 7, 6), r(4, 3, 3, 3), r(4), {}, 1)
    c('stride and padding per dim', r(2, 3, 8, 7), r(5, 3, 3, 2), r(5), {'stride': [2, 1], 'padding': [1, 2]}, 2,
      stride=(2, 1), padding=(1, 2))
    c('dilation', r(1, 2, 9, 9), r(3, 2, 3, 3), r(3), {'dilation': 2, 'padding': 2}, 3, dilation=2, padding=2)
    c('dilation and stride per dim', r(2, 2, 10, 11), r(3, 2, 2, 3), None,
      {'dilation': [3, 1], 'stride': [1, 3], 'padding': [0, 1]}, 4, dilation=(3, 1), stride=(1, 3), padding=(0, 1))
    c('groups 2', r(2, 4, 6, 6), r(6, 2, 3, 3), r(6), {'groups': 2, 'padding': 1}, 5, groups=2, padding=1)
    c('depthwise', r(1, 4, 5, 5), r(8, 1, 3, 3), r(8), {'groups': 4, 'stride': 2}, 6, groups=4, stride=2)
    c('same, odd kernel', r(2, 3, 6, 5), r(3, 3, 3, 3), r(3), {'padding': 'same'}, 7, padding='same')
    c('same, even kernel and dilation (asymmetric)', r(1, 3, 7, 6), r(2, 3, 4, 2), r(2),
      {'padding': 'same', 'dilation': [1, 2]}, 8, padding='same', dilation=(1, 2))
    c('valid', r(2, 2, 5, 6), r(3, 2, 2, 2), r(3), {'padding': 'valid'}, 9, padding='valid')
    c('1x1, no bias', r(2, 5, 4, 3), r(7, 5, 1, 1), None, {}, 10)
    c('1x1 strided', r(2, 3, 5, 5), r(2, 3, 1, 1), r(2), {'stride': 2}, 11, stride=2)
    c('kernel as large as the padded input', r(2, 2, 3, 3), r(2, 2, 5, 5), r(2), {'padding': 1}, 12, padding=1)
    c('unbatched', r(3, 5, 5), r(2, 3, 3, 3), r(2), {'padding': 1}, 13, padding=1)
    c('float32 LeNet conv', r(4, 1, 12, 12, dtype=torch.float32), r(6, 1, 5, 5, dtype=torch.float32),
      r(6, dtype=torch.float32), {'padding': 2}, 14, padding=2)
    conv1d = []
    c1 = lambda name, x, w, b, opts, seed, **t: conv1d.append(_conv_case(name, F.conv1d, x, w, b, opts, seed, **t))
    c1('strided, padded', r(2, 3, 10), r(4, 3, 3), r(4), {'stride': 2, 'padding': 1}, 21, stride=2, padding=1)
    c1('same, groups, dilation', r(2, 4, 9), r(6, 2, 4), None, {'padding': 'same', 'groups': 2, 'dilation': 2}, 22,
       padding='same', groups=2, dilation=2)
    c1('unbatched', r(3, 8), r(2, 3, 2), r(2), {}, 23)

    pool = []
    # integer-valued inputs make ties (torch keeps the first maximum in window order)
    ties = torch.randint(-3, 4, (2, 3, 7, 8), generator=g).double()
    withnan = r(1, 2, 6, 6)
    withnan[0, 1, 2, 3] = NAN
    mp = lambda name, x, opts, seed, **t: pool.append(dict(_pool_case(name, F.max_pool2d, x, opts, seed,
                                                                     return_indices=True, **t), op='max'))
    mp('max 2x2', r(2, 3, 8, 6), {'kernelSize': 2}, 31, kernel_size=2)
    mp('max 3x3 stride 2 pad 1', r(2, 2, 9, 7), {'kernelSize': 3, 'stride': 2, 'padding': 1}, 32,
       kernel_size=3, stride=2, padding=1)
    mp('max ceil mode', r(1, 2, 8, 7), {'kernelSize': 3, 'stride': 2, 'ceilMode': True}, 33,
       kernel_size=3, stride=2, ceil_mode=True)
    mp('max dilation, per-dim sizes', r(2, 1, 11, 10), {'kernelSize': [3, 2], 'stride': [1, 2], 'dilation': [2, 3],
                                                         'padding': [1, 1]}, 34,
       kernel_size=(3, 2), stride=(1, 2), dilation=(2, 3), padding=(1, 1))
    mp('max ties, overlapping', ties, {'kernelSize': 3, 'stride': 1}, 35, kernel_size=3, stride=1)
    mp('max NaN wins', withnan, {'kernelSize': 2}, 36, kernel_size=2)
    mp('max unbatched, ceil, pad', r(3, 7, 7), {'kernelSize': 2, 'padding': 1, 'ceilMode': True}, 37,
       kernel_size=2, padding=1, ceil_mode=True)
    ap = lambda name, x, opts, seed, **t: pool.append(dict(_pool_case(name, F.avg_pool2d, x, opts, seed, **t), op='avg'))
    ap('avg 2x2', r(2, 3, 8, 6), {'kernelSize': 2}, 41, kernel_size=2)
    ap('avg pad, count pad', r(2, 2, 7, 7), {'kernelSize': 3, 'stride': 2, 'padding': 1}, 42,
       kernel_size=3, stride=2, padding=1)
    ap('avg pad, no count pad', r(2, 2, 7, 7), {'kernelSize': 3, 'stride': 2, 'padding': 1, 'countIncludePad': False},
       43, kernel_size=3, stride=2, padding=1, count_include_pad=False)
    ap('avg ceil mode', r(1, 2, 8, 7), {'kernelSize': 3, 'stride': 2, 'ceilMode': True, 'padding': 1}, 44,
       kernel_size=3, stride=2, ceil_mode=True, padding=1)
    ap('avg ceil, no count pad', r(1, 2, 8, 7), {'kernelSize': 3, 'stride': 2, 'ceilMode': True, 'padding': 1,
                                                 'countIncludePad': False}, 45,
       kernel_size=3, stride=2, ceil_mode=True, padding=1, count_include_pad=False)
    ap('avg divisor override', r(2, 1, 6, 6), {'kernelSize': [2, 3], 'stride': [2, 1], 'divisorOverride': 4}, 46,
       kernel_size=(2, 3), stride=(2, 1), divisor_override=4)
    ap('avg unbatched', r(2, 5, 5), {'kernelSize': 2, 'stride': 1}, 47, kernel_size=2, stride=1)
    aap = lambda name, x, size, seed: pool.append(dict(_pool_case(name, F.adaptive_avg_pool2d, x,
                                                                  {'outputSize': size}, seed,
                                                                  output_size=tuple(size) if isinstance(size, list) else size),
                                                       op='adaptive'))
    aap('adaptive 7x10 -> 3x4', r(2, 3, 7, 10), [3, 4], 51)
    aap('adaptive global', r(2, 3, 5, 6), 1, 52)
    aap('adaptive upsampling 3x2 -> 5x4', r(1, 2, 3, 2), [5, 4], 53)
    aap('adaptive keep width', r(1, 2, 6, 5), [4, None], 54)
    aap('adaptive unbatched', r(3, 9, 9), 4, 55)
    return {'conv2d': conv, 'conv1d': conv1d, 'pool': pool}
