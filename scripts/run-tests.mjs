#!/usr/bin/env node
// Runs the compiled tests (dist/test/**/*.test.js) with node:test.
//   node scripts/run-tests.mjs            everything that needs no GPU (GPU tests skip, saying why)
//   node scripts/run-tests.mjs --gpu      only test/gpu/ (on a GPU machine)
//   node scripts/run-tests.mjs <filter>   only files whose path contains <filter>
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const testRoot = join(root, 'dist', 'test');
const args = process.argv.slice(2);
const gpuOnly = args.includes('--gpu');
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
const concurrency = Math.max(2, Math.min(4, availableParallelism()));
const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=600000', ...files], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
