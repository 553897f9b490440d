import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { native } from '../../lib/native/index.js';
import { FLOATS, type DTypeName, alloc, close, code, get, put, rng, roundTo } from './ref.js';

const k = native.kernels;

interface Case { batch: number; m: number; n: number; k: number; transA: boolean; transB: boolean; pad: number; bcastB: boolean; alpha: number; beta: number }

function run(dt: DTypeName, c: Case, r: () => number): void {
  const rowsA = c.transA ? c.k : c.m, colsA = c.transA ? c.m : c.k;
  const rowsB = c.transB ? c.n : c.k, colsB = c.transB ? c.k : c.n;
  const lda = colsA + c.pad, ldb = colsB + c.pad, ldc = c.n + c.pad;
  const strideA = rowsA * lda + c.pad, strideB = c.bcastB ? 0 : rowsB * ldb, strideC = c.m * ldc + 1;
  const offA = 2, offB = 1, offC = 3;
  const nA = offA + c.batch * strideA + rowsA * lda, nB = offB + (c.bcastB ? 1 : c.batch) * rowsB * ldb, nC = offC + c.batch * strideC + c.m * ldc;
  const A = alloc(dt, nA), B = alloc(dt, nB), C = alloc(dt, nC);
  for (let i = 0; i < nA; i++) put(dt, A, i, Math.floor(r() * 17) / 8 - 1);
  for (let i = 0; i < nB; i++) put(dt, B, i, Math.floor(r() * 17) / 8 - 1);
  for (let i = 0; i < nC; i++) put(dt, C, i, Math.floor(r() * 9) / 4 - 1);
  const C0 = Array.from({ length: nC }, (_, i) => get(dt, C, i));
  k.matmul(code(dt), c.batch, c.m, c.n, c.k, { mem: A, offset: offA }, lda, strideA, c.transA, { mem: B, offset: offB }, ldb, strideB, c.transB,
    { mem: C, offset: offC }, ldc, strideC, c.alpha, c.beta, false);
  const a = (b: number, i: number, p: number) => get(dt, A, offA + b * strideA + (c.transA ? p * lda + i : i * lda + p));
  const bb = (b: number, p: number, j: number) => get(dt, B, offB + b * strideB + (c.transB ? j * ldb + p : p * ldb + j));
  const touched = new Set<number>();
  for (let b = 0; b < c.batch; b++)
    for (let i = 0; i < c.m; i++)
      for (let j = 0; j < c.n; j++) {
        let s = 0;
        for (let p = 0; p < c.k; p++) s += a(b, i, p) * bb(b, p, j);
        const o = offC + b * strideC + i * ldc + j;
        touched.add(o);
        const want = c.alpha * s + (c.beta === 0 ? 0 : c.beta * C0[o]!);
        const got = get(dt, C, o);
        const t = dt === 'float16' ? { rtol: 2e-3, atol: 2e-3 } : dt === 'bfloat16' ? { rtol: 1e-2, atol: 1e-2 } : { rtol: 1e-5, atol: 1e-5 };
        if (!close(got, roundTo(dt, want), t)) assert.fail(`matmul ${dt} ${JSON.stringify(c)} at b=${b} (${i},${j}): ${got} vs ${want}`);
      }
  for (let i = 0; i < nC; i++) if (!touched.has(i)) assert.equal(get(dt, C, i), C0[i], `matmul ${dt} wrote outside C at ${i}`);
}

test('matmul: transposes, padded leading dims, batch strides (and broadcast B), alpha/beta vs a naive loop', () => {
  const r = rng(20);
  for (const dt of FLOATS)
    for (let rep = 0; rep < 14; rep++) {
      const sz = () => [1, 2, 5, 7, 16, 23][Math.floor(r() * 6)]!;
      run(dt, { batch: 1 + Math.floor(r() * 3), m: sz(), n: sz(), k: sz(), transA: r() < 0.5, transB: r() < 0.5, pad: Math.floor(r() * 3),
        bcastB: r() < 0.3, alpha: r() < 0.5 ? 1 : 0.5, beta: [0, 1, -0.5][Math.floor(r() * 3)]! }, r);
    }
});

test('matmul: a product bigger than the cache blocks and the threading threshold', () => {
  const r = rng(21);
  run('float32', { batch: 1, m: 150, n: 300, k: 270, transA: false, transB: true, pad: 1, bcastB: false, alpha: 1, beta: 0 }, r);
  run('float64', { batch: 2, m: 40, n: 70, k: 300, transA: true, transB: false, pad: 0, bcastB: false, alpha: 1, beta: 1 }, r);
  run('bfloat16', { batch: 1, m: 33, n: 40, k: 300, transA: false, transB: false, pad: 0, bcastB: false, alpha: 1, beta: 0 }, r);
});

test('matmul: k = 0 gives beta * C, beta = 0 ignores NaN in C, size-0 m/n touch nothing', () => {
  const C = new Float32Array([NaN, 2, 3, 4]);
  const none = new Float32Array(0);
  k.matmul(0, 1, 2, 2, 0, { mem: none, offset: 0 }, 1, 0, false, { mem: none, offset: 0 }, 2, 0, false, { mem: C, offset: 0 }, 2, 0, 1, 0.5, false);
  assert.ok(Number.isNaN(C[0]!));
  assert.deepEqual([...C.slice(1)], [1, 1.5, 2]);
  const A = new Float32Array([1, 2]), B = new Float32Array([3, 4]), D = new Float32Array([NaN]);
  k.matmul(0, 1, 1, 1, 2, { mem: A, offset: 0 }, 2, 0, false, { mem: B, offset: 0 }, 1, 0, false, { mem: D, offset: 0 }, 1, 0, 1, 0, false);
  assert.deepEqual([...D], [11]);
  k.matmul(0, 1, 0, 5, 3, { mem: none, offset: 0 }, 3, 0, false, { mem: new Float32Array(15), offset: 0 }, 5, 0, false, { mem: none, offset: 0 }, 5, 0, 1, 0, false);
});

test('the blocked kernel passes the same checks when a host BLAS is present (NODE_NCCL_BLAS=0)', {
  skip: process.env.NODE_NCCL_BLAS === '0' ? 'this run already uses the blocked kernel' : native.loader.info('blas').loaded ? false : 'no host BLAS: the runs above used the blocked kernel',
}, () => {
  const r = spawnSync(process.execPath, ['--test', fileURLToPath(import.meta.url)], { env: { ...process.env, NODE_NCCL_BLAS: '0' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
