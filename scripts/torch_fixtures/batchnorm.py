"""Reference values for batch normalization (issue 15): nn.BatchNorm1d / nn.BatchNorm2d and
F.batch_norm forward and gradients in train and eval mode, running statistics over several steps
(momentum 0.1 and None), affine / track_running_stats off, state_dict keys, SyncBatchNorm's
reference (BatchNorm over the concatenated batch of uneven per-rank batches, for 2 and 3 ranks),
nn.Flatten shapes and the errors torch raises for bad inputs. PyTorch 1.13 on the CPU, float64."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_fixtures.common import enc

D = torch.float64


def _rand(g, *shape, lo=-2.0, hi=2.0):
    return torch.rand(*shape, generator=g, dtype=D) * (hi - lo) + lo


def _module(kind, c, **kw):
    m = (nn.BatchNorm1d if kind == '1d' else nn.BatchNorm2d)(c, dtype=D, **kw)
    return m


def _affine(g, m):
    with torch.no_grad():
        if m.weight is not None:
            m.weight.copy_(_rand(g, m.num_features, lo=0.5, hi=1.5))
            m.bias.copy_(_rand(g, m.num_features, lo=-0.5, hi=0.5))


def _step(m, x, w):
    """One forward/backward of sum(w * m(x)); the values a test compares."""
    xl = x.clone().requires_grad_(True)
    if m.weight is not None:
        m.weight.grad = None
        m.bias.grad = None
    out = m(xl)
    (out * w).sum().backward()
    r = {'x': enc(x), 'w': enc(w), 'out': enc(out), 'grad_x': enc(xl.grad)}
    if m.weight is not None:
        r['grad_weight'] = enc(m.weight.grad)
        r['grad_bias'] = enc(m.bias.grad)
    if m.running_mean is not None:
        r['running_mean'] = enc(m.running_mean)
        r['running_var'] = enc(m.running_var)
        r['num_batches_tracked'] = int(m.num_batches_tracked)
    return r


def _error(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - we record what torch raises
        return {'type': type(e).__name__, 'message': str(e).split('\n')[0]}
    return None


def generate():
    g = torch.Generator().manual_seed(15)
    cases = {}

    # one training step and one eval step per layout, with affine parameters
    layouts = []
    for kind, shape in (('1d', (6, 3)), ('1d', (4, 3, 5)), ('2d', (3, 4, 3, 2)), ('2d', (2, 2, 1, 1))):
        c = shape[1]
        m = _module(kind, c)
        _affine(g, m)
        weight, bias = enc(m.weight), enc(m.bias)
        train = _step(m.train(), _rand(g, *shape), _rand(g, *shape))
        ev = _step(m.eval(), _rand(g, *shape), _rand(g, *shape))
        layouts.append({'kind': kind, 'shape': list(shape), 'weight': weight, 'bias': bias, 'train': train, 'eval': ev})
    cases['layouts'] = layouts

    # running statistics over several steps: momentum 0.1, 0.3 and None (cumulative average)
    steps = []
    for momentum in (0.1, 0.3, None):
        m = _module('2d', 3, momentum=momentum)
        runs = []
        for i in range(4):
            n = 2 + i  # the batch size changes from step to step
            runs.append(_step(m.train(), _rand(g, n, 3, 2, 3, lo=-1.0 + i, hi=2.0 + 2 * i), _rand(g, n, 3, 2, 3)))
        steps.append({'momentum': momentum, 'runs': runs,
                      'eval': _step(m.eval(), _rand(g, 2, 3, 2, 3), _rand(g, 2, 3, 2, 3))})
    cases['steps'] = steps

    # affine=False; track_running_stats=False (batch statistics in eval mode too)
    m = _module('1d', 4, affine=False)
    cases['no_affine'] = {'train': _step(m.train(), _rand(g, 5, 4), _rand(g, 5, 4)),
                          'eval': _step(m.eval(), _rand(g, 5, 4), _rand(g, 5, 4))}
    m = _module('2d', 2, track_running_stats=False)
    _affine(g, m)
    cases['no_running_stats'] = {'weight': enc(m.weight), 'bias': enc(m.bias),
                                 'train': _step(m.train(), _rand(g, 3, 2, 2, 2), _rand(g, 3, 2, 2, 2)),
                                 'eval': _step(m.eval(), _rand(g, 3, 2, 2, 2), _rand(g, 3, 2, 2, 2))}

    # eps and the functional form with explicit running statistics (training=False by default)
    x = _rand(g, 4, 3, 2)
    rm, rv = _rand(g, 3), _rand(g, 3, lo=0.5, hi=2.0)
    wt, bs = _rand(g, 3), _rand(g, 3)
    cases['functional'] = {
        'x': enc(x), 'running_mean': enc(rm), 'running_var': enc(rv), 'weight': enc(wt), 'bias': enc(bs),
        'eval': enc(F.batch_norm(x, rm.clone(), rv.clone(), wt, bs, eps=1e-3)),
    }
    rm2, rv2 = rm.clone(), rv.clone()
    out = F.batch_norm(x, rm2, rv2, wt, bs, training=True, momentum=0.25, eps=1e-3)
    cases['functional']['train'] = {'out': enc(out), 'running_mean': enc(rm2), 'running_var': enc(rv2)}

    # state_dict keys, as a checkpoint names them
    seq = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.BatchNorm1d(3, affine=False),
                        nn.BatchNorm1d(3, track_running_stats=False))
    cases['state_dict_keys'] = {
        'bn2d': list(nn.BatchNorm2d(3).state_dict().keys()),
        'sequential': list(seq.state_dict().keys()),
        'dtypes': {k: str(v.dtype).replace('torch.', '') for k, v in nn.BatchNorm2d(3).state_dict().items()},
    }

    # SyncBatchNorm's reference: BatchNorm2d over the concatenated batch of uneven per-rank
    # batches, two training steps then one eval step
    sync = []
    for sizes in ((3, 5), (2, 4, 1), (3, 0, 2)):
        m = _module('2d', 3, momentum=0.2)
        _affine(g, m)
        weight, bias = enc(m.weight), enc(m.bias)
        runs = []
        for i in range(2):
            n = sum(sizes)
            runs.append(_step(m.train(), _rand(g, n, 3, 2, 2, lo=-1.0 - i, hi=1.5 + i), _rand(g, n, 3, 2, 2)))
        n = sum(sizes)
        sync.append({'sizes': list(sizes), 'weight': weight, 'bias': bias, 'momentum': 0.2, 'runs': runs,
                     'eval': _step(m.eval(), _rand(g, n, 3, 2, 2), _rand(g, n, 3, 2, 2))})
    cases['sync'] = sync

    # nn.Flatten
    t = torch.zeros(2, 3, 4, 5)
    cases['flatten'] = [{'start': s, 'end': e, 'shape': list(nn.Flatten(s, e)(t).shape)}
                        for s, e in ((1, -1), (0, -1), (2, 3), (1, 2), (-3, -2), (3, 3))]

    # what torch raises for bad inputs (the tests check ours raise for the same calls)
    cases['errors'] = {
        'bn2d_3d_input': _error(lambda: nn.BatchNorm2d(3)(torch.zeros(2, 3, 4))),
        'bn1d_4d_input': _error(lambda: nn.BatchNorm1d(3)(torch.zeros(2, 3, 4, 4))),
        'one_value_per_channel': _error(lambda: nn.BatchNorm1d(3).train()(torch.zeros(1, 3))),
        'channel_mismatch': _error(lambda: nn.BatchNorm1d(3)(torch.zeros(4, 5))),
        'eval_without_running_stats': _error(lambda: F.batch_norm(torch.zeros(4, 3), None, None, training=False)),
        'weight_shape': _error(lambda: F.batch_norm(torch.zeros(4, 3), torch.zeros(3), torch.ones(3), weight=torch.ones(2))),
        'dropout2d_p': _error(lambda: nn.Dropout2d(1.5)),
    }
    return cases
