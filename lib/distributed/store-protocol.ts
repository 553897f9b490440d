/**
 * The TCP store's wire format (layer: lib/distributed; used by store-server.ts and store.ts only).
 *
 *   frame    = u32 BE payloadLength, payload
 *   payload  = u8 version, u8 kind, u32 BE requestId, fields
 *   fields   = u32 BE count, count × (u32 BE length, bytes)
 *
 * `kind` is the operation (Op) in a request and the status (Status) in a response. A response
 * carries the id of its request; id 0 is reserved for a server's "fatal" frame, sent just before it
 * closes a connection (bad token, malformed or oversized frame), whose fields are [code, message].
 * Integers inside fields are big-endian: i64 for add/numKeys, u32 for wait timeouts (ms).
 * Every length is checked before anything is buffered or allocated: a frame longer than the
 * receiver's maxMessageBytes, a field running past the payload or trailing bytes are errors.
 */

export const PROTOCOL_VERSION = 1;

export const Op = {
  AUTH: 1,
  SET: 2,
  GET: 3,
  ADD: 4,
  COMPARE_SET: 5,
  WAIT: 6,
  CHECK: 7,
  DELETE: 8,
  NUM_KEYS: 9,
  JOIN: 10,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export const OP_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(Op).map(([name, code]) => [code, name.toLowerCase()]),
);

export const Status = { OK: 0, ERROR: 1 } as const;

/** Bytes before the fields: version, kind, request id. */
export const PAYLOAD_HEAD_BYTES = 6;
/** The smallest valid payload: the head plus a field count. */
export const MIN_PAYLOAD_BYTES = PAYLOAD_HEAD_BYTES + 4;
/** Largest wait timeout that travels on the wire (and that setTimeout accepts): ~24.8 days. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export class ProtocolError extends Error {}

export interface Frame {
  version: number;
  kind: number;
  requestId: number;
  fields: Buffer[];
}

/** The bytes one frame takes on the wire, for size checks before encoding. */
export function frameBytes(fields: readonly Uint8Array[]): number {
  let n = 4 + MIN_PAYLOAD_BYTES;
  for (const f of fields) n += 4 + f.byteLength;
  return n;
}

export function encodeFrame(kind: number, requestId: number, fields: readonly Uint8Array[]): Buffer {
  const total = frameBytes(fields);
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(total - 4, 0);
  out.writeUInt8(PROTOCOL_VERSION, 4);
  out.writeUInt8(kind, 5);
  out.writeUInt32BE(requestId >>> 0, 6);
  out.writeUInt32BE(fields.length, 10);
  let at = 14;
  for (const f of fields) {
    out.writeUInt32BE(f.byteLength, at);
    at += 4;
    out.set(f, at);
    at += f.byteLength;
  }
  return out;
}

/** Parses one payload (without its length prefix). Throws ProtocolError when it is malformed. */
export function decodePayload(payload: Buffer): Frame {
  if (payload.length < MIN_PAYLOAD_BYTES) throw new ProtocolError(`frame of ${payload.length} bytes is too short`);
  const version = payload.readUInt8(0);
  const kind = payload.readUInt8(1);
  const requestId = payload.readUInt32BE(2);
  const count = payload.readUInt32BE(6);
  let at = MIN_PAYLOAD_BYTES;
  // Each field needs at least its 4-byte length: a count beyond that is a lie, refused before looping.
  if (count > (payload.length - at) / 4) throw new ProtocolError(`frame claims ${count} fields in ${payload.length} bytes`);
  const fields: Buffer[] = new Array<Buffer>(count);
  for (let i = 0; i < count; i++) {
    if (at + 4 > payload.length) throw new ProtocolError(`field ${i} runs past the end of the frame`);
    const len = payload.readUInt32BE(at);
    at += 4;
    if (len > payload.length - at) throw new ProtocolError(`field ${i} of ${len} bytes runs past the end of the frame`);
    fields[i] = payload.subarray(at, at + len);
    at += len;
  }
  if (at !== payload.length) throw new ProtocolError(`${payload.length - at} trailing bytes after the last field`);
  return { version, kind, requestId, fields };
}

/**
 * Splits a byte stream into payloads. The length prefix is checked against `maxPayloadBytes`
 * before the payload is buffered, so a hostile length never makes us allocate or wait for it.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(public maxPayloadBytes: number) {}

  /** Adds bytes; returns the complete payloads now available. Throws ProtocolError. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const out: Buffer[] = [];
    while (this.size >= 4) {
      const len = this.peekLength();
      if (len > this.maxPayloadBytes) {
        throw new ProtocolError(`frame of ${len} bytes exceeds the limit of ${this.maxPayloadBytes} bytes (maxMessageBytes)`);
      }
      if (len < MIN_PAYLOAD_BYTES) throw new ProtocolError(`frame of ${len} bytes is too short`);
      if (this.size < 4 + len) break;
      this.take(4);
      out.push(this.take(len));
    }
    return out;
  }

  /** Bytes buffered but not yet returned as a payload. */
  get buffered(): number {
    return this.size;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= 4) return first.readUInt32BE(0);
    return this.take(4, true).readUInt32BE(0);
  }

  private take(n: number, peek = false): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (!peek) {
        if (first.length === n) this.chunks.shift();
        else this.chunks[0] = first.subarray(n);
        this.size -= n;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    let i = 0;
    while (got < n) {
      const c = this.chunks[i]!;
      const m = Math.min(c.length, n - got);
      c.copy(out, got, 0, m);
      got += m;
      i++;
    }
    if (!peek) {
      let left = n;
      while (left > 0) {
        const c = this.chunks[0]!;
        if (c.length <= left) {
          this.chunks.shift();
          left -= c.length;
        } else {
          this.chunks[0] = c.subarray(left);
          left = 0;
        }
      }
      this.size -= n;
    }
    return out;
  }
}

export function i64Field(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(v, 0);
  return b;
}

export function u32Field(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

export function readI64(f: Buffer | undefined, what: string): bigint {
  if (!f || f.length !== 8) throw new ProtocolError(`${what}: expected an 8-byte integer field`);
  return f.readBigInt64BE(0);
}

export function readU32(f: Buffer | undefined, what: string): number {
  if (!f || f.length !== 4) throw new ProtocolError(`${what}: expected a 4-byte integer field`);
  return f.readUInt32BE(0);
}

export function readBool(f: Buffer | undefined, what: string): boolean {
  if (!f || f.length !== 1 || f[0]! > 1) throw new ProtocolError(`${what}: expected a 1-byte boolean field`);
  return f[0] === 1;
}
