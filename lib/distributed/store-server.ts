/**
 * The TCP store's server side (layer: lib/distributed): the key-value state with its waiters, and
 * the net.Server that serves it to clients. Only store.ts uses this module.
 *
 * Safety rules: a connection must authenticate (AUTH with the shared token, compared in constant
 * time) within `authTimeoutMs`, with a small frame limit until it has; every frame is size-checked
 * before it is buffered; a malformed, oversized or hostile frame closes that one connection (after a
 * best-effort "fatal" frame saying why), and never throws out of a handler; a connection's waiters
 * die with it; a client that does not read its replies stops being read until it drains.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createError, type ErrorCode, type NodeNcclError } from '../errors.js';
import {
  FrameReader,
  MAX_TIMEOUT_MS,
  Op,
  OP_NAMES,
  PROTOCOL_VERSION,
  ProtocolError,
  Status,
  decodePayload,
  encodeFrame,
  i64Field,
  readI64,
  readU32,
  u32Field,
  type Frame,
} from './store-protocol.js';

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
/** Frame limit before a connection has authenticated: an AUTH frame is small. */
const PRE_AUTH_MAX_BYTES = 64 * 1024;
/** A server stops reading a client whose unsent replies exceed this, until they drain. */
const MAX_PENDING_WRITE_BYTES = 16 * 1024 * 1024;
/**
 * Connections allowed to be waiting for authentication at once. At the limit the oldest waiting one
 * is closed, so a flood of idle connections costs bounded memory and cannot lock real clients out
 * (they authenticate within milliseconds).
 */
const MAX_UNAUTHENTICATED = 256;

type WaitCallback = (err: NodeNcclError | null) => void;

interface Waiter {
  keys: string[];
  missing: Set<string>;
  timer: NodeJS.Timeout | undefined;
  cb: WaitCallback;
}

/** An error that a store operation reports to its caller (local or remote), not a protocol fault. */
export class StoreOpError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function describeKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, 8).map((k) => JSON.stringify(k));
  return shown.join(', ') + (keys.length > 8 ? `, … (${keys.length} keys)` : '');
}

/** The key-value map and the waiters on its keys; shared by the local (rank 0) API and the server. */
export class StoreState {
  private readonly data = new Map<string, Buffer>();
  private readonly waitersByKey = new Map<string, Set<Waiter>>();
  private readonly allWaiters = new Set<Waiter>();
  private joined = 0;
  private readonly joinWaiters = new Set<() => void>();

  constructor(public where: string) {}

  get size(): number {
    return this.data.size;
  }

  set(key: string, value: Buffer): void {
    this.data.set(key, value);
    this.notify(key);
  }

  get(key: string): Buffer | undefined {
    return this.data.get(key);
  }

  has(key: string): boolean {
    return this.data.has(key);
  }

  add(key: string, amount: bigint): bigint {
    const cur = this.data.get(key);
    let base = 0n;
    if (cur !== undefined) {
      const text = cur.toString('latin1');
      if (!/^-?\d{1,19}$/.test(text)) {
        throw new StoreOpError('ERR_STORE', `add: key ${JSON.stringify(key)} holds a value that is not an integer`);
      }
      base = BigInt(text);
    }
    const next = base + amount;
    if (next < I64_MIN || next > I64_MAX) {
      throw new StoreOpError('ERR_STORE', `add: key ${JSON.stringify(key)} would overflow a signed 64-bit integer`);
    }
    this.set(key, Buffer.from(next.toString(), 'latin1'));
    return next;
  }

  /**
   * PyTorch's compare_set: when the key holds `expected` (or is absent and `expected` is empty),
   * store `desired` and return it; otherwise return the current value (or `expected` for an absent
   * key), leaving the store unchanged.
   */
  compareSet(key: string, expected: Buffer, desired: Buffer): Buffer {
    const cur = this.data.get(key);
    if (cur === undefined) {
      if (expected.length === 0) {
        this.set(key, desired);
        return desired;
      }
      return expected;
    }
    if (cur.equals(expected)) {
      this.set(key, desired);
      return desired;
    }
    return cur;
  }

  delete(key: string): boolean {
    return this.data.delete(key);
  }

  check(keys: readonly string[]): boolean {
    return keys.every((k) => this.data.has(k));
  }

  /**
   * Calls `cb(null)` once every key exists, or `cb(ERR_DIST_TIMEOUT)` after `timeoutMs`. Returns a
   * function that cancels the wait without calling `cb`. `refTimer` keeps the process alive while
   * waiting (the local API does; waits of remote clients do not hold rank 0's process open).
   */
  wait(keys: readonly string[], timeoutMs: number, cb: WaitCallback, refTimer: boolean): () => void {
    const missing = new Set(keys.filter((k) => !this.data.has(k)));
    if (missing.size === 0) {
      cb(null);
      return () => {};
    }
    const w: Waiter = { keys: [...keys], missing, timer: undefined, cb };
    this.allWaiters.add(w);
    for (const k of missing) {
      let set = this.waitersByKey.get(k);
      if (!set) this.waitersByKey.set(k, (set = new Set()));
      set.add(w);
    }
    w.timer = setTimeout(
      () => {
        const still = [...w.missing];
        this.drop(w);
        cb(
          createError(
            'ERR_DIST_TIMEOUT',
            `store at ${this.where}: timed out after ${timeoutMs} ms waiting for key(s) ${describeKeys(w.keys)}` +
              ` (still missing: ${describeKeys(still)})`,
            { keys: w.keys, missingKeys: still, timeoutMs },
          ),
        );
      },
      Math.min(timeoutMs, MAX_TIMEOUT_MS),
    );
    if (!refTimer) w.timer.unref();
    return () => this.drop(w);
  }

  /** Fails every pending wait (the store is closing). */
  failAll(err: () => NodeNcclError): void {
    for (const w of [...this.allWaiters]) {
      this.drop(w);
      w.cb(err());
    }
    for (const j of [...this.joinWaiters]) j();
  }

  join(): void {
    this.joined++;
    for (const j of [...this.joinWaiters]) j();
  }

  /** Resolves when `n` clients have joined; rejects with ERR_DIST_TIMEOUT after `timeoutMs`. */
  waitForJoined(n: number, timeoutMs: number, isClosed: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (isClosed()) {
          done();
          reject(createError('ERR_STORE', `store at ${this.where} was closed while waiting for its clients`));
        } else if (this.joined >= n) {
          done();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          createError(
            'ERR_DIST_TIMEOUT',
            `store at ${this.where}: timed out after ${timeoutMs} ms waiting for ${n} client(s) to join; ${this.joined} joined`,
            { timeoutMs },
          ),
        );
      }, Math.min(timeoutMs, MAX_TIMEOUT_MS));
      const done = (): void => {
        clearTimeout(timer);
        this.joinWaiters.delete(check);
      };
      this.joinWaiters.add(check);
      check();
    });
  }

  private notify(key: string): void {
    const set = this.waitersByKey.get(key);
    if (!set) return;
    this.waitersByKey.delete(key);
    for (const w of set) {
      w.missing.delete(key);
      if (w.missing.size === 0) {
        this.drop(w);
        w.cb(null);
      }
    }
  }

  private drop(w: Waiter): void {
    if (!this.allWaiters.delete(w)) return;
    if (w.timer) clearTimeout(w.timer);
    for (const k of w.missing) {
      const set = this.waitersByKey.get(k);
      if (set) {
        set.delete(w);
        if (set.size === 0) this.waitersByKey.delete(k);
      }
    }
  }
}

function digest(b: Uint8Array): Buffer {
  return createHash('sha256').update(b).digest();
}

/** Codes a server may send to a client; anything else a client receives becomes ERR_STORE. */
export const WIRE_ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'ERR_STORE',
  'ERR_STORE_AUTH',
  'ERR_DIST_TIMEOUT',
  'ERR_INVALID_ARG',
]);

export interface StoreServerOptions {
  host: string;
  port: number;
  token: string;
  maxMessageBytes: number;
  authTimeoutMs: number;
  /** Told the number of open connections whenever it changes. */
  onConnections?: (n: number) => void;
}

/** Serves a StoreState over TCP. */
export class StoreServer {
  private server: Server | undefined;
  /** Open connections and the function that drops their waiters. */
  private readonly conns = new Map<Socket, () => void>();
  private readonly tokenDigest: Buffer | undefined;
  private closed = false;
  private readonly unauthenticated = new Set<Socket>();
  port = 0;

  constructor(
    readonly state: StoreState,
    private readonly opts: StoreServerOptions,
  ) {
    this.tokenDigest = opts.token === '' ? undefined : digest(Buffer.from(opts.token, 'utf8'));
  }

  /** Binds to opts.host:opts.port (0 picks a free port). Rejects with ERR_STORE on failure. */
  listen(): Promise<number> {
    const server = createServer({ noDelay: true }, (s) => this.accept(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        reject(
          createError(
            'ERR_STORE',
            `store server could not listen on ${this.opts.host}:${this.opts.port}: ${e.code ?? ''} ${e.message}`.trim(),
            { syscallCode: e.code },
          ),
        );
      };
      server.once('error', onError);
      server.listen({ host: this.opts.host, port: this.opts.port, exclusive: true }, () => {
        server.off('error', onError);
        // Errors after listening (rare: accept failures) must never be unhandled.
        server.on('error', () => {});
        server.unref();
        const addr = server.address();
        this.port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
        resolve(this.port);
      });
    });
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [s, cleanup] of this.conns) {
      cleanup();
      s.destroy();
    }
    this.conns.clear();
    const server = this.server;
    if (server) {
      server.ref();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (this.unauthenticated.size >= MAX_UNAUTHENTICATED) {
      const oldest = this.unauthenticated.values().next().value as Socket;
      this.unauthenticated.delete(oldest);
      oldest.destroy();
    }
    this.unauthenticated.add(socket);
    const authSettled = (): void => {
      this.unauthenticated.delete(socket);
    };
    socket.unref();
    socket.setNoDelay(true);
    let authed = false;
    let dead = false;
    const cancels = new Set<() => void>();
    const reader = new FrameReader(Math.min(PRE_AUTH_MAX_BYTES, this.opts.maxMessageBytes));
    const authTimer = setTimeout(() => fatal('ERR_STORE_AUTH', 'no authentication within the time limit'), this.opts.authTimeoutMs);
    authTimer.unref();

    const send = (frame: Buffer): void => {
      if (dead || socket.destroyed || !socket.writable) return;
      socket.write(frame);
      if (socket.writableLength > MAX_PENDING_WRITE_BYTES && !socket.isPaused()) {
        socket.pause();
        socket.once('drain', () => {
          if (!dead) socket.resume();
        });
      }
    };
    const reply = (id: number, fields: Uint8Array[]): void => send(encodeFrame(Status.OK, id, fields));
    const replyError = (id: number, code: ErrorCode, message: string): void =>
      send(encodeFrame(Status.ERROR, id, [Buffer.from(code), Buffer.from(message, 'utf8')]));
    /** Tells the peer why (best effort) and closes this connection only. */
    const fatal = (code: ErrorCode, message: string, id = 0): void => {
      if (dead) return;
      replyError(id, code, message);
      dead = true;
      cleanup();
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    const cleanup = (): void => {
      authSettled();
      clearTimeout(authTimer);
      for (const c of cancels) c();
      cancels.clear();
    };

    this.conns.set(socket, () => {
      dead = true;
      cleanup();
    });
    this.opts.onConnections?.(this.conns.size);
    socket.on('error', () => {});
    socket.on('close', () => {
      dead = true;
      cleanup();
      this.conns.delete(socket);
      this.opts.onConnections?.(this.conns.size);
    });
    socket.on('data', (chunk: Buffer) => {
      if (dead) return;
      let payloads: Buffer[];
      try {
        payloads = reader.push(chunk);
      } catch (e) {
        fatal('ERR_STORE', `protocol error: ${(e as Error).message}`);
        return;
      }
      for (const p of payloads) {
        if (dead) return;
        let frame: Frame;
        try {
          frame = decodePayload(p);
        } catch (e) {
          fatal('ERR_STORE', `protocol error: ${(e as Error).message}`);
          return;
        }
        if (frame.version !== PROTOCOL_VERSION) {
          fatal(
            'ERR_STORE',
            `protocol version ${frame.version} is not supported (this server speaks version ${PROTOCOL_VERSION})`,
            frame.requestId,
          );
          return;
        }
        if (!authed) {
          if (frame.kind !== Op.AUTH || frame.fields.length !== 1) {
            fatal('ERR_STORE_AUTH', 'the first message must authenticate', frame.requestId);
            return;
          }
          if (this.tokenDigest && !timingSafeEqual(this.tokenDigest, digest(frame.fields[0]!))) {
            fatal(
              'ERR_STORE_AUTH',
              'authentication failed: wrong store token (NODE_NCCL_STORE_TOKEN must be the same on every rank)',
              frame.requestId,
            );
            return;
          }
          authed = true;
          authSettled();
          clearTimeout(authTimer);
          reader.maxPayloadBytes = this.opts.maxMessageBytes;
          // The reply tells the client this server's message limit, so it can refuse larger ones itself.
          reply(frame.requestId, [u32Field(this.opts.maxMessageBytes)]);
          continue;
        }
        try {
          this.handle(frame, reply, replyError, cancels);
        } catch (e) {
          if (e instanceof ProtocolError) fatal('ERR_STORE', `protocol error: ${e.message}`, frame.requestId);
          else if (e instanceof StoreOpError) replyError(frame.requestId, e.code, e.message);
          else fatal('ERR_STORE', `internal error: ${(e as Error).message}`, frame.requestId);
        }
      }
    });
  }

  private handle(
    f: Frame,
    reply: (id: number, fields: Uint8Array[]) => void,
    replyError: (id: number, code: ErrorCode, message: string) => void,
    cancels: Set<() => void>,
  ): void {
    const st = this.state;
    const id = f.requestId;
    const n = f.fields.length;
    const need = (count: number, atLeast = false): void => {
      if (atLeast ? n < count : n !== count) {
        throw new ProtocolError(`${OP_NAMES[f.kind]} expects ${atLeast ? 'at least ' : ''}${count} field(s), got ${n}`);
      }
    };
    const key = (i: number): string => f.fields[i]!.toString('utf8');
    const waitThen = (keys: string[], timeoutMs: number, then: () => void): void => {
      let cancel: (() => void) | undefined;
      let finished = false;
      cancel = st.wait(
        keys,
        timeoutMs,
        (err) => {
          finished = true;
          if (cancel) cancels.delete(cancel);
          if (err) replyError(id, err.code, err.message);
          else then();
        },
        false,
      );
      if (!finished) cancels.add(cancel);
    };
    switch (f.kind) {
      case Op.SET:
        need(2);
        st.set(key(0), Buffer.from(f.fields[1]!));
        reply(id, []);
        return;
      case Op.GET: {
        need(2);
        const k = key(0);
        const timeoutMs = readU32(f.fields[1], 'get timeout');
        waitThen([k], Math.max(1, timeoutMs), () => reply(id, [st.get(k) ?? Buffer.alloc(0)]));
        return;
      }
      case Op.ADD:
        need(2);
        reply(id, [i64Field(st.add(key(0), readI64(f.fields[1], 'add amount')))]);
        return;
      case Op.COMPARE_SET:
        need(3);
        reply(id, [st.compareSet(key(0), Buffer.from(f.fields[1]!), Buffer.from(f.fields[2]!))]);
        return;
      case Op.WAIT: {
        need(2, true);
        const timeoutMs = readU32(f.fields[0], 'wait timeout');
        const keys = f.fields.slice(1).map((b) => b.toString('utf8'));
        waitThen(keys, Math.max(1, timeoutMs), () => reply(id, []));
        return;
      }
      case Op.CHECK:
        need(1, true);
        reply(id, [Buffer.of(st.check(f.fields.map((b) => b.toString('utf8'))) ? 1 : 0)]);
        return;
      case Op.DELETE:
        need(1);
        reply(id, [Buffer.of(st.delete(key(0)) ? 1 : 0)]);
        return;
      case Op.NUM_KEYS:
        need(0);
        reply(id, [i64Field(BigInt(st.size))]);
        return;
      case Op.JOIN:
        need(0);
        st.join();
        reply(id, []);
        return;
      case Op.AUTH:
        throw new ProtocolError('already authenticated');
      default:
        throw new ProtocolError(`unknown operation ${f.kind}`);
    }
  }
}
