/**
 * RPC values on the wire (layer: lib/distributed/rpc): a compact tagged encoding of the structure
 * (JSON-able values, undefined, bigints, non-finite numbers, Dates, Maps, Sets, RRefs, WorkerInfos)
 * plus out-of-line binary payloads for Tensors, TypedArrays and ArrayBuffers. Tensors never become
 * JSON arrays: their bytes travel as they are in memory (little-endian, contiguous), described by
 * dtype and shape in the structure.
 *
 * Encoding happens at call time: the payloads are views of the caller's memory, which frame.ts
 * copies into the outgoing frame before the call returns, so changing a tensor after `rpcAsync`
 * returned does not change what was sent (as Python's pickling at call time). On the receiving
 * side each payload is one fresh, aligned ArrayBuffer that the new Tensor or TypedArray wraps
 * without another copy.
 *
 * Tensors keep dtype, shape and `requiresGrad` (as a fresh leaf: no graph crosses the wire, as in
 * torch.distributed.rpc without distributed autograd). A view is sent as its own values (not its
 * whole storage). The same tensor twice in one message arrives as one tensor. CUDA tensors are
 * refused (ERR_DEVICE_MISMATCH): move them to the host first, as torch's TensorPipe backend asks
 * without a device map. Functions, symbols, class instances and cycles are ERR_INVALID_ARG naming
 * the path of the offending value.
 */
import { createError } from '../../errors.js';
import { Tensor, DTYPES, type DType } from '../../tensor/index.js';
import { CPU } from '../../tensor/device.js';
import { itemSize } from '../../tensor/dtype.js';
import { contiguousStrides } from '../../tensor/shape.js';
import { Storage } from '../../tensor/storage.js';

const T_UNDEFINED = 0;
const T_NULL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_F64 = 4;
const T_I32 = 5;
const T_STRING = 6;
const T_BIGINT = 7;
const T_ARRAY = 8;
const T_OBJECT = 9;
const T_TENSOR = 10;
const T_TYPED = 11;
const T_ARRAYBUFFER = 12;
const T_RREF = 13;
const T_WORKER = 14;
const T_SAME = 15;
const T_DATE = 16;
const T_MAP = 17;
const T_SET = 18;

/** Nesting deeper than this is refused (a hostile or runaway structure). */
const MAX_DEPTH = 512;

type TypedCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** Typed array kinds by wire code; Buffer (code 11) arrives as a Buffer. */
const TYPED: readonly TypedCtor[] = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
];
const TYPED_BUFFER = 11;

/** What the codec asks of RRefs and WorkerInfos (rref.ts and agent.ts provide it). */
export interface CodecHooks {
  /** The numbers that identify `rref` for the message's receiver (may register a fork). */
  encodeRRef(rref: object): number[] | undefined;
  /** The RRef for those numbers on this worker (called once the whole message is here). */
  decodeRRef(fields: number[]): unknown;
  /** A WorkerInfo's rank, or undefined when `v` is not one. */
  workerRank(v: object): number | undefined;
  /** The WorkerInfo of a rank. */
  workerInfo(rank: number): unknown;
}

/** An encoded message: its structure and its payloads (views of the sender's memory). */
export interface Encoded {
  meta: Buffer;
  payloads: Uint8Array[];
}

class Writer {
  buf = Buffer.allocUnsafe(256);
  pos = 0;
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32LE(v, this.pos);
    this.pos += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.u32(n);
    this.ensure(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'function') return `a function${v.name ? ` (${v.name})` : ''}`;
  if (typeof v === 'symbol') return 'a symbol';
  if (typeof v === 'object') return `an instance of ${(v as object).constructor?.name ?? 'an unknown class'}`;
  return typeof v;
}

function isPlainObject(v: object): boolean {
  const p = Object.getPrototypeOf(v) as unknown;
  return p === Object.prototype || p === null;
}

/** The host bytes of a contiguous CPU tensor. */
function tensorBytes(t: Tensor): Uint8Array {
  const n = t.numel() * itemSize(t.dtype);
  const { mem, offset } = t.span();
  const byteOffset = offset * itemSize(t.dtype);
  if (mem instanceof ArrayBuffer) return new Uint8Array(mem, byteOffset, n);
  if (ArrayBuffer.isView(mem)) return new Uint8Array(mem.buffer, mem.byteOffset + byteOffset, n);
  throw createError('ERR_INTERNAL', 'rpc: a CPU tensor without host memory');
}

/**
 * Encodes `value` for a message to one worker. Errors start with `context` (which call) and name
 * the offending value by its path from the root: `root` names the root ('the result'), or, when
 * the root is an array, names its elements (['function', 'args']: `args[1].f`). Temporary contiguous
 * copies of non-contiguous tensors are returned in `temps` to dispose once the frame is assembled.
 */
export function encode(value: unknown, hooks: CodecHooks, context: string, root: string | readonly string[] = 'value'): Encoded & { temps: Tensor[] } {
  const names = typeof root === 'string' ? undefined : root;
  const w = new Writer();
  const payloads: Uint8Array[] = [];
  const temps: Tensor[] = [];
  const tensorIndex = new Map<Tensor, number>();
  let tensorCount = 0;
  const stack = new Set<object>();

  const invalid = (msg: string): Error => createError('ERR_INVALID_ARG', `rpc: ${context}: ${msg}`);
  const visit = (v: unknown, path: string, depth: number): void => {
    if (depth > MAX_DEPTH) throw invalid(`${path} is nested more than ${MAX_DEPTH} levels deep`);
    switch (typeof v) {
      case 'undefined':
        w.u8(T_UNDEFINED);
        return;
      case 'boolean':
        w.u8(v ? T_TRUE : T_FALSE);
        return;
      case 'number':
        if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff && !Object.is(v, -0)) {
          w.u8(T_I32);
          w.i32(v);
        } else {
          w.u8(T_F64);
          w.f64(v);
        }
        return;
      case 'string':
        w.u8(T_STRING);
        w.str(v);
        return;
      case 'bigint':
        w.u8(T_BIGINT);
        w.str(v.toString(16));
        return;
      case 'object':
        break;
      default:
        throw invalid(`${path} is ${describeValue(v)}, which cannot be sent (send data; name functions with rpc.register)`);
    }
    if (v === null) {
      w.u8(T_NULL);
      return;
    }
    const o = v as object;
    if (o instanceof Tensor) {
      const seen = tensorIndex.get(o);
      if (seen !== undefined) {
        w.u8(T_SAME);
        w.u32(seen);
        return;
      }
      o._check('rpc');
      if (o.device.type !== 'cpu') {
        throw createError(
          'ERR_DEVICE_MISMATCH',
          `rpc: ${context}: ${path} is a tensor on ${o.device.toString()}; RPC sends host tensors only (as torch's TensorPipe backend without a ` +
            'device map): move it with .cpu() before the call and back with .to(device) on the other side',
        );
      }
      let c = o;
      if (!o.isContiguous()) {
        c = o.contiguous();
        temps.push(c);
      }
      tensorIndex.set(o, tensorCount++);
      w.u8(T_TENSOR);
      w.u8(DTYPES.indexOf(o.dtype));
      w.u8(o.requiresGrad ? 1 : 0);
      w.u8(o.shape.length);
      for (const d of o.shape) w.f64(d);
      payloads.push(tensorBytes(c));
      return;
    }
    if (ArrayBuffer.isView(o)) {
      if (o instanceof DataView) throw invalid(`${path} is a DataView, which cannot be sent (send its buffer or a typed array)`);
      const kind = Buffer.isBuffer(o) ? TYPED_BUFFER : TYPED.findIndex((C) => o instanceof C);
      if (kind < 0) throw invalid(`${path} is ${describeValue(o)}, which cannot be sent`);
      w.u8(T_TYPED);
      w.u8(kind);
      payloads.push(new Uint8Array(o.buffer, o.byteOffset, o.byteLength));
      return;
    }
    if (o instanceof ArrayBuffer) {
      w.u8(T_ARRAYBUFFER);
      payloads.push(new Uint8Array(o));
      return;
    }
    if (o instanceof Date) {
      w.u8(T_DATE);
      w.f64(o.getTime());
      return;
    }
    const rref = hooks.encodeRRef(o);
    if (rref !== undefined) {
      w.u8(T_RREF);
      w.u8(rref.length);
      for (const f of rref) w.f64(f);
      return;
    }
    const worker = hooks.workerRank(o);
    if (worker !== undefined) {
      w.u8(T_WORKER);
      w.u32(worker);
      return;
    }
    if (stack.has(o)) throw invalid(`${path} refers back to itself (a cycle), which cannot be sent`);
    stack.add(o);
    if (Array.isArray(o)) {
      w.u8(T_ARRAY);
      w.u32(o.length);
      const named = depth === 0 && names !== undefined;
      for (let i = 0; i < o.length; i++) visit(o[i], named ? (names[i] ?? `${path}[${i}]`) : `${path}[${i}]`, depth + 1);
    } else if (o instanceof Map) {
      w.u8(T_MAP);
      w.u32(o.size);
      let i = 0;
      for (const [k, val] of o) {
        visit(k, `${path}.keys[${i}]`, depth + 1);
        visit(val, `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : `#${i}`})`, depth + 1);
        i++;
      }
    } else if (o instanceof Set) {
      w.u8(T_SET);
      w.u32(o.size);
      let i = 0;
      for (const val of o) visit(val, `${path}.values[${i++}]`, depth + 1);
    } else if (isPlainObject(o)) {
      const keys = Object.keys(o);
      w.u8(T_OBJECT);
      w.u32(keys.length);
      for (const k of keys) {
        w.str(k);
        visit((o as Record<string, unknown>)[k], /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`, depth + 1);
      }
    } else {
      throw invalid(
        `${path} is ${describeValue(o)}, which cannot be sent: send plain objects, arrays, Tensors, typed arrays and RRefs ` +
          '(a class instance does not survive the trip; keep it on its worker behind an RRef and call its methods with rref.rpcSync())',
      );
    }
    stack.delete(o);
  };

  visit(value, typeof root === 'string' ? root : 'value', 0);
  return { meta: w.done(), payloads, temps };
}

/** A decoding error: the peer sent bytes that do not follow the format (the connection is dropped). */
export class CodecError extends Error {}

/** Decodes a message's structure; `payloads` are the received payload buffers, in order. */
export function decode(meta: Uint8Array, payloads: readonly ArrayBuffer[], hooks: CodecHooks): unknown {
  const buf = Buffer.from(meta.buffer, meta.byteOffset, meta.byteLength);
  let pos = 0;
  let next = 0;
  const tensors: Tensor[] = [];
  const need = (n: number): void => {
    if (pos + n > buf.length) throw new CodecError(`truncated value (needs ${n} bytes at ${pos} of ${buf.length})`);
  };
  const u8 = (): number => {
    need(1);
    return buf[pos++]!;
  };
  const u32 = (): number => {
    need(4);
    const v = buf.readUInt32LE(pos);
    pos += 4;
    return v;
  };
  const f64 = (): number => {
    need(8);
    const v = buf.readDoubleLE(pos);
    pos += 8;
    return v;
  };
  const str = (): string => {
    const n = u32();
    need(n);
    const s = buf.toString('utf8', pos, pos + n);
    pos += n;
    return s;
  };
  const payload = (): ArrayBuffer => {
    const p = payloads[next++];
    if (p === undefined) throw new CodecError('the value refers to more payloads than the message carries');
    return p;
  };
  const count = (): number => {
    const n = u32();
    if (n > buf.length - pos) throw new CodecError(`a container claims ${n} entries in ${buf.length - pos} bytes`);
    return n;
  };

  const read = (depth: number): unknown => {
    if (depth > MAX_DEPTH) throw new CodecError('value nested too deeply');
    const tag = u8();
    switch (tag) {
      case T_UNDEFINED:
        return undefined;
      case T_NULL:
        return null;
      case T_FALSE:
        return false;
      case T_TRUE:
        return true;
      case T_I32: {
        need(4);
        const v = buf.readInt32LE(pos);
        pos += 4;
        return v;
      }
      case T_F64:
        return f64();
      case T_STRING:
        return str();
      case T_BIGINT: {
        const s = str();
        if (!/^-?[0-9a-f]+$/.test(s)) throw new CodecError('malformed bigint');
        return s.startsWith('-') ? -BigInt('0x' + s.slice(1)) : BigInt('0x' + s);
      }
      case T_DATE:
        return new Date(f64());
      case T_ARRAY: {
        const n = count();
        const a = new Array<unknown>(n);
        for (let i = 0; i < n; i++) a[i] = read(depth + 1);
        return a;
      }
      case T_OBJECT: {
        const n = count();
        const o: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const k = str();
          const v = read(depth + 1);
          if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
          else o[k] = v;
        }
        return o;
      }
      case T_MAP: {
        const n = count();
        const m = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) {
          const k = read(depth + 1);
          m.set(k, read(depth + 1));
        }
        return m;
      }
      case T_SET: {
        const n = count();
        const s = new Set<unknown>();
        for (let i = 0; i < n; i++) s.add(read(depth + 1));
        return s;
      }
      case T_TENSOR: {
        const code = u8();
        const dtype = DTYPES[code] as DType | undefined;
        if (dtype === undefined) throw new CodecError(`unknown dtype code ${code}`);
        const requiresGrad = u8() === 1;
        const ndim = u8();
        const shape: number[] = [];
        let numel = 1;
        for (let i = 0; i < ndim; i++) {
          const d = f64();
          if (!Number.isSafeInteger(d) || d < 0) throw new CodecError(`bad tensor dimension ${d}`);
          shape.push(d);
          numel *= d;
        }
        const bytes = payload();
        if (bytes.byteLength !== numel * itemSize(dtype)) {
          throw new CodecError(`a ${dtype} tensor of shape [${shape.join(', ')}] came with ${bytes.byteLength} bytes`);
        }
        const t = new Tensor(Storage.wrapHost(CPU, bytes), shape, contiguousStrides(shape), 0, dtype);
        if (requiresGrad && (dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16')) t.requiresGrad_(true);
        tensors.push(t);
        return t;
      }
      case T_SAME: {
        const i = u32();
        const t = tensors[i];
        if (t === undefined) throw new CodecError(`reference to tensor #${i} before it was sent`);
        return t;
      }
      case T_TYPED: {
        const kind = u8();
        const bytes = payload();
        if (kind === TYPED_BUFFER) return Buffer.from(bytes);
        const C = TYPED[kind];
        if (C === undefined) throw new CodecError(`unknown typed array kind ${kind}`);
        if (bytes.byteLength % C.BYTES_PER_ELEMENT !== 0) throw new CodecError(`a ${C.name} of ${bytes.byteLength} bytes`);
        return new C(bytes);
      }
      case T_ARRAYBUFFER:
        return payload();
      case T_RREF: {
        const n = u8();
        const fields: number[] = [];
        for (let i = 0; i < n; i++) fields.push(f64());
        return hooks.decodeRRef(fields);
      }
      case T_WORKER:
        return hooks.workerInfo(u32());
      default:
        throw new CodecError(`unknown value tag ${tag}`);
    }
  };
  const v = read(0);
  if (pos !== buf.length) throw new CodecError(`${buf.length - pos} bytes left over after the value`);
  if (next !== payloads.length) throw new CodecError(`${payloads.length - next} payloads were not used by the value`);
  return v;
}
