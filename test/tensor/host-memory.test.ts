/**
 * The host memory behind CPU tensors (issue 17, item 7): SharedArrayBuffer is a valid backing
 * store on every path; memory that JavaScript detached (transferred) or shrank (a resizable
 * ArrayBuffer) is ERR_DETACHED on every path, never a raw TypeError or a silently shorter result;
 * the memory the library allocates cannot be detached or shrunk at all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { NodeNcclError, native, tensor, zeros, type Tensor } from '../../lib/index.js';

const code = (c: string) => (e: unknown): boolean => {
  assert.ok(e instanceof NodeNcclError, `expected a NodeNcclError ${c}, got ${String((e as Error)?.stack ?? e)}`);
  assert.equal(e.code, c, e.message);
  return true;
};

/** A resizable ArrayBuffer (ES2024; this TypeScript lib predates it). */
type Resizable = ArrayBuffer & { resize(n: number): void };
const resizable = (n: number, max: number): Resizable =>
  new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Resizable)(n, { maxByteLength: max });

const vals = (t: Tensor): number[] => Array.from(t.dataSync() as Float32Array);

test('a SharedArrayBuffer is a backing store like any other: ops, reads, copies, indexing, kernels', async () => {
  const sab = new SharedArrayBuffer(16);
  const a = new Float32Array(sab);
  a.set([1, 2, 3, 4]);
  const t = tensor(a);
  assert.deepEqual(vals(t.add(1)), [2, 3, 4, 5]);
  assert.equal(t.sum().item(), 10);
  const m = t.reshape([2, 2]);
  assert.deepEqual(vals(m.matmul(m)), [7, 10, 15, 22]);
  assert.deepEqual(vals(m.t().contiguous()), [1, 3, 2, 4]);
  assert.deepEqual(vals(t.clone()), [1, 2, 3, 4]);
  assert.deepEqual(Array.from((await t.data()) as Float32Array), [1, 2, 3, 4]);
  assert.deepEqual(await t.array(), [1, 2, 3, 4]);
  assert.match(t.toString(), /tensor\(\[1\., 2\., 3\., 4\.\]\)/);
  const other = zeros(4);
  other.copy_(t);
  assert.deepEqual(vals(other), [1, 2, 3, 4]);
  t.add_(1); // in place: the caller's SharedArrayBuffer sees it
  assert.deepEqual(Array.from(a), [2, 3, 4, 5]);
  t.copy_(tensor([9, 8, 7, 6]));
  assert.deepEqual(Array.from(a), [9, 8, 7, 6]);
  const idx = new BigInt64Array(new SharedArrayBuffer(16));
  idx.set([3n, 0n]);
  assert.deepEqual(vals(t.indexSelect(0, tensor(idx))), [6, 9]);
  assert.throws(() => t.indexSelect(0, tensor(BigInt64Array.from([4n]))), code('ERR_INDEX_OUT_OF_RANGE'));
  // the raw kernels take views over a SharedArrayBuffer (a bare one, which Node-API cannot read, is ERR_INVALID_ARG)
  const out = new Float32Array(new SharedArrayBuffer(16));
  const view = (mem: unknown) => ({ mem, offset: 0, strides: [1] }) as never;
  native.kernels.binary('mul', 0, [4], view(out), view(a), view(a));
  assert.deepEqual(Array.from(out), [81, 64, 49, 36]);
  assert.throws(() => native.kernels.binary('mul', 0, [4], view(out.buffer), view(a), view(a)), (e: unknown) => code('ERR_INVALID_ARG')(e) && /SharedArrayBuffer/.test((e as Error).message));
});

test('the library allocates CPU memory that cannot be detached or shrunk', () => {
  const t = zeros(8);
  const { mem } = t.span();
  const buf = ArrayBuffer.isView(mem) ? mem.buffer : (mem as ArrayBufferLike);
  assert.ok(buf instanceof SharedArrayBuffer, `a SharedArrayBuffer, got ${Object.prototype.toString.call(buf)}`);
  assert.throws(() => structuredClone(buf, { transfer: [buf as unknown as ArrayBuffer] }), /DataCloneError|invalid object in transferList|could not be cloned/i);
  assert.equal((buf as { growable?: boolean }).growable, false, 'not growable either');
  assert.deepEqual(vals(t.add(1)), new Array(8).fill(1));
});

/** Every way a tensor's memory is read or written, each expected to throw `c`. */
async function everyPath(t: Tensor, c: string, what: string): Promise<void> {
  const paths: Array<[string, () => unknown]> = [
    ['dataSync', () => t.dataSync()],
    ['data', () => t.data()],
    ['array', () => t.array()],
    ['arraySync', () => t.arraySync()],
    ['item', () => t.narrow(0, 0, 1).item()],
    ['clone', () => t.clone()],
    ['contiguous of a view', () => t.reshape([2, 2]).t().contiguous()],
    ['copy_ from it', () => zeros(4).copy_(t)],
    ['copy_ into it', () => t.copy_(zeros(4))],
    ['add', () => t.add(1)],
    ['add_', () => t.add_(1)],
    ['sum', () => t.sum()],
    ['matmul', () => t.reshape([2, 2]).matmul(zeros(2, 2))],
    ['fill_', () => t.fill_(3)],
    ['toString', () => t.toString()],
    ['to(float64)', () => t.to('float64')],
    ['span', () => t.span()],
  ];
  for (const [name, fn] of paths) {
    await assert.rejects(async () => fn(), code(c), `${what}: ${name}`);
  }
  assert.match(inspect(t), /<detached>/, `${what}: inspect says so instead of throwing`);
}

test('a detached ArrayBuffer is ERR_DETACHED on every path', async () => {
  const buf = new ArrayBuffer(16);
  new Float32Array(buf).set([1, 2, 3, 4]);
  const t = tensor(new Float32Array(buf));
  assert.deepEqual(vals(t), [1, 2, 3, 4]);
  const moved = structuredClone(buf, { transfer: [buf] });
  assert.equal(buf.byteLength, 0);
  await everyPath(t, 'ERR_DETACHED', 'detached');
  assert.deepEqual(Array.from(new Float32Array(moved)), [1, 2, 3, 4], 'nothing wrote to the moved bytes');
});

test('a shrunk resizable ArrayBuffer is ERR_DETACHED on every path; grown back it works again', async () => {
  const rab = resizable(16, 64);
  const tracking = new Float32Array(rab); // length-tracking view
  tracking.set([7, 7, 7, 7]);
  const t = tensor(tracking);
  rab.resize(8);
  await everyPath(t, 'ERR_DETACHED', 'shrunk (length-tracking view)');
  rab.resize(64); // long enough again: the tensor's 4 elements are back (the shrink zeroed two)
  assert.deepEqual(vals(t), [7, 7, 0, 0]);
  // a fixed-length view that the shrink put out of bounds
  const rab2 = resizable(32, 32);
  const t2 = tensor(new Float32Array(rab2, 0, 4));
  rab2.resize(8);
  await everyPath(t2, 'ERR_DETACHED', 'shrunk (fixed view out of bounds)');
  // the raw kernels: a detached or too-short buffer is a range error naming it, never a read past its end
  const detached = new ArrayBuffer(16);
  const overDetached = new Float32Array(detached);
  structuredClone(detached, { transfer: [detached] });
  const view = (mem: unknown) => ({ mem, offset: 0, strides: [1] }) as never;
  const ok = new Float32Array(4);
  for (const bad of [overDetached, new Float32Array(rab2)]) {
    assert.throws(() => native.kernels.binary('add', 0, [4], view(ok), view(bad), view(ok)), (e: unknown) => code('ERR_INVALID_ARG')(e) && /outside the buffer/.test((e as Error).message));
  }
});
