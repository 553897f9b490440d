import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NodeNcclError } from '../../lib/errors.js';
import { deserialize, load, loadSync, readMetadata, save, serialize } from '../../lib/io/safetensors.js';
import { Tensor, tensor, zeros, type DType } from '../../lib/tensor/index.js';
import { fixtures } from './fixtures-path.js';

const dir = mkdtempSync(join(tmpdir(), 'nn-st-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const isSt = (e: unknown): boolean => e instanceof NodeNcclError && e.code === 'ERR_SAFETENSORS';

/** The raw bytes of a CPU tensor, for exact comparisons (float16/bfloat16 included). */
function rawBytes(t: Tensor): Buffer {
  const c = t.contiguous();
  const { mem, offset } = c.span();
  const size = { float32: 4, float64: 8, float16: 2, bfloat16: 2, int32: 4, int64: 8, uint8: 1, bool: 1 }[c.dtype];
  const ab = mem instanceof ArrayBuffer ? { buffer: mem, byteOffset: 0 } : (mem as ArrayBufferView);
  return Buffer.from(new Uint8Array(ab.buffer, ab.byteOffset + offset * size, c.numel() * size));
}

function sample(): Record<string, Tensor> {
  const vals = [0, 1, -2.5, 3.25, 65504, -0.125];
  const out: Record<string, Tensor> = {};
  const dts: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool'];
  for (const d of dts) {
    if (d === 'int64') out[`t.${d}`] = tensor([0n, 1n, -(2n ** 62n), 2n ** 40n, 7n, -1n], { dtype: d }).reshape([2, 3]);
    else if (d === 'uint8') out[`t.${d}`] = tensor([0, 1, 255, 128, 7, 3], { dtype: d }).reshape([3, 2]);
    else if (d === 'bool') out[`t.${d}`] = tensor([true, false, true, true, false, false], { dtype: d }).reshape([6]);
    else if (d === 'int32') out[`t.${d}`] = tensor([0, 1, -2147483648, 2147483647, 7, -1], { dtype: d }).reshape([1, 6]);
    else out[`t.${d}`] = tensor(vals, { dtype: d }).reshape([2, 1, 3]);
  }
  out.scalar = tensor([4.5]).reshape([]);
  out.empty = zeros([0, 4]);
  return out;
}

function assertSame(a: Record<string, Tensor>, b: Record<string, Tensor>): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    assert.equal(b[k]!.dtype, a[k]!.dtype, `${k} dtype`);
    assert.deepEqual(b[k]!.shape, a[k]!.shape, `${k} shape`);
    assert.ok(rawBytes(b[k]!).equals(rawBytes(a[k]!)), `${k} bytes`);
  }
}

test('round trip of every dtype through save/load, loadSync and serialize/deserialize', async () => {
  const t = sample();
  const p = join(dir, 'all.safetensors');
  await save(t, p, { metadata: { format: 'pt', note: 'ünïcode ✓' } });
  assertSame(t, await load(p));
  assertSame(t, loadSync(p));
  assertSame(t, deserialize(serialize(t)));
  assert.ok(readFileSync(p).equals(Buffer.from(serialize(t, { metadata: { format: 'pt', note: 'ünïcode ✓' } }))));
  const meta = await readMetadata(p);
  assert.deepEqual({ ...meta.metadata }, { format: 'pt', note: 'ünïcode ✓' });
  assert.deepEqual(meta.tensors['t.bfloat16'], { dtype: 'bfloat16', shape: [2, 1, 3] });
});

test('non-contiguous tensors are written in C order', async () => {
  const m = tensor([1, 2, 3, 4, 5, 6]).reshape([2, 3]);
  const back = deserialize(serialize({ mt: m.transpose(0, 1) }));
  assert.deepEqual(Array.from(back.mt!.dataSync() as Float32Array), [1, 4, 2, 5, 3, 6]);
});

test('the hand-written fixture loads to the values its bytes encode, and saving them reproduces it', async () => {
  const path = join(fixtures, 'handmade.safetensors');
  const t = await load(path);
  assert.deepEqual(Object.keys(t), ['b', 'a', 'c', 'm']);
  assert.deepEqual(Array.from(t.b!.dataSync() as BigInt64Array), [1n, -2n]);
  assert.deepEqual(t.a!.shape, [2, 2]);
  assert.deepEqual(Array.from(t.a!.dataSync() as Float32Array), [1, -2.5, 0.5, 3]);
  assert.equal(t.c!.dtype, 'bfloat16');
  assert.deepEqual(Array.from(t.c!.to({ dtype: 'float32' }).dataSync() as Float32Array), [1, -2, 0.5]);
  assert.deepEqual(Array.from(t.m!.dataSync() as Uint8Array), [1, 0]);
  const out = join(dir, 'again.safetensors');
  // given in another order: the writer orders them as the reference does
  await save({ m: t.m!, a: t.a!, c: t.c!, b: t.b! }, out, { metadata: { format: 'pt' } });
  assert.ok(readFileSync(out).equals(readFileSync(path)), 'byte-identical to the hand-written file');
});

test('writes are atomic: the target is replaced whole, no temporary file is left, a failed save keeps the old file', async () => {
  const p = join(dir, 'atomic.safetensors');
  await save({ x: tensor([1, 2, 3]) }, p);
  const old = readFileSync(p);
  await save({ x: tensor([4, 5, 6, 7]) }, p);
  assert.deepEqual(Array.from((await load(p)).x!.dataSync() as Float32Array), [4, 5, 6, 7]);
  assert.notDeepEqual(readFileSync(p), old);
  const good = readFileSync(p);
  // a save that fails (bad metadata) must leave the previous file and no temporary behind
  await assert.rejects(save({ x: tensor([9]) }, p, { metadata: { k: 5 as unknown as string } }), isSt);
  assert.ok(readFileSync(p).equals(good));
  await assert.rejects(save({ x: tensor([9]) }, join(dir, 'no-such-dir', 'f.safetensors')), /ENOENT/);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
});

test('bad arguments get clear errors', async () => {
  await assert.rejects(save({ x: 3 as unknown as Tensor }, join(dir, 'bad.safetensors')), (e: unknown) => isSt(e) && /not a Tensor/.test((e as Error).message));
  await assert.rejects(save({ __metadata__: tensor([1]) }, join(dir, 'bad.safetensors')), isSt);
  await assert.rejects(load(join(dir, 'missing.safetensors')), /ENOENT/);
  await assert.rejects(load(join(fixtures, 'handmade.safetensors'), { device: 'tpu:0' }), isSt);
});

// ---- fuzzing --------------------------------------------------------------------------------------
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 2246822507) + 0x9e3779b9) >>> 0), s / 2 ** 32);
}

/** Mutations of a valid file: bit flips, truncation, extension, huge lengths, edited header fields. */
function mutate(base: Uint8Array, r: () => number): Uint8Array {
  const b = new Uint8Array(base);
  const headerLen = Number(new DataView(b.buffer).getBigUint64(0, true));
  const kind = Math.floor(r() * 9);
  switch (kind) {
    case 0: { // flip 1-4 random bits anywhere
      const n = 1 + Math.floor(r() * 4);
      for (let i = 0; i < n; i++) b[Math.floor(r() * b.length)]! ^= 1 << Math.floor(r() * 8);
      return b;
    }
    case 1: // flip bits in the header only
      for (let i = 0; i < 3; i++) b[8 + Math.floor(r() * headerLen)]! ^= 1 << Math.floor(r() * 8);
      return b;
    case 2: // truncate
      return b.subarray(0, Math.floor(r() * b.length));
    case 3: { // a huge or odd header length
      const choices = [2n ** 64n - 1n, 2n ** 63n, 100_000_001n, BigInt(b.length), BigInt(b.length - 8), 0n, BigInt(headerLen + 1), BigInt(headerLen - 1)];
      new DataView(b.buffer).setBigUint64(0, choices[Math.floor(r() * choices.length)]!, true);
      return b;
    }
    case 4: { // replace a digit in the header (offsets/shapes) with a huge number or another digit
      const text = Buffer.from(b.subarray(8, 8 + headerLen)).toString('latin1');
      const digits = [...text.matchAll(/\d+/g)];
      if (!digits.length) return b;
      const m = digits[Math.floor(r() * digits.length)]!;
      const repl = ['0', '1', '4', '99999999999999999999', '4294967296', '9007199254740993', '-1', '1e3', '3.5'][Math.floor(r() * 9)]!;
      const edited = text.slice(0, m.index) + repl + text.slice(m.index! + m[0].length);
      return rebuild(Buffer.from(edited, 'latin1'), b.subarray(8 + headerLen));
    }
    case 5: { // overlapping / swapped offsets: make the second tensor start inside the first
      const text = Buffer.from(b.subarray(8, 8 + headerLen)).toString('latin1');
      const edited = text.replace(/"data_offsets":\[(\d+),(\d+)\]/g, (_all, s: string, e: string) => `"data_offsets":[${Math.max(0, Number(s) - 2)},${e}]`);
      return rebuild(Buffer.from(edited, 'latin1'), b.subarray(8 + headerLen));
    }
    case 6: // extra trailing bytes
      return Buffer.concat([b, Buffer.alloc(1 + Math.floor(r() * 16))]);
    case 7: { // dtype swap
      const text = Buffer.from(b.subarray(8, 8 + headerLen)).toString('latin1');
      const dts = ['F32', 'F64', 'F16', 'BF16', 'I32', 'I64', 'U8', 'BOOL', 'I8', 'U64', 'X'];
      const edited = text.replace(/"dtype":"[A-Z0-9]+"/, `"dtype":"${dts[Math.floor(r() * dts.length)]}"`);
      return rebuild(Buffer.from(edited, 'latin1'), b.subarray(8 + headerLen));
    }
    default: { // a shape with an enormous element count but unchanged offsets
      const text = Buffer.from(b.subarray(8, 8 + headerLen)).toString('latin1');
      const edited = text.replace(/"shape":\[[^\]]*\]/, '"shape":[4294967296,4294967296,16]');
      return rebuild(Buffer.from(edited, 'latin1'), b.subarray(8 + headerLen));
    }
  }
}

function rebuild(header: Buffer, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

function checkOutcome(bytes: Uint8Array, run: () => Record<string, Tensor>, what: string): 'ok' | 'error' {
  try {
    const t = run();
    // a valid load: the tensors' bytes can never exceed the file's
    const total = Object.values(t).reduce((a, x) => a + rawBytes(x).length, 0);
    assert.ok(total <= bytes.length, `${what}: loaded ${total} bytes from a ${bytes.length}-byte file`);
    return 'ok';
  } catch (e) {
    assert.ok(isSt(e), `${what}: expected ERR_SAFETENSORS, got ${(e as Error)?.stack ?? String(e)}`);
    return 'error';
  }
}

test('fuzz: mutated files give ERR_SAFETENSORS or a valid load, never a crash or a huge allocation', async () => {
  const bases = [serialize(sample(), { metadata: { format: 'pt' } }), new Uint8Array(readFileSync(join(fixtures, 'handmade.safetensors')))];
  const r = rng(20261123);
  const counts = { ok: 0, error: 0 };
  const heapBefore = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 3000; i++) {
    const m = mutate(bases[i % 2]!, r);
    counts[checkOutcome(m, () => deserialize(m), `case ${i}`)]++;
  }
  // the file-based loaders on a sample of mutations (they read the header first, then the data)
  const p = join(dir, 'fuzz.safetensors');
  for (let i = 0; i < 60; i++) {
    const m = mutate(bases[i % 2]!, r);
    writeFileSync(p, m);
    checkOutcome(m, () => loadSync(p), `file case ${i} (sync)`);
    try {
      const t = await load(p);
      assert.ok(Object.values(t).reduce((a, x) => a + rawBytes(x).length, 0) <= statSync(p).size);
    } catch (e) {
      assert.ok(isSt(e), `file case ${i}: ${(e as Error)?.stack}`);
    }
  }
  assert.ok(counts.error > 1000 && counts.ok > 50, `both outcomes exercised: ${JSON.stringify(counts)}`);
  assert.ok(process.memoryUsage().arrayBuffers - heapBefore < 256 * 2 ** 20, 'no large allocations');
});

test('hostile headers: a 100 MB+ length or a giant shape is refused before any allocation', () => {
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
  assert.throws(() => deserialize(huge), (e: unknown) => isSt(e) && /exceeds the limit/.test((e as Error).message));
  const giant = rebuild(Buffer.from('{"w":{"dtype":"F64","shape":[1000000,1000000,1000000],"data_offsets":[0,8]}}'), new Uint8Array(8));
  assert.throws(() => deserialize(giant), (e: unknown) => isSt(e) && /needs 8000000000000000000 bytes/.test((e as Error).message));
  // deeply nested JSON (a stack-depth attack on recursive parsers)
  const deep = rebuild(Buffer.from('{"a":'.repeat(200000) + '1' + '}'.repeat(200000)), new Uint8Array(0));
  assert.throws(() => deserialize(deep), (e: unknown) => isSt(e) && /nested more than 128 levels/.test((e as Error).message));
  // many thousands of tensors are fine when consistent
  const many: Record<string, unknown> = {};
  for (let i = 0; i < 20000; i++) many[`t${i}`] = { dtype: 'U8', shape: [1], data_offsets: [i, i + 1] };
  assert.equal(Object.keys(deserialize(rebuild(Buffer.from(JSON.stringify(many)), new Uint8Array(20000)))).length, 20000);
});
