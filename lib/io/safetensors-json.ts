/**
 * The safetensors header's JSON, read straight from its bytes (layer: lib/io, no tensors).
 *
 * JSON.parse cannot do this job: it keeps the last of duplicate keys (so a hostile file can hide
 * an invalid entry behind a valid one), it turns a key `__proto__` into a prototype, and it
 * builds a whole object tree plus a copy of the text before anything is checked (a crafted
 * 100 MB header then costs gigabytes). This scanner walks the bytes once and builds only what
 * the loader keeps:
 *
 * - the grammar is RFC 8259 JSON (whitespace, strings with every escape, numbers, literals,
 *   nesting), the text must be UTF-8 (checked up front without decoding it) and begin with `{`,
 *   as the safetensors specification says, with only whitespace after the closing `}`;
 * - the top level maps names to tensor entries (`{"dtype", "shape", "data_offsets"}`, other
 *   fields skipped, as the reference's serde structs skip them) and may hold `"__metadata__"`, a
 *   map of strings to strings (or null);
 * - a key that appears twice in one object is an error, wherever it is (the reference's serde
 *   structs refuse a repeated `__metadata__` or field; we refuse every repetition);
 * - shape and offset numbers must be non-negative integers below 2^53; a shape has at most
 *   `maxDims` sizes, and the scanner stops at the first one past that;
 * - values nested deeper than 128 levels (serde_json's recursion limit) are an error; skipping
 *   an unknown field keeps one byte per level on an explicit stack, never recursion.
 *
 * Cost: one pass, O(header bytes) time; memory is the returned entries and metadata (each
 * string once) plus a Set of the names.
 */
import { isUtf8 } from 'node:buffer';
import { createError, type NodeNcclError } from '../errors.js';

function safetensorsError(message: string): NodeNcclError {
  return createError('ERR_SAFETENSORS', `safetensors: ${message}`);
}

/** One tensor entry as written (nothing checked against the data yet). */
export interface RawEntry {
  name: string;
  /** The dtype string as written (checked by the caller). */
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface RawHeader {
  entries: RawEntry[];
  /** A null-prototype object (so `__proto__` is a plain key), or null. */
  metadata: Record<string, string> | null;
}

/** serde_json's default recursion limit. */
const MAX_DEPTH = 128;

const Q = 0x22; // "
const BS = 0x5c; // \
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACK = 0x5b;
const RBRACK = 0x5d;
const MINUS = 0x2d;

/** Strings the scanner meets all the time, returned without allocating. */
const COMMON = ['dtype', 'shape', 'data_offsets', '__metadata__', 'F32', 'F64', 'F16', 'BF16', 'I32', 'I64', 'U8', 'BOOL'].map((s) => ({
  s,
  bytes: Buffer.from(s, 'latin1'),
}));

/** What kind of JSON value starts with this byte (for messages). */
function kindOf(c: number): string {
  if (c === Q) return 'a string';
  if (c === LBRACE) return 'an object';
  if (c === LBRACK) return 'an array';
  if (c === 0x74 || c === 0x66) return 'a boolean';
  if (c === 0x6e) return 'null';
  if (c === MINUS || (c >= 0x30 && c <= 0x39)) return 'a number';
  return 'not a JSON value';
}

class Scanner {
  pos = 0;
  readonly b: Uint8Array;
  readonly buf: Buffer;
  readonly n: number;
  /** Reused while reading an array of counts. */
  readonly scratch: number[] = [];
  /** Where the last key read by nextKey began (for messages). */
  keyAt = 0;

  constructor(bytes: Uint8Array) {
    this.b = bytes;
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.n = bytes.length;
  }

  fail(what: string, at = this.pos): never {
    throw safetensorsError(`the header is not valid JSON (${what} at byte ${at})`);
  }

  ws(): void {
    const b = this.b;
    let p = this.pos;
    while (p < this.n) {
      const c = b[p]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      p++;
    }
    this.pos = p;
  }

  peek(): number {
    return this.pos < this.n ? this.b[this.pos]! : -1;
  }

  expect(c: number, what: string): void {
    if (this.peek() !== c) this.fail(this.pos >= this.n ? `unexpected end, expected ${what}` : `expected ${what}`);
    this.pos++;
  }

  /** The raw text of [from, to) for messages (at most 100 bytes). */
  text(from: number, to: number): string {
    const end = Math.min(to, from + 100);
    return this.buf.toString('utf8', from, end) + (to > end ? '…' : '');
  }

  /** A string at pos (which must be a quote); decodes escapes, refuses control characters. */
  string(): string {
    if (this.peek() !== Q) this.fail(this.pos >= this.n ? 'unexpected end, expected a string' : 'expected a string');
    const b = this.b;
    let p = this.pos + 1;
    let start = p;
    let parts: string[] | null = null;
    for (;;) {
      if (p >= this.n) this.fail('unterminated string', this.pos);
      const c = b[p]!;
      if (c === Q) break;
      if (c < 0x20) this.fail('a control character inside a string', p);
      if (c !== BS) {
        p++;
        continue;
      }
      parts ??= [];
      if (p > start) parts.push(this.buf.toString('utf8', start, p));
      const e = p + 1 < this.n ? b[p + 1]! : -1;
      p += 2;
      switch (e) {
        case Q: parts.push('"'); break;
        case BS: parts.push('\\'); break;
        case 0x2f: parts.push('/'); break;
        case 0x62: parts.push('\b'); break;
        case 0x66: parts.push('\f'); break;
        case 0x6e: parts.push('\n'); break;
        case 0x72: parts.push('\r'); break;
        case 0x74: parts.push('\t'); break;
        case 0x75: {
          const hi = this.hex4(p);
          p += 4;
          if (hi >= 0xdc00 && hi <= 0xdfff) this.fail('a lone surrogate in a \\u escape', p - 6);
          if (hi >= 0xd800 && hi <= 0xdbff) {
            const lo = b[p] === BS && b[p + 1] === 0x75 ? this.hex4(p + 2) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) this.fail('a lone surrogate in a \\u escape', p - 6);
            p += 6;
            parts.push(String.fromCharCode(hi, lo));
          } else {
            parts.push(String.fromCharCode(hi));
          }
          break;
        }
        default:
          this.fail('an invalid escape in a string', p - 2);
      }
      start = p;
    }
    this.pos = p + 1;
    if (parts === null) return this.intern(start, p);
    if (p > start) parts.push(this.buf.toString('utf8', start, p));
    return parts.join('');
  }

  hex4(p: number): number {
    if (p + 4 > this.n) this.fail('a truncated \\u escape', p - 2);
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.b[p + i]!;
      const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (d < 0) this.fail('an invalid \\u escape', p - 2);
      v = v * 16 + d;
    }
    return v;
  }

  intern(start: number, end: number): string {
    const len = end - start;
    if (len <= 12) {
      for (const { s, bytes } of COMMON) {
        if (bytes.length !== len) continue;
        let same = true;
        for (let i = 0; i < len && same; i++) same = this.b[start + i] === bytes[i];
        if (same) return s;
      }
    }
    return this.buf.toString('utf8', start, end);
  }

  /**
   * A number at pos. Returns it when it is a non-negative integer below 2^53, else -1 (a valid
   * JSON number that is negative, fractional, exponential or too big); bad syntax fails.
   */
  count(): number {
    const b = this.b;
    let p = this.pos;
    let ok = true;
    if (b[p] === MINUS) {
      ok = false;
      p++;
    }
    const digits = p;
    if (p >= this.n || b[p]! < 0x30 || b[p]! > 0x39) this.fail('expected a digit', p);
    let v = 0;
    if (b[p] === 0x30) {
      p++;
    } else {
      while (p < this.n && b[p]! >= 0x30 && b[p]! <= 0x39) {
        v = v * 10 + (b[p]! - 0x30);
        p++;
      }
    }
    if (p - digits > 16 || v > Number.MAX_SAFE_INTEGER) ok = false;
    if (b[p] === 0x2e) {
      ok = false;
      p++;
      const f = p;
      while (p < this.n && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
      if (p === f) this.fail('expected a digit after the decimal point', p);
    }
    if (b[p] === 0x65 || b[p] === 0x45) {
      ok = false;
      p++;
      if (b[p] === 0x2b || b[p] === MINUS) p++;
      const f = p;
      while (p < this.n && b[p]! >= 0x30 && b[p]! <= 0x39) p++;
      if (p === f) this.fail('expected a digit in the exponent', p);
    }
    this.pos = p;
    return ok ? v : -1;
  }

  literal(word: string): void {
    for (let i = 0; i < word.length; i++) {
      if (this.b[this.pos + i] !== word.charCodeAt(i)) this.fail(`expected ${word}`);
    }
    this.pos += word.length;
  }

  /** Skips one value of any kind (validating it), without recursion. `depth`: levels already open. */
  skipValue(depth: number): void {
    const stack: number[] = []; // RBRACE or RBRACK per open level
    for (;;) {
      this.ws();
      const c = this.peek();
      if (c === LBRACE || c === LBRACK) {
        if (depth + stack.length + 1 > MAX_DEPTH) this.fail(`values nested more than ${MAX_DEPTH} levels deep`);
        this.pos++;
        this.ws();
        stack.push(c === LBRACE ? RBRACE : RBRACK);
        if (this.peek() === stack[stack.length - 1]) {
          this.pos++;
          stack.pop();
        } else {
          if (c === LBRACE) this.keyColon();
          continue;
        }
      } else if (c === Q) {
        this.string();
      } else if (c === 0x74) {
        this.literal('true');
      } else if (c === 0x66) {
        this.literal('false');
      } else if (c === 0x6e) {
        this.literal('null');
      } else if (c === MINUS || (c >= 0x30 && c <= 0x39)) {
        this.count();
      } else {
        this.fail(c < 0 ? 'unexpected end, expected a value' : 'expected a value');
      }
      // after a complete value: close levels, or go on to the next element
      for (;;) {
        if (stack.length === 0) return;
        this.ws();
        const close = stack[stack.length - 1]!;
        const d = this.peek();
        if (d === close) {
          this.pos++;
          stack.pop();
          continue;
        }
        if (d !== COMMA) this.fail(`expected ',' or '${String.fromCharCode(close)}'`);
        this.pos++;
        if (close === RBRACE) this.keyColon();
        break;
      }
    }
  }

  keyColon(): void {
    this.ws();
    this.string();
    this.ws();
    this.expect(COLON, "':'");
  }

  /** Opens the object at pos (its '{'), at nesting level `depth`. */
  open(depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`values nested more than ${MAX_DEPTH} levels deep`);
    this.expect(LBRACE, "'{'");
  }

  /**
   * The next key of the open object, with pos then at its value (which the caller consumes), or
   * null at the object's end. `first`: no member was read yet. `keyAt` is where the key began.
   */
  nextKey(first: boolean): string | null {
    this.ws();
    const c = this.peek();
    if (c === RBRACE) {
      this.pos++;
      return null;
    }
    if (!first) {
      if (c !== COMMA) this.fail(c < 0 ? "unexpected end, expected ',' or '}'" : "expected ',' or '}'");
      this.pos++;
      this.ws();
    }
    this.keyAt = this.pos;
    const key = this.string();
    this.ws();
    this.expect(COLON, "':'");
    this.ws();
    return key;
  }

  /** An array of counts at pos: [] or [n, ...]; null when it is not one (pos then past the value). */
  counts(maxLen: number, what: string): number[] | null {
    const start = this.pos;
    if (this.peek() !== LBRACK) {
      this.skipValue(2);
      return null;
    }
    this.pos++;
    const out = this.scratch;
    out.length = 0;
    this.ws();
    if (this.peek() === RBRACK) {
      this.pos++;
      return [];
    }
    for (;;) {
      this.ws();
      const c = this.peek();
      if (!(c === MINUS || (c >= 0x30 && c <= 0x39))) {
        this.pos = start;
        this.skipValue(2);
        return null;
      }
      const v = this.count();
      if (v < 0) {
        this.pos = start;
        this.skipValue(2);
        return null;
      }
      if (out.length === maxLen) {
        throw safetensorsError(
          maxLen === 2
            ? `${what}: data_offsets must be [begin, end] non-negative integers, got more than two numbers`
            : `${what}: its shape has more than ${maxLen} dimensions (node-nccl tensors have at most ${maxLen})`,
        );
      }
      out.push(v);
      this.ws();
      const d = this.peek();
      if (d === COMMA) {
        this.pos++;
        continue;
      }
      if (d === RBRACK) {
        this.pos++;
        return out.slice(); // exact size: the scratch array grows by steps
      }
      this.fail(d < 0 ? "unexpected end, expected ',' or ']'" : "expected ',' or ']'");
    }
  }
}

/**
 * Scans a header's bytes into its tensor entries (in the order written) and metadata. Entries are
 * not checked against each other or the data (the caller does that); everything else is.
 */
export function scanHeader(json: Uint8Array, maxDims: number): RawHeader {
  if (!isUtf8(json)) throw safetensorsError('the header is not valid UTF-8');
  if (json.length === 0 || json[0] !== LBRACE) throw safetensorsError('the header must be a JSON object starting with "{"');
  const s = new Scanner(json);
  const out: RawHeader = { entries: [], metadata: null };
  const seen = new Set<string>();
  s.open(1);
  for (let name = s.nextKey(true); name !== null; name = s.nextKey(false)) {
    if (seen.has(name)) throw safetensorsError(`the key ${JSON.stringify(name)} appears twice in the header (at byte ${s.keyAt})`);
    seen.add(name);
    if (name === '__metadata__') out.metadata = readMetadata(s);
    else out.entries.push(readEntry(s, name, maxDims));
  }
  s.ws();
  if (s.pos !== s.n) s.fail('unexpected characters after the header object');
  return out;
}

function readMetadata(s: Scanner): Record<string, string> | null {
  const c = s.peek();
  if (c === 0x6e) {
    s.literal('null');
    return null;
  }
  if (c !== LBRACE) {
    s.skipValue(1); // bad JSON there is reported as such
    throw safetensorsError(`"__metadata__" must be an object mapping strings to strings, got ${kindOf(c)}`);
  }
  const out = Object.create(null) as Record<string, string>;
  s.open(2);
  for (let key = s.nextKey(true); key !== null; key = s.nextKey(false)) {
    if (key in out) throw safetensorsError(`"__metadata__" has the key ${JSON.stringify(key)} twice (at byte ${s.keyAt})`);
    const v = s.peek();
    if (v !== Q) {
      s.skipValue(2);
      throw safetensorsError(`"__metadata__" value of key ${JSON.stringify(key)} must be a string, got ${kindOf(v)}`);
    }
    out[key] = s.string();
  }
  return out;
}

function readEntry(s: Scanner, name: string, maxDims: number): RawEntry {
  const what = `tensor ${JSON.stringify(name)}`;
  const c = s.peek();
  if (c !== LBRACE) {
    s.skipValue(1); // bad JSON there is reported as such
    throw safetensorsError(`${what}: its entry must be an object, got ${kindOf(c)}`);
  }
  let dtype: string | undefined;
  let shape: number[] | null | undefined;
  let offsets: number[] | null | undefined;
  let others: Set<string> | null = null; // unknown fields, for their duplicates
  s.open(2);
  for (let field = s.nextKey(true); field !== null; field = s.nextKey(false)) {
    const dup =
      field === 'dtype' ? dtype !== undefined
        : field === 'shape' ? shape !== undefined
          : field === 'data_offsets' ? offsets !== undefined
            : (others ??= new Set()).has(field) || (others.add(field), false);
    if (dup) throw safetensorsError(`${what}: the field ${JSON.stringify(field)} appears twice (at byte ${s.keyAt})`);
    const at = s.pos;
    if (field === 'dtype') {
      if (s.peek() !== Q) {
        s.skipValue(2);
        throw safetensorsError(`${what}: unknown dtype ${s.text(at, s.pos)} (expected a string such as "F32")`);
      }
      dtype = s.string();
    } else if (field === 'shape') {
      shape = s.counts(maxDims, what);
      if (shape === null) throw safetensorsError(`${what}: shape must be an array of non-negative integers, got ${s.text(at, s.pos)}`);
    } else if (field === 'data_offsets') {
      offsets = s.counts(2, what);
      if (offsets === null || offsets.length !== 2) {
        throw safetensorsError(`${what}: data_offsets must be [begin, end] non-negative integers, got ${s.text(at, s.pos)}`);
      }
    } else {
      s.skipValue(2);
    }
  }
  if (dtype === undefined) throw safetensorsError(`${what}: its entry has no "dtype"`);
  if (!shape) throw safetensorsError(`${what}: its entry has no "shape"`);
  if (!offsets) throw safetensorsError(`${what}: its entry has no "data_offsets"`);
  return { name, dtype, shape, begin: offsets[0]!, end: offsets[1]! };
}
