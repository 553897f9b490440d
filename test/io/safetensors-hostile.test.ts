/**
 * Hostile safetensors headers (issue 17, items 5 and 6): special names stay plain keys, a key
 * that appears twice is an error, shapes are limited to the dims tensors have, and crafted
 * headers cost a bounded multiple of their size (measured in child processes: peak RSS).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { NodeNcclError } from '../../lib/errors.js';
import { parseFileBytes } from '../../lib/io/safetensors-format.js';
import { deserialize, load, loadSync, readMetadata, save, serialize } from '../../lib/io/safetensors.js';
import { tensor, type Tensor } from '../../lib/tensor/index.js';
import { libIndex } from '../helpers/child.js';

const dir = mkdtempSync(join(tmpdir(), 'nn-st-hostile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const isSt = (e: unknown): boolean => e instanceof NodeNcclError && e.code === 'ERR_SAFETENSORS';

/** A file from header text (padded with spaces to 8 bytes) and a data section. */
function fileOf(json: string, data: number): Uint8Array {
  let h = Buffer.from(json, 'utf8');
  if (h.length % 8) h = Buffer.concat([h, Buffer.alloc(8 - (h.length % 8), 0x20)]);
  const out = new Uint8Array(8 + h.length + data);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

const SPECIAL = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'prototype'];

test('__proto__ and other special names are plain keys, for tensors and metadata, on every path', async () => {
  const tensors = Object.create(null) as Record<string, Tensor>;
  SPECIAL.forEach((name, i) => {
    tensors[name] = tensor([i, i + 0.5]);
  });
  const metadata = Object.create(null) as Record<string, string>;
  for (const name of SPECIAL) metadata[name] = `m:${name}`;
  const bytes = serialize(tensors, { metadata });
  const p = join(dir, 'special.safetensors');
  await save(tensors, p, { metadata });
  const check = (got: Record<string, Tensor>, how: string): void => {
    assert.deepEqual(Object.keys(got).sort(), [...SPECIAL].sort(), how);
    SPECIAL.forEach((name, i) => {
      assert.ok(Object.prototype.hasOwnProperty.call(got, name), `${how}: ${name} is an own key`);
      assert.deepEqual(Array.from(got[name]!.dataSync() as Float32Array), [i, i + 0.5], `${how}: ${name}`);
    });
    assert.equal(Object.getPrototypeOf(got), null, `${how}: a null-prototype object`);
  };
  check(deserialize(bytes), 'deserialize');
  check(await load(p), 'load');
  check(loadSync(p), 'loadSync');
  const h = parseFileBytes(bytes);
  assert.deepEqual({ ...h.metadata }, { ...metadata });
  assert.equal(Object.getPrototypeOf(h.metadata), null);
  const md = await readMetadata(p);
  assert.deepEqual(Object.keys(md.tensors).sort(), [...SPECIAL].sort());
  assert.equal(md.metadata!['__proto__'], 'm:__proto__');
  // written by hand (no writer of ours involved): the name survives as a tensor
  const hand = fileOf('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4);
  const got = deserialize(hand);
  assert.ok(Object.prototype.hasOwnProperty.call(got, '__proto__'));
  assert.deepEqual(Array.from(got["__proto__"]!.dataSync() as Float32Array), [0]);
});

test('a key that appears twice is an error at every level, as in the reference', () => {
  const t = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
  const cases: Array<[string, string, number, RegExp]> = [
    ['tensor twice', `{"a":${t},"a":${t}}`, 4, /"a" appears twice/],
    ['tensor twice, other offsets', `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8, /"a" appears twice/],
    ['__metadata__ twice, the first not strings', `{"__metadata__":{"k":1},"__metadata__":{"k":"v"},"a":${t}}`, 4, /must be a string|"__metadata__" appears twice/],
    ['__metadata__ twice', `{"__metadata__":{"k":"x"},"__metadata__":{"k":"v"},"a":${t}}`, 4, /"__metadata__" appears twice/],
    ['a metadata key twice', `{"__metadata__":{"k":"x","k":"v"},"a":${t}}`, 4, /"k" twice/],
    ['a field twice', `{"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, 4, /field "dtype" appears twice/],
    ['an unknown field twice', `{"a":{"x":1,"dtype":"F32","x":2,"shape":[1],"data_offsets":[0,4]}}`, 4, /field "x" appears twice/],
    ['the same key spelled with an escape', `{"a":${t},"\\u0061":${t}}`, 4, /"a" appears twice/],
  ];
  for (const [what, json, data, re] of cases) {
    assert.throws(() => deserialize(fileOf(json, data)), (e: unknown) => isSt(e) && re.test((e as Error).message), what);
  }
  // unknown fields are skipped (the reference's serde structs ignore them), nulls for metadata too
  const ok = deserialize(fileOf(`{"__metadata__":null,"a":{"extra":{"deep":[1,{"x":null}]},"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, 4));
  assert.deepEqual(Object.keys(ok), ['a']);
});

test('shapes are limited to the 16 dims tensors have; the scan stops at the 17th', () => {
  const shape = (n: number): string => `[${new Array(n).fill(1).join(',')}]`;
  const f16 = fileOf(`{"x":{"dtype":"F32","shape":${shape(16)},"data_offsets":[0,4]}}`, 4);
  assert.deepEqual(deserialize(f16).x!.shape, new Array(16).fill(1));
  const f17 = fileOf(`{"x":{"dtype":"F32","shape":${shape(17)},"data_offsets":[0,4]}}`, 4);
  assert.throws(() => deserialize(f17), (e: unknown) => isSt(e) && /more than 16 dimensions/.test((e as Error).message));
  // a 45M-dim shape (the case, here 4M) is refused at once, not parsed into an array
  const huge = fileOf(`{"x":{"dtype":"F32","shape":${shape(4_000_000)},"data_offsets":[0,4]}}`, 4);
  const t0 = performance.now();
  assert.throws(() => deserialize(huge), (e: unknown) => isSt(e) && /more than 16 dimensions/.test((e as Error).message));
  assert.ok(performance.now() - t0 < 2000, 'refused without scanning the rest');
});

test('strict JSON: escapes, numbers and literals as RFC 8259 says', () => {
  const t = (shape: string): string => `{"x":{"dtype":"F32","shape":${shape},"data_offsets":[0,4]}}`;
  const bad: Array<[string, string, RegExp]> = [
    ['leading zero', t('[01]'), /not valid JSON/],
    ['fraction', t('[1.0]'), /non-negative integers/],
    ['exponent', t('[1e0]'), /non-negative integers/],
    ['negative', t('[-1]'), /non-negative integers/],
    ['2^53', t('[9007199254740992]'), /non-negative integers/],
    ['trailing comma', t('[1,]'), /not valid JSON/],
    ['raw control character', '{"x\n":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', /control character/],
    ['lone surrogate', '{"\\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', /lone surrogate/],
    ['bad escape', '{"\\q":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', /invalid escape/],
    ['text after the object', `${t('[1]')} x`, /after the header object/],
    ['deep nesting in an unknown field', `{"x":{"u":${'['.repeat(200)}${']'.repeat(200)},"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, /nested more than 128/],
    ['missing field', '{"x":{"dtype":"F32","data_offsets":[0,4]}}', /no "shape"/],
    ['dtype not a string', '{"x":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}', /unknown dtype 7/],
  ];
  for (const [what, json, re] of bad) {
    assert.throws(() => deserialize(fileOf(json, 4)), (e: unknown) => isSt(e) && re.test((e as Error).message), what);
  }
  const names = deserialize(fileOf('{"\\u00e9\\ud83d\\ude00\\"\\\\\\/\\t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"é😀":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8));
  assert.deepEqual(Object.keys(names), ['é😀"\\/\t', 'é😀']);
});

/** A crafted header of about `bytes` bytes, written to a file. */
function craft(kind: 'tensors' | 'dims' | 'meta', bytes: number): { path: string; headerBytes: number } {
  const parts: string[] = [];
  let len = 2;
  let json: string;
  if (kind === 'tensors') {
    for (let i = 0; len < bytes; i++) {
      const p = `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`;
      parts.push(p);
      len += p.length + 1;
    }
    json = `{${parts.join(',')}}`;
  } else if (kind === 'dims') {
    json = `{"x":{"dtype":"F32","shape":[${new Array(Math.floor(bytes / 2)).fill('1').join(',')}],"data_offsets":[0,4]}}`;
  } else {
    for (let i = 0; len < bytes; i++) {
      const p = `"k${i}":""`;
      parts.push(p);
      len += p.length + 1;
    }
    json = `{"__metadata__":{${parts.join(',')}}}`;
  }
  const f = fileOf(json, kind === 'dims' ? 4 : 0);
  const path = join(dir, `${kind}.safetensors`);
  writeFileSync(path, f);
  return { path, headerBytes: f.length };
}

interface Cost {
  ok: boolean;
  code: string | null;
  /** Peak RSS growth, bytes. */
  growth: number;
  tensors: number;
}

/** Peak RSS growth of `readMetadata` (the header alone) or `load` of a file, in a fresh process. */
function measure(path: string, fn: 'readMetadata' | 'load'): Cost {
  const code = `
const lib = await import(${JSON.stringify(libIndex)});
globalThis.gc();
const before = process.resourceUsage().maxRSS * 1024;
let ok = true, code = null, tensors = 0;
try { const r = await lib.safetensors.${fn}(${JSON.stringify(path)}); tensors = Object.keys(r.tensors ?? r).length; } catch (e) { ok = false; code = e.code ?? String(e); }
const growth = process.resourceUsage().maxRSS * 1024 - before;
console.log(JSON.stringify({ ok, code, growth, tensors }));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Cost;
}

// The bounds README states, peak RSS, for a header of H bytes: reading it (readMetadata) at most
// 8·H + 48 MiB (V8's young generation is much of the constant), 11·H + 48 MiB when the header is
// millions of tiny metadata keys (V8's hash table for an object with that many keys); loading the
// file (load) at most that plus its data plus 1.25 KiB per tensor (the tensor objects themselves).
// The JSON.parse loader cost 13x (many tensors), 30x (many metadata keys) and 12x (a long shape,
// which it accepted) to read these 16 MB headers. At 99 MB here: 6.7x (tensors), 10.7x (metadata).
const MiB = 2 ** 20;
const parseBound = (h: number, kind: string): number => (kind === 'meta' ? 11 : 8) * h + 48 * MiB;
const loadBound = (h: number, kind: string, tensors: number): number => parseBound(h, kind) + 1280 * tensors;

for (const kind of ['tensors', 'meta', 'dims'] as const) {
  test(`a crafted 16 MB header (${kind}) costs a bounded multiple of its size`, () => {
    const { path, headerBytes: h } = craft(kind, 16 * MiB);
    const mb = (n: number): string => `${(n / MiB).toFixed(0)} MiB`;
    const read = measure(path, 'readMetadata');
    if (kind === 'dims') assert.equal(read.code, 'ERR_SAFETENSORS', 'a shape past 16 dims is refused');
    else assert.ok(read.ok, `readMetadata: ${read.code}`);
    assert.ok(read.growth <= parseBound(h, kind), `${kind}: readMetadata grew peak RSS by ${mb(read.growth)} for a ${mb(h)} header (bound ${mb(parseBound(h, kind))})`);
    if (kind === 'dims') return;
    const loaded = measure(path, 'load');
    assert.ok(loaded.ok, `load: ${loaded.code}`);
    const bound = loadBound(h, kind, loaded.tensors);
    assert.ok(loaded.growth <= bound, `${kind}: load grew peak RSS by ${mb(loaded.growth)} for a ${mb(h)} header and ${loaded.tensors} tensors (bound ${mb(bound)})`);
  });
}
