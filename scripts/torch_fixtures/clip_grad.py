"""torch.nn.utils.clip_grad_norm_ (PyTorch 1.13): the total norm and the clipped gradients, for
float64 and float32 gradients, norm types 2, 1, 3 and inf, clipping and not clipping.
test/optim/clip-grad-torch.test.ts must reproduce them in the gradients' dtype.
"""
import torch

from torch_fixtures.common import enc


def case(dtype, norm_type, max_norm, seed):
    g = torch.Generator().manual_seed(seed)
    shapes = [(5, 3), (7,), (2, 2, 2)]
    grads = [(torch.randn(s, generator=g, dtype=torch.float64) * 0.7).to(dtype) for s in shapes]
    params = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in shapes]
    for p, gr in zip(params, grads):
        p.grad = gr.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    return {
        'dtype': str(dtype).replace('torch.', ''), 'normType': 'inf' if norm_type == float('inf') else norm_type,
        'maxNorm': max_norm, 'grads': [enc(x) for x in grads], 'total': float(total), 'clipped': [enc(p.grad) for p in params],
    }


def generate():
    cases = []
    for dtype in (torch.float64, torch.float32):
        for norm_type in (2.0, 1.0, 3.0, float('inf')):
            for max_norm in (1.0, 100.0):
                cases.append(case(dtype, norm_type, max_norm, seed=len(cases) + 1))
    return {'cases': cases}
