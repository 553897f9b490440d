/**
 * PyTorch's DDP loop run unchanged (in JavaScript spelling) on the cpu backend gives the weights
 * torch DDP on gloo gives after 10 steps with a shuffled DistributedSampler: same data, same
 * initial weights (scripts/torch_fixtures/ddp_gloo.py, PyTorch 1.13), same sample order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { load } from '../../lib/index.js';
import { fixtureValues, torchFixture, type EncodedTensor } from '../helpers/torch-fixtures.js';
import { explain, runRanks } from './spawn-ranks.js';

test('torch DDP on gloo and the same PyTorch-style loop here agree after 10 shuffled steps (2 ranks)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'torch-ddp-'));
  try {
    const out = join(dir, 'final.safetensors');
    const ranks = await runRanks('torch-style.js', 2, [out], { timeoutMs: 120_000 });
    for (const r of ranks) assert.equal(r.code, 0, explain(r));
    const got = await load(out);
    const want = torchFixture<{ final: Record<string, EncodedTensor> }>('ddp_gloo').final;
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
    for (const [k, enc] of Object.entries(want)) {
      const g = Array.from(got[k]!.dataSync() as Float32Array);
      const w = fixtureValues(enc);
      const diff = Math.max(...g.map((v, i) => Math.abs(v - w[i]!)));
      assert.ok(diff < 1e-6, `${k} differs from torch's by ${diff}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
