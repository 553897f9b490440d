import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NodeNcclError } from '../../lib/errors.js';
import { MAX_HEADER_SIZE, layout, parseFileBytes, type StInput } from '../../lib/io/safetensors-format.js';

import { fixtures } from './fixtures-path.js';

/*
 * test/fixtures/handmade.safetensors was written byte by byte from the format specification
 * (README of huggingface/safetensors), with the shell, not by any safetensors writer:
 *
 *   printf '\x00\x01\x00\x00\x00\x00\x00\x00'     # N = 256 (u64 little-endian): the header length
 *   printf '%s ' '{"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},
 *     "a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},"c":{"dtype":"BF16","shape":[3],
 *     "data_offsets":[32,38]},"m":{"dtype":"BOOL","shape":[2],"data_offsets":[38,40]}}'
 *                                                 # (one line, no spaces) 255 bytes of JSON + 1 space
 *                                                 # of padding to a multiple of 8, as the reference pads
 *   printf '\x01\x00\x00\x00\x00\x00\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xff'  # b: int64 [1, -2]
 *   printf '\x00\x00\x80\x3f\x00\x00\x20\xc0\x00\x00\x00\x3f\x00\x00\x40\x40'  # a: f32 [[1, -2.5], [0.5, 3]]
 *                                                 # (0x3f800000 = 1, 0xc0200000 = -2.5, 0x3f000000 = 0.5,
 *                                                 #  0x40400000 = 3)
 *   printf '\x80\x3f\x00\xc0\x00\x3f'             # c: bf16 [1, -2, 0.5] (0x3f80, 0xc000, 0x3f00)
 *   printf '\x01\x00'                             # m: bool [true, false]
 *
 * 8 + 256 + 40 = 304 bytes. The tensors are in the order the reference writer uses (dtype
 * descending in its enum order: I64 > F32 > BF16 > BOOL, then by name), so our writer must
 * reproduce this file byte for byte from the same tensors and metadata.
 */
const HANDMADE_HEADER =
  '{"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},' +
  '"a":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]},"c":{"dtype":"BF16","shape":[3],' +
  '"data_offsets":[32,38]},"m":{"dtype":"BOOL","shape":[2],"data_offsets":[38,40]}}';

const isSt = (e: unknown): boolean => e instanceof NodeNcclError && e.code === 'ERR_SAFETENSORS';

/** A file from a header object and a data section (no padding unless given). */
function fileOf(header: unknown, data: Uint8Array | number, pad = true): Uint8Array {
  let json = header instanceof Uint8Array ? Buffer.from(header) : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  if (pad && json.length % 8) json = Buffer.concat([json, Buffer.alloc(8 - (json.length % 8), 0x20)]);
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + d.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(d, 8 + json.length);
  return out;
}

test('the hand-written fixture parses to what its bytes say', () => {
  const bytes = new Uint8Array(readFileSync(join(fixtures, 'handmade.safetensors')));
  assert.equal(bytes.length, 304);
  const h = parseFileBytes(bytes);
  assert.equal(h.headerLength, 256);
  assert.equal(h.dataStart, 264);
  assert.equal(h.dataLength, 40);
  assert.deepEqual({ ...h.metadata }, { format: 'pt' });
  assert.deepEqual(
    h.entries.map((e) => [e.name, e.dtype, e.shape, e.begin, e.end]),
    [['b', 'I64', [2], 0, 16], ['a', 'F32', [2, 2], 16, 32], ['c', 'BF16', [3], 32, 38], ['m', 'BOOL', [2], 38, 40]],
  );
  const dv = new DataView(bytes.buffer, bytes.byteOffset + h.dataStart);
  assert.equal(dv.getBigInt64(8, true), -2n);
  assert.equal(dv.getFloat32(16 + 4, true), -2.5);
  assert.equal(dv.getUint16(32 + 2, true), 0xc000);
});

test('layout reproduces the hand-written fixture byte for byte (order, JSON, padding)', () => {
  const bytes = new Uint8Array(readFileSync(join(fixtures, 'handmade.safetensors')));
  // Given in a different order than the file: the writer must sort them the reference's way.
  const inputs: StInput[] = [
    { name: 'm', dtype: 'BOOL', shape: [2] },
    { name: 'a', dtype: 'F32', shape: [2, 2] },
    { name: 'c', dtype: 'BF16', shape: [3] },
    { name: 'b', dtype: 'I64', shape: [2] },
  ];
  const l = layout(inputs, { format: 'pt' });
  assert.deepEqual(Buffer.from(l.header), Buffer.from(bytes.subarray(0, 264)));
  assert.deepEqual(l.order, [3, 1, 2, 0]);
  assert.deepEqual(l.offsets, [[38, 40], [16, 32], [32, 38], [0, 16]]);
  assert.equal(l.dataLength, 40);
  assert.equal(Buffer.from(bytes.subarray(8, 8 + 255)).toString(), HANDMADE_HEADER);
});

test('layout matches the reference serializer on its own test vectors', () => {
  // safetensors/src/tensor.rs test_empty: {} padded to 8, and with {"framework":"pt"} metadata.
  assert.deepEqual([...layout([]).header], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  const withMeta = layout([], { framework: 'pt' }).header;
  assert.equal(withMeta[0], 40);
  assert.equal(Buffer.from(withMeta.subarray(8)).toString(), '{"__metadata__":{"framework":"pt"}}     ');
  // test_serialization: "attn.0" F32 [1,2,3] → header of exactly 64 bytes, no padding needed.
  const l = layout([{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3] }]);
  assert.equal(l.header.length - 8, 64);
  assert.equal(Buffer.from(l.header.subarray(8)).toString(), '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}');
  // test_serialization_forced_alignement: "attn0" F32 [1,1,2,3] → 65 bytes padded with 7 spaces to 72.
  const l2 = layout([{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3] }]);
  assert.equal(l2.header[0], 72);
  assert.ok(Buffer.from(l2.header.subarray(8)).toString().endsWith('}}       '));
});

test('layout sorts by dtype (reference enum order, descending) then by UTF-8 name', () => {
  const dts = ['BOOL', 'U8', 'F16', 'BF16', 'I32', 'F32', 'F64', 'I64'] as const;
  const inputs: StInput[] = dts.map((d) => ({ name: `t_${d}`, dtype: d, shape: [1] }));
  inputs.push({ name: 'é', dtype: 'F32', shape: [] }, { name: '\u{1F600}', dtype: 'F32', shape: [] }, { name: '\uFFFD', dtype: 'F32', shape: [] });
  const l = layout(inputs);
  const names = l.order.map((i) => inputs[i]!.name);
  // UTF-8 byte order puts U+FFFD (ef bf bd) before U+1F600 (f0 9f 98 80), unlike UTF-16 order.
  assert.deepEqual(names, ['t_I64', 't_F64', 't_F32', 'é', '\uFFFD', '\u{1F600}', 't_I32', 't_BF16', 't_F16', 't_U8', 't_BOOL']);
});

test('layout rejects bad names and metadata with ERR_SAFETENSORS', () => {
  assert.throws(() => layout([{ name: '__metadata__', dtype: 'F32', shape: [1] }]), isSt);
  assert.throws(() => layout([{ name: 'a', dtype: 'F32', shape: [1] }, { name: 'a', dtype: 'F32', shape: [1] }]), isSt);
  assert.throws(() => layout([{ name: 'bad\uD800', dtype: 'F32', shape: [1] }]), isSt);
  assert.throws(() => layout([], { k: 1 as unknown as string }), isSt);
  assert.throws(() => layout([{ name: 'x', dtype: 'I8' as 'U8', shape: [1] }]), isSt);
});

test('the parser validates every field and names what is wrong', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  assert.equal(parseFileBytes(fileOf(ok, 8)).entries.length, 1);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['too small', new Uint8Array(5), /too small/],
    ['header past the end', (() => { const f = fileOf(ok, 8); new DataView(f.buffer).setBigUint64(0, 1000n, true); return f; })(), /past the end/],
    ['header too large', (() => { const f = fileOf(ok, 8); new DataView(f.buffer).setBigUint64(0, BigInt(MAX_HEADER_SIZE) + 1n, true); return f; })(), /exceeds the limit/],
    ['header 2^64-1', (() => { const f = fileOf(ok, 8); new DataView(f.buffer).setBigUint64(0, 2n ** 64n - 1n, true); return f; })(), /exceeds the limit/],
    ['not JSON', fileOf('{"a": ', 8), /not valid JSON/],
    ['not an object', fileOf('[1,2,3] ', 0), /JSON object/],
    ['bad utf-8', fileOf(new Uint8Array([0x7b, 0xff, 0x7d]), 0), /not valid UTF-8/],
    ['unknown dtype', fileOf({ a: { dtype: 'Q7', shape: [2], data_offsets: [0, 8] } }, 8), /unknown dtype "Q7"/],
    ['foreign dtype', fileOf({ a: { dtype: 'U16', shape: [4], data_offsets: [0, 8] } }, 8), /U16 is not supported/],
    ['negative dim', fileOf({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, 8), /non-negative integers/],
    ['fractional dim', fileOf({ a: { dtype: 'F32', shape: [2.5], data_offsets: [0, 8] } }, 8), /non-negative integers/],
    ['offsets not a pair', fileOf({ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, 8), /data_offsets must be/],
    ['end before begin', fileOf({ a: { dtype: 'F32', shape: [0], data_offsets: [0, 0] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 8), /end before|gap/],
    ['gap', fileOf({ a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12), /gap/],
    ['overlap', fileOf({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12), /overlap/],
    ['shape vs bytes', fileOf({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8), /needs 12 bytes/],
    ['overflowing shape', fileOf({ a: { dtype: 'F64', shape: [2 ** 40, 2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, 8), /needs \d+ bytes/],
    ['past the data', fileOf({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /past the end of the data/],
    ['trailing bytes', fileOf(ok, 12), /trailing bytes/],
    ['metadata not strings', fileOf({ __metadata__: { k: 3 }, ...ok }, 8), /must be a string/],
    ['metadata not an object', fileOf({ __metadata__: 'x', ...ok }, 8), /__metadata__/],
    ['entry not an object', fileOf({ a: 5 }, 0), /must be an object/],
  ];
  for (const [what, bytes, re] of cases) {
    assert.throws(() => parseFileBytes(bytes), (e: unknown) => isSt(e) && re.test((e as Error).message), what);
  }
});

test('zero-sized tensors and scalars are valid', () => {
  const h = parseFileBytes(fileOf({ z: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] }, s: { dtype: 'F64', shape: [], data_offsets: [0, 8] } }, 8));
  assert.deepEqual(h.entries.map((e) => e.name), ['z', 's']);
});
