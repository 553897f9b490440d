/**
 * save / load in the safetensors format (byte-compatible with huggingface/safetensors: a file
 * written by Python's safetensors loads here and ours loads there; see safetensors-format.ts).
 *
 * - save() writes atomically: a temporary file in the target's directory, fsync, rename over the
 *   target, fsync of the directory. A crash leaves the old file or the new one, never a torn one.
 * - load() reads and validates the header (size limit, JSON, dtypes, offsets, shapes) before it
 *   allocates any tensor, so a hostile file costs a bounded multiple of its header (<= 100 MB;
 *   see safetensors-json.ts and README) and then the tensors' bytes, which the file must really
 *   contain.
 * - Results are null-prototype objects: every tensor name, `__proto__` included, is a plain key.
 * - File I/O goes through fs/promises (the thread pool): the event loop never waits on the disk.
 *   loadSync / saveSync are the blocking forms, for scripts.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { osError } from '../errors.js';
import { Tensor, empty, type DType } from '../tensor/index.js';
import {
  ST_DTYPE_SIZE, layout, parseHeader, readHeaderLength, safetensorsError, type StDType, type StEntry, type StHeader,
} from './safetensors-format.js';
import { checkOptions, optionKeys } from '../options.js';

const TO_ST: Record<DType, StDType> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int32: 'I32', int64: 'I64', uint8: 'U8', bool: 'BOOL',
};
const FROM_ST: Record<StDType, DType> = {
  F32: 'float32', F64: 'float64', F16: 'float16', BF16: 'bfloat16', I32: 'int32', I64: 'int64', U8: 'uint8', BOOL: 'bool',
};

export interface SaveOptions {
  /** Free-form string metadata, stored as the header's "__metadata__" (e.g. { format: 'pt' }). */
  metadata?: Record<string, string> | null;
}

export interface LoadOptions {
  /** Where the tensors go: 'cpu' (default) or 'cuda:N'. */
  device?: string | { toString(): string };
}

const SAVE_OPTIONS = optionKeys<SaveOptions>({ metadata: true });
const LOAD_OPTIONS = optionKeys<LoadOptions>({ device: true });

/** The raw little-endian bytes of a host tensor's contiguous memory. */
function hostBytes(t: Tensor): Uint8Array {
  const n = t.numel() * ST_DTYPE_SIZE[TO_ST[t.dtype]];
  if (n === 0) return new Uint8Array(0);
  const { mem, offset } = t.span();
  const byteOffset = offset * ST_DTYPE_SIZE[TO_ST[t.dtype]];
  if (mem instanceof ArrayBuffer) return new Uint8Array(mem, byteOffset, n);
  if (ArrayBuffer.isView(mem)) return new Uint8Array(mem.buffer, mem.byteOffset + byteOffset, n);
  throw safetensorsError('internal: a CPU tensor without host memory');
}

/** The tensors in writing order, as host bytes, plus the header. */
function prepare(tensors: Record<string, Tensor>, metadata: Record<string, string> | null | undefined, who: string): { header: Uint8Array; chunks: Uint8Array[] } {
  if (tensors === null || typeof tensors !== 'object' || tensors instanceof Tensor || Array.isArray(tensors)) {
    throw safetensorsError(`${who}: expected an object mapping names to Tensors`);
  }
  const names = Object.keys(tensors);
  const list = names.map((name) => {
    const t = tensors[name];
    if (!(t instanceof Tensor)) throw safetensorsError(`${who}: value of ${JSON.stringify(name)} is not a Tensor`);
    return t;
  });
  const l = layout(names.map((name, i) => ({ name, dtype: TO_ST[list[i]!.dtype], shape: list[i]!.shape })), metadata);
  const chunks = l.order.map((i) => {
    const t = list[i]!;
    const host = t.device.type === 'cpu' ? t.contiguous() : t.to({ device: 'cpu' }).contiguous();
    return hostBytes(host);
  });
  return { header: l.header, chunks };
}

/** The bytes of a safetensors file holding `tensors` (what Python's safetensors.torch.save returns). */
export function serialize(tensors: Record<string, Tensor>, options: SaveOptions = {}): Uint8Array {
  const { metadata = null } = checkOptions(options, SAVE_OPTIONS, 'serialize');
  const { header, chunks } = prepare(tensors, metadata, 'serialize');
  const out = new Uint8Array(header.length + chunks.reduce((a, c) => a + c.length, 0));
  out.set(header, 0);
  let pos = header.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

function targetDevice(options: LoadOptions, fn: string): string {
  const o = checkOptions(options, LOAD_OPTIONS, fn);
  const d = o.device === undefined ? 'cpu' : String(o.device);
  if (d !== 'cpu' && !/^cuda(:\d+)?$/.test(d)) throw safetensorsError(`load: device must be 'cpu' or 'cuda:N', got ${JSON.stringify(d)}`);
  return d;
}

function place(t: Tensor, device: string): Tensor {
  if (device === 'cpu') return t;
  const moved = t.to({ device });
  t.dispose();
  return moved;
}

/** A host tensor for an entry and the bytes to fill it with. */
function allocate(e: StEntry): { t: Tensor; dst: Uint8Array } {
  const t = empty(e.shape, { dtype: FROM_ST[e.dtype], device: 'cpu' });
  return { t, dst: hostBytes(t) };
}

/** Tensors from the bytes of a safetensors file (Python's safetensors.torch.load). */
export function deserialize(bytes: Uint8Array, options: LoadOptions = {}): Record<string, Tensor> {
  if (!(bytes instanceof Uint8Array)) throw safetensorsError('deserialize: expected a Uint8Array');
  const device = targetDevice(options, 'deserialize');
  const n = readHeaderLength(bytes, bytes.length);
  const h = parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n);
  const out = Object.create(null) as Record<string, Tensor>;
  for (const e of h.entries) {
    const { t, dst } = allocate(e);
    dst.set(bytes.subarray(8 + n + e.begin, 8 + n + e.end));
    out[e.name] = place(t, device);
  }
  return out;
}

async function readFully(fh: import('node:fs/promises').FileHandle, dst: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < dst.length) {
    let bytesRead: number;
    try {
      ({ bytesRead } = await fh.read(dst, done, dst.length - done, position + done));
    } catch (e) {
      throw osError(e, `safetensors: cannot read ${path}`);
    }
    if (bytesRead === 0) throw safetensorsError(`${path}: the file ended early (was it truncated while being read?)`);
    done += bytesRead;
  }
}

/** Reads and validates the header of a file (no tensor data is read). */
export async function readHeader(path: string): Promise<StHeader> {
  const fh = await openFile(path);
  try {
    return await readHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

/** Opens a file for reading; a failure is ERR_OS naming it (nativeName ENOENT, EACCES, ...). */
async function openFile(path: string): Promise<import('node:fs/promises').FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    throw osError(e, `safetensors: cannot open ${path}`);
  }
}

async function readHeaderFrom(fh: import('node:fs/promises').FileHandle, path: string): Promise<StHeader> {
  let size: number;
  try {
    ({ size } = await fh.stat());
  } catch (e) {
    throw osError(e, `safetensors: cannot stat ${path}`);
  }
  const prefix = new Uint8Array(8);
  if (size >= 8) await readFully(fh, prefix, 0, path);
  const n = readHeaderLength(prefix, size);
  const json = new Uint8Array(n);
  await readFully(fh, json, 8, path);
  return { headerLength: n, dataStart: 8 + n, ...parseHeader(json, size - 8 - n) };
}

/** The header's metadata and each tensor's dtype and shape, without reading the data. */
export async function readMetadata(path: string): Promise<{ metadata: Record<string, string> | null; tensors: Record<string, { dtype: DType; shape: number[] }> }> {
  const h = await readHeader(path);
  const tensors = Object.create(null) as Record<string, { dtype: DType; shape: number[] }>;
  for (const e of h.entries) tensors[e.name] = { dtype: FROM_ST[e.dtype], shape: e.shape };
  return { metadata: h.metadata, tensors };
}

/**
 * Loads every tensor of a safetensors file, in file order, onto `device` (default 'cpu').
 * Errors: ERR_SAFETENSORS for anything wrong with the file's contents, ERR_OS (errno name in
 * `nativeName`: ENOENT, EACCES, ...) naming the file when it cannot be opened or read.
 */
export async function load(path: string, options: LoadOptions = {}): Promise<Record<string, Tensor>> {
  const device = targetDevice(options, 'load');
  const fh = await openFile(path);
  const out = Object.create(null) as Record<string, Tensor>;
  try {
    const h = await readHeaderFrom(fh, path);
    for (const e of h.entries) {
      const { t, dst } = allocate(e);
      try {
        if (dst.length) await readFully(fh, dst, h.dataStart + e.begin, path);
      } catch (err) {
        t.dispose();
        throw err;
      }
      out[e.name] = place(t, device);
    }
    return out;
  } catch (err) {
    for (const t of Object.values(out)) t.dispose();
    throw err;
  } finally {
    await fh.close();
  }
}

/** load(), blocking the calling thread (for scripts and worker threads). */
export function loadSync(path: string, options: LoadOptions = {}): Record<string, Tensor> {
  const device = targetDevice(options, 'loadSync');
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw osError(e, `safetensors: cannot open ${path}`);
  }
  const out = Object.create(null) as Record<string, Tensor>;
  const readAll = (dst: Uint8Array, pos: number): void => {
    let done = 0;
    while (done < dst.length) {
      let r: number;
      try {
        r = readSync(fd, dst, done, dst.length - done, pos + done);
      } catch (e) {
        throw osError(e, `safetensors: cannot read ${path}`);
      }
      if (r === 0) throw safetensorsError(`${path}: the file ended early (was it truncated while being read?)`);
      done += r;
    }
  };
  try {
    const { size } = fstatSync(fd);
    const prefix = new Uint8Array(8);
    if (size >= 8) readAll(prefix, 0);
    const n = readHeaderLength(prefix, size);
    const json = new Uint8Array(n);
    readAll(json, 8);
    const h = parseHeader(json, size - 8 - n);
    for (const e of h.entries) {
      const { t, dst } = allocate(e);
      try {
        readAll(dst, 8 + n + e.begin);
      } catch (err) {
        t.dispose();
        throw err;
      }
      out[e.name] = place(t, device);
    }
    return out;
  } catch (err) {
    for (const t of Object.values(out)) t.dispose();
    throw err;
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `tensors` to `path` in the safetensors format, atomically (temporary file in the same
 * directory, fsync, rename, fsync of the directory). Device tensors are copied to the host first.
 */
export async function save(tensors: Record<string, Tensor>, path: string, options: SaveOptions = {}): Promise<void> {
  const { metadata = null } = checkOptions(options, SAVE_OPTIONS, 'save');
  if (typeof path !== 'string' || path.length === 0) throw safetensorsError(`save: path must be a non-empty string, got ${String(path)}`);
  const { header, chunks } = prepare(tensors, metadata, 'save');
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: import('node:fs/promises').FileHandle;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (e) {
    throw osError(e, `save: cannot create ${tmp}`);
  }
  let ok = false;
  try {
    let pos = 0;
    for (const c of [header, ...chunks]) {
      let done = 0;
      while (done < c.length) {
        const { bytesWritten } = await fh.write(c, done, c.length - done, pos + done);
        done += bytesWritten;
      }
      pos += c.length;
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    ok = true;
  } catch (e) {
    throw osError(e, `save: cannot write ${path} (through ${tmp})`);
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
  // Make the rename itself durable (best effort: some filesystems refuse to fsync a directory).
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* the data is written and renamed; only the directory entry's durability is not forced */
  }
}
