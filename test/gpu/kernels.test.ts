/**
 * CUDA kernels vs the host twins: every kernel runs on the same inputs on the CPU and on the GPU
 * and the results are compared (bit-identical for copies, integers and Philox integers/uniforms;
 * within stated tolerances for floating math). Skips, naming the reason, where there is no GPU.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../lib/native/index.js';
import type { BinaryOp, NativeDeviceBuffer, NativeMemory, UnaryOp, View } from '../../typings/native.js';
import { DT, FLOATS, type DTypeName, type Storage, alloc, close, code, get, put, rng } from '../kernels/ref.js';

const cuda = native.cuda;
const skip = cuda.deviceCount() === 0 ? `no GPU: ${cuda.noGpuReason()}` : false;
const k = native.kernels;

function toDevice(h: Storage): NativeDeviceBuffer {
  const d = new cuda.DeviceBuffer(Math.max(1, h.byteLength), 0);
  if (h.byteLength) cuda.memcpy(d, 0, h, 0, h.byteLength);
  return d;
}
function toHost(d: NativeDeviceBuffer, like: Storage): Storage {
  const h = alloc(dtypeOf(like), like.length);
  if (h.byteLength) cuda.memcpy(h, 0, d, 0, h.byteLength);
  return h;
}
const dtOf = new WeakMap<Storage, DTypeName>();
function dtypeOf(s: Storage): DTypeName { return dtOf.get(s)!; }
function buf(dt: DTypeName, n: number, gen: () => number): Storage {
  const b = alloc(dt, n);
  dtOf.set(b, dt);
  for (let i = 0; i < n; i++) put(dt, b, i, gen());
  return b;
}

/** Runs f on host copies and on device copies of `bufs`; returns both results of every buffer. */
function both(bufs: Storage[], f: (mems: NativeMemory[]) => void): { host: Storage[]; dev: Storage[] } {
  const host = bufs.map((b) => { const c = b.slice() as Storage; dtOf.set(c, dtypeOf(b)); return c; });
  f(host);
  const devs = bufs.map(toDevice);
  f(devs);
  cuda.synchronizeSync(0);
  const dev = devs.map((d, i) => toHost(d, bufs[i]!));
  devs.forEach((d) => d.dispose());
  return { host, dev };
}

function compare(what: string, dt: DTypeName, a: Storage, b: Storage, t = { rtol: 1e-5, atol: 1e-6 }): void {
  const scale = dt === 'float16' ? 4 : dt === 'bfloat16' ? 32 : 1;
  for (let i = 0; i < a.length; i++) {
    const x = get(dt, a, i), y = get(dt, b, i);
    if (!(close(y, x, { rtol: t.rtol * scale, atol: t.atol * scale }) || (Number.isNaN(x) && Number.isNaN(y))))
      assert.fail(`${what} ${dt} at ${i}: cpu ${x} vs cuda ${y}`);
  }
}

const view = (mem: NativeMemory, strides: number[], offset = 0): View => ({ mem, offset, strides });
const UNARY: UnaryOp[] = ['neg', 'abs', 'exp', 'log', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid', 'relu', 'gelu', 'gelu_tanh', 'silu',
  'sign', 'square', 'reciprocal', 'log1p', 'expm1', 'erf', 'logical_not', 'fill', 'add_scalar', 'mul_scalar', 'rsub_scalar', 'rdiv_scalar',
  'pow_scalar', 'rpow_scalar', 'maximum_scalar', 'minimum_scalar', 'clamp', 'eq_scalar', 'ne_scalar', 'lt_scalar', 'le_scalar', 'gt_scalar', 'ge_scalar'];
// Exact names: a prefix test would take neg (ne…) and gelu_backward (ge…) for comparisons.
const BOOL_OUT = /^(logical_(not|and|or)|(eq|ne|lt|le|gt|ge)(_scalar)?)$/;

test('unary: CUDA (vectorized contiguous and strided paths) matches the CPU for every op and float dtype', { skip }, () => {
  const r = rng(100);
  for (const dt of FLOATS)
    for (const op of UNARY) {
      const n = 1031; // odd: exercises the vector tail
      const x = buf(dt, n, () => 0.1 + r() * 2.9);
      const outDt: DTypeName = BOOL_OUT.test(op) ? 'bool' : dt;
      for (const strided of [false, true]) {
        const o = buf(outDt, n, () => 0);
        const shape = strided ? [515] : [n];
        const { host, dev } = both([o, x], ([om, xm]) => k.unary(op, code(dt), shape, view(om!, [strided ? 2 : 1]), view(xm!, [strided ? 2 : 1], strided ? 1 : 0), 1.5, 2.5));
        compare(`unary ${op}${strided ? ' strided' : ''}`, outDt, host[0]!, dev[0]!);
      }
    }
});

test('binary: CUDA matches the CPU for every op, float dtype and broadcast pattern; int32/int64 exactly', { skip }, () => {
  const r = rng(101);
  const ops: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'atan2', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and',
    'logical_or', 'relu_backward', 'gelu_backward', 'gelu_tanh_backward', 'silu_backward', 'sigmoid_backward_y', 'tanh_backward_y'];
  for (const dt of [...FLOATS, 'int32', 'int64'] as DTypeName[])
    for (const op of ops) {
      if (!FLOATS.includes(dt) && (op === 'atan2' || op.includes('backward'))) continue;
      const outDt: DTypeName = BOOL_OUT.test(op) ? 'bool' : dt;
      const gen = FLOATS.includes(dt) ? () => 0.2 + r() * 2 : () => Math.floor(r() * 9) - 4;
      for (const [sa, sb] of [[[8, 1], [8, 1]], [[8, 1], [0, 0]], [[0, 1], [8, 1]], [[1, 64], [8, 1]]] as const) {
        const a = buf(dt, 512, gen), b = buf(dt, 512, gen), o = buf(outDt, 512, () => 0);
        const { host, dev } = both([o, a, b], ([om, am, bm]) => k.binary(op, code(dt), [64, 8], view(om!, [8, 1]), view(am!, [...sa]), view(bm!, [...sb])));
        compare(`binary ${op} ${sa}/${sb}`, outDt, host[0]!, dev[0]!);
      }
    }
});

test('where, copy/cast (all dtype pairs), arange: CUDA matches the CPU exactly', { skip }, () => {
  const r = rng(102);
  const all = Object.keys(DT) as DTypeName[];
  for (const src of all)
    for (const dst of all) {
      const a = buf(src, 300, () => Math.floor(r() * 200) - (src === 'uint8' || src === 'bool' ? 0 : 100));
      const o = buf(dst, 300, () => 0);
      for (const st of [[1], [2]]) {
        const n = st[0] === 1 ? 300 : 150;
        const { host, dev } = both([o, a], ([om, am]) => k.copy(code(src), code(dst), [n], view(om!, [1]), view(am!, st)));
        compare(`copy ${src}->${dst}`, dst, host[0]!, dev[0]!, { rtol: 0, atol: 0 });
      }
    }
  for (const dt of all) {
    const c = buf('bool', 100, () => +(r() < 0.5)), a = buf(dt, 100, () => 1), b = buf(dt, 100, () => 0), o = buf(dt, 100, () => 5);
    const { host, dev } = both([o, c, a, b], ([om, cm, am, bm]) => k.where(code(dt), [100], view(om!, [1]), view(cm!, [1]), view(am!, [1]), view(bm!, [0])));
    compare('where', dt, host[0]!, dev[0]!, { rtol: 0, atol: 0 });
    const ar = buf(dt, 77, () => 0);
    const res = both([ar], ([m]) => k.arange(code(dt), { mem: m!, offset: 0 }, 77, -3, FLOATS.includes(dt) ? 0.25 : 1));
    compare('arange', dt, res.host[0]!, res.dev[0]!, { rtol: 0, atol: 0 });
  }
});

test('reduce, softmax, layerNorm (+ backward): CUDA matches the CPU', { skip }, () => {
  const r = rng(103);
  for (const dt of FLOATS) {
    for (const op of ['sum', 'mean', 'prod', 'max', 'min', 'argmax', 'argmin', 'var'] as const)
      for (const [outer, size, inner] of [[7, 300, 1], [3, 50, 9], [1, 5000, 1], [2, 300001, 1]] as const) { // the last: split rows
        const x = buf(dt, outer * size * inner, op === 'prod' ? () => 0.99 + r() * 0.02 : () => r() * 4 - 2);
        const arg = op === 'argmax' || op === 'argmin';
        const o = buf(arg ? 'int64' : dt, outer * inner, () => 0);
        const idx = buf('int64', outer * inner, () => 0);
        const withIdx = op === 'max' || op === 'min';
        const { host, dev } = both([o, x, idx], ([om, xm, im]) => k.reduce(op, code(dt), outer, size, inner, { mem: om!, offset: 0 }, { mem: xm!, offset: 0 }, withIdx ? { mem: im!, offset: 0 } : null, 1));
        // float accumulation on the GPU vs double on the CPU: looser for the 300001-element rows
        compare(`reduce ${op} [${outer},${size},${inner}]`, arg ? 'int64' : dt, host[0]!, dev[0]!, size > 1e5 ? { rtol: 2e-3, atol: 2e-2 } : { rtol: 1e-4, atol: 1e-4 });
        if (withIdx) compare(`reduce ${op} indices`, 'int64', host[2]!, dev[2]!, { rtol: 0, atol: 0 });
      }
    for (const log of [false, true])
      for (const [rows, cols] of [[5, 7], [3, 5000], [2, 100003]] as const) { // the last: split-row path
        const x = buf(dt, rows * cols, () => r() * 8 - 4), o = buf(dt, rows * cols, () => 0), g = buf(dt, rows * cols, () => r() - 0.5), gi = buf(dt, rows * cols, () => 0);
        const { host, dev } = both([o, x, g, gi], ([om, xm, gm, gim]) => {
          k.softmax(code(dt), rows, cols, { mem: om!, offset: 0 }, { mem: xm!, offset: 0 }, log);
          k.softmaxBackward(code(dt), rows, cols, { mem: gim!, offset: 0 }, { mem: gm!, offset: 0 }, { mem: om!, offset: 0 }, log);
        });
        compare(`softmax log=${log}`, dt, host[0]!, dev[0]!, { rtol: 1e-5, atol: 1e-6 });
        compare(`softmaxBackward log=${log}`, dt, host[3]!, dev[3]!, { rtol: 1e-4, atol: 1e-5 });
      }
    for (const [rows, cols] of [[6, 1000], [2, 70001]] as const) { // the second: split-row path
    const x = buf(dt, rows * cols, () => r() * 4 - 2), w = buf(dt, cols, () => r() + 0.5), b = buf(dt, cols, () => r() - 0.5);
    const stats = dt === 'float64' ? 'float64' : 'float32'; // the saved statistics' dtype
    const o = buf(dt, rows * cols, () => 0), mean = buf(stats, rows, () => 0), rstd = buf(stats, rows, () => 0);
    const g = buf(dt, rows * cols, () => r() - 0.5), gx = buf(dt, rows * cols, () => 0), gw = buf(dt, cols, () => 0), gb = buf(dt, cols, () => 0);
    const { host, dev } = both([o, mean, rstd, x, w, b, g, gx, gw, gb], (m) => {
      const s = (i: number) => ({ mem: m[i]!, offset: 0 });
      k.layerNorm(code(dt), rows, cols, s(0), s(1), s(2), s(3), s(4), s(5), 1e-5);
      k.layerNormBackward(code(dt), rows, cols, s(7), s(8), s(9), s(6), s(3), s(1), s(2), s(4));
    });
    compare('layerNorm', dt, host[0]!, dev[0]!, { rtol: 1e-4, atol: 1e-5 });
    compare('layerNorm mean', stats, host[1]!, dev[1]!, { rtol: 1e-5, atol: 1e-5 });
    compare('layerNorm rstd', stats, host[2]!, dev[2]!, { rtol: 1e-4, atol: 1e-5 });
    for (const [i, name] of [[7, 'gradX'], [8, 'gradWeight'], [9, 'gradBias']] as const) compare(`layerNorm ${name}`, dt, host[i]!, dev[i]!, { rtol: 1e-4, atol: 1e-4 });
    }
  }
});

// Issue 12's kernel defects, each on the case that exposed it (on simulated devices the host twin
// runs on both sides, so these prove the CUDA kernels only on a GPU: npm run test:gpu).
test('softmax of rows far below -87 next to an all -inf chunk (split rows, D5), and every row of grids past the block cap (D8)', { skip }, () => {
  const r = rng(110);
  for (const dt of ['float32', 'float64'] as DTypeName[])
    for (const log of [false, true]) {
      // 2 rows of 40000 (the split path): the first 8192 (one chunk) -inf, the rest about -100
      const rows = 2, cols = 40000;
      const x = buf(dt, rows * cols, () => 0);
      for (let i = 0; i < rows * cols; i++) put(dt, x, i, i % cols < 8192 ? -Infinity : -100 - r());
      const o = buf(dt, rows * cols, () => 0);
      const { host, dev } = both([o, x], ([om, xm]) => k.softmax(code(dt), rows, cols, { mem: om!, offset: 0 }, { mem: xm!, offset: 0 }, log));
      for (let i = 0; i < rows * cols; i++) {
        const v = get(dt, dev[0]!, i);
        if (!(log ? v <= 0 || v === -Infinity : v >= 0 && v <= 1)) assert.fail(`softmax log=${log} ${dt} at ${i}: ${v}`);
      }
      compare(`softmax -inf chunk log=${log}`, dt, host[0]!, dev[0]!, { rtol: 1e-4, atol: 1e-7 });
    }
  // more rows than the row grid's cap (32 blocks per SM): each block loops over rows
  const rows = 20011, cols = 24;
  for (const log of [false, true]) {
    const x = buf('float32', rows * cols, () => r() * 8 - 4), o = buf('float32', rows * cols, () => 0);
    const g = buf('float32', rows * cols, () => r() - 0.5), gi = buf('float32', rows * cols, () => 0);
    const { host, dev } = both([o, x, g, gi], ([om, xm, gm, gim]) => {
      k.softmax(code('float32'), rows, cols, { mem: om!, offset: 0 }, { mem: xm!, offset: 0 }, log);
      k.softmaxBackward(code('float32'), rows, cols, { mem: gim!, offset: 0 }, { mem: gm!, offset: 0 }, { mem: om!, offset: 0 }, log);
    });
    compare('softmax, many rows', 'float32', host[0]!, dev[0]!);
    compare('softmaxBackward, many rows', 'float32', host[3]!, dev[3]!, { rtol: 1e-4, atol: 1e-5 });
  }
});

test('layerNorm over many rows (D8) and its weight/bias gradients and column reductions of few columns over many rows (two-stage, D9)', { skip }, () => {
  const r = rng(111);
  for (const dt of FLOATS) {
    const rows = 20011, cols = 48;
    const stats = dt === 'float64' ? 'float64' : 'float32';
    const x = buf(dt, rows * cols, () => r() * 4 - 2), w = buf(dt, cols, () => r() + 0.5), b = buf(dt, cols, () => r() - 0.5);
    const o = buf(dt, rows * cols, () => 0), mean = buf(stats, rows, () => 0), rstd = buf(stats, rows, () => 0);
    const g = buf(dt, rows * cols, () => r() - 0.5), gx = buf(dt, rows * cols, () => 0), gw = buf(dt, cols, () => 0), gb = buf(dt, cols, () => 0);
    const { host, dev } = both([o, mean, rstd, x, w, b, g, gx, gw, gb], (m) => {
      const s = (i: number) => ({ mem: m[i]!, offset: 0 });
      k.layerNorm(code(dt), rows, cols, s(0), s(1), s(2), s(3), s(4), s(5), 1e-5);
      k.layerNormBackward(code(dt), rows, cols, s(7), s(8), s(9), s(6), s(3), s(1), s(2), s(4));
    });
    const loose = dt === 'float16' || dt === 'bfloat16' ? { rtol: 2e-2, atol: 2e-1 } : { rtol: 1e-3, atol: 1e-2 };
    compare('layerNorm, many rows', dt, host[0]!, dev[0]!, { rtol: 1e-4, atol: 1e-5 });
    compare('layerNorm gradX, many rows', dt, host[7]!, dev[7]!, { rtol: 1e-4, atol: 1e-4 });
    compare('layerNorm gradWeight over 20011 rows', dt, host[8]!, dev[8]!, loose);
    compare('layerNorm gradBias over 20011 rows', dt, host[9]!, dev[9]!, loose);
    // the same shape as a bias gradient: sum (and every other op) over dim 0 of [20011, 48]
    for (const op of ['sum', 'mean', 'max', 'argmin', 'var', 'prod'] as const) {
      const v = buf(dt, rows * cols, op === 'prod' ? () => 1 + (r() - 0.5) * 1e-4 : () => r() * 4 - 2);
      const arg = op === 'argmin';
      const out = buf(arg ? 'int64' : dt, cols, () => 0), idx = buf('int64', cols, () => 0);
      const res = both([out, v, idx], ([om, vm, im]) => k.reduce(op, code(dt), 1, rows, cols, { mem: om!, offset: 0 }, { mem: vm!, offset: 0 }, op === 'max' ? { mem: im!, offset: 0 } : null, 1));
      compare(`reduce ${op} over dim 0 of [${rows}, ${cols}]`, arg ? 'int64' : dt, res.host[0]!, res.dev[0]!, arg ? { rtol: 0, atol: 0 } : loose);
      if (op === 'max') compare('reduce max indices', 'int64', res.host[2]!, res.dev[2]!, { rtol: 0, atol: 0 });
    }
  }
});

test('matmul through cuBLAS (fp32, TF32 opt-in, fp64, fp16, bf16; transposes, batch strides) matches the CPU', { skip }, () => {
  const r = rng(104);
  for (const dt of FLOATS)
    for (const [transA, transB, tf32] of [[false, false, false], [true, false, false], [false, true, true], [true, true, false]] as const) {
      const batch = 3, m = 37, n = 45, kk = 29;
      const A = buf(dt, batch * m * kk, () => r() - 0.5), B = buf(dt, kk * n, () => r() - 0.5), C = buf(dt, batch * m * n, () => r());
      const { host, dev } = both([A, B, C], ([am, bm, cm]) => k.matmul(code(dt), batch, m, n, kk, { mem: am!, offset: 0 }, transA ? m : kk, m * kk, transA,
        { mem: bm!, offset: 0 }, transB ? kk : n, 0, transB, { mem: cm!, offset: 0 }, n, m * n, 1, 0.5, tf32));
      compare(`matmul tA=${transA} tB=${transB} tf32=${tf32}`, dt, host[2]!, dev[2]!, tf32 || dt !== 'float32' && dt !== 'float64' ? { rtol: 5e-3, atol: 5e-3 } : { rtol: 1e-4, atol: 1e-5 });
    }
});

test('indexSelect, indexAdd, gather, scatterAdd (atomics, repeated indices): CUDA matches the CPU', { skip }, () => {
  const r = rng(105);
  for (const dt of [...FLOATS, 'int32', 'int64', 'uint8'] as DTypeName[]) {
    const outer = 3, size = 10, inner = 33, idxLen = 40;
    const index = buf('int64', idxLen, () => Math.floor(r() * size));
    const src = buf(dt, outer * size * inner, () => Math.floor(r() * 4)), sel = buf(dt, outer * idxLen * inner, () => 0);
    let res = both([sel, src, index], ([om, sm, im]) => k.indexSelect(code(dt), outer, size, inner, { mem: om!, offset: 0 }, { mem: sm!, offset: 0 }, { mem: im!, offset: 0 }, idxLen));
    compare('indexSelect', dt, res.host[0]!, res.dev[0]!, { rtol: 0, atol: 0 });
    const acc = buf(dt, outer * size * inner, () => Math.floor(r() * 4)), add = buf(dt, outer * idxLen * inner, () => Math.floor(r() * 3));
    res = both([acc, add, index], ([om, sm, im]) => k.indexAdd(code(dt), outer, size, inner, { mem: om!, offset: 0 }, { mem: sm!, offset: 0 }, { mem: im!, offset: 0 }, idxLen));
    compare('indexAdd', dt, res.host[0]!, res.dev[0]!, { rtol: 1e-6, atol: 0 });
    const shape = [4, 6], other = [5, 6];
    const gidx = buf('int64', 24, () => Math.floor(r() * 5));
    const gsrc = buf(dt, 30, () => Math.floor(r() * 4)), gout = buf(dt, 24, () => 0);
    res = both([gout, gsrc, gidx], ([om, sm, im]) => k.gather(code(dt), 0, shape, other, { mem: om!, offset: 0 }, { mem: sm!, offset: 0 }, { mem: im!, offset: 0 }));
    compare('gather', dt, res.host[0]!, res.dev[0]!, { rtol: 0, atol: 0 });
    const sacc = buf(dt, 30, () => 1), sadd = buf(dt, 24, () => Math.floor(r() * 3));
    res = both([sacc, sadd, gidx], ([om, sm, im]) => k.scatterAdd(code(dt), 0, shape, other, { mem: om!, offset: 0 }, { mem: sm!, offset: 0 }, { mem: im!, offset: 0 }));
    compare('scatterAdd', dt, res.host[0]!, res.dev[0]!, { rtol: 1e-6, atol: 0 });
  }
});

test('Philox random: CUDA gives the same numbers as the CPU for the same seed and offset', { skip }, () => {
  for (const dt of [...FLOATS, 'int32', 'int64'] as DTypeName[])
    for (const dist of ['uniform', 'normal', 'randint', 'bernoulli'] as const) {
      if (!FLOATS.includes(dt) && (dist === 'uniform' || dist === 'normal')) continue;
      const o = buf(dt, 1001, () => 0);
      const { host, dev } = both([o], ([m]) => k.random(dist, code(dt), { mem: m!, offset: 0 }, 1001, 1234567890123n, 77n, dist === 'bernoulli' ? 0.3 : -3, 5));
      // integers and uniforms are bit-identical; normals are computed in double on both sides
      compare(`random ${dist}`, dt, host[0]!, dev[0]!, dist === 'normal' ? { rtol: 1e-12, atol: 1e-12 } : { rtol: 0, atol: 0 });
    }
});

test('fused adamStep/sgdStep and sumSquares over many tensors: CUDA matches the CPU', { skip }, () => {
  const r = rng(106);
  for (const dt of FLOATS) {
    const sizes = Array.from({ length: 50 }, (_, i) => (i * 37) % 300); // more tensors than one launch holds, some empty
    const sd: DTypeName = dt; // optimizer state has the parameters' dtype
    const params = sizes.map((n) => buf(dt, n, () => r() - 0.5)), grads = sizes.map((n) => buf(dt, n, () => r() - 0.5));
    const m = sizes.map((n) => buf(sd, n, () => r() * 0.1)), v = sizes.map((n) => buf(sd, n, () => r() * 0.1)), vmax = sizes.map((n) => buf(sd, n, () => r() * 0.1));
    const L = sizes.length;
    const { host, dev } = both([...params, ...grads, ...m, ...v, ...vmax], (mems) => {
      const sp = (i: number) => ({ mem: mems[i]!, offset: 0 });
      const list = (j: number) => sizes.map((_, i) => sp(j * L + i));
      k.adamStep(code(dt), list(0), list(1), list(2), list(3), list(4), sizes, { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 3, decoupled: true, amsgrad: true, maximize: false });
      k.sgdStep(code(dt), list(0), list(1), list(2), sizes, { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.001, nesterov: true, maximize: false, firstStep: false });
    });
    for (let i = 0; i < L; i++) compare('adam+sgd param', dt, host[i]!, dev[i]!, { rtol: 1e-5, atol: 1e-6 });
    const out = buf('float64', 1, () => 0);
    const ss = both([out, ...grads], ([om, ...gm]) => k.sumSquares(code(dt), gm.map((g) => ({ mem: g, offset: 0 })), sizes, { mem: om!, offset: 0 }));
    compare('sumSquares', 'float64', ss.host[0]!, ss.dev[0]!, { rtol: 1e-12, atol: 0 }); // both accumulate in float64
  }
});

test('cpu and cuda operands in one call: ERR_DEVICE_MISMATCH, nothing written', { skip }, () => {
  const h = new Float32Array(4);
  const d = new cuda.DeviceBuffer(16, 0);
  assert.throws(() => k.binary('add', 0, [4], view(h, [1]), view(d, [1]), view(h, [1])), { code: 'ERR_DEVICE_MISMATCH' });
  d.dispose();
  assert.throws(() => k.unary('neg', 0, [4], view(d, [1]), view(d, [1])), { code: 'ERR_DISPOSED' });
});
