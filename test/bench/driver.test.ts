import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COLLECTIVE_NAMES } from '../../lib/bench/collectives.js';
import { runCollectiveBenchmark, type CollectiveOutcome } from '../../lib/bench/driver.js';
import { parseCollectiveArgs } from '../../lib/bench/options.js';
import { reducedValue } from '../../lib/bench/pattern.js';
import { ALL_DTYPES, dtypeByName } from '../../lib/bench/dtypes.js';
import { LocalWorld, type WorldOptions } from './local-world.js';

async function runWorld(n: number, name: string, argv: string[], opts: WorldOptions = {}): Promise<{ outcome: CollectiveOutcome; lines: string[] }> {
  const world = new LocalWorld(n, opts);
  const o = parseCollectiveArgs(name, argv);
  const lines: string[] = [];
  const outs = await Promise.all(world.comms.map((c) => runCollectiveBenchmark(c, o, { emit: (l) => lines.push(...l.split('\n')) })));
  // Every rank agrees on the result (times and counts are reduced across ranks).
  for (const x of outs) assert.deepEqual(x.rows.map((r) => [r.size, r.outOfPlace.wrong, r.inPlace.wrong]), outs[0]!.rows.map((r) => [r.size, r.outOfPlace.wrong, r.inPlace.wrong]));
  return { outcome: outs[0]!, lines };
}

test('every collective, at 1 to 4 ranks, checks 0 wrong against a correct implementation', async () => {
  for (const name of COLLECTIVE_NAMES) {
    for (const n of [1, 2, 3, 4]) {
      const { outcome } = await runWorld(n, name, ['-b', '8', '-e', '4K', '-f', '8', '-n', '2', '-w', '1', '-c', '1', '-r', String(n - 1)]);
      assert.equal(outcome.summary.outOfBounds, 0, `${name} n=${n}`);
      for (const r of outcome.rows) {
        assert.equal(r.outOfPlace.wrong, 0, `${name} n=${n} size ${r.size}`);
        if (name === 'all-to-all' || name === 'send-recv') assert.equal(r.inPlace.wrong, null);
        else assert.equal(r.inPlace.wrong, 0, `${name} n=${n} size ${r.size} in place`);
      }
    }
  }
});

test('a wrong element is counted, in the row and in "Out of bounds values"', async () => {
  for (const [name, kind] of [
    ['all-reduce', 'allReduce'],
    ['all-gather', 'allGather'],
    ['reduce-scatter', 'reduceScatter'],
    ['broadcast', 'broadcast'],
    ['all-to-all', 'allToAll'],
    ['send-recv', 'sendRecv'],
  ] as const) {
    const { outcome, lines } = await runWorld(2, name, ['-b', '64', '-e', '64', '-n', '1', '-w', '0'], { corrupt: { kind, rank: 1, index: 0 } });
    assert.equal(outcome.rows[0]!.outOfPlace.wrong, 1, name);
    assert.ok(outcome.summary.outOfBounds >= 1);
    assert.ok(lines.some((l) => l === `# Out of bounds values : ${outcome.summary.outOfBounds} FAILED`), lines.join('\n'));
  }
});

test('reduce checks the root only; a wrong root result is seen', async () => {
  const ok = await runWorld(3, 'reduce', ['-b', '96', '-e', '96', '-n', '1', '-w', '0', '-r', '2', '-o', 'max']);
  assert.equal(ok.outcome.rows[0]!.outOfPlace.wrong, 0);
  assert.equal(ok.outcome.rows[0]!.root, 2);
  const bad = await runWorld(3, 'reduce', ['-b', '96', '-e', '96', '-n', '1', '-w', '0', '-r', '2'], { corrupt: { kind: 'reduce', rank: 2, index: 5 } });
  assert.equal(bad.outcome.rows[0]!.outOfPlace.wrong, 1);
});

test('every dtype and op: the local pattern reductions agree with the independent implementation', async () => {
  const { outcome } = await runWorld(3, 'all-reduce', ['-b', '8', '-e', '1K', '-f', '4', '-n', '1', '-w', '0', '-d', 'all', '-o', 'all']);
  assert.equal(outcome.rows.length, ALL_DTYPES.length * 5 * 4);
  assert.equal(outcome.summary.outOfBounds, 0);
  assert.deepEqual([...new Set(outcome.rows.map((r) => r.type))].sort(), ['bfloat16', 'double', 'float', 'half', 'int32', 'int64', 'uint8']);
});

test('pattern reductions are exact where claimed (uint8 wraps, half stays exact)', () => {
  const u8 = dtypeByName('uint8');
  // prod at 9 ranks of values in {1, 2} can reach 512, which wraps modulo 256 as the device does.
  for (let i = 0; i < 50; i++) {
    const v = reducedValue(u8, 'prod', 9, i, 1);
    assert.ok(Number.isInteger(v) && v >= 0 && v < 256);
  }
  const h = dtypeByName('float16');
  for (let i = 0; i < 50; i++) assert.ok(Number.isInteger(reducedValue(h, 'sum', 64, i, 2)));
});

test('the table has nccl-tests columns, sizes, counts, and the closing lines', async () => {
  const { outcome, lines } = await runWorld(2, 'all-gather', ['-b', '8', '-e', '1K', '-f', '2', '-n', '2', '-w', '1']);
  assert.match(lines[0]!, /^# nThread 1 nGpus 0 minBytes 8 maxBytes 1024 step: 2\(factor\) warmup iters: 1 iters: 2 agg iters: 1 validation: 1 graph: 0$/);
  assert.ok(lines.includes('# Using ranks (backend local, world size 2)'));
  assert.ok(lines.some((l) => /^#\s+Rank  0 Group/.test(l)) && lines.some((l) => /^#\s+Rank  1 Group/.test(l)));
  const header = lines.find((l) => l.includes('redop') && l.includes('#wrong'))!;
  assert.match(header, /size\s+count\s+type\s+redop\s+root\s+time\s+algbw\s+busbw\s+#wrong\s+time\s+algbw\s+busbw\s+#wrong/);
  const dataLines = lines.filter((l) => /^\s+\d+\s+\d+\s+float\s+none\s+-1/.test(l));
  assert.equal(dataLines.length, 8);
  // all-gather at 2 ranks: 8 B = 2 floats, 1 per rank; count column is the per-rank count.
  assert.deepEqual(outcome.rows.map((r) => [r.size, r.count]).slice(0, 3), [[8, 1], [16, 2], [32, 4]]);
  assert.match(lines.at(-3)!, /^# Out of bounds values : 0 OK$/);
  assert.match(lines.at(-2)!, /^# Avg bus bandwidth    : [\d.e+-]+ $/);
  const avg = Number(lines.at(-2)!.split(':')[1]);
  const expect = outcome.rows.reduce((s, r) => s + r.outOfPlace.busBw + r.inPlace.busBw, 0) / (2 * outcome.rows.length);
  assert.ok(Math.abs(avg - expect) <= Math.abs(expect) * 1e-5 + 1e-12);
  for (const r of outcome.rows) {
    const algBw = (r.count * 4 * 2) / 1e9 / (r.outOfPlace.timeUs / 1e6);
    assert.ok(Math.abs(r.outOfPlace.algBw - algBw) <= algBw * 1e-9);
    assert.ok(Math.abs(r.outOfPlace.busBw - algBw / 2) <= algBw * 1e-9);
  }
});

test('-c 0 reports N/A; -z 1 and every -a mode run', async () => {
  const nocheck = await runWorld(2, 'all-reduce', ['-b', '64', '-e', '64', '-c', '0', '-n', '1', '-w', '0']);
  assert.equal(nocheck.outcome.rows[0]!.outOfPlace.wrong, null);
  assert.ok(nocheck.lines.some((l) => /\s+N\/A\s+.*N\/A$/.test(l)));
  for (const a of ['0', '1', '2', '3']) {
    const r = await runWorld(2, 'all-reduce', ['-b', '64', '-e', '128', '-f', '2', '-n', '2', '-w', '0', '-z', '1', '-a', a]);
    assert.equal(r.outcome.config.average, Number(a));
    assert.equal(r.outcome.summary.outOfBounds, 0);
    assert.ok(r.outcome.rows.every((x) => x.outOfPlace.timeUs > 0));
  }
});

test('a failing rank rejects the benchmark with its error (no hang)', async () => {
  const world = new LocalWorld(2, { failRank: 1 });
  const o = parseCollectiveArgs('all-reduce', ['-b', '64', '-e', '64', '-n', '1', '-w', '1']);
  // Rank 0 stays blocked in its collective (the launcher stops it in real runs); rank 1 rejects.
  void runCollectiveBenchmark(world.comms[0]!, o, { emit: () => {} }).catch(() => {});
  const r1 = runCollectiveBenchmark(world.comms[1]!, o, { emit: () => {} });
  await assert.rejects(r1, /rank 1 failed on purpose/);
});

test('-r beyond the world and -G without graph support are refused before running', async () => {
  const world = new LocalWorld(2);
  await assert.rejects(runCollectiveBenchmark(world.comms[0]!, parseCollectiveArgs('broadcast', ['-r', '5']), { emit: () => {} }), /root out of range for world size 2/);
  await assert.rejects(runCollectiveBenchmark(world.comms[0]!, parseCollectiveArgs('all-reduce', ['-G', '3']), { emit: () => {} }), /CUDA graphs are not available here/);
});

test('maxBytes shrinks to what a buffer may hold, as nccl-tests does', async () => {
  const { outcome, lines } = await runWorld(1, 'all-reduce', ['-b', '1M', '-e', '64M', '-f', '4', '-n', '1', '-w', '0', '-c', '0']);
  assert.equal(outcome.config.maxBytes, 1 << 24);
  assert.ok(lines.includes('# Reducing maxBytes to 16777216 due to memory limitation'));
  assert.deepEqual(outcome.rows.map((r) => r.size), [1 << 20, 1 << 22, 1 << 24]);
});
