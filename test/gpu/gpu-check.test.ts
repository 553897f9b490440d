/**
 * scripts/gpu-check.mjs (npm run gpu:check), the one command for a real GPU, cannot rot here: its
 * smoke run (tiny sizes, no tests) goes through every step on simulated devices and must fill the
 * node-nccl column of its table. On a real GPU the full run is npm run gpu:check itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cuda } from '../../lib/index.js';

const skip = cuda.deviceCount() === 0 ? `no GPU: ${cuda.noGpuReason()}` : !cuda.isSimulated() ? 'on a real GPU, run npm run gpu:check itself' : false;

test('gpu:check --smoke runs every step and prints a row for each comparison', { skip, timeout: 120_000 }, () => {
  const root = fileURLToPath(new URL('../../..', import.meta.url));
  const out = mkdtempSync(join(tmpdir(), 'gpu-check-'));
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'gpu-check.mjs'), '--smoke', '--out', out], {
    encoding: 'utf8', timeout: 110_000, env: { ...process.env, NODE_NCCL_SIM_DEVICES: '1' },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /FAILED/);
  const result = JSON.parse(readFileSync(join(out, 'gpu-check.json'), 'utf8')) as { ratios: { what: string; nodeNccl: number | null }[] };
  const whats = result.ratios.map((x) => x.what);
  for (const w of ['GEMM 256x256x256 fp32', 'GEMM 256x256x256 tf32', 'GEMM 256x256x256 bf16', 'add 2^26 fp32', 'allocator alloc/free pairs',
    'pinned copy h2d 1 MiB', 'MLP 784-4096-4096-10 train step bf16', 'DDP step, world size 1', 'all-reduce 8 B, world size 1', 'all-reduce 1 MiB, world size 1'])
    assert.ok(whats.includes(w), `no row '${w}'`);
  for (const x of result.ratios) assert.ok(x.nodeNccl !== null && x.nodeNccl > 0, `no node-nccl figure for ${x.what}`);
  assert.match(r.stdout, /\| what \| node-nccl \| torch \|/);
});
