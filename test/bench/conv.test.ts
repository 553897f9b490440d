// bench conv: options, the FLOP count and output sizes of its cases, a run on the CPU written as
// JSON that validates against the schema, and (where a Python with torch is found) PyTorch timed
// on the same cases in the same run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CASES, forwardFlops, outputShape, parseConvArgs } from '../../lib/bench/conv.js';
import { validateResult, type ConvResult } from '../../lib/bench/schema.js';

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/node-nccl.js', ...args], { encoding: 'utf8', timeout: 300_000 });

test('bench conv options parse, with defaults and clear refusals; cases have torch output sizes and FLOP counts', () => {
  const o = parseConvArgs(['--cases', 'lenet-conv1,lenet-pool', '-b', '4', '-d', 'float64', '--torch', 'off', '-n', '2']);
  assert.deepEqual([o.cases!.map((c) => c.name), o.batch, o.dtype, o.torch, o.iters, o.warmup], [['lenet-conv1', 'lenet-pool'], 4, 'float64', false, 2, 3]);
  assert.equal(parseConvArgs([]).torch, true);
  assert.throws(() => parseConvArgs(['--cases', 'vgg']), /unknown case/);
  assert.throws(() => parseConvArgs(['-d', 'int8']), /conv runs/);
  assert.throws(() => parseConvArgs(['--torch', 'maybe']), /expected on or off/);
  const byName = (n: string) => CASES.find((c) => c.name === n)!;
  assert.deepEqual(outputShape(byName('lenet-conv1')), [64, 6, 28, 28]);
  assert.deepEqual(outputShape(byName('lenet-conv2')), [64, 16, 10, 10]);
  assert.deepEqual(outputShape(byName('lenet-pool')), [64, 6, 14, 14]);
  assert.deepEqual(outputShape(byName('resnet-stem')), [32, 64, 112, 112]);
  assert.equal(forwardFlops(byName('lenet-conv2')), 2 * 64 * 16 * 6 * 25 * 100);
  assert.equal(forwardFlops(byName('depthwise-3x3')), 2 * 8 * 128 * 1 * 9 * 28 * 28);
});

test('bench conv runs on the CPU and writes a schema-valid result', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-conv-'));
  try {
    const json = join(dir, 'c.json');
    const r = cli(['bench', 'conv', '--device', 'cpu', '--cases', 'lenet-conv2,lenet-pool,depthwise-3x3', '-b', '2', '-n', '2', '-w', '1', '--torch', 'off', '--json', json]);
    assert.equal(r.status, 0, r.stderr);
    const res = validateResult(JSON.parse(readFileSync(json, 'utf8'))) as ConvResult;
    assert.equal(res.kind, 'conv');
    assert.deepEqual(res.rows.map((x) => [x.case, x.input[0]]), [['lenet-conv2', 2], ['lenet-pool', 2], ['depthwise-3x3', 2]]);
    for (const row of res.rows) {
      assert.ok(row.fwdMs > 0 && row.trainMs > 0);
      assert.equal(row.torchFwdMs, null);
      if (row.kind === 'conv') {
        const k = CASES.find((c) => c.name === row.case)!;
        const flops = 3 * forwardFlops({ ...k, input: row.input as [number, number, number, number] });
        assert.ok(Math.abs(row.gflops! - flops / (row.trainMs * 1e6)) <= row.gflops! * 1e-9);
      } else {
        assert.equal(row.gflops, null);
      }
    }
    assert.match(r.stdout, /PyTorch: off \(--torch off\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const torchPython = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch'], { timeout: 60_000 }).status === 0);

test('bench conv times PyTorch on the same cases in the same run', { skip: torchPython ? false : 'no Python with torch (python3, /usr/bin/python3)' }, () => {
  const r = cli(['bench', 'conv', '--device', 'cpu', '--cases', 'lenet-conv2', '-b', '2', '-n', '2', '-w', '1', '--python', torchPython!]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /PyTorch: torch \d+\.\d+/);
  const line = r.stdout.split('\n').find((l) => l.includes('lenet-conv2'))!;
  const cols = line.trim().split(/\s+/);
  assert.equal(cols.length, 11, line);
  for (const c of cols.slice(4)) assert.ok(Number(c) > 0, `${c} in ${line}`);
});
