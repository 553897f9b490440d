/**
 * RPC frames (layer: lib/distributed/rpc): what one message looks like on a connection, and the
 * reader that cuts a byte stream back into messages.
 *
 *     u8 type | u8 version | u16 0 | u32 id | u32 metaBytes | u32 payloadCount     (16 bytes)
 *     f64 payloadBytes x payloadCount
 *     meta (codec.ts structure)
 *     payload 0 | payload 1 | ...                                                  (raw bytes)
 *
 * All little-endian. The reader learns every payload's size before its bytes arrive, so it
 * allocates one ArrayBuffer per payload and copies the incoming bytes straight into it: a 4 MiB
 * tensor is copied once on the way in (socket chunk → its own memory), never reassembled.
 */

export const FRAME_VERSION = 1;
export const HEADER_BYTES = 16;
/** The largest structure part of one message (payloads are not limited by it). */
export const MAX_META_BYTES = 64 * 1024 * 1024;
/** The most payloads (tensors, typed arrays) one message may carry. */
export const MAX_PAYLOADS = 1 << 20;

/** Message types. */
export const Msg = {
  /** handshake: the connecting side's rank and the job's secret */
  HELLO: 1,
  /** handshake reply: accepted */
  WELCOME: 2,
  /** run a function: [target, args] → RESULT or ERROR with the same id */
  CALL: 3,
  RESULT: 4,
  ERROR: 5,
  /** create an owner RRef: [target, args, rrefFields] → RESULT (creation confirmed) */
  REMOTE: 6,
  /** the value of an owned RRef: [rrefFields] → RESULT (the value) or ERROR */
  FETCH: 7,
  /** a user tells the owner it holds a fork it got from another user: [rrefFields] → RESULT */
  FORK: 8,
  /** a user tells the parent that handed it an RRef that the owner knows its fork now: [forkFields] */
  CHILD_ACCEPT: 9,
  /** a user lets go of its fork: [rrefFields] */
  DELETE: 10,
} as const;
export type MsgType = (typeof Msg)[keyof typeof Msg];
const MAX_TYPE = 10;

export const MSG_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Msg).map(([k, v]) => [v, k]));

/** One whole message. */
export interface Frame {
  type: MsgType;
  id: number;
  meta: Uint8Array;
  payloads: ArrayBuffer[];
}

/** The bytes of one message: header, payload table, meta and a copy of every payload. */
export function assemble(type: MsgType, id: number, meta: Uint8Array, payloads: readonly Uint8Array[]): Buffer {
  return writeFrame(type, id, meta, payloads, true);
}

/** The header, payload table and meta of a message, to send ahead of the payloads themselves (no copy of them). */
export function frameHead(type: MsgType, id: number, meta: Uint8Array, payloads: readonly Uint8Array[]): Buffer {
  return writeFrame(type, id, meta, payloads, false);
}

function writeFrame(type: MsgType, id: number, meta: Uint8Array, payloads: readonly Uint8Array[], withPayloads: boolean): Buffer {
  let total = HEADER_BYTES + payloads.length * 8 + meta.length;
  if (withPayloads) for (const p of payloads) total += p.byteLength;
  const out = Buffer.allocUnsafe(total);
  out[0] = type;
  out[1] = FRAME_VERSION;
  out.writeUInt16LE(0, 2);
  out.writeUInt32LE(id >>> 0, 4);
  out.writeUInt32LE(meta.length, 8);
  out.writeUInt32LE(payloads.length, 12);
  let pos = HEADER_BYTES;
  for (const p of payloads) {
    out.writeDoubleLE(p.byteLength, pos);
    pos += 8;
  }
  out.set(meta, pos);
  pos += meta.length;
  if (withPayloads) {
    for (const p of payloads) {
      out.set(p, pos);
      pos += p.byteLength;
    }
  }
  return out;
}

export class FrameError extends Error {}

/** Where reads go between payloads (a socket's onread buffer): small frames are parsed from here. */
const SCRATCH_BYTES = 256 * 1024;

/**
 * Cuts a byte stream into frames. Either `push(chunk)` the chunks a socket delivers, or let the
 * socket read into `readTarget()` (net's `onread`) and report each read with `consumed(n, buf)`:
 * then a payload's bytes go from the kernel straight into its own memory.
 */
export class FrameReader {
  private scratch: Uint8Array | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private stage: 'header' | 'table' | 'meta' | 'payload' = 'header';
  private type: MsgType = Msg.HELLO;
  private id = 0;
  private metaBytes = 0;
  private sizes: number[] = [];
  private meta: Uint8Array = new Uint8Array(0);
  private payloads: ArrayBuffer[] = [];
  private current: Uint8Array | null = null;
  private filled = 0;

  /** Bytes of the message being read so far (for diagnostics). */
  get partial(): boolean {
    return this.stage !== 'header' || this.pendingBytes > 0;
  }

  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.pending[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.pending.shift();
      else this.pending[0] = c.subarray(k);
    }
    this.pendingBytes -= n;
    return out;
  }

  /** The memory the next socket read should fill: the rest of the payload being read, else a scratch buffer. */
  readTarget(): Uint8Array {
    if (this.stage === 'payload' && this.current !== null && this.pendingBytes === 0 && this.filled < this.current.length) {
      return this.current.subarray(this.filled);
    }
    this.scratch ??= new Uint8Array(SCRATCH_BYTES);
    return this.scratch;
  }

  /** A read of `n` bytes into `buf` (a readTarget()); returns the frames it completed. */
  consumed(n: number, buf: Uint8Array): Frame[] {
    const c = this.current;
    if (c !== null && buf.buffer === c.buffer && buf.byteOffset === c.byteOffset + this.filled) {
      this.filled += n;
      return this.advance();
    }
    return this.push(Buffer.from(buf.subarray(0, n))); // a copy: the scratch buffer is reused
  }

  push(chunk: Buffer): Frame[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    return this.advance();
  }

  private advance(): Frame[] {
    const out: Frame[] = [];
    for (;;) {
      if (this.stage === 'header') {
        if (this.pendingBytes < HEADER_BYTES) break;
        const h = this.take(HEADER_BYTES);
        const type = h[0]!;
        if (type < 1 || type > MAX_TYPE) throw new FrameError(`unknown message type ${type}`);
        if (h[1] !== FRAME_VERSION) throw new FrameError(`frame version ${h[1]} (this side speaks ${FRAME_VERSION})`);
        this.type = type as MsgType;
        this.id = h.readUInt32LE(4);
        this.metaBytes = h.readUInt32LE(8);
        const n = h.readUInt32LE(12);
        if (this.metaBytes > MAX_META_BYTES) throw new FrameError(`a message structure of ${this.metaBytes} bytes (limit ${MAX_META_BYTES})`);
        if (n > MAX_PAYLOADS) throw new FrameError(`a message with ${n} payloads (limit ${MAX_PAYLOADS})`);
        this.sizes = new Array<number>(n);
        this.payloads = [];
        this.stage = n > 0 ? 'table' : 'meta';
        if (n === 0) this.sizes = [];
        continue;
      }
      if (this.stage === 'table') {
        const need = this.sizes.length * 8;
        if (this.pendingBytes < need) break;
        const t = this.take(need);
        for (let i = 0; i < this.sizes.length; i++) {
          const s = t.readDoubleLE(i * 8);
          if (!Number.isSafeInteger(s) || s < 0) throw new FrameError(`bad payload size ${s}`);
          this.sizes[i] = s;
        }
        this.stage = 'meta';
        continue;
      }
      if (this.stage === 'meta') {
        if (this.pendingBytes < this.metaBytes) break;
        this.meta = this.take(this.metaBytes);
        this.stage = 'payload';
        this.current = null;
        continue;
      }
      // payloads: straight into each one's own memory
      if (this.current === null) {
        if (this.payloads.length === this.sizes.length) {
          out.push({ type: this.type, id: this.id, meta: this.meta, payloads: this.payloads });
          this.stage = 'header';
          this.payloads = [];
          continue;
        }
        const size = this.sizes[this.payloads.length]!;
        let ab: ArrayBuffer;
        try {
          ab = size === 0 ? new ArrayBuffer(0) : (Buffer.allocUnsafeSlow(size).buffer as ArrayBuffer);
        } catch (e) {
          throw new FrameError(`cannot allocate ${size} bytes for a received payload: ${(e as Error).message}`);
        }
        this.payloads.push(ab);
        this.current = new Uint8Array(ab);
        this.filled = 0;
      }
      const dst = this.current;
      while (this.filled < dst.length && this.pending.length > 0) {
        const c = this.pending[0]!;
        const k = Math.min(c.length, dst.length - this.filled);
        dst.set(k === c.length ? c : c.subarray(0, k), this.filled);
        this.filled += k;
        this.pendingBytes -= k;
        if (k === c.length) this.pending.shift();
        else this.pending[0] = c.subarray(k);
      }
      if (this.filled < dst.length) break;
      this.current = null;
    }
    return out;
  }
}
