import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../lib/native/index.js';
import { DT, FLOATS, type DTypeName, alloc, close, code, get, put, rng, roundTo } from './ref.js';

const k = native.kernels;
const span = (mem: ArrayBufferView) => ({ mem, offset: 0 });

/** torch.optim.Adam/AdamW (_single_tensor_adam) in plain JS, one element. */
function adamRef(p: number, g: number, s: { m: number; v: number; vmax: number }, o: {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; step: number; decoupled: boolean; amsgrad: boolean; maximize: boolean;
}): number {
  if (o.maximize) g = -g;
  if (o.weightDecay !== 0) {
    if (o.decoupled) p *= 1 - o.lr * o.weightDecay;
    else g += o.weightDecay * p;
  }
  s.m += (g - s.m) * (1 - o.beta1);
  s.v = s.v * o.beta2 + (1 - o.beta2) * g * g;
  const bc1 = 1 - o.beta1 ** o.step, bc2 = 1 - o.beta2 ** o.step;
  let denomBase = s.v;
  if (o.amsgrad) {
    s.vmax = Math.max(s.vmax, s.v);
    denomBase = s.vmax;
  }
  const denom = Math.sqrt(denomBase) / Math.sqrt(bc2) + o.eps;
  return p - (o.lr / bc1) * (s.m / denom);
}

/** torch.optim.SGD (_single_tensor_sgd) in plain JS, one element. */
function sgdRef(p: number, g: number, s: { buf: number }, o: {
  lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; maximize: boolean; firstStep: boolean;
}): number {
  if (o.maximize) g = -g;
  if (o.weightDecay !== 0) g += o.weightDecay * p;
  if (o.momentum !== 0) {
    s.buf = o.firstStep ? g : s.buf * o.momentum + (1 - o.dampening) * g;
    g = o.nesterov ? g + o.momentum * s.buf : s.buf;
  }
  return p - o.lr * g;
}

const tolFor = (dt: DTypeName) => (dt === 'float64' ? { rtol: 1e-12, atol: 1e-13 } : dt === 'float32' ? { rtol: 1e-5, atol: 1e-6 } : { rtol: 2e-2, atol: 2e-2 });

test('adamStep (Adam, AdamW, amsgrad, maximize) over several steps and tensors matches torch\'s rules', () => {
  const r = rng(40);
  for (const dt of FLOATS)
    for (const [decoupled, amsgrad, maximize, weightDecay] of [[false, false, false, 0], [false, true, false, 0.1], [true, false, true, 0.01], [true, true, false, 0.05]] as const) {
      const sizes = [5, 0, 17];
      const params = sizes.map((n) => { const b = alloc(dt, n); for (let i = 0; i < n; i++) put(dt, b, i, r() * 2 - 1); return b; });
      // the state has the parameters' dtype (as torch's); 16-bit steps compute in float32
      const m = sizes.map((n) => alloc(dt, n)), v = sizes.map((n) => alloc(dt, n)), vmax = sizes.map((n) => alloc(dt, n));
      const ref = params.map((b, t) => Array.from({ length: sizes[t]! }, (_, i) => ({ p: get(dt, b, i), m: 0, v: 0, vmax: 0 })));
      for (let step = 1; step <= 4; step++) {
        const grads = sizes.map((n) => { const b = alloc(dt, n); for (let i = 0; i < n; i++) put(dt, b, i, r() * 2 - 1); return b; });
        const opts = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, step, decoupled, amsgrad, maximize };
        k.adamStep(code(dt), params.map(span), grads.map(span), m.map(span), v.map(span), amsgrad ? vmax.map(span) : null, sizes, opts);
        ref.forEach((els, t) => els.forEach((e, i) => {
          e.p = roundTo(dt, adamRef(e.p, get(dt, grads[t]!, i), e, opts));
          e.m = roundTo(dt, e.m); e.v = roundTo(dt, e.v); e.vmax = roundTo(dt, e.vmax);
        }));
      }
      ref.forEach((els, t) => els.forEach((e, i) => {
        assert.ok(close(get(dt, params[t]!, i), e.p, tolFor(dt)), `adam ${dt} ${JSON.stringify({ decoupled, amsgrad, maximize })}: ${get(dt, params[t]!, i)} vs ${e.p}`);
        assert.ok(close(get(dt, m[t]!, i), e.m, tolFor(dt)), `exp_avg ${dt}: ${get(dt, m[t]!, i)} vs ${e.m}`);
        assert.ok(close(get(dt, v[t]!, i), e.v, tolFor(dt)), `exp_avg_sq ${dt}: ${get(dt, v[t]!, i)} vs ${e.v}`);
      }));
    }
});

test('sgdStep (momentum, dampening, nesterov, weight decay, maximize) matches torch\'s rules', () => {
  const r = rng(41);
  for (const dt of FLOATS)
    for (const [momentum, dampening, nesterov, weightDecay, maximize] of [[0, 0, false, 0, false], [0.9, 0, true, 0.01, false], [0.8, 0.3, false, 0, true]] as const) {
      const sizes = [9, 3];
      const params = sizes.map((n) => { const b = alloc(dt, n); for (let i = 0; i < n; i++) put(dt, b, i, r() * 2 - 1); return b; });
      const bufs = sizes.map((n) => alloc(dt, n));
      const ref = params.map((b, t) => Array.from({ length: sizes[t]! }, (_, i) => ({ p: get(dt, b, i), buf: 0 })));
      for (let step = 1; step <= 3; step++) {
        const grads = sizes.map((n) => { const b = alloc(dt, n); for (let i = 0; i < n; i++) put(dt, b, i, r() * 2 - 1); return b; });
        const opts = { lr: 0.1, momentum, dampening, weightDecay, nesterov, maximize, firstStep: step === 1 };
        k.sgdStep(code(dt), params.map(span), grads.map(span), momentum ? bufs.map(span) : null, sizes, opts);
        ref.forEach((els, t) => els.forEach((e, i) => {
          e.p = roundTo(dt, sgdRef(e.p, get(dt, grads[t]!, i), e, opts));
          e.buf = roundTo(dt, e.buf);
        }));
      }
      ref.forEach((els, t) => els.forEach((e, i) => assert.ok(close(get(dt, params[t]!, i), e.p, tolFor(dt)), `sgd ${dt}: ${get(dt, params[t]!, i)} vs ${e.p}`)));
    }
});

test('sumSquares adds the squares of every span into one float64, accumulated in float64', () => {
  for (const dt of FLOATS) {
    const a = alloc(dt, 4), b = alloc(dt, 3);
    [1, -2, 0.5, 3].forEach((x, i) => put(dt, a, i, x));
    [4, 0, -1].forEach((x, i) => put(dt, b, i, x));
    const out = new Float64Array(1);
    k.sumSquares(code(dt), [span(a), span(b), span(alloc(dt, 0))], [4, 3, 0], span(out));
    assert.equal(out[0], 1 + 4 + 0.25 + 9 + 16 + 1);
  }
  // float64 inputs keep float64's precision: 1 + 2e-10 is not representable in float32.
  const x = new Float64Array([1, 1e-5, 1e-5]);
  const out = new Float64Array(1);
  k.sumSquares(code('float64'), [span(x)], [3], span(out));
  assert.equal(out[0], 1 + 1e-10 + 1e-10);
  assert.throws(() => k.sumSquares(code('float64'), [span(x)], [3], span(new Float32Array(1))), /out/);
  assert.equal(DT.float32, 0);
});
