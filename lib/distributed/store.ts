/**
 * Rendezvous store (layer: lib/distributed): a TCP key-value store served by rank 0, like PyTorch's
 * TCPStore, and PrefixStore, which namespaces one (for process groups).
 *
 * ```ts
 * const store = await TCPStore.create({ host: '127.0.0.1', port: 29500, isServer: rank === 0, worldSize, token });
 * await store.set('addr/1', 'host:port');
 * const v = await store.get('addr/0');          // waits until the key exists (or ERR_DIST_TIMEOUT)
 * await store.add('arrived', 1);                // → bigint, the new value
 * ```
 *
 * The server (isServer: true) binds to `host` only (never all interfaces unless you pass 0.0.0.0
 * or ::), and its own calls go straight to its in-memory map. Clients connect with retries and
 * backoff until `timeoutMs`, authenticate with the shared token, and then speak the binary protocol
 * of store-protocol.ts. When the server goes away, every pending and later call of a client fails
 * with ERR_STORE ("store server at host:port closed the connection"), never hangs. Neither side
 * keeps the process alive while idle: an open store does not stop Node from exiting.
 */
import { connect, type Socket } from 'node:net';
import { createError, type ErrorCode, type NodeNcclError } from '../errors.js';
import {
  FrameReader,
  MAX_TIMEOUT_MS,
  OP_NAMES,
  Op,
  PROTOCOL_VERSION,
  ProtocolError,
  Status,
  decodePayload,
  encodeFrame,
  frameBytes,
  i64Field,
  readBool,
  readI64,
  u32Field,
} from './store-protocol.js';
import { WIRE_ERROR_CODES } from './store-server.js';
import { StoreHost } from './store-host.js';
import { checkOptions, optionKeys } from '../options.js';

/** Default time a store waits for keys, replies and connections: 5 minutes, as PyTorch's TCPStore. */
export const DEFAULT_STORE_TIMEOUT_MS = 300_000;
/** Default limit on one message (a key plus its value, roughly): 64 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Time a fresh connection has to authenticate before the server closes it. */
const AUTH_TIMEOUT_MS = 10_000;
/** Extra time a client gives the server to report a wait's own timeout before giving up itself. */
const WAIT_REPLY_GRACE_MS = 5_000;

export interface StoreWaitOptions {
  /** How long to wait for the key(s). Default: the store's `timeoutMs`. */
  timeoutMs?: number;
}

/** What every store offers (TCPStore, PrefixStore). Values come back as Buffers. */
export interface Store {
  /** Sets `key` to `value` (strings are stored as UTF-8), waking everyone waiting for it. */
  set(key: string, value: string | Uint8Array): Promise<void>;
  /** The value of `key`, waiting until it exists; ERR_DIST_TIMEOUT after the timeout. */
  get(key: string, opts?: StoreWaitOptions): Promise<Buffer>;
  /** Adds `amount` to the integer in `key` (absent = 0), stored as decimal text; returns the new value. */
  add(key: string, amount: number | bigint): Promise<bigint>;
  /**
   * Sets `key` to `desired` when it holds `expected` (or is absent and `expected` is empty) and
   * returns `desired`; otherwise returns the current value (or `expected` when the key is absent),
   * as PyTorch's compare_set.
   */
  compareSet(key: string, expected: string | Uint8Array, desired: string | Uint8Array): Promise<Buffer>;
  /** Waits until every key exists; ERR_DIST_TIMEOUT naming the missing keys after the timeout. */
  wait(keys: string[], opts?: StoreWaitOptions): Promise<void>;
  /** Whether every key exists now (does not wait). */
  check(keys: string[]): Promise<boolean>;
  /** Deletes `key`; whether it existed. */
  deleteKey(key: string): Promise<boolean>;
  /** The number of keys in the whole store (a PrefixStore counts all of them, as in PyTorch). */
  numKeys(): Promise<number>;
  /** Closes this store handle. */
  close(): Promise<void>;
  /**
   * The local IP address this process reaches the store from (a client's socket), or the address
   * the server was bound with; undefined where unknown. The cpu backend's tcp transport listens there.
   */
  readonly localAddress?: string | undefined;
}

export interface TCPStoreOptions {
  /** Address to bind (server) or connect to (client): MASTER_ADDR. */
  host: string;
  /** Port; 0 lets the server pick a free one (read it back from `store.port`). */
  port: number;
  /** true on the rank that serves the store (rank 0). */
  isServer: boolean;
  /**
   * When given, `create` is a rendezvous as in PyTorch's wait_for_workers: each client announces
   * itself and the server's `create` resolves once `worldSize - 1` clients have joined.
   */
  worldSize?: number;
  /** Shared secret clients must present (NODE_NCCL_STORE_TOKEN). Default '' (no authentication). */
  token?: string;
  /** Timeout of connecting, of waits and of every reply, in ms. Default 300000 (5 minutes). */
  timeoutMs?: number;
  /** Largest message accepted or sent, in bytes. Default 64 MiB. */
  maxMessageBytes?: number;
}

const STORE_WAIT_OPTIONS = optionKeys<StoreWaitOptions>({ timeoutMs: true });
const TCP_STORE_OPTIONS = optionKeys<TCPStoreOptions>({ host: true, port: true, isServer: true, worldSize: true, token: true, timeoutMs: true, maxMessageBytes: true });

function invalid(message: string): NodeNcclError {
  return createError('ERR_INVALID_ARG', message);
}

function checkTimeout(v: unknown, what: string): number {
  if (typeof v !== 'number' || !(v > 0) || Number.isNaN(v)) {
    throw invalid(`${what} must be a positive number of milliseconds, got ${String(v)}`);
  }
  return v;
}

function checkKey(key: unknown, what = 'key'): string {
  if (typeof key !== 'string') throw invalid(`store ${what} must be a string, got ${typeof key}`);
  return key;
}

function checkKeys(keys: unknown): string[] {
  if (!Array.isArray(keys) || keys.length === 0) throw invalid('store keys must be a non-empty array of strings');
  return keys.map((k, i) => checkKey(k, `key [${i}]`));
}

function toBuffer(v: unknown, what: string): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return Buffer.from(v);
  throw invalid(`store ${what} must be a string or a Uint8Array, got ${v === null ? 'null' : typeof v}`);
}

function toAmount(v: unknown): bigint {
  if (typeof v === 'bigint') {
    if (v < -(2n ** 63n) || v > 2n ** 63n - 1n) throw invalid(`store add amount ${v} does not fit a signed 64-bit integer`);
    return v;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw invalid(`store add amount must be a safe integer or a bigint, got ${String(v)}`);
}

function wireTimeout(ms: number): number {
  return Math.max(1, Math.min(Math.ceil(ms), MAX_TIMEOUT_MS));
}

interface Pending {
  resolve(fields: Buffer[]): void;
  reject(err: NodeNcclError): void;
  timer: NodeJS.Timeout;
}

/** One authenticated connection to a store server. */
class StoreClient {
  private readonly reader: FrameReader;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedError: NodeNcclError | undefined;
  /** Why the server said it closed us (its fatal frame), if it did. */
  fatal: { code: ErrorCode; message: string } | undefined;
  private readonly closedPromise: Promise<void>;

  constructor(
    private readonly socket: Socket,
    private readonly where: string,
    private maxMessageBytes: number,
  ) {
    this.reader = new FrameReader(maxMessageBytes);
    socket.setNoDelay(true);
    socket.unref();
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.closedPromise = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.once('close', () => {
      const reason = this.fatal ? `: ${this.fatal.message}` : '';
      const code: ErrorCode = this.fatal?.code === 'ERR_STORE_AUTH' ? 'ERR_STORE_AUTH' : 'ERR_STORE';
      this.fail(this.closedError ?? createError(code, `store server at ${where} closed the connection${reason}`));
    });
  }

  /** Lowers the limit on what this client sends (to the server's, learnt at authentication). */
  limitSends(bytes: number): void {
    this.maxMessageBytes = Math.min(this.maxMessageBytes, bytes);
  }

  get sendLimit(): number {
    return this.maxMessageBytes;
  }

  get isClosed(): boolean {
    return this.closedError !== undefined;
  }

  get localAddress(): string | undefined {
    return this.socket.localAddress;
  }

  request(op: number, fields: Uint8Array[], timeoutMs: number): Promise<Buffer[]> {
    if (this.closedError) return Promise.reject(this.closedError);
    const bytes = frameBytes(fields) - 4;
    if (bytes > this.maxMessageBytes) {
      return Promise.reject(
        invalid(`store ${OP_NAMES[op]}: message of ${bytes} bytes exceeds maxMessageBytes (${this.maxMessageBytes})`),
      );
    }
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<Buffer[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(id);
        reject(
          createError('ERR_DIST_TIMEOUT', `store at ${this.where}: no reply to ${OP_NAMES[op]} within ${timeoutMs} ms`, {
            timeoutMs,
          }),
        );
      }, Math.min(timeoutMs, MAX_TIMEOUT_MS));
      if (this.pending.size === 0) this.socket.ref();
      this.pending.set(id, { resolve, reject, timer });
      this.socket.write(encodeFrame(op, id, fields));
    });
  }

  async close(): Promise<void> {
    if (!this.closedError) {
      this.fail(createError('ERR_STORE', `store client for ${this.where} is closed`));
      // Held open (ref) until closed, so awaiting close() keeps the process alive.
      this.socket.ref();
      this.socket.end();
      const t = setTimeout(() => this.socket.destroy(), 1000);
      t.unref();
    }
    await this.closedPromise;
  }

  private settle(id: number): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(id);
    if (this.pending.size === 0) this.socket.unref();
    return p;
  }

  private fail(err: NodeNcclError): void {
    if (!this.closedError) this.closedError = err;
    for (const id of [...this.pending.keys()]) this.settle(id)!.reject(this.closedError);
  }

  private protocolFault(message: string): void {
    this.fail(createError('ERR_STORE', `protocol error from store server at ${this.where}: ${message}`));
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.closedError) return;
    let payloads: Buffer[];
    try {
      payloads = this.reader.push(chunk);
    } catch (e) {
      this.protocolFault((e as Error).message);
      return;
    }
    for (const payload of payloads) {
      let f;
      try {
        f = decodePayload(payload);
        if (f.version !== PROTOCOL_VERSION) throw new ProtocolError(`unsupported protocol version ${f.version}`);
        if (f.kind !== Status.OK && f.kind !== Status.ERROR) throw new ProtocolError(`unknown status ${f.kind}`);
      } catch (e) {
        this.protocolFault((e as Error).message);
        return;
      }
      let err: { code: ErrorCode; message: string } | undefined;
      if (f.kind === Status.ERROR) {
        const code = f.fields[0]?.toString('utf8') ?? '';
        err = {
          code: WIRE_ERROR_CODES.has(code) ? (code as ErrorCode) : 'ERR_STORE',
          message: f.fields[1]?.toString('utf8') ?? 'unknown error',
        };
        if (f.requestId === 0) {
          this.fatal = err;
          continue;
        }
      }
      const p = this.settle(f.requestId);
      if (!p) continue; // a reply to a request that already timed out
      if (err) {
        const msg = err.message.includes(this.where) ? err.message : `store server at ${this.where}: ${err.message}`;
        p.reject(createError(err.code, msg));
      } else p.resolve(f.fields);
    }
  }
}

class RetryableConnectError extends Error {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Connects and authenticates, retrying with backoff while nothing listens yet, until `timeoutMs`. */
async function connectClient(
  host: string,
  port: number,
  token: string,
  timeoutMs: number,
  maxMessageBytes: number,
): Promise<StoreClient> {
  const where = `${host}:${port}`;
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  let lastError = '';
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      return await connectOnce(host, port, token, left, maxMessageBytes, where);
    } catch (e) {
      if (!(e instanceof RetryableConnectError)) throw e;
      lastError = e.message;
    }
    const wait = Math.min(delay * (0.5 + Math.random() / 2), deadline - Date.now());
    if (wait > 0) await sleep(wait);
    delay = Math.min(delay * 2, 1000);
  }
  throw createError(
    'ERR_DIST_TIMEOUT',
    `could not connect to the store server at ${where} within ${timeoutMs} ms` + (lastError ? ` (last error: ${lastError})` : ''),
    { timeoutMs },
  );
}

function connectOnce(
  host: string,
  port: number,
  token: string,
  timeoutMs: number,
  maxMessageBytes: number,
  where: string,
): Promise<StoreClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let settled = false;
    const attemptTimer = setTimeout(() => {
      onFail(new RetryableConnectError(`connection attempt timed out`));
    }, Math.min(timeoutMs, 10_000));
    const onFail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(attemptTimer);
      socket.destroy();
      reject(e);
    };
    socket.once('error', (e: NodeJS.ErrnoException) => onFail(new RetryableConnectError(e.code ?? e.message)));
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      const client = new StoreClient(socket, where, maxMessageBytes);
      client.request(Op.AUTH, [Buffer.from(token, 'utf8')], Math.min(timeoutMs, AUTH_TIMEOUT_MS)).then(
        (fields) => {
          if (settled) return;
          settled = true;
          clearTimeout(attemptTimer);
          const limit = fields[0];
          if (limit && limit.length === 4) client.limitSends(Math.max(1024, limit.readUInt32BE(0)));
          resolve(client);
        },
        (e: NodeNcclError) => {
          // A refusal the server explained (wrong token, version) is final; a dropped connection is retried.
          if (e.code === 'ERR_STORE_AUTH' || client.fatal) onFail(e);
          else onFail(new RetryableConnectError(e.message));
        },
      );
    });
  });
}

/**
 * A TCP key-value store: the server on rank 0, a client everywhere else. The server runs on a
 * worker thread of rank 0's process (store-host.ts), so it keeps serving while rank 0's JS thread
 * is blocked; rank 0's own operations are messages to that thread.
 */
export class TCPStore implements Store {
  /** The bound port (server) or the port connected to (client). */
  readonly port: number;
  readonly host: string;
  readonly isServer: boolean;
  /** Default timeout of waits and replies, in ms. */
  readonly timeoutMs: number;
  readonly maxMessageBytes: number;
  private closed = false;

  private constructor(
    opts: { host: string; port: number; isServer: boolean; timeoutMs: number; maxMessageBytes: number },
    private readonly server: StoreHost | undefined,
    private readonly client: StoreClient | undefined,
  ) {
    this.host = opts.host;
    this.port = opts.port;
    this.isServer = opts.isServer;
    this.timeoutMs = opts.timeoutMs;
    this.maxMessageBytes = opts.maxMessageBytes;
  }

  /**
   * Starts the server (isServer) or connects to it. Rejects with ERR_INVALID_ARG for bad options,
   * ERR_STORE when the server cannot listen, ERR_STORE_AUTH for a wrong token, ERR_DIST_TIMEOUT
   * when no server answered (or, with worldSize, not every client joined) within `timeoutMs`.
   */
  static async create(opts: TCPStoreOptions): Promise<TCPStore> {
    if (opts === null || typeof opts !== 'object') throw invalid('TCPStore.create expects an options object');
    checkOptions(opts, TCP_STORE_OPTIONS, 'TCPStore.create'); // opts is an object here (checked above)
    const { host, port, isServer, worldSize } = opts;
    if (typeof host !== 'string' || host.length === 0) throw invalid(`TCPStore host must be a non-empty string, got ${String(host)}`);
    if (typeof isServer !== 'boolean') throw invalid(`TCPStore isServer must be a boolean, got ${String(isServer)}`);
    const minPort = isServer ? 0 : 1;
    if (!Number.isInteger(port) || port < minPort || port > 65535) {
      throw invalid(`TCPStore port must be an integer in ${minPort}..65535, got ${String(port)}`);
    }
    if (worldSize !== undefined && (!Number.isInteger(worldSize) || worldSize < 1)) {
      throw invalid(`TCPStore worldSize must be an integer >= 1, got ${String(worldSize)}`);
    }
    const token = opts.token ?? '';
    if (typeof token !== 'string') throw invalid('TCPStore token must be a string');
    const timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS, 'TCPStore timeoutMs');
    const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 1024 || maxMessageBytes > 0xffffffff) {
      throw invalid(`TCPStore maxMessageBytes must be an integer in 1024..${0xffffffff}, got ${String(maxMessageBytes)}`);
    }
    if (isServer) {
      const server = await StoreHost.start({ host, port, token, maxMessageBytes, authTimeoutMs: AUTH_TIMEOUT_MS });
      const store = new TCPStore({ host, port: server.port, isServer, timeoutMs, maxMessageBytes }, server, undefined);
      if (worldSize !== undefined && worldSize > 1) {
        try {
          await server.call({ op: 'waitForJoined', n: worldSize - 1, timeoutMs });
        } catch (e) {
          await store.close();
          throw e;
        }
      }
      return store;
    }
    const client = await connectClient(host, port, token, timeoutMs, maxMessageBytes);
    const store = new TCPStore({ host, port, isServer, timeoutMs, maxMessageBytes }, undefined, client);
    if (worldSize !== undefined) {
      try {
        await client.request(Op.JOIN, [], timeoutMs);
      } catch (e) {
        await store.close();
        throw e;
      }
    }
    return store;
  }

  /** The local address of the client's connection, or the host the server was bound with. */
  get localAddress(): string | undefined {
    return this.client ? this.client.localAddress : this.host;
  }

  /** Number of client connections the server holds (server only; 0 on a client). */
  get connectionCount(): number {
    return this.server?.connectionCount ?? 0;
  }

  async set(key: string, value: string | Uint8Array): Promise<void> {
    checkKey(key);
    const v = toBuffer(value, 'value');
    this.checkSize('set', [Buffer.from(key), v]);
    if (this.server) return this.serverThread().call({ op: 'set', key, value: v });
    await this.remote(Op.SET, [Buffer.from(key, 'utf8'), v], this.timeoutMs);
  }

  async get(key: string, opts: StoreWaitOptions = {}): Promise<Buffer> {
    opts = checkOptions(opts, STORE_WAIT_OPTIONS, 'TCPStore.get');
    checkKey(key);
    const timeoutMs = checkTimeout(opts.timeoutMs ?? this.timeoutMs, 'get timeoutMs');
    if (this.server) {
      await this.serverThread().call({ op: 'wait', keys: [key], timeoutMs });
      return Buffer.from(await this.serverThread().call<Uint8Array>({ op: 'get', key }));
    }
    const [v] = await this.remote(Op.GET, [Buffer.from(key, 'utf8'), u32Field(wireTimeout(timeoutMs))], timeoutMs + WAIT_REPLY_GRACE_MS);
    if (!v) throw createError('ERR_STORE', `store server at ${this.where}: get reply without a value`);
    return v;
  }

  async add(key: string, amount: number | bigint): Promise<bigint> {
    checkKey(key);
    const a = toAmount(amount);
    if (this.server) return this.serverThread().call<bigint>({ op: 'add', key, amount: a });
    const [v] = await this.remote(Op.ADD, [Buffer.from(key, 'utf8'), i64Field(a)], this.timeoutMs);
    return this.decode(() => readI64(v, 'add reply'));
  }

  async compareSet(key: string, expected: string | Uint8Array, desired: string | Uint8Array): Promise<Buffer> {
    checkKey(key);
    const e = toBuffer(expected, 'expected value');
    const d = toBuffer(desired, 'desired value');
    this.checkSize('compareSet', [Buffer.from(key), e, d]);
    if (this.server) return Buffer.from(await this.serverThread().call<Uint8Array>({ op: 'compareSet', key, expected: e, desired: d }));
    const [v] = await this.remote(Op.COMPARE_SET, [Buffer.from(key, 'utf8'), e, d], this.timeoutMs);
    if (!v) throw createError('ERR_STORE', `store server at ${this.where}: compareSet reply without a value`);
    return v;
  }

  async wait(keys: string[], opts: StoreWaitOptions = {}): Promise<void> {
    opts = checkOptions(opts, STORE_WAIT_OPTIONS, 'TCPStore.wait');
    const ks = checkKeys(keys);
    const timeoutMs = checkTimeout(opts.timeoutMs ?? this.timeoutMs, 'wait timeoutMs');
    if (this.server) return this.serverThread().call({ op: 'wait', keys: ks, timeoutMs });
    const fields = [u32Field(wireTimeout(timeoutMs)), ...ks.map((k) => Buffer.from(k, 'utf8'))];
    await this.remote(Op.WAIT, fields, timeoutMs + WAIT_REPLY_GRACE_MS);
  }

  async check(keys: string[]): Promise<boolean> {
    const ks = checkKeys(keys);
    if (this.server) return this.serverThread().call<boolean>({ op: 'check', keys: ks });
    const [v] = await this.remote(Op.CHECK, ks.map((k) => Buffer.from(k, 'utf8')), this.timeoutMs);
    return this.decode(() => readBool(v, 'check reply'));
  }

  async deleteKey(key: string): Promise<boolean> {
    checkKey(key);
    if (this.server) return this.serverThread().call<boolean>({ op: 'delete', key });
    const [v] = await this.remote(Op.DELETE, [Buffer.from(key, 'utf8')], this.timeoutMs);
    return this.decode(() => readBool(v, 'deleteKey reply'));
  }

  async numKeys(): Promise<number> {
    if (this.server) return this.serverThread().call<number>({ op: 'numKeys' });
    const [v] = await this.remote(Op.NUM_KEYS, [], this.timeoutMs);
    return Number(this.decode(() => readI64(v, 'numKeys reply')));
  }

  /**
   * Closes the store. On the server this closes every client's connection (their calls then fail
   * with ERR_STORE) and fails local waits; on a client it closes the connection. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.server) await this.server.close(); // its clients' calls and the local waits fail with ERR_STORE
    if (this.client) await this.client.close();
  }

  private get where(): string {
    return `${this.host}:${this.port}`;
  }

  private serverThread(): StoreHost {
    if (this.closed) throw createError('ERR_STORE', `store at ${this.where} is closed`);
    return this.server!;
  }

  private remote(op: number, fields: Uint8Array[], timeoutMs: number): Promise<Buffer[]> {
    if (this.closed) return Promise.reject(createError('ERR_STORE', `store client for ${this.where} is closed`));
    return this.client!.request(op, fields, timeoutMs);
  }

  private decode<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw createError('ERR_STORE', `protocol error from store server at ${this.where}: ${(e as Error).message}`);
    }
  }

  private checkSize(what: string, fields: Uint8Array[]): void {
    const bytes = frameBytes(fields) - 4;
    const limit = this.client ? this.client.sendLimit : this.maxMessageBytes;
    if (bytes > limit) {
      const whose = limit < this.maxMessageBytes ? "the server's maxMessageBytes" : 'maxMessageBytes';
      throw invalid(`store ${what}: message of ${bytes} bytes exceeds ${whose} (${limit})`);
    }
  }
}

/**
 * A view of a store in which every key is prefixed with `${prefix}/` (PyTorch's PrefixStore), so
 * process groups and libraries sharing one store cannot collide. `numKeys` counts the whole
 * underlying store; `close` leaves the underlying store open (its creator closes it).
 */
export class PrefixStore implements Store {
  readonly prefix: string;
  readonly underlyingStore: Store;

  constructor(prefix: string, store: Store) {
    if (typeof prefix !== 'string' || prefix.length === 0) throw invalid('PrefixStore prefix must be a non-empty string');
    if (store === null || typeof store !== 'object' || typeof (store as Store).get !== 'function') {
      throw invalid('PrefixStore needs a store (TCPStore or PrefixStore)');
    }
    this.prefix = prefix;
    this.underlyingStore = store;
  }

  private k(key: string): string {
    return `${this.prefix}/${checkKey(key)}`;
  }

  get localAddress(): string | undefined {
    return this.underlyingStore.localAddress;
  }

  async set(key: string, value: string | Uint8Array): Promise<void> {
    return this.underlyingStore.set(this.k(key), value);
  }
  async get(key: string, opts?: StoreWaitOptions): Promise<Buffer> {
    return this.underlyingStore.get(this.k(key), opts);
  }
  async add(key: string, amount: number | bigint): Promise<bigint> {
    return this.underlyingStore.add(this.k(key), amount);
  }
  async compareSet(key: string, expected: string | Uint8Array, desired: string | Uint8Array): Promise<Buffer> {
    return this.underlyingStore.compareSet(this.k(key), expected, desired);
  }
  async wait(keys: string[], opts?: StoreWaitOptions): Promise<void> {
    return this.underlyingStore.wait(checkKeys(keys).map((k) => this.k(k)), opts);
  }
  async check(keys: string[]): Promise<boolean> {
    return this.underlyingStore.check(checkKeys(keys).map((k) => this.k(k)));
  }
  async deleteKey(key: string): Promise<boolean> {
    return this.underlyingStore.deleteKey(this.k(key));
  }
  async numKeys(): Promise<number> {
    return this.underlyingStore.numKeys();
  }
  async close(): Promise<void> {}
}
