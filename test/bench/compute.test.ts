import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as lib from '../../lib/index.js';
import { parseGemmArgs, parseShapes } from '../../lib/bench/gemm.js';
import { parseOpsArgs, TRAFFIC } from '../../lib/bench/ops.js';
import { parseDdpArgs } from '../../lib/bench/ddp.js';
import { validateResult, type GemmResult, type OpsResult } from '../../lib/bench/schema.js';

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/node-nccl.js', ...args], { encoding: 'utf8', timeout: 120_000 });
const has = (name: string) => typeof (lib as Record<string, unknown>)[name] === 'function';

test('gemm/ops/ddp options parse, with defaults and clear refusals', () => {
  assert.deepEqual(parseShapes('64x32x16,128'), [[64, 32, 16], [128, 128, 128]]);
  const g = parseGemmArgs(['-d', 'float32,bf16', '--tf32', 'on', '-n', '3']);
  assert.deepEqual([g.dtypes, g.tf32, g.iters, g.warmup, g.shapes], [['float32', 'bfloat16'], ['on'], 3, 3, null]);
  assert.deepEqual(parseGemmArgs([]).tf32, ['off', 'on']);
  assert.throws(() => parseGemmArgs(['-d', 'int8']), /gemm runs/);
  assert.throws(() => parseGemmArgs(['--shapes', '0x1x1']), /out of range/);
  const o = parseOpsArgs(['--numel', '4K,1M', '--ops', 'add,layernorm', '--row', '256']);
  assert.deepEqual([o.numels, o.ops, o.row], [[4096, 1048576], ['add', 'layerNorm'], 256]);
  assert.throws(() => parseOpsArgs(['--numel', '1000']), /multiple of the row length 1024/);
  const d = parseDdpArgs(['--world-sizes', '1,2,4', '--overlap', 'off', '--hidden', '64']);
  assert.deepEqual([d.worldSizes, d.overlaps, d.hidden, d.layers], [[1, 2, 4], [false], 64, 4]);
  assert.throws(() => parseDdpArgs(['--world-sizes', '0']), /out of range/);
});

test('bench gemm measures matmul and reports TFLOP/s = 2MNK / time', { skip: has('randn') ? false : 'lib/tensor is not in this build' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-gemm-'));
  try {
    const json = join(dir, 'g.json');
    const r = cli(['bench', 'gemm', '--device', 'cpu', '--shapes', '32x16x8,24', '-d', 'float32,float64', '-n', '2', '-w', '1', '--json', json]);
    assert.equal(r.status, 0, r.stderr);
    const res = validateResult(JSON.parse(readFileSync(json, 'utf8'))) as GemmResult;
    assert.equal(res.rows.length, 4);
    for (const row of res.rows) {
      assert.equal(row.tf32, false);
      const flop = 2 * row.m * row.n * row.k;
      assert.ok(Math.abs(row.tflops - flop / (row.timeUs * 1e-6) / 1e12) <= row.tflops * 1e-9);
    }
    assert.match(r.stdout, /TFLOP\/s/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bench ops reports bandwidth from the bytes each op must move, and the launch overhead', { skip: has('randn') ? false : 'lib/tensor is not in this build' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ops-'));
  try {
    const json = join(dir, 'o.json');
    const r = cli(['bench', 'ops', '--device', 'cpu', '--numel', '8K', '--row', '256', '-n', '3', '-w', '1', '--json', json]);
    assert.equal(r.status, 0, r.stderr);
    const res = validateResult(JSON.parse(readFileSync(json, 'utf8'))) as OpsResult;
    assert.deepEqual(res.rows.map((x) => x.op), ['add', 'mul', 'gelu', 'softmax', 'layerNorm']);
    for (const row of res.rows) {
      assert.equal(row.bytes, TRAFFIC[row.op as keyof typeof TRAFFIC] * 8192 * 4);
      assert.ok(Math.abs(row.bandwidth - row.bytes / (row.timeUs * 1e-6) / 1e9) <= row.bandwidth * 1e-9);
    }
    assert.ok(res.launchOverheadUs.cpu! > 0);
    assert.match(r.stdout, /host overhead per launch/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const ddpReady = typeof (lib as Record<string, unknown>).DistributedDataParallel === 'function' && typeof (lib as Record<string, unknown>).distributed === 'object';

test('bench ddp runs each world size through the launcher, overlap on and off', { skip: ddpReady ? false : 'DistributedDataParallel / lib/distributed are not exported by this build' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ddp-'));
  try {
    const json = join(dir, 'd.json');
    const r = cli(['bench', 'ddp', '--backend', 'cpu', '--world-sizes', '1,2', '--in-features', '16', '--hidden', '16', '--layers', '2', '--batch', '8', '-n', '2', '-w', '1', '--json', json]);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const res = validateResult(JSON.parse(readFileSync(json, 'utf8')));
    assert.equal(res.kind, 'ddp');
    if (res.kind !== 'ddp') return;
    assert.deepEqual(res.rows.map((x) => [x.worldSize, x.overlap]), [[1, true], [1, false], [2, true], [2, false]]);
    for (const x of res.rows) assert.ok(Math.abs(x.samplesPerSec - (8 * x.worldSize * 1000) / x.stepMs) < 1e-6 * x.samplesPerSec);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
