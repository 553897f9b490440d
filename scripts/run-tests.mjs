#!/usr/bin/env node
// Runs the compiled tests (dist/test/**/*.test.js) with node:test.
//   node scripts/run-tests.mjs            everything, then test/gpu/ again on 2 simulated devices
//                                         (NODE_NCCL_SIM_DEVICES=2): without a GPU the first pass
//                                         skips the GPU tests, saying why, and the second runs them
//   node scripts/run-tests.mjs --gpu      only test/gpu/, on the real devices (a GPU machine)
//   node scripts/run-tests.mjs <filter>   only files whose path contains <filter> (both passes)
//   --tap                                 the raw TAP stream on stdout instead of dots and a summary
//
// Progress is one dot per test; the full TAP report goes to dist/test/results.tap, and a summary
// closes the run: every failure with its file, line and message, the skips grouped by reason, and
// "N passed, N failed, N skipped". The tests get a temporary folder of their own (TMPDIR), removed
// afterwards; anything a test left in it is listed, so a leak is seen and /tmp stays clean.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const testRoot = join(root, 'dist', 'test');
const args = process.argv.slice(2);
const gpuOnly = args.includes('--gpu');
const rawTap = args.includes('--tap');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.js') ? [p] : [];
  });
}

let files = walk(testRoot).sort();
if (gpuOnly) files = files.filter((f) => relative(testRoot, f).startsWith('gpu'));
if (filters.length) files = files.filter((f) => filters.some((x) => relative(testRoot, f).includes(x)));
if (files.length === 0) {
  console.error(`no test files under ${relative(root, testRoot)} matched (did \`tsc\` run?)`);
  process.exit(1);
}

const scratch = mkdtempSync(join(tmpdir(), 'node-nccl-test-'));
const tapFile = join(testRoot, 'results.tap');
mkdirSync(dirname(tapFile), { recursive: true });
const concurrency = Math.max(2, Math.min(4, availableParallelism()));
const isGpu = (f) => relative(testRoot, f).startsWith('gpu');

/** One node --test run of `list` with `env`; its TAP report goes to `tap` (and is summarized). */
function run(list, env, tap, title) {
  const reporters = rawTap
    ? ['--test-reporter=tap', '--test-reporter-destination=stdout']
    : ['--test-reporter=dot', '--test-reporter-destination=stdout', '--test-reporter=tap', `--test-reporter-destination=${tap}`];
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...reporters, ...list], {
    stdio: 'inherit',
    cwd: root,
    env: { ...env, TMPDIR: scratch },
  });
  if (!rawTap) summarize(readFileSync(tap, 'utf8'), tap, (Date.now() - t0) / 1000, list.length, title);
  return r.status ?? 1;
}

const { NODE_NCCL_SIM_DEVICES: _sim, ...plain } = process.env;
let status = run(files, gpuOnly ? process.env : plain, tapFile, 'node-nccl tests');
const gpuFiles = gpuOnly ? [] : files.filter(isGpu);
if (gpuFiles.length) {
  const simTap = join(testRoot, 'results-simulated.tap');
  process.stdout.write(`\ntest/gpu again on 2 simulated devices (NODE_NCCL_SIM_DEVICES=2):\n`);
  status = run(gpuFiles, { ...plain, NODE_NCCL_SIM_DEVICES: '2' }, simTap, 'GPU tests on simulated devices') || status;
}

const left = readdirSync(scratch);
rmSync(scratch, { recursive: true, force: true });
if (left.length) {
  process.stdout.write(`\nnote: the tests left ${left.length} entr${left.length === 1 ? 'y' : 'ies'} in their temporary folder (removed now): ${left.slice(0, 10).join(', ')}${left.length > 10 ? ', ...' : ''}\n`);
}
process.exit(status);

/** Failures, skips by reason and the totals, from node's TAP output. */
function summarize(tap, tapPath, seconds, nFiles, title) {
  const lines = tap.split('\n');
  const total = (k) => Number((tap.match(new RegExp(`^# ${k} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
  const failures = [];
  const skips = new Map();
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO)\b ?(.*))?$/.exec(lines[i]);
    if (!m) continue;
    if (m[4] === 'SKIP') skips.set(m[5] || '(no reason given)', (skips.get(m[5] || '(no reason given)') ?? 0) + 1);
    if (m[2] !== 'not ok') continue;
    // its YAML block: location, failureType, the error's first lines
    const yaml = [];
    for (let j = i + 1; j < lines.length && !/^\s*\.\.\.$/.test(lines[j]); j++) yaml.push(lines[j].trim());
    if (yaml.some((l) => l === "failureType: 'subtestsFailed'")) continue; // a parent: its failing child is listed
    const location = (yaml.find((l) => l.startsWith('location:')) ?? '').replace(/^location: '?|'$/g, '');
    const errAt = yaml.findIndex((l) => l.startsWith('error:'));
    const error = errAt < 0 ? [] : [yaml[errAt].replace(/^error: ?\|?-?\s*/, ''), ...yaml.slice(errAt + 1, errAt + 6)]
      .filter((l) => l && !/^(code|name|expected|actual|operator|stack):/.test(l) && !/^at |\(file:\/\//.test(l));
    failures.push({ name: m[3], location: location.replace(/^file:\/\//, '').replace(`${root}/`, ''), error: error.slice(0, 4) });
  }
  const out = ['', '', `${title}: ${nFiles} file(s), ${seconds.toFixed(0)} s`];
  if (failures.length) {
    out.push('', 'FAILED:');
    for (const f of failures) {
      out.push(`  x ${f.name}${f.location ? `  (${f.location})` : ''}`);
      for (const e of f.error) out.push(`      ${e}`);
    }
  }
  if (skips.size) {
    out.push('', 'skipped, by reason:');
    for (const [why, n] of [...skips].sort((a, b) => b[1] - a[1])) out.push(`  ${String(n).padStart(4)}  ${why}`);
  }
  const cancelled = total('cancelled');
  out.push('', `full TAP report: ${relative(process.cwd(), tapPath) || tapPath}`);
  out.push(`${total('pass')} passed, ${total('fail')} failed, ${total('skipped')} skipped${cancelled ? `, ${cancelled} cancelled` : ''}`);
  process.stdout.write(out.join('\n') + '\n');
}
