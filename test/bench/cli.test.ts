import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as lib from '../../lib/index.js';
import { validateResult, type CollectiveResult } from '../../lib/bench/schema.js';

const cli = (args: string[], timeout = 60_000) =>
  spawnSync(process.execPath, ['bin/node-nccl.js', ...args], { encoding: 'utf8', timeout, env: { ...process.env, RANK: undefined, WORLD_SIZE: undefined } as NodeJS.ProcessEnv });

test('bench is registered and explains itself', () => {
  let r = cli(['--help']);
  assert.match(r.stdout, /^\s+bench$/m);
  r = cli(['bench']);
  assert.equal(r.status, 2);
  assert.match(r.stdout, /all-reduce, all-gather, reduce-scatter, broadcast, reduce, all-to-all, send-recv/);
  r = cli(['bench', 'all-reduce', '--help']);
  assert.equal(r.status, 0);
  for (const f of ['-b', '-e', '-f', '-i', '-n', '-w', '-c', '-d', '-o', '-r', '-z', '-a', '-G', '--backend', '--np', '--json']) assert.ok(r.stdout.includes(`  ${f}`), f);
  r = cli(['bench', 'all-smash']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown benchmark 'all-smash'/);
});

test('bad input exits non-zero with a clear message, before any rank starts', () => {
  const cases: [string[], RegExp][] = [
    [['bench', 'all-reduce', '--frob'], /unknown option '--frob'/],
    [['bench', 'all-reduce', '-b', '1M', '-e', '8'], /invalid sizes for 'minbytes' and 'maxbytes': 1048576 > 8/],
    [['bench', 'all-reduce', '-e', '100000T'], /size out of range/],
    [['bench', 'all-reduce', '-d', 'int8'], /no int8 dtype/],
    [['bench', 'all-reduce', '-d', 'quad'], /unknown dtype/],
    [['bench', 'all-reduce', '--backend', 'cpu', '-G', '2'], /CUDA graphs.*cpu backend/],
    [['bench', 'broadcast', '--np', '2', '-r', '3'], /root out of range/],
    [['bench', 'gemm', '--shapes', '12x'], /not MxNxK/],
    [['bench', 'ops', '--ops', 'conv'], /unknown op/],
    [['bench', 'ddp', '--overlap', 'maybe'], /expected on, off or both/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for bad input');
  }
});

const gpus = (() => {
  try {
    return (lib as unknown as { cuda?: { deviceCount(): number } }).cuda?.deviceCount() ?? 0;
  } catch {
    return 0;
  }
})();

test('--backend nccl: --np beyond the GPUs (or no GPU at all) is refused', () => {
  const r = cli(['bench', 'all-reduce', '--backend', 'nccl', '--np', String(gpus + 1)], 60_000);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, gpus === 0 ? /needs a GPU/ : new RegExp(`--np ${gpus + 1}: the nccl backend runs one rank per GPU`));
});

const hasDist = typeof (lib as unknown as { distributed?: { initProcessGroup?: unknown } }).distributed?.initProcessGroup === 'function';
const hasLauncher = cli(['run', '--help']).status === 0;
const e2eSkip = hasDist && hasLauncher ? false : `needs lib/distributed (${hasDist ? 'present' : 'missing'}) and the launcher \`node-nccl run\` (${hasLauncher ? 'present' : 'missing'})`;

test('end to end: all-reduce on the cpu backend at --np 2 checks #wrong = 0', { skip: e2eSkip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-e2e-'));
  try {
    const json = join(dir, 'ar.json');
    const r = cli(['bench', 'all-reduce', '--backend', 'cpu', '--np', '2', '-b', '8', '-e', '1M', '-f', '4', '-c', '1', '-n', '5', '-w', '2', '--json', json], 300_000);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^# nThread 1 nGpus 0 minBytes 8 maxBytes 1048576 step: 4\(factor\)/m);
    assert.match(r.stdout, /# Using ranks \(backend cpu, world size 2\)/);
    const rows = r.stdout.split('\n').filter((l) => /^\s+\d+\s+\d+\s+float\s+sum\s+-1/.test(l));
    assert.equal(rows.length, 9); // 8, 32, ..., 512K
    for (const l of rows) {
      const f = l.trim().split(/\s+/);
      assert.equal(f[8], '0', l);
      assert.equal(f[12], '0', l);
    }
    assert.match(r.stdout, /# Out of bounds values : 0 OK/);
    assert.match(r.stdout, /# Avg bus bandwidth    : [\d.e+-]+/);
    assert.ok(existsSync(json));
    const res = validateResult(JSON.parse(readFileSync(json, 'utf8'))) as CollectiveResult;
    assert.equal(res.config.worldSize, 2);
    assert.deepEqual(res.command.argv.slice(0, 2), ['bench', 'all-reduce']);
    assert.ok(res.command.argv.includes('--np'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('end to end: every collective at --np 3 with checks', { skip: e2eSkip }, () => {
  for (const c of ['all-gather', 'reduce-scatter', 'broadcast', 'reduce', 'all-to-all', 'send-recv']) {
    const r = cli(['bench', c, '--backend', 'cpu', '--np', '3', '-b', '12', '-e', '12K', '-f', '32', '-n', '2', '-w', '1', '-r', '2'], 300_000);
    assert.equal(r.status, 0, `${c}: ${r.stderr}${r.stdout}`);
    assert.match(r.stdout, /# Out of bounds values : 0 OK/, c);
  }
});

test('a killed rank ends the benchmark with its error (no hang)', { skip: e2eSkip }, async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['bin/node-nccl.js', 'bench', 'all-reduce', '--backend', 'cpu', '--np', '2', '-b', '64K', '-e', '64K', '-n', '10000000', '-w', '0', '-c', '0'], {
    env: { ...process.env, RANK: undefined, WORLD_SIZE: undefined } as NodeJS.ProcessEnv,
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const closed = new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  // The device lines name each rank's pid; kill rank 1 once they are out.
  const deadline = Date.now() + 120_000;
  let pid = 0;
  while (!pid && Date.now() < deadline) {
    const m = /Rank {2}1 Group {2}0 Pid\s+(\d+)/.exec(out);
    if (m) pid = Number(m[1]);
    else await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(pid > 0, `no device lines: ${out}${err}`);
  await new Promise((r) => setTimeout(r, 500));
  process.kill(pid, 'SIGKILL');
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await closed;
  clearTimeout(timer);
  assert.notEqual(code, 0);
  assert.notEqual(code, null, 'the benchmark had to be killed: it hung');
  assert.match(err, /rank 1 .*SIGKILL/);
});
