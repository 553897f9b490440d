"""Encoding shared by the fixture topics: a tensor becomes {dtype, shape, data} with data flat in
row-major order; float values that JSON cannot hold are the strings 'nan', 'inf', '-inf'; int64 values
are strings (exact beyond 2^53)."""
import math
import torch

DTYPES = {
    torch.float32: 'float32', torch.float64: 'float64', torch.float16: 'float16',
    torch.bfloat16: 'bfloat16', torch.int32: 'int32', torch.int64: 'int64',
    torch.uint8: 'uint8', torch.bool: 'bool',
}

def _num(v, dtype):
    if dtype == 'int64':
        return str(int(v))
    if dtype == 'bool':
        return bool(v)
    if dtype in ('int32', 'uint8'):
        return int(v)
    v = float(v)
    if math.isnan(v):
        return 'nan'
    if math.isinf(v):
        return 'inf' if v > 0 else '-inf'
    return v

def enc(t):
    """A tensor (or None) as JSON. Half types are widened to float64 exactly for transport."""
    if t is None:
        return None
    t = t.detach()
    dtype = DTYPES[t.dtype]
    flat = t.contiguous().reshape(-1)
    if dtype in ('float16', 'bfloat16', 'float32'):
        flat = flat.double()
    return {'dtype': dtype, 'shape': list(t.shape), 'data': [_num(v, dtype) for v in flat.tolist()]}

def grad_case(fn, inputs, seed):
    """Runs fn on float64 leaves, backprops sum(w * out) with seeded weights w: the forward value,
    the weights and every input's gradient, as test/helpers' gradient cases read them."""
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(out.shape, generator=g, dtype=torch.float64) * 2 - 1
    (out * w).sum().backward()
    return {'inputs': [enc(t) for t in inputs], 'out': enc(out), 'w': enc(w),
            'grads': [enc(l.grad) for l in leaves]}
