/**
 * End to end: an MLP learns a non-linear synthetic task (three concentric rings in the plane,
 * class = floor(radius)) with AdamW and a cosine schedule, from a fixed seed, and must reach at
 * least 95% accuracy on held-out points. Small enough to take a couple of seconds on the CPU (300 points, 100 full-batch steps).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nn from '../../lib/nn/index.js';
import { AdamW, CosineAnnealingLR, clipGradNorm } from '../../lib/optim/index.js';
import { Tensor, manualSeed, tensor } from '../../lib/tensor/index.js';
import { noGrad } from '../../lib/autograd/index.js';

function rings(n: number, seed: number): { x: Tensor; y: Tensor; labels: number[] } {
  let s = seed >>> 0;
  const r01 = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32);
  const xs: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const cls = i % 3;
    // stay 0.1 away from the class boundaries so the task has a clean margin
    const r = cls + 0.1 + 0.8 * r01();
    const a = 2 * Math.PI * r01();
    xs.push(r * Math.cos(a), r * Math.sin(a));
    labels.push(cls);
  }
  return { x: tensor(xs).reshape([n, 2]), y: tensor(labels.map(BigInt)), labels };
}

test('an MLP reaches >= 95% accuracy on the rings task (seed 0)', () => {
  manualSeed(0);
  const model = new nn.Sequential(new nn.Linear(2, 32), new nn.ReLU(), new nn.Linear(32, 32), new nn.ReLU(), new nn.Linear(32, 3));
  const train = rings(300, 1);
  const heldOut = rings(300, 2);
  const steps = 100;
  const opt = new AdamW(model.parameters(), { lr: 0.03, weightDecay: 1e-4 });
  const sched = new CosineAnnealingLR(opt, steps);
  let first = NaN;
  let last = NaN;
  for (let i = 0; i < steps; i++) {
    const loss = nn.functional.crossEntropy(model.forward(train.x), train.y);
    if (i === 0) first = Number(loss.item());
    last = Number(loss.item());
    opt.zeroGrad();
    loss.backward();
    clipGradNorm(model.parameters(), 5);
    opt.step();
    sched.step();
  }
  model.eval();
  const pred = noGrad(() => model.forward(heldOut.x).argmax(1));
  const p = Array.from(pred.dataSync() as BigInt64Array, Number);
  const acc = p.filter((v, i) => v === heldOut.labels[i]).length / p.length;
  assert.ok(last < first / 5, `loss fell from ${first} to ${last}`);
  assert.ok(acc >= 0.95, `held-out accuracy ${acc}`);
});
