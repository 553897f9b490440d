import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../lib/native/index.js';
import { DT, alloc, code, get } from './ref.js';

const k = native.kernels;
const span = (mem: ArrayBufferView, offset = 0) => ({ mem, offset });

// Philox-4x32-10 in plain JS (BigInt-free 32-bit math), the reference for the native generator.
function philox(counter: bigint, seed: bigint): number[] {
  let c0 = Number(counter & 0xffffffffn), c1 = Number((counter >> 32n) & 0xffffffffn), c2 = 0, c3 = 0;
  let k0 = Number(seed & 0xffffffffn), k1 = Number((seed >> 32n) & 0xffffffffn);
  const mul = (a: number, b: number): [number, number] => {
    const p = BigInt(a) * BigInt(b);
    return [Number(p >> 32n), Number(p & 0xffffffffn)];
  };
  for (let r = 0; r < 10; r++) {
    const [hi0, lo0] = mul(0xd2511f53, c0);
    const [hi1, lo1] = mul(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + 0x9e3779b9) >>> 0;
    k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

test('Philox-4x32-10 known-answer vectors (Random123) and the lane/counter layout', () => {
  // Random123 kat_vectors: philox4x32 10 rounds, counter = 0, key = 0
  assert.deepEqual(philox(0n, 0n).map((x) => x.toString(16)), ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
  const n = 10, out = new Int32Array(n);
  // randint over [0, 2^32) is the raw lane value minus nothing; use [-2^31, 2^31) so it fits int32
  const seed = 0x123456789abcdefn, offset = 5n;
  const wide = new BigInt64Array(n);
  k.random('randint', DT.int64, span(wide), n, seed, offset, 0, 2 ** 32);
  for (let i = 0; i < n; i++) assert.equal(Number(wide[i]), philox(offset + BigInt(i >> 2), seed)[i % 4], `lane ${i}`);
  k.random('randint', DT.int32, span(out), n, seed, offset, -(2 ** 31), 2 ** 31);
});

test('same (seed, offset) gives the same numbers; offsets continue the stream', () => {
  for (const dist of ['uniform', 'normal', 'randint', 'bernoulli'] as const) {
    const p1 = dist === 'randint' ? 100 : 1;
    const a = new Float32Array(103), b = new Float32Array(103), c = new Float32Array(103 - 8);
    k.random(dist, DT.float32, span(a), 103, 7n, 0n, dist === 'bernoulli' ? 0.3 : 0, p1);
    k.random(dist, DT.float32, span(b), 103, 7n, 0n, dist === 'bernoulli' ? 0.3 : 0, p1);
    k.random(dist, DT.float32, span(c), 95, 7n, 2n, dist === 'bernoulli' ? 0.3 : 0, p1); // counter 2 = element 8
    assert.deepEqual(a, b, dist);
    assert.deepEqual(c, a.subarray(8), `${dist}: offset continues the stream`);
    const d = new Float32Array(103);
    k.random(dist, DT.float32, span(d), 103, 8n, 0n, dist === 'bernoulli' ? 0.3 : 0, p1);
    assert.notDeepEqual(a, d, `${dist}: another seed differs`);
  }
});

test('uniform, normal, randint and bernoulli have the right range and moments', () => {
  const n = 200000;
  const moments = (x: ArrayLike<number>) => {
    let m = 0, v = 0;
    for (let i = 0; i < x.length; i++) m += x[i]!;
    m /= x.length;
    for (let i = 0; i < x.length; i++) v += (x[i]! - m) ** 2;
    return [m, v / x.length];
  };
  const u = new Float64Array(n);
  k.random('uniform', DT.float64, span(u), n, 1n, 0n, -2, 4);
  assert.ok(u.every((x) => x >= -2 && x < 4));
  let [m, v] = moments(u);
  assert.ok(Math.abs(m! - 1) < 0.02 && Math.abs(v! - 3) < 0.05, `uniform moments ${m} ${v}`);
  const z = new Float32Array(n);
  k.random('normal', DT.float32, span(z), n, 2n, 0n, 3, 2);
  [m, v] = moments(z);
  assert.ok(Math.abs(m! - 3) < 0.02 && Math.abs(v! - 4) < 0.06, `normal moments ${m} ${v}`);
  const within1 = z.filter((x) => Math.abs(x - 3) < 2).length / n;
  assert.ok(Math.abs(within1 - 0.6827) < 0.005, `normal: P(|z| < 1) = ${within1}`);
  const ri = new BigInt64Array(n);
  k.random('randint', DT.int64, span(ri), n, 3n, 0n, -5, 5);
  const counts = new Map<bigint, number>();
  for (const x of ri) counts.set(x, (counts.get(x) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort((a, b) => Number(a - b)), [-5n, -4n, -3n, -2n, -1n, 0n, 1n, 2n, 3n, 4n]);
  for (const c of counts.values()) assert.ok(Math.abs(c / n - 0.1) < 0.005);
  const bern = new Uint8Array(n);
  k.random('bernoulli', DT.bool, span(bern), n, 4n, 0n, 0.25, 0);
  const ones = bern.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(ones / n - 0.25) < 0.005 && bern.every((x) => x === 0 || x === 1));
  for (const dt of ['float16', 'bfloat16'] as const) {
    const h = alloc(dt, 1000);
    k.random('uniform', code(dt), span(h), 1000, 5n, 0n, 0, 1);
    for (let i = 0; i < 1000; i++) assert.ok(get(dt, h, i) >= 0 && get(dt, h, i) <= 1);
  }
});
