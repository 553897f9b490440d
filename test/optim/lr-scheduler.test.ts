import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeNcclError } from '../../lib/errors.js';
import { CosineAnnealingLR, LinearLR, SequentialLR, StepLR, type SchedulableOptimizer } from '../../lib/optim/lr-scheduler.js';

/** A stand-in optimizer: schedulers only read and write paramGroups[i].lr / initialLr. */
function fakeOpt(...lrs: number[]): SchedulableOptimizer {
  return { paramGroups: lrs.map((lr) => ({ lr })) };
}

function close(a: number, b: number, what: string, tol = 1e-12): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

/** lrs of group 0 for epochs 0..n-1 (epoch 0 is set by the constructor). */
function run(opt: SchedulableOptimizer, s: { step(): void }, n: number, group = 0): number[] {
  const out = [opt.paramGroups[group]!.lr];
  for (let i = 1; i < n; i++) {
    s.step();
    out.push(opt.paramGroups[group]!.lr);
  }
  return out;
}

test('StepLR: the torch docs example (0.05, step 30, gamma 0.1) and the closed form', () => {
  const opt = fakeOpt(0.05, 1);
  const s = new StepLR(opt, 30, { gamma: 0.1 });
  const lrs = run(opt, s, 95);
  close(lrs[0]!, 0.05, 'epoch 0');
  close(lrs[29]!, 0.05, 'epoch 29');
  close(lrs[30]!, 0.005, 'epoch 30');
  close(lrs[59]!, 0.005, 'epoch 59');
  close(lrs[60]!, 0.0005, 'epoch 60');
  close(lrs[90]!, 0.00005, 'epoch 90');
  // second group follows its own base lr
  close(opt.paramGroups[1]!.lr, 1 * 0.1 ** 3, 'group 1 at epoch 94');
  assert.deepEqual(s.getLastLr(), opt.paramGroups.map((g) => g.lr));
  assert.equal(opt.paramGroups[0]!.initialLr, 0.05);
});

test('CosineAnnealingLR: the recurrence follows the closed form, also past tMax', () => {
  const base = 0.1;
  const etaMin = 0.001;
  const tMax = 10;
  const opt = fakeOpt(base);
  const s = new CosineAnnealingLR(opt, tMax, { etaMin });
  const lrs = run(opt, s, 35);
  lrs.forEach((lr, e) => close(lr, etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * e) / tMax))) / 2, `epoch ${e}`, 1e-9));
  close(lrs[10]!, etaMin, 'minimum at tMax', 1e-9);
  close(lrs[20]!, base, 'back to base at 2 tMax', 1e-9);
});

test('LinearLR: the torch docs example (0.05, start 0.5, 4 iters)', () => {
  const opt = fakeOpt(0.05);
  const s = new LinearLR(opt, { startFactor: 0.5, totalIters: 4 });
  const lrs = run(opt, s, 7);
  [0.025, 0.03125, 0.0375, 0.04375, 0.05, 0.05, 0.05].forEach((v, e) => close(lrs[e]!, v, `epoch ${e}`));
  // defaults: startFactor 1/3, endFactor 1, totalIters 5
  const o2 = fakeOpt(0.3);
  const s2 = new LinearLR(o2);
  const l2 = run(o2, s2, 7);
  l2.forEach((lr, e) => close(lr, 0.3 * (1 / 3 + ((2 / 3) * Math.min(e, 5)) / 5), `default epoch ${e}`));
  assert.throws(() => new LinearLR(fakeOpt(1), { startFactor: 0 }), (e: unknown) => (e as NodeNcclError).code === 'ERR_INVALID_ARG');
  assert.throws(() => new LinearLR(fakeOpt(1), { endFactor: 1.5 }), /endFactor/);
});

test('SequentialLR: linear warm-up then cosine, each from its own epoch 0', () => {
  const base = 0.2;
  const opt = fakeOpt(base);
  const warm = new LinearLR(opt, { startFactor: 0.1, totalIters: 3 });
  const cos = new CosineAnnealingLR(opt, 8, { etaMin: 0.01 });
  const seq = new SequentialLR(opt, [warm, cos], [3]);
  const lrs = run(opt, seq, 14);
  for (let e = 0; e < 14; e++) {
    const want = e < 3 ? base * (0.1 + (0.9 * e) / 3) : 0.01 + ((base - 0.01) * (1 + Math.cos((Math.PI * (e - 3)) / 8))) / 2;
    close(lrs[e]!, want, `epoch ${e}`, 1e-9);
  }
  assert.deepEqual(seq.getLastLr(), [opt.paramGroups[0]!.lr]);
  assert.throws(() => new SequentialLR(opt, [warm, cos], []), /milestones/);
  assert.throws(() => new SequentialLR(fakeOpt(1), [warm], []), /different optimizer/);
});

test('step(epoch) uses the closed form', () => {
  const opt = fakeOpt(1);
  const s = new StepLR(opt, 2, { gamma: 0.5 });
  s.step(7);
  close(opt.paramGroups[0]!.lr, 0.125, 'StepLR at 7');
  const o2 = fakeOpt(1);
  const c = new CosineAnnealingLR(o2, 4);
  c.step(2);
  close(o2.paramGroups[0]!.lr, 0.5, 'cosine at tMax/2');
});

test('state dicts round-trip: a resumed scheduler continues exactly', () => {
  const optA = fakeOpt(0.1);
  const a = new CosineAnnealingLR(optA, 7, { etaMin: 0.002 });
  for (let i = 0; i < 4; i++) a.step();
  const saved = JSON.parse(JSON.stringify(a.stateDict()));
  const optB = fakeOpt(0.1);
  const b = new CosineAnnealingLR(optB, 100);
  b.loadStateDict(saved);
  optB.paramGroups[0]!.lr = optA.paramGroups[0]!.lr;
  for (let i = 0; i < 6; i++) {
    a.step();
    b.step();
    assert.equal(optB.paramGroups[0]!.lr, optA.paramGroups[0]!.lr);
  }
  assert.equal(b.tMax, 7);

  const o1 = fakeOpt(0.2);
  const s1 = new SequentialLR(o1, [new LinearLR(o1, { totalIters: 2 }), new StepLR(o1, 2)], [2]);
  for (let i = 0; i < 3; i++) s1.step();
  const st = JSON.parse(JSON.stringify(s1.stateDict()));
  const o2 = fakeOpt(0.2);
  const s2 = new SequentialLR(o2, [new LinearLR(o2, { totalIters: 9 }), new StepLR(o2, 5)], [2]);
  s2.loadStateDict(st);
  o2.paramGroups[0]!.lr = o1.paramGroups[0]!.lr;
  for (let i = 0; i < 5; i++) {
    s1.step();
    s2.step();
    assert.equal(o2.paramGroups[0]!.lr, o1.paramGroups[0]!.lr);
  }
  assert.throws(() => b.loadStateDict({} as never), (e: unknown) => (e as NodeNcclError).code === 'ERR_STATE_DICT');
});

test('resuming with lastEpoch needs initialLr, as in torch', () => {
  assert.throws(() => new StepLR(fakeOpt(1), 3, { lastEpoch: 5 }), /initialLr/);
  const opt: SchedulableOptimizer = { paramGroups: [{ lr: 0.01, initialLr: 1 }] };
  const s = new StepLR(opt, 3, { lastEpoch: 5, gamma: 0.1 });
  // constructor's step: epoch 6, a multiple of 3 → lr * gamma (the recurrence)
  close(opt.paramGroups[0]!.lr, 0.001, 'resumed');
  assert.equal(s.lastEpoch, 6);
});
