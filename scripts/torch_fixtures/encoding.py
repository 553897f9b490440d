"""Self-check of the fixture encoding: one tensor of each kind the tests meet."""
import torch
from torch_fixtures.common import enc

def generate():
    return {
        'float64': enc(torch.tensor([[0.1, -2.5], [float('nan'), float('-inf')]], dtype=torch.float64)),
        'float32': enc(torch.tensor([1 / 3, 1e-8], dtype=torch.float32)),
        'float16': enc(torch.tensor([0.1, 65504.0], dtype=torch.float16)),
        'int64': enc(torch.tensor([2**62 + 1, -3], dtype=torch.int64)),
        'bool': enc(torch.tensor([True, False, True])),
        'sum': enc(torch.tensor([1 / 3, 1e-8], dtype=torch.float32).sum()),
    }
