/**
 * Cross-check with Python's safetensors and torch (GPU machine): a file we write loads in Python
 * with the exact values, a file Python writes loads here, both writers give the same bytes for
 * the same tensors, and load({ device: 'cuda:0' }) puts the tensors on the GPU.
 * Skips, naming the reason, without a GPU or without python3 + torch + safetensors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cuda } from '../../lib/cuda/index.js';
import { load, save } from '../../lib/io/safetensors.js';
import { tensor, type Tensor } from '../../lib/tensor/index.js';

function skipReason(): string | null {
  if (cuda.deviceCount() === 0) return `no GPU: ${cuda.noGpuReason()}`;
  const p = spawnSync('python3', ['-c', 'import torch, safetensors; print(torch.__version__, safetensors.__version__)'], { encoding: 'utf8' });
  if (p.status !== 0) return `python3 with torch and safetensors is not available (${(p.stderr || p.error?.message || '').trim().split('\n').pop()})`;
  return null;
}
const reason = skipReason();

const PY = String.raw`
import sys, torch
from safetensors.torch import load_file, save_file
ours, theirs = sys.argv[1], sys.argv[2]
t = load_file(ours)
exp = {
  'w32': torch.tensor([[1.0, -2.5, 3.25], [0.5, 65504.0, -0.125]], dtype=torch.float32),
  'w64': torch.tensor([1e-300, -2.0], dtype=torch.float64),
  'h': torch.tensor([1.0, -2.0, 0.099975586], dtype=torch.float16),
  'b': torch.tensor([1.0, -2.0, 0.5], dtype=torch.bfloat16),
  'i32': torch.tensor([-2147483648, 7], dtype=torch.int32),
  'i64': torch.tensor([-(2**62), 2**40], dtype=torch.int64),
  'u8': torch.tensor([0, 255], dtype=torch.uint8),
  'm': torch.tensor([True, False, True]),
}
assert sorted(t) == sorted(exp), sorted(t)
for k, v in exp.items():
    assert t[k].dtype == v.dtype and t[k].shape == v.shape and torch.equal(t[k], v), (k, t[k], v)
save_file(exp, theirs, metadata={'format': 'pt'})
print('ok')
`;

function sample(): Record<string, Tensor> {
  return {
    w32: tensor([1, -2.5, 3.25, 0.5, 65504, -0.125]).reshape([2, 3]),
    w64: tensor([1e-300, -2], { dtype: 'float64' }),
    h: tensor([1, -2, 0.099975586], { dtype: 'float16' }),
    b: tensor([1, -2, 0.5], { dtype: 'bfloat16' }),
    i32: tensor([-2147483648, 7], { dtype: 'int32' }),
    i64: tensor([-(2n ** 62n), 2n ** 40n]),
    u8: tensor([0, 255], { dtype: 'uint8' }),
    m: tensor([true, false, true], { dtype: 'bool' }),
  };
}

test('safetensors files are interchangeable with Python safetensors/torch', { skip: reason ?? false }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nn-st-py-'));
  try {
    const ours = join(dir, 'ours.safetensors');
    const theirs = join(dir, 'theirs.safetensors');
    await save(sample(), ours, { metadata: { format: 'pt' } });
    const p = spawnSync('python3', ['-c', PY, ours, theirs], { encoding: 'utf8' });
    assert.equal(p.status, 0, `python: ${p.stdout}\n${p.stderr}`);
    assert.ok(readFileSync(ours).equals(readFileSync(theirs)), 'the two writers produce identical bytes');
    const back = await load(theirs, { device: 'cuda:0' });
    for (const [k, t] of Object.entries(sample())) {
      assert.equal(back[k]!.device.toString(), 'cuda:0');
      assert.equal(back[k]!.dtype, t.dtype, k);
      assert.deepEqual(Array.from(back[k]!.to('cpu').dataSync() as ArrayLike<number | bigint>), Array.from(t.dataSync() as ArrayLike<number | bigint>), k);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
