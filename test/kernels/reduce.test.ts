import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../lib/native/index.js';
import type { ReduceOp } from '../../typings/native.js';
import { DT, FLOATS, INTS, type DTypeName, alloc, close, code, get, put, rng, roundTo, tol } from './ref.js';

const k = native.kernels;

function fill(dt: DTypeName, n: number, gen: () => number) {
  const buf = alloc(dt, n);
  for (let i = 0; i < n; i++) put(dt, buf, i, gen());
  return buf;
}
const vals = (dt: DTypeName, buf: ReturnType<typeof alloc>, n: number) => Array.from({ length: n }, (_, i) => get(dt, buf, i));

function refReduce(op: ReduceOp, xs: number[], correction: number): [number, number] {
  const n = xs.length;
  switch (op) {
    case 'sum': return [xs.reduce((a, b) => a + b, 0), 0];
    case 'mean': return [xs.reduce((a, b) => a + b, 0) / n, 0];
    case 'prod': return [xs.reduce((a, b) => a * b, 1), 0];
    case 'var': {
      const m = xs.reduce((a, b) => a + b, 0) / n;
      return [xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(0, n - correction), 0];
    }
    default: {
      const max = op === 'max' || op === 'argmax';
      let bi = 0;
      for (let i = 1; i < n; i++) {
        if (Number.isNaN(xs[bi]!)) break;
        if (Number.isNaN(xs[i]!) || (max ? xs[i]! > xs[bi]! : xs[i]! < xs[bi]!)) bi = i;
      }
      return [xs[bi]!, bi];
    }
  }
}

test('reduce: every op and dtype over [outer, size, inner] vs a JS reference (indices too)', () => {
  const r = rng(10);
  const ops: ReduceOp[] = ['sum', 'mean', 'prod', 'max', 'min', 'argmax', 'argmin', 'var'];
  const dims = [0, 1, 2, 3, 7];
  for (const op of ops)
    for (const dt of [...FLOATS, ...INTS]) {
      if ((op === 'mean' || op === 'var') && !FLOATS.includes(dt)) continue;
      for (let rep = 0; rep < 8; rep++) {
        const outer = dims[Math.floor(r() * 5)]!, inner = dims[Math.floor(r() * 5)]!;
        let size = dims[Math.floor(r() * 5)]!;
        if (size === 0 && op !== 'sum' && op !== 'prod' && op !== 'var' && op !== 'mean') size = 1;
        const isInt = !FLOATS.includes(dt);
        const gen = op === 'prod' ? () => (isInt ? 1 + Math.floor(r() * 2) : 0.5 + r()) : isInt ? () => Math.floor(r() * 9) : () => Math.floor(r() * 64) / 16 - 2;
        const x = fill(dt, outer * size * inner, gen);
        const arg = op === 'argmax' || op === 'argmin';
        const out = arg ? new BigInt64Array(outer * inner) : alloc(dt, outer * inner);
        const withIdx = (op === 'max' || op === 'min') && r() < 0.7;
        const idx = new BigInt64Array(outer * inner);
        const correction = op === 'var' ? (r() < 0.5 ? 1 : 0) : 1;
        k.reduce(op, code(dt), outer, size, inner, { mem: out, offset: 0 }, { mem: x, offset: 0 }, withIdx ? { mem: idx, offset: 0 } : null, correction);
        const t = tol(dt);
        for (let o = 0; o < outer; o++)
          for (let j = 0; j < inner; j++) {
            const xs = Array.from({ length: size }, (_, s) => get(dt, x, (o * size + s) * inner + j));
            const [want, wi] = refReduce(op, xs, correction);
            if (arg) assert.equal(Number((out as BigInt64Array)[o * inner + j]), wi, `${op} ${dt}`);
            else {
              const got = get(dt, out, o * inner + j);
              assert.ok(close(got, roundTo(dt, want), isInt ? t : { rtol: t.rtol * 4, atol: t.atol * 4 }), `${op} ${dt} [${outer},${size},${inner}] (${o},${j}): got ${got} want ${want}`);
              if (withIdx) assert.equal(Number(idx[o * inner + j]), wi, `${op} index`);
            }
          }
      }
    }
});

test('max/min propagate NaN and report its index; reductions of an empty dim follow torch', () => {
  const x = new Float32Array([1, NaN, 5, 2]);
  const out = new Float32Array(1), idx = new BigInt64Array(1);
  k.reduce('max', DT.float32, 1, 4, 1, { mem: out, offset: 0 }, { mem: x, offset: 0 }, { mem: idx, offset: 0 });
  assert.ok(Number.isNaN(out[0]!));
  assert.equal(idx[0], 1n);
  const e = new Float32Array(0), s = new Float32Array(2);
  k.reduce('sum', DT.float32, 2, 0, 1, { mem: s, offset: 0 }, { mem: e, offset: 0 });
  assert.deepEqual([...s], [0, 0]);
  k.reduce('prod', DT.float32, 2, 0, 1, { mem: s, offset: 0 }, { mem: e, offset: 0 });
  assert.deepEqual([...s], [1, 1]);
  assert.throws(() => k.reduce('max', DT.float32, 2, 0, 1, { mem: s, offset: 0 }, { mem: e, offset: 0 }), { code: 'ERR_INVALID_ARG' });
  assert.throws(() => k.reduce('mean', DT.int32, 1, 1, 1, { mem: new Int32Array(1), offset: 0 }, { mem: new Int32Array(1), offset: 0 }), { code: 'ERR_DTYPE' });
});

test('softmax and logSoftmax rows (and their backward) vs JS references', () => {
  const r = rng(11);
  for (const dt of FLOATS)
    for (const log of [false, true])
      for (const [rows, cols] of [[1, 1], [3, 5], [2, 17], [4, 1], [0, 3]] as const) {
        const x = fill(dt, rows * cols, () => r() * 8 - 4);
        const out = alloc(dt, rows * cols);
        k.softmax(code(dt), rows, cols, { mem: out, offset: 0 }, { mem: x, offset: 0 }, log);
        const g = fill(dt, rows * cols, () => r() * 2 - 1);
        const gin = alloc(dt, rows * cols);
        k.softmaxBackward(code(dt), rows, cols, { mem: gin, offset: 0 }, { mem: g, offset: 0 }, { mem: out, offset: 0 }, log);
        const t = tol(dt);
        for (let i = 0; i < rows; i++) {
          const xs = vals(dt, x, rows * cols).slice(i * cols, (i + 1) * cols);
          const m = Math.max(...xs);
          const z = xs.reduce((a, v) => a + Math.exp(v - m), 0);
          const ys = vals(dt, out, rows * cols).slice(i * cols, (i + 1) * cols);
          const gs = vals(dt, g, rows * cols).slice(i * cols, (i + 1) * cols);
          const p = xs.map((v) => Math.exp(v - m) / z);
          // backward reference: the Jacobian of softmax (or log-softmax) applied to g, from x
          const dot = gs.reduce((a, gv, j) => a + gv * p[j]!, 0), gsum = gs.reduce((a, b) => a + b, 0);
          for (let j = 0; j < cols; j++) {
            const want = log ? xs[j]! - m - Math.log(z) : p[j]!;
            assert.ok(close(ys[j]!, want, { rtol: t.rtol * 4, atol: t.atol * 4 }), `softmax ${dt} log=${log}: ${ys[j]} vs ${want}`);
            const wantG = log ? gs[j]! - p[j]! * gsum : p[j]! * (gs[j]! - dot);
            const gotG = get(dt, gin, i * cols + j);
            assert.ok(close(gotG, wantG, { rtol: t.rtol * 8, atol: t.atol * 8 }), `softmaxBackward ${dt} log=${log}: ${gotG} vs ${wantG}`);
          }
        }
      }
});

test('layerNorm forward and backward vs JS references (with and without affine)', () => {
  const r = rng(12);
  for (const dt of FLOATS)
    for (const affine of [true, false])
      for (const [rows, cols] of [[1, 1], [3, 8], [5, 33], [0, 4]] as const) {
        const eps = 1e-5;
        const x = fill(dt, rows * cols, () => r() * 4 - 2);
        const w = affine ? fill(dt, cols, () => r() + 0.5) : null;
        const b = affine ? fill(dt, cols, () => r() - 0.5) : null;
        // the saved statistics are float64 for float64 inputs, float32 otherwise
        const Stats = dt === 'float64' ? Float64Array : Float32Array;
        const out = alloc(dt, rows * cols), mean = new Stats(rows), rstd = new Stats(rows);
        k.layerNorm(code(dt), rows, cols, { mem: out, offset: 0 }, { mem: mean, offset: 0 }, { mem: rstd, offset: 0 }, { mem: x, offset: 0 },
          w && { mem: w, offset: 0 }, b && { mem: b, offset: 0 }, eps);
        const g = fill(dt, rows * cols, () => r() * 2 - 1);
        const gx = alloc(dt, rows * cols), gw = alloc(dt, cols), gb = alloc(dt, cols);
        k.layerNormBackward(code(dt), rows, cols, { mem: gx, offset: 0 }, affine ? { mem: gw, offset: 0 } : null, affine ? { mem: gb, offset: 0 } : null,
          { mem: g, offset: 0 }, { mem: x, offset: 0 }, { mem: mean, offset: 0 }, { mem: rstd, offset: 0 }, w && { mem: w, offset: 0 });
        const t = tol(dt), loose = { rtol: t.rtol * 10, atol: t.atol * 10 };
        const W = (j: number) => (w ? get(dt, w, j) : 1), B = (j: number) => (b ? get(dt, b, j) : 0);
        const gwRef = new Array<number>(cols).fill(0), gbRef = new Array<number>(cols).fill(0);
        for (let i = 0; i < rows; i++) {
          const xs = Array.from({ length: cols }, (_, j) => get(dt, x, i * cols + j));
          const gs = Array.from({ length: cols }, (_, j) => get(dt, g, i * cols + j));
          const mu = xs.reduce((a, v) => a + v, 0) / cols;
          const v = xs.reduce((a, q) => a + (q - mu) ** 2, 0) / cols;
          const rs = 1 / Math.sqrt(v + eps);
          const st = dt === 'float64' ? { rtol: 1e-12, atol: 1e-14 } : { rtol: 1e-5, atol: 1e-6 };
          assert.ok(close(mean[i]!, mu, st) && close(rstd[i]!, rs, st), `mean/rstd ${dt}`);
          // gradient of sum(g * y) w.r.t. x by central differences in double
          const f = (xx: number[]) => {
            const m2 = xx.reduce((a, q) => a + q, 0) / cols;
            const v2 = xx.reduce((a, q) => a + (q - m2) ** 2, 0) / cols;
            return xx.reduce((a, q, j) => a + gs[j]! * ((q - m2) / Math.sqrt(v2 + eps) * W(j) + B(j)), 0);
          };
          for (let j = 0; j < cols; j++) {
            const xh = (xs[j]! - mu) * rs;
            assert.ok(close(get(dt, out, i * cols + j), xh * W(j) + B(j), loose), `layerNorm ${dt}`);
            const h = 1e-5, xp = [...xs], xm = [...xs];
            xp[j]! += h; xm[j]! -= h;
            const fd = (f(xp) - f(xm)) / (2 * h);
            assert.ok(close(get(dt, gx, i * cols + j), fd, { rtol: Math.max(loose.rtol, 1e-4), atol: Math.max(loose.atol, 1e-4) }), `layerNorm gradX ${dt}: ${get(dt, gx, i * cols + j)} vs ${fd}`);
            gwRef[j]! += gs[j]! * xh;
            gbRef[j]! += gs[j]!;
          }
        }
        if (affine)
          for (let j = 0; j < cols; j++) {
            assert.ok(close(get(dt, gw, j), gwRef[j]!, loose), `gradWeight ${dt}`);
            assert.ok(close(get(dt, gb, j), gbRef[j]!, loose), `gradBias ${dt}`);
          }
      }
});
