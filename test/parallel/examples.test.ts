import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IMAGE_SIZE, loadMnist } from '../../examples/mnist-data.js';
import { formatDuration, formatProgress, ProgressBar } from '../../examples/progress.js';

const examples = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples');

test('MNIST split: every digit file, 85/15 per digit, disjoint, labels and pixel ranges sane', () => {
  const { train, test: held } = loadMnist();
  assert.equal(train.length + held.length, 10_000);
  assert.equal(held.length, 1501);
  assert.equal(train.images.length, train.length * IMAGE_SIZE);
  const counts = new Array(10).fill(0);
  for (const l of held.labels) counts[l]++;
  assert.ok(counts.every((c) => c >= 125 && c <= 175), `per-digit test counts ${counts}`);
  let min = Infinity;
  let max = -Infinity;
  for (const v of train.images) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.ok(min >= 0 && max <= 1 && max > 0.9);
  // Held-out images are not in the training set (compare a fingerprint of each image).
  const key = (imgs: Float32Array, i: number) => Array.from(imgs.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE).filter((_, k) => k % 7 === 0)).join(',');
  const trainKeys = new Set(Array.from({ length: train.length }, (_, i) => key(train.images, i)));
  let dup = 0;
  for (let i = 0; i < held.length; i++) if (trainKeys.has(key(held.images, i))) dup++;
  assert.ok(dup <= 3, `${dup} held-out images also in training`);
  assert.throws(() => loadMnist({ testFraction: 1.5 }), /testFraction/);
});

test('progress bar: one redrawn line on a TTY, plain lines otherwise', () => {
  const line = formatProgress({ epoch: 0, step: 5, loss: 0.5, samplesPerSec: 1234.5 }, 10, 3, 10);
  assert.equal(line, 'epoch 1/3 [#####-----] step  5/10 loss 0.5000 1,235 samples/s');
  const collect = (tty: boolean) => {
    const s = new PassThrough();
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    const bar = new ProgressBar({ total: 8, epochs: 1, stream: s, tty, plainEverySteps: 4 });
    for (let i = 1; i <= 8; i++) bar.update({ epoch: 0, step: i, loss: 1 / i, samplesPerSec: 100 });
    bar.log('done');
    return out;
  };
  const plain = collect(false);
  assert.equal(plain.split('\n').filter(Boolean).length, 3); // steps 4, 8, then 'done'
  assert.ok(!plain.includes('\r'));
  const tty = collect(true);
  assert.equal((tty.match(/\r/g) ?? []).length, 8);
  assert.ok(tty.endsWith('\ndone\n'));
});

test('progress bar: the time left from the pace so far; NODE_NCCL_TTY=1 (set by the launcher) means a terminal', () => {
  assert.equal(formatDuration(75), '1:15');
  assert.equal(formatDuration(3725), '1:02:05');
  let t = 0;
  const s = new PassThrough();
  let out = '';
  s.on('data', (d: Buffer) => (out += d.toString()));
  const bar = new ProgressBar({ total: 10, epochs: 2, stream: s, tty: false, plainEverySteps: 1, now: () => t });
  bar.update({ epoch: 0, step: 1, loss: 1, samplesPerSec: 1 });
  assert.ok(!out.includes('eta'), 'no pace yet');
  t = 2000; // 2 s for 4 steps: 0.5 s a step, 15 steps left
  bar.update({ epoch: 0, step: 5, loss: 1, samplesPerSec: 1 });
  assert.match(out.trim().split('\n').at(-1)!, / eta 0:08$/);
  const prev = process.env.NODE_NCCL_TTY;
  process.env.NODE_NCCL_TTY = '1';
  try {
    let tty = '';
    const s2 = new PassThrough();
    s2.on('data', (d: Buffer) => (tty += d.toString()));
    new ProgressBar({ total: 2, epochs: 1, stream: s2 }).update({ epoch: 0, step: 1, loss: 1, samplesPerSec: 1 });
    assert.ok(tty.startsWith('\r\x1b[2K'), 'redraws in place although the stream is a pipe');
  } finally {
    if (prev === undefined) delete process.env.NODE_NCCL_TTY;
    else process.env.NODE_NCCL_TTY = prev;
  }
});

test('mnist-ddp --help lists its options; bad options fail with exit code 2', () => {
  const help = spawnSync(process.execPath, [join(examples, 'mnist-ddp.js'), '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  for (const opt of ['--epochs', '--batch-size', '--lr', '--world-size', '--backend', '--out']) assert.ok(help.stdout.includes(opt), opt);
  const bad = spawnSync(process.execPath, [join(examples, 'mnist-ddp.js'), '--epochs', 'zero'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--epochs must be an integer >= 1/);
  const unknown = spawnSync(process.execPath, [join(examples, 'mnist-ddp.js'), '--frobnicate'], { encoding: 'utf8' });
  assert.equal(unknown.status, 2);
});
