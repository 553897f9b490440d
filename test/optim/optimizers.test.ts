/**
 * Optimizer steps against reference sequences computed here, independently, in float64 plain JS,
 * following the algorithm boxes of PyTorch's documentation (torch.optim.SGD / Adam / AdamW), with
 * torch's single-tensor implementation's order of operations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeNcclError } from '../../lib/errors.js';
import { Adam, AdamW, SGD, clipGradNorm, clipGradValue, type Optimizer } from '../../lib/optim/index.js';
import { StepLR } from '../../lib/optim/lr-scheduler.js';
import { Tensor, tensor } from '../../lib/tensor/index.js';

/** A deterministic generator of test numbers in [-1, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

const SHAPES = [[3], [2, 3], [1]];
const STEPS = 6;

function fixtures(seed: number): { p0: number[][]; grads: number[][][] } {
  const r = lcg(seed);
  const p0 = SHAPES.map((s) => Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => r() * 2));
  const grads = Array.from({ length: STEPS }, () => p0.map((p) => p.map(() => r() * 3)));
  return { p0, grads };
}

function makeParams(p0: number[][], dtype: 'float64' | 'float32' = 'float64'): Tensor[] {
  return p0.map((d, i) => {
    const t = tensor(d, { dtype }).reshape(SHAPES[i]!);
    const leaf = t.detach();
    leaf.requiresGrad = true;
    return leaf;
  });
}

function flat(t: Tensor): number[] {
  return Array.from(t.dataSync() as Float64Array | Float32Array, Number);
}

function assertClose(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= tol * (1 + Math.abs(e)), `${what}[${i}]: ${a} vs reference ${e}`);
  }
}

interface SgdRef { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; maximize: boolean }
function sgdReference(p0: number[][], grads: number[][][], o: SgdRef): number[][][] {
  const p = p0.map((x) => [...x]);
  const buf: (number[] | null)[] = p.map(() => null);
  const history: number[][][] = [];
  for (const gs of grads) {
    p.forEach((param, j) => {
      const g = gs[j]!.map((v) => (o.maximize ? -v : v));
      for (let i = 0; i < g.length; i++) {
        let d = g[i]!;
        if (o.weightDecay !== 0) d += o.weightDecay * param[i]!;
        g[i] = d;
      }
      if (o.momentum !== 0) {
        if (!buf[j]) buf[j] = [...g];
        else buf[j] = buf[j]!.map((b, i) => o.momentum * b + (1 - o.dampening) * g[i]!);
        for (let i = 0; i < g.length; i++) g[i] = o.nesterov ? g[i]! + o.momentum * buf[j]![i]! : buf[j]![i]!;
      }
      for (let i = 0; i < g.length; i++) param[i] = param[i]! - o.lr * g[i]!;
    });
    history.push(p.map((x) => [...x]));
  }
  return history;
}

interface AdamRef { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; amsgrad: boolean; maximize: boolean; decoupled: boolean }
function adamReference(p0: number[][], grads: number[][][], o: AdamRef): number[][][] {
  const p = p0.map((x) => [...x]);
  const m = p.map((x) => x.map(() => 0));
  const v = p.map((x) => x.map(() => 0));
  const vmax = p.map((x) => x.map(() => 0));
  const history: number[][][] = [];
  let t = 0;
  for (const gs of grads) {
    t += 1;
    p.forEach((param, j) => {
      for (let i = 0; i < param.length; i++) {
        let g = o.maximize ? -gs[j]![i]! : gs[j]![i]!;
        if (o.weightDecay !== 0) {
          if (o.decoupled) param[i] = param[i]! * (1 - o.lr * o.weightDecay);
          else g = g + o.weightDecay * param[i]!;
        }
        m[j]![i] = m[j]![i]! + (g - m[j]![i]!) * (1 - o.beta1); // torch: exp_avg.lerp_(grad, 1 - beta1)
        v[j]![i] = v[j]![i]! * o.beta2 + (1 - o.beta2) * g * g;
        const bc1 = 1 - o.beta1 ** t;
        const bc2 = 1 - o.beta2 ** t;
        const stepSize = o.lr / bc1;
        let second = v[j]![i]!;
        if (o.amsgrad) {
          vmax[j]![i] = Math.max(vmax[j]![i]!, v[j]![i]!);
          second = vmax[j]![i]!;
        }
        const denom = Math.sqrt(second) / Math.sqrt(bc2) + o.eps;
        param[i] = param[i]! - stepSize * (m[j]![i]! / denom);
      }
    });
    history.push(p.map((x) => [...x]));
  }
  return history;
}

function runOptimizer(opt: Optimizer, params: Tensor[], grads: number[][][], dtype: 'float64' | 'float32' = 'float64'): number[][][] {
  const history: number[][][] = [];
  for (const gs of grads) {
    params.forEach((p, j) => {
      p.grad = tensor(gs[j]!, { dtype }).reshape(SHAPES[j]!);
    });
    opt.step();
    history.push(params.map(flat));
  }
  return history;
}

function compare(ours: number[][][], ref: number[][][], tol: number, what: string): void {
  ref.forEach((step, s) => step.forEach((p, j) => assertClose(ours[s]![j]!, p, tol, `${what} step ${s + 1} param ${j}`)));
}

const sgdCases: Array<[string, Partial<SgdRef>]> = [
  ['plain', {}],
  ['momentum', { momentum: 0.9 }],
  ['momentum + dampening', { momentum: 0.8, dampening: 0.3 }],
  ['nesterov + weight decay', { momentum: 0.9, nesterov: true, weightDecay: 0.05 }],
  ['weight decay + maximize', { weightDecay: 0.1, maximize: true, momentum: 0.5 }],
];
for (const [name, opts] of sgdCases) {
  test(`SGD (${name}) matches the reference sequence over ${STEPS} steps`, () => {
    const o: SgdRef = { lr: 0.07, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...opts };
    const { p0, grads } = fixtures(11);
    const params = makeParams(p0);
    const ours = runOptimizer(new SGD(params, o), params, grads);
    compare(ours, sgdReference(p0, grads, o), 1e-12, `SGD ${name}`);
  });
}

const adamCases: Array<[string, 'Adam' | 'AdamW', Partial<AdamRef>]> = [
  ['defaults', 'Adam', {}],
  ['weight decay (L2)', 'Adam', { weightDecay: 0.1 }],
  ['amsgrad', 'Adam', { amsgrad: true, beta2: 0.9 }],
  ['maximize', 'Adam', { maximize: true, weightDecay: 0.02 }],
  ['defaults (decoupled 1e-2)', 'AdamW', {}],
  ['amsgrad + strong decay', 'AdamW', { amsgrad: true, weightDecay: 0.3, beta1: 0.5 }],
];
for (const [name, kind, opts] of adamCases) {
  test(`${kind} (${name}) matches the reference sequence over ${STEPS} steps`, () => {
    const o: AdamRef = {
      lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: kind === 'AdamW' ? 1e-2 : 0,
      amsgrad: false, maximize: false, decoupled: kind === 'AdamW', ...opts,
    };
    const { p0, grads } = fixtures(23);
    const params = makeParams(p0);
    const Cls = kind === 'Adam' ? Adam : AdamW;
    const userOpts: Record<string, unknown> = { lr: o.lr, betas: [o.beta1, o.beta2], eps: o.eps, amsgrad: o.amsgrad, maximize: o.maximize };
    if (opts.weightDecay !== undefined) userOpts.weightDecay = opts.weightDecay;
    const opt = new Cls(params, userOpts);
    const ours = runOptimizer(opt, params, grads);
    compare(ours, adamReference(p0, grads, o), 1e-12, `${kind} ${name}`);
    assert.equal(opt.state.get(params[0]!)!.step, STEPS);
  });
}

test('float32 parameters follow the float64 reference to float32 precision', () => {
  const o: AdamRef = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, amsgrad: false, maximize: false, decoupled: true };
  const { p0, grads } = fixtures(5);
  const params = makeParams(p0, 'float32');
  const ours = runOptimizer(new AdamW(params, { lr: 0.01 }), params, grads, 'float32');
  compare(ours, adamReference(p0, grads, o), 1e-5, 'AdamW float32');
});

test('bfloat16 and float16 parameters: state in the parameters\' dtype (as torch), results within half precision of the reference', () => {
  const o: AdamRef = { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, amsgrad: false, maximize: false, decoupled: true };
  const { p0, grads } = fixtures(6);
  for (const dtype of ['bfloat16', 'float16'] as const) {
    // the reference starts from the values the half-precision parameters actually hold
    const params = p0.map((d, i) => {
      const t = tensor(d, { dtype }).reshape(SHAPES[i]!).detach();
      t.requiresGrad = true;
      return t;
    });
    const start = params.map((p) => Array.from(p.to('float64').dataSync() as Float64Array));
    const gq = grads.slice(0, 3).map((gs) => gs.map((g, j) => Array.from(tensor(g, { dtype }).to('float64').dataSync() as Float64Array).slice(0, p0[j]!.length)));
    const opt = new AdamW(params, { lr: 0.05 });
    for (const gs of gq) {
      params.forEach((p, j) => (p.grad = tensor(gs[j]!, { dtype }).reshape(SHAPES[j]!)));
      opt.step();
    }
    assert.equal((opt.state.get(params[0]!)!.expAvg as Tensor).dtype, dtype);
    const ref = adamReference(start, gq, o)[2]!;
    const tol = dtype === 'bfloat16' ? 2 ** -7 : 2 ** -10;
    params.forEach((p, j) => assertClose(Array.from(p.to('float64').dataSync() as Float64Array), ref[j]!, tol, `${dtype} param ${j}`));
  }
});

test('per-group options, parameters without gradients are skipped, zeroGrad', () => {
  const { p0, grads } = fixtures(3);
  const params = makeParams(p0);
  const opt = new SGD([{ params: [params[0]!, params[1]!] }, { params: [params[2]!], lr: 0.5, momentum: 0.9 }], { lr: 0.1 });
  assert.equal(opt.paramGroups[0]!.lr, 0.1);
  assert.equal(opt.paramGroups[1]!.lr, 0.5);
  assert.equal(opt.paramGroups[0]!.momentum, 0);
  params[0]!.grad = tensor(grads[0]![0]!, { dtype: 'float64' });
  params[2]!.grad = tensor(grads[0]![2]!, { dtype: 'float64' });
  const before1 = flat(params[1]!);
  opt.step();
  assert.deepEqual(flat(params[1]!), before1, 'a parameter with no grad does not move');
  assertClose(flat(params[0]!), p0[0]!.map((x, i) => x - 0.1 * grads[0]![0]![i]!), 1e-12, 'group 0');
  assertClose(flat(params[2]!), p0[2]!.map((x, i) => x - 0.5 * grads[0]![2]![i]!), 1e-12, 'group 1');
  opt.zeroGrad({ setToNone: false });
  assert.deepEqual(flat(params[0]!.grad!), [0, 0, 0]);
  opt.zeroGrad();
  assert.equal(params[0]!.grad, null);
});

test('state dicts round-trip: a restored optimizer continues the same sequence', () => {
  const o: AdamRef = { lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01, amsgrad: true, maximize: false, decoupled: true };
  const { p0, grads } = fixtures(31);
  const ref = adamReference(p0, grads, o);
  const params = makeParams(p0);
  const opt = new AdamW(params, { lr: 0.05, betas: [0.9, 0.99], amsgrad: true });
  runOptimizer(opt, params, grads.slice(0, 3));
  const sd = opt.stateDict();
  assert.deepEqual(Object.keys(sd.state), ['0', '1', '2']);
  assert.deepEqual(sd.paramGroups[0]!.params, [0, 1, 2]);
  assert.equal(sd.state[0]!.step, 3);
  assert.ok(sd.state[0]!.expAvg instanceof Tensor && sd.state[0]!.maxExpAvgSq instanceof Tensor);

  // A new optimizer over copies of the parameters, with other hyper-parameters: loading restores all.
  const copies = makeParams(params.map(flat));
  const opt2 = new AdamW(copies, { lr: 1 });
  opt2.loadStateDict(sd);
  assert.equal(opt2.paramGroups[0]!.lr, 0.05);
  const rest = runOptimizer(opt2, copies, grads.slice(3));
  compare(rest, ref.slice(3), 1e-12, 'resumed AdamW');
  // The loaded state is a copy: stepping opt2 did not touch opt's state.
  assert.equal(opt.state.get(params[0]!)!.step, 3);
});

test('loadStateDict converts state saved in another dtype to the parameter\'s (float32 state into a bfloat16 model)', () => {
  const p = tensor([0.5, -0.25, 1], { dtype: 'bfloat16' }).detach();
  p.requiresGrad = true;
  const opt = new AdamW([p], { lr: 0.01 });
  const sd = {
    state: { 0: { step: 3, expAvg: tensor([0.1, 0.2, 0.3], { dtype: 'float32' }), expAvgSq: tensor([0.01, 0.02, 0.03], { dtype: 'float32' }) } },
    paramGroups: [{ ...opt.stateDict().paramGroups[0]!, params: [0] }],
  };
  opt.loadStateDict(sd);
  const st = opt.state.get(p)!;
  assert.equal((st.expAvg as Tensor).dtype, 'bfloat16');
  assert.deepEqual(Array.from((st.expAvg as Tensor).to('float64').dataSync() as Float64Array).map((v) => Math.round(v * 100) / 100), [0.1, 0.2, 0.3]);
  p.grad = tensor([1, 1, 1], { dtype: 'bfloat16' });
  opt.step(); // the fused kernel takes the converted state
  assert.equal(opt.state.get(p)!.step, 4);
});

test('loadStateDict and constructors reject bad input with clear errors', () => {
  const { p0 } = fixtures(1);
  const params = makeParams(p0);
  const opt = new SGD(params, { momentum: 0.9 });
  const isState = (e: unknown): boolean => e instanceof NodeNcclError && e.code === 'ERR_STATE_DICT';
  assert.throws(() => opt.loadStateDict({ state: {}, paramGroups: [] }), isState);
  assert.throws(() => opt.loadStateDict({ state: {}, paramGroups: [{ params: [0, 1] }] }), (e: unknown) => isState(e) && /2 parameters in the state dict and 3/.test((e as Error).message));
  assert.throws(
    () => opt.loadStateDict({ state: { 0: { momentumBuffer: tensor([1, 2], { dtype: 'float64' }) } }, paramGroups: [{ params: [0, 1, 2], lr: 0.1 }] }),
    (e: unknown) => isState(e) && /shape \[2\]/.test((e as Error).message),
  );
  const isArg = (e: unknown): boolean => e instanceof NodeNcclError && e.code === 'ERR_INVALID_ARG';
  assert.throws(() => new SGD([], {}), isArg);
  assert.throws(() => new SGD(params, { lr: -1 }), isArg);
  assert.throws(() => new SGD(params, { nesterov: true }), /Nesterov/);
  assert.throws(() => new Adam(params, { betas: [1, 0.9] }), /beta parameter at index 0/);
  assert.throws(() => new Adam(params, { eps: -1 }), isArg);
  assert.throws(() => new SGD([{ params: [params[0]!] }, { params: [params[0]!] }]), /more than one parameter group/);
  const nonLeaf = params[0]!.mul(2);
  assert.throws(() => new SGD([nonLeaf]), /non-leaf/);
});

test('a step bumps the parameters\' version: backward through a graph that saved them is refused', () => {
  const { p0, grads } = fixtures(8);
  const params = makeParams(p0);
  const opt = new SGD(params, { lr: 0.1 });
  const y = params[0]!.mul(params[0]!).sum();
  params.forEach((p, j) => (p.grad = tensor(grads[0]![j]!, { dtype: 'float64' }).reshape(SHAPES[j]!)));
  opt.step();
  assert.throws(() => y.backward(), (e: unknown) => e instanceof NodeNcclError && e.code === 'ERR_AUTOGRAD' && /modified by an inplace operation/.test((e as Error).message));
});

test('defaults are torch\'s', () => {
  const { p0 } = fixtures(2);
  const ps = makeParams(p0);
  const a = new Adam(ps).paramGroups[0]!;
  assert.deepEqual([a.lr, a.betas, a.eps, a.weightDecay, a.amsgrad, a.maximize], [1e-3, [0.9, 0.999], 1e-8, 0, false, false]);
  const w = new AdamW(ps).paramGroups[0]!;
  assert.equal(w.weightDecay, 1e-2);
  const s = new SGD(ps).paramGroups[0]!;
  assert.deepEqual([s.lr, s.momentum, s.dampening, s.weightDecay, s.nesterov], [1e-3, 0, 0, 0, false]);
});

test('a scheduler drives the optimizer\'s lr', () => {
  const { p0, grads } = fixtures(9);
  const params = makeParams(p0);
  const opt = new SGD(params, { lr: 1 });
  const sched = new StepLR(opt, 1, { gamma: 0.5 });
  const lrs: number[] = [];
  for (const gs of grads.slice(0, 3)) {
    params.forEach((p, j) => (p.grad = tensor(gs[j]!, { dtype: 'float64' }).reshape(SHAPES[j]!)));
    lrs.push(opt.paramGroups[0]!.lr);
    opt.step();
    sched.step();
  }
  assert.deepEqual(lrs, [1, 0.5, 0.25]);
  const expected = p0[0]!.map((x, i) => x - grads[0]![0]![i]! - 0.5 * grads[1]![0]![i]! - 0.25 * grads[2]![0]![i]!);
  assertClose(flat(params[0]!), expected, 1e-12, 'param after scheduled steps');
});

test('clipGradNorm: total norm (2, inf, 1), scaling, and errorIfNonfinite', () => {
  const { p0, grads } = fixtures(4);
  const mk = (): Tensor[] => {
    const ps = makeParams(p0);
    ps.forEach((p, j) => (p.grad = tensor(grads[0]![j]!, { dtype: 'float64' }).reshape(SHAPES[j]!)));
    return ps;
  };
  const all = grads[0]!.flat();
  const n2 = Math.sqrt(all.reduce((a, b) => a + b * b, 0));
  const ps = mk();
  const total = clipGradNorm(ps, 0.5);
  assert.ok(Math.abs(total - n2) < 1e-5 * n2, `2-norm ${total} vs ${n2}`);
  const coef = 0.5 / (n2 + 1e-6);
  assertClose(ps.flatMap((p) => flat(p.grad!)), all.map((g) => g * coef), 1e-6, 'clipped grads');
  // a large maxNorm leaves the gradients alone
  const ps2 = mk();
  clipGradNorm(ps2, 1e9);
  assertClose(ps2.flatMap((p) => flat(p.grad!)), all, 0, 'unclipped grads');
  const nInf = Math.max(...all.map(Math.abs));
  assert.ok(Math.abs(clipGradNorm(mk(), 1e9, { normType: Infinity }) - nInf) < 1e-12);
  const n1 = all.reduce((a, b) => a + Math.abs(b), 0);
  assert.ok(Math.abs(clipGradNorm(mk(), 1e9, { normType: 1 }) - n1) < 1e-9);
  const bad = mk();
  bad[1]!.grad = tensor([NaN, 1, 2, 3, 4, 5], { dtype: 'float64' }).reshape([2, 3]);
  assert.throws(() => clipGradNorm(bad, 1, { errorIfNonfinite: true }), /non-finite/);
  // clipGradValue
  const ps3 = mk();
  clipGradValue(ps3, 0.25);
  assertClose(ps3.flatMap((p) => flat(p.grad!)), all.map((g) => Math.max(-0.25, Math.min(0.25, g))), 0, 'clipGradValue');
});
