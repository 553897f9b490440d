/**
 * The safetensors file format, as bytes only (no tensors, no files): header parsing with full
 * validation, and the writer's layout. Shared by lib/io/safetensors.ts (files and tensors) and
 * the tests (fixture, fuzzing).
 *
 * Format (https://github.com/huggingface/safetensors):
 *   [8 bytes]  N, the header length, unsigned 64-bit little-endian
 *   [N bytes]  UTF-8 JSON object: { "__metadata__"?: {string: string},
 *              "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ... }
 *              The reference writer pads it with spaces to a multiple of 8 bytes.
 *   [rest]     the tensors' bytes, little-endian, C order; offsets are relative to the end of
 *              the header; the buffers cover the rest of the file exactly, without gaps or overlaps.
 *
 * The reference writer (safetensors/src/tensor.rs `prepare`) orders tensors by descending dtype
 * (its `Dtype` enum order, which is increasing alignment: BOOL < U8 < ... < F16 < BF16 < I32 <
 * F32 < F64 < I64), then by name (byte order); `__metadata__` comes first in the JSON, each
 * tensor's keys are `dtype`, `shape`, `data_offsets`, with no whitespace. `layout()` does the same,
 * so our files are byte-identical to the reference's for the same input.
 */
import { createError, type NodeNcclError } from '../errors.js';
import { MAX_DIMS } from '../tensor/shape.js';
import { scanHeader } from './safetensors-json.js';

/** Element types this package reads and writes (the subset of safetensors' dtypes it has). */
export type StDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I32' | 'I64' | 'U8' | 'BOOL';

/** Bytes per element. */
export const ST_DTYPE_SIZE: Readonly<Record<StDType, number>> = {
  BOOL: 1, U8: 1, F16: 2, BF16: 2, I32: 4, F32: 4, F64: 8, I64: 8,
};

/** Position of each dtype in the reference's `Dtype` enum (its derived `Ord`). Only the order matters. */
const ST_DTYPE_ORDER: Readonly<Record<StDType, number>> = {
  BOOL: 0, U8: 1, F16: 7, BF16: 8, I32: 9, F32: 11, F64: 12, I64: 13,
};

/** Dtypes the reference knows that this package cannot represent (a clearer error than "unknown"). */
const FOREIGN_DTYPES = new Set(['I8', 'I16', 'U16', 'U32', 'U64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

/** The reference loader's limit on the header length (safetensors MAX_HEADER_SIZE). */
export const MAX_HEADER_SIZE = 100_000_000;

export function isStDType(s: unknown): s is StDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ST_DTYPE_SIZE, s);
}

export function safetensorsError(message: string, details?: Record<string, unknown>): NodeNcclError {
  return createError('ERR_SAFETENSORS', `safetensors: ${message}`, details);
}

/** One tensor of a parsed header; begin/end are byte offsets relative to the data section. */
export interface StEntry {
  name: string;
  dtype: StDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface StHeader {
  /** N: the JSON header's length in bytes (without the 8-byte prefix). */
  headerLength: number;
  /** Where the data section starts in the file: 8 + N. */
  dataStart: number;
  /** Bytes of the data section (= the end offset of the last tensor). */
  dataLength: number;
  /** Tensors in file order (by offset). */
  entries: StEntry[];
  /** `__metadata__`, or null when the file has none. */
  metadata: Record<string, string> | null;
}

/**
 * Reads and checks the 8-byte length prefix. `fileSize` is the whole file's length in bytes.
 * Checks: at least 8 bytes, N <= MAX_HEADER_SIZE, 8 + N <= fileSize.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw safetensorsError(`file too small: ${fileSize} bytes, but a safetensors file starts with an 8-byte header length`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw safetensorsError(`header length ${n} exceeds the limit of ${MAX_HEADER_SIZE} bytes`);
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw safetensorsError(`header length ${len} runs past the end of the file (${fileSize} bytes)`);
  }
  return len;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates the JSON header. `dataLength` is the size of the data section
 * (fileSize - 8 - N). The bytes are scanned once (safetensors-json.ts: no JSON.parse, no copy of
 * the text); what is kept is the entries and the metadata. Checks, in order: valid UTF-8, a JSON
 * object starting with "{" with no key twice (at any level), `__metadata__` a string-to-string
 * map (or null), every tensor an object with a known dtype, a shape of at most MAX_DIMS
 * non-negative integers and two integer data_offsets; sorted by offset the tensors are contiguous
 * from 0, without overlaps or gaps, each (end - begin) equals numel * itemsize (computed with
 * BigInt: no overflow), and the last end equals dataLength. `metadata` is a null-prototype object,
 * so every key (`__proto__` included) is a plain key.
 */
export function parseHeader(json: Uint8Array, dataLength: number): Omit<StHeader, 'headerLength' | 'dataStart'> {
  const raw = scanHeader(json, MAX_DIMS);
  const metadata = raw.metadata;
  for (const e of raw.entries) {
    const dtype = e.dtype;
    if (!isStDType(dtype)) {
      const what = `tensor ${JSON.stringify(e.name)}`;
      if (FOREIGN_DTYPES.has(dtype)) {
        throw safetensorsError(`${what}: dtype ${dtype} is not supported by node-nccl (supported: ${Object.keys(ST_DTYPE_SIZE).join(', ')})`);
      }
      throw safetensorsError(`${what}: unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(ST_DTYPE_SIZE).join(', ')})`);
    }
  }
  const entries = raw.entries as StEntry[]; // every dtype checked just above
  // File order: by (begin, end), as the reference loader sorts.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of entries) {
    const what = `tensor ${JSON.stringify(e.name)}`;
    if (e.end < e.begin) throw safetensorsError(`${what}: data_offsets [${e.begin}, ${e.end}] end before they begin`);
    if (e.begin < pos) throw safetensorsError(`${what}: data_offsets [${e.begin}, ${e.end}] overlap the previous tensor, which ends at ${pos}`);
    if (e.begin > pos) throw safetensorsError(`${what}: data_offsets [${e.begin}, ${e.end}] leave a gap after offset ${pos}`);
    let numel = 1n;
    for (const d of e.shape) numel *= BigInt(d);
    const want = numel * BigInt(ST_DTYPE_SIZE[e.dtype]);
    if (want !== BigInt(e.end - e.begin)) {
      throw safetensorsError(`${what}: shape [${e.shape.join(', ')}] of ${e.dtype} needs ${want} bytes but data_offsets [${e.begin}, ${e.end}] hold ${e.end - e.begin}`);
    }
    if (e.end > dataLength) {
      throw safetensorsError(`${what}: data_offsets [${e.begin}, ${e.end}] run past the end of the data section (${dataLength} bytes)`);
    }
    pos = e.end;
  }
  if (pos !== dataLength) {
    throw safetensorsError(`the tensors cover ${pos} bytes but the data section holds ${dataLength}: the file has trailing bytes or a missing tensor`);
  }
  return { dataLength, entries, metadata };
}

/** Parses a whole file held in memory (header and data). */
export function parseFileBytes(bytes: Uint8Array): StHeader {
  const n = readHeaderLength(bytes, bytes.length);
  const dataLength = bytes.length - 8 - n;
  const h = parseHeader(bytes.subarray(8, 8 + n), dataLength);
  return { headerLength: n, dataStart: 8 + n, ...h };
}

/** What the writer needs to know about one tensor. */
export interface StInput {
  name: string;
  dtype: StDType;
  shape: readonly number[];
}

export interface StLayout {
  /** The 8-byte length prefix followed by the space-padded JSON header. */
  header: Uint8Array;
  /** Indices into the inputs, in the order their bytes follow the header. */
  order: number[];
  /** Byte offsets [begin, end) of each input (indexed like the inputs), relative to the data section. */
  offsets: Array<[number, number]>;
  /** Total bytes of the data section. */
  dataLength: number;
}

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function checkWellFormed(s: string, what: string): void {
  // Lone surrogates cannot be written as UTF-8 (the reference's names are Rust Strings).
  if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) {
    throw safetensorsError(`${what} ${JSON.stringify(s)} is not valid Unicode (a lone surrogate)`);
  }
}

/**
 * Computes the reference writer's layout: order (dtype descending, then name), offsets, and the
 * padded header bytes (8-byte little-endian length + JSON + spaces to a multiple of 8).
 */
export function layout(inputs: readonly StInput[], metadata?: Record<string, string> | null): StLayout {
  const seen = new Set<string>();
  for (const t of inputs) {
    if (typeof t.name !== 'string') throw safetensorsError(`tensor names must be strings, got ${typeof t.name}`);
    if (t.name === '__metadata__') throw safetensorsError('"__metadata__" is reserved and cannot name a tensor');
    if (seen.has(t.name)) throw safetensorsError(`duplicate tensor name ${JSON.stringify(t.name)}`);
    seen.add(t.name);
    checkWellFormed(t.name, 'tensor name');
    if (!isStDType(t.dtype)) throw safetensorsError(`tensor ${JSON.stringify(t.name)}: unsupported dtype ${String(t.dtype)}`);
    if (!t.shape.every(isCount)) throw safetensorsError(`tensor ${JSON.stringify(t.name)}: bad shape [${String(t.shape)}]`);
  }
  if (metadata != null) {
    if (typeof metadata !== 'object' || Array.isArray(metadata)) {
      throw safetensorsError('metadata must be an object mapping strings to strings');
    }
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw safetensorsError(`metadata value of key ${JSON.stringify(k)} must be a string, got ${typeof v}`);
      checkWellFormed(k, 'metadata key');
      checkWellFormed(v, 'metadata value');
    }
  }
  const order = inputs.map((_, i) => i);
  order.sort((i, j) => {
    const a = inputs[i]!;
    const b = inputs[j]!;
    return ST_DTYPE_ORDER[b.dtype] - ST_DTYPE_ORDER[a.dtype] || utf8Compare(a.name, b.name);
  });
  const offsets: Array<[number, number]> = new Array(inputs.length);
  let pos = 0;
  const parts: string[] = [];
  if (metadata != null) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  for (const i of order) {
    const t = inputs[i]!;
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const n = numel * ST_DTYPE_SIZE[t.dtype];
    if (!Number.isSafeInteger(pos + n)) throw safetensorsError(`tensor ${JSON.stringify(t.name)}: the file would exceed 2^53 bytes`);
    offsets[i] = [pos, pos + n];
    parts.push(`${JSON.stringify(t.name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${pos},${pos + n}]}`);
    pos += n;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  if (padded > MAX_HEADER_SIZE) throw safetensorsError(`the header would be ${padded} bytes, over the format's limit of ${MAX_HEADER_SIZE}`);
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.length);
  return { header, order, offsets, dataLength: pos };
}
