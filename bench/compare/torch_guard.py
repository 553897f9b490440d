"""Shared by the GPU-only PyTorch baselines: torch with a usable GPU, or the reason there is none.

    from torch_guard import cuda_torch_or_skip
    torch = cuda_torch_or_skip()
    if torch is None:
        return 0
"""
import json


def cuda_torch_or_skip():
    """torch when it imports and sees a GPU; else prints the reason (a comment line and a
    {"impl": "torch", "skipped": ...} JSON line, as the node-nccl side does) and returns None."""
    try:
        import torch
    except ImportError:
        print(json.dumps({"impl": "torch", "skipped": "no torch in this python"}))
        return None
    if not torch.cuda.is_available():
        msg = "no GPU (torch.cuda.is_available() is False): nothing measured"
        print("# " + msg)
        print(json.dumps({"impl": "torch", "skipped": msg}))
        return None
    return torch
