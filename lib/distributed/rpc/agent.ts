/**
 * The RPC agent (layer: lib/distributed/rpc): one per process, like torch's TensorPipe agent.
 *
 * Rendezvous through the job's store (the same env:// store and token as initProcessGroup):
 * every worker listens (TCP on the interface that reaches the store, or NODE_NCCL_SOCKET_ADDR; and
 * an abstract Unix socket, which workers of the same host use instead), publishes its name and
 * addresses, rank 0 draws the group's secret, and every worker connects to the lower ranks,
 * presenting the secret. `initRpc` resolves once this worker is connected to every other.
 *
 * Each pair of workers shares one connection, carrying both directions' calls, in order. A call
 * is a CALL frame answered by a RESULT or ERROR frame with the same id; tensors travel as binary
 * payloads (codec.ts, frame.ts). A connection that closes or resets fails every call pending on
 * it with ERR_DIST_PEER_FAILURE at once (a killed process's sockets are closed by its kernel), and
 * later calls to that worker fail at once too; a call that gets no answer within its timeout
 * fails with ERR_DIST_TIMEOUT.
 *
 * Graceful shutdown (torch's `shutdown(graceful=True)`): every worker waits for all to arrive
 * (a barrier through the store), releases its user RRefs, and then all take turns reporting
 * through the store whether they are idle (no call of theirs pending, none of others running)
 * and how many messages they sent and received; when two rounds in a row see the same counts,
 * all idle and nothing in flight, no work is left anywhere and everyone closes.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { createError, type NodeNcclError } from '../../errors.js';
import type { Tensor } from '../../tensor/index.js';
import type { StoreLease } from '../default-store.js';
import { hostIdentity, listenAddress } from '../host.js';
import { PrefixStore, type Store } from '../store.js';
import { decode, encode, CodecError, type CodecHooks } from './codec.js';
import { assemble, frameHead, FrameError, FrameReader, Msg, MSG_NAMES, type Frame, type MsgType } from './frame.js';
import { registerBuiltin, resolveTarget, targetName } from './functions.js';
import { fromWire, toWire } from './remote-error.js';
import { RRef, RRefContext, type RRefAgent, type RRefCallOptions } from './rref.js';
import { WorkerInfo } from './worker-info.js';

/** torch's default rpc_timeout: 60 seconds. */
export const DEFAULT_RPC_TIMEOUT_MS = 60_000;
/** What the elements of each request's value are called in error messages. */
const ENVELOPE: Partial<Record<MsgType, readonly string[]>> = {
  [Msg.CALL]: ['function', 'args'],
  [Msg.REMOTE]: ['function', 'args', 'rref'],
};
/** Messages with at least this many payload bytes are copied into reused buffers (Peer.writeCopy). */
const POOL_MIN_BYTES = 64 * 1024;
/** Reused send buffers kept per peer. */
const POOL_BUFFERS = 4;
/** Time a fresh connection has to present the secret. */
const HELLO_TIMEOUT_MS = 10_000;

export type RpcTransport = 'auto' | 'tcp';

export interface AgentConfig {
  name: string;
  rank: number;
  worldSize: number;
  store: Store;
  lease: StoreLease | null;
  /** Rendezvous and graceful-shutdown timeout. */
  timeoutMs: number;
  rpcTimeoutMs: number;
  transport: RpcTransport;
}

interface WorkerRecord {
  name: string;
  rank: number;
  host: string;
  port: number;
  hostId: string;
  unix: string | null;
}

interface Pending {
  rank: number;
  what: string;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: NodeJS.Timeout | null;
}

/**
 * Another worker (or this one). Two connections per pair, one per direction: this worker reads
 * what the peer sends on the connection it opened to the peer (`rx`, read with net's `onread`
 * straight into the receiving tensors' memory) and writes to the peer on the connection the peer
 * opened to it (`tx`). Messages in one direction keep their order.
 */
class Peer {
  alive = true;
  tx: Socket | null = null;
  rx: Socket | null = null;
  reader = new FrameReader();
  private loopQueue: Buffer[] = [];
  private pool: Buffer[] = [];
  constructor(
    readonly rank: number,
    private readonly onLoop: ((buf: Buffer) => void) | null,
  ) {}

  get connected(): boolean {
    return this.onLoop !== null || (this.tx !== null && this.rx !== null);
  }

  get loopback(): boolean {
    return this.onLoop !== null;
  }

  /**
   * Writes a message: `head` (header, table, meta), then a copy of the payloads in a buffer that
   * is reused once the socket is done with it (fresh memory for every large message costs page
   * faults that cost as much as the copy).
   */
  writeCopy(head: Buffer, payloads: readonly Uint8Array[]): void {
    let total = 0;
    for (const p of payloads) total += p.byteLength;
    if (!this.tx || total < POOL_MIN_BYTES) {
      this.write(Buffer.concat([head, ...payloads], head.length + total));
      return;
    }
    let i = this.pool.findIndex((b) => b.length >= total && b.length <= 4 * total);
    const buf = i >= 0 ? this.pool.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(2 ** Math.ceil(Math.log2(total)));
    let pos = 0;
    for (const p of payloads) {
      buf.set(p, pos);
      pos += p.byteLength;
    }
    this.tx.cork();
    this.tx.write(head);
    this.tx.write(buf.subarray(0, total), () => {
      if (this.pool.length < POOL_BUFFERS) this.pool.push(buf);
    });
    this.tx.uncork();
  }

  /** Writes a message: `head` (header, table, meta) then each payload (views, not copied). */
  write(head: Buffer, payloads: readonly Uint8Array[] = []): void {
    if (this.tx) {
      if (payloads.length === 0) {
        this.tx.write(head);
        return;
      }
      this.tx.cork();
      this.tx.write(head);
      for (const p of payloads) if (p.byteLength > 0) this.tx.write(p);
      this.tx.uncork();
      return;
    }
    // to this worker: through the event loop, as if it came from the network
    this.loopQueue.push(head);
    if (this.loopQueue.length === 1) {
      setImmediate(() => {
        const q = this.loopQueue;
        this.loopQueue = [];
        for (const b of q) this.onLoop!(b);
      });
    }
  }

  destroy(): void {
    for (const s of [this.tx, this.rx]) {
      if (!s) continue;
      s.end();
      setTimeout(() => s.destroy(), 1000).unref();
    }
  }
}

function invalid(msg: string): NodeNcclError {
  return createError('ERR_INVALID_ARG', msg);
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class RpcAgent implements RRefAgent {
  readonly rank: number;
  readonly name: string;
  readonly worldSize: number;
  readonly defaultTimeoutMs: number;
  readonly rrefs: RRefContext;
  private readonly cfg: AgentConfig;
  private readonly store: PrefixStore;
  private workers: WorkerInfo[] = [];
  private readonly peers: Peer[];
  private readonly pending = new Map<number, Pending>();
  private nextRequestId = 1;
  private active = 0;
  private sent = 0;
  private received = 0;
  private idleWaiters: (() => void)[] = [];
  private state: 'starting' | 'running' | 'shutting-down' | 'closed' = 'starting';
  private servers: Server[] = [];
  private accepting = new Set<Socket>();
  private readyWaiter: { resolve(): void; reject(e: unknown): void } | null = null;
  private shutdownRound = 0;
  private shutdownFail: ((e: unknown) => void) | null = null;
  private gen = 0;
  private secret = '';

  constructor(cfg: AgentConfig) {
    this.cfg = cfg;
    this.rank = cfg.rank;
    this.name = cfg.name;
    this.worldSize = cfg.worldSize;
    this.defaultTimeoutMs = cfg.rpcTimeoutMs;
    this.store = new PrefixStore('rpc', cfg.store);
    this.peers = Array.from({ length: cfg.worldSize }, (_, r) =>
      r === cfg.rank ? new Peer(r, (buf) => this.onData(this.peers[r]!, buf)) : new Peer(r, null),
    );
    this.rrefs = new RRefContext(this);
  }

  // ---- rendezvous ----

  async start(): Promise<void> {
    const { rank, worldSize, timeoutMs } = this.cfg;
    // A generation per initRpc of this rank, so a second initRpc over the same store reads no stale keys.
    this.gen = Number(await this.store.add(`gen/${rank}`, 1));
    const g = (k: string): string => `${this.gen}/${k}`;
    const host = await listenAddress(this.cfg.store, true, `initRpc (worker '${this.name}')`);
    const port = await this.listenTcp(host);
    const unix = process.platform === 'linux' ? await this.listenUnix() : null;
    const me: WorkerRecord = { name: this.name, rank, host, port, hostId: hostIdentity(), unix };
    if (rank === 0) await this.store.set(g('secret'), randomBytes(24).toString('hex'));
    await this.store.set(g(`worker/${rank}`), JSON.stringify(me));
    this.secret = (await this.store.get(g('secret'), { timeoutMs })).toString('utf8');
    const keys = Array.from({ length: worldSize }, (_, r) => g(`worker/${r}`));
    try {
      await this.store.wait(keys, { timeoutMs });
    } catch (e) {
      const missing: number[] = [];
      for (let r = 0; r < worldSize; r++) if (!(await this.store.check([keys[r]!]).catch(() => false))) missing.push(r);
      throw createError(
        'ERR_DIST_TIMEOUT',
        `initRpc: worker '${this.name}' (rank ${rank}): rank(s) ${missing.join(', ')} did not call initRpc within ${timeoutMs} ms`,
        { timeoutMs },
      );
    }
    const records = await Promise.all(keys.map(async (k) => JSON.parse((await this.store.get(k)).toString('utf8')) as WorkerRecord));
    // rank 0 serves the store: it goes on (and may fail, closing it) only once everyone has read
    await this.store.set(g(`read/${rank}`), '1');
    if (rank === 0) await this.store.wait(Array.from({ length: worldSize }, (_, r) => g(`read/${r}`)), { timeoutMs });
    const byName = new Map<string, number>();
    for (const r of records) {
      const prev = byName.get(r.name);
      if (prev !== undefined) {
        throw invalid(`initRpc: ranks ${prev} and ${r.rank} are both named '${r.name}'; every worker needs its own name`);
      }
      byName.set(r.name, r.rank);
    }
    this.workers = records.map((r) => new WorkerInfo(r.name, r.rank));
    const ready = new Promise<void>((resolve, reject) => (this.readyWaiter = { resolve, reject }));
    const timer = setTimeout(() => {
      const missing = this.peers.filter((p) => !p.connected).map((p) => p.rank);
      this.readyWaiter?.reject(
        createError(
          'ERR_DIST_TIMEOUT',
          `initRpc: worker '${this.name}' could not connect to ${missing.map((r) => `'${records[r]!.name}' (rank ${r})`).join(', ')} ` +
            `within ${timeoutMs} ms (check that the workers can reach each other, or set NODE_NCCL_SOCKET_ADDR)`,
          { timeoutMs },
        ),
      );
    }, timeoutMs);
    this.state = 'running';
    const deadline = Date.now() + timeoutMs;
    for (let r = 0; r < worldSize; r++) if (r !== rank) this.connectTo(records[r]!, me, deadline);
    this.checkReady();
    try {
      await ready;
    } finally {
      clearTimeout(timer);
      this.readyWaiter = null;
    }
  }

  private listenTcp(host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const s = createServer((sock) => this.onAccept(sock));
      s.once('error', (e) => reject(createError('ERR_OS', `initRpc: cannot listen on ${host}: ${e.message}`)));
      s.listen(0, host, () => {
        this.servers.push(s);
        const a = s.address();
        resolve(typeof a === 'object' && a ? a.port : 0);
      });
    });
  }

  private listenUnix(): Promise<string | null> {
    const path = `\0node-nccl-rpc-${process.pid}-${randomBytes(8).toString('hex')}`;
    return new Promise((resolve) => {
      const s = createServer((sock) => this.onAccept(sock));
      s.once('error', () => resolve(null));
      s.listen(path, () => {
        this.servers.push(s);
        resolve(path);
      });
    });
  }

  private checkReady(): void {
    if (this.readyWaiter && this.peers.every((p) => p.connected)) this.readyWaiter.resolve();
  }

  /** A connection from another worker: after its HELLO, this worker writes to it (the peer's tx). */
  private onAccept(sock: Socket): void {
    if (this.state === 'closed' || this.state === 'shutting-down' || this.secret === '') {
      sock.destroy();
      return;
    }
    this.accepting.add(sock);
    sock.setNoDelay(true);
    const reader = new FrameReader();
    const timer = setTimeout(() => sock.destroy(), HELLO_TIMEOUT_MS);
    timer.unref();
    let peer: Peer | null = null;
    const drop = (): void => {
      clearTimeout(timer);
      this.accepting.delete(sock);
      sock.destroy();
    };
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (peer) this.peerClosed(peer, e.code ?? e.message);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      this.accepting.delete(sock);
      if (peer) this.peerClosed(peer, 'its connection closed');
    });
    sock.on('data', (chunk: Buffer) => {
      if (peer) {
        // nothing but the HELLO ever comes this way
        this.protocolError(peer, 'data on its send-only connection');
        return;
      }
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch {
        return drop();
      }
      if (frames.length === 0) return;
      const hello = frames[0]!;
      let v: unknown;
      try {
        v = hello.type === Msg.HELLO && frames.length === 1 ? decode(hello.meta, hello.payloads, this.plainHooks()) : null;
      } catch {
        return drop();
      }
      const [secret, rank] = Array.isArray(v) ? (v as unknown[]) : [];
      const p = typeof rank === 'number' && Number.isInteger(rank) && rank >= 0 && rank < this.worldSize ? this.peers[rank] : undefined;
      if (typeof secret !== 'string' || !sameSecret(secret, this.secret) || !p || p.loopback || p.tx !== null || !p.alive) return drop();
      clearTimeout(timer);
      this.accepting.delete(sock);
      peer = p;
      p.tx = sock;
      sock.setKeepAlive(true, 10_000);
      const enc = encode(null, this.plainHooks(), 'welcome');
      sock.write(assemble(Msg.WELCOME, 0, enc.meta, enc.payloads));
      this.checkReady();
    });
  }

  /** Opens this worker's receiving connection to `r` (the peer writes to it); retries until the init deadline. */
  private connectTo(r: WorkerRecord, me: WorkerRecord, deadline: number): void {
    const peer = this.peers[r.rank]!;
    const useUnix = this.cfg.transport === 'auto' && r.unix !== null && r.hostId === me.hostId;
    let tries = 0;
    const attempt = (): void => {
      if (this.state === 'closed' || peer.rx !== null || !peer.alive) return;
      peer.reader = new FrameReader();
      let welcomed = false;
      let failed = false;
      const onread = {
        buffer: () => peer.reader.readTarget(),
        callback: (n: number, buf: Uint8Array): boolean => {
          this.onRead(peer, sock, n, buf, () => {
            welcomed = true;
            clearTimeout(timer);
          }, retry);
          return true;
        },
      };
      const sock = useUnix ? connect({ path: r.unix!, onread }) : connect({ host: r.host, port: r.port, onread });
      sock.setNoDelay(true);
      const timer = setTimeout(() => retry(), HELLO_TIMEOUT_MS);
      timer.unref();
      function retry(): void {
        if (welcomed || failed) return;
        failed = true;
        clearTimeout(timer);
        sock.destroy();
        tries++;
        if (Date.now() < deadline) setTimeout(attempt, Math.min(10 * tries, 250)).unref();
      }
      sock.on('error', (e: NodeJS.ErrnoException) => (welcomed ? this.peerClosed(peer, e.code ?? e.message) : retry()));
      sock.on('close', () => (welcomed ? this.peerClosed(peer, 'its connection closed') : retry()));
      sock.once('connect', () => {
        const enc = encode([this.secret, this.rank], this.plainHooks(), 'hello');
        sock.write(assemble(Msg.HELLO, 0, enc.meta, enc.payloads));
      });
    };
    attempt();
  }

  /** Bytes read on a receiving connection: the WELCOME first, then messages. */
  private onRead(peer: Peer, sock: Socket, n: number, buf: Uint8Array, welcomed: () => void, retry: () => void): void {
    let frames: Frame[];
    try {
      frames = peer.reader.consumed(n, buf);
    } catch (e) {
      if (peer.rx !== sock) retry();
      else this.protocolError(peer, (e as Error).message);
      return;
    }
    for (const f of frames) {
      if (peer.rx !== sock) {
        if (f.type !== Msg.WELCOME) return retry();
        peer.rx = sock;
        sock.setKeepAlive(true, 10_000);
        welcomed();
        this.checkReady();
        continue;
      }
      if (!peer.alive) return;
      this.onFrame(peer, f);
    }
  }

  // ---- hooks for the codec ----

  private plainHooks(): CodecHooks {
    return {
      encodeRRef: (o) => {
        if (o instanceof RRef) throw invalid('rpc: an RRef cannot be sent here');
        return undefined;
      },
      decodeRRef: () => {
        throw new CodecError('an RRef where none may be');
      },
      workerRank: () => undefined,
      workerInfo: () => {
        throw new CodecError('a WorkerInfo where none may be');
      },
    };
  }

  private hooksTo(dst: number, undo: (() => void)[]): CodecHooks {
    return {
      encodeRRef: (o) => this.rrefs.encode(o, dst, undo),
      decodeRRef: () => {
        throw new CodecError('decoding while encoding');
      },
      workerRank: (o) => (o instanceof WorkerInfo ? this.rankOf(o, 'rpc') : undefined),
      workerInfo: () => {
        throw new CodecError('decoding while encoding');
      },
    };
  }

  private hooksFrom(created: RRef[]): CodecHooks {
    return {
      encodeRRef: () => undefined,
      decodeRRef: (fields) => {
        const r = this.rrefs.decode(fields);
        created.push(r);
        return r;
      },
      workerRank: () => undefined,
      workerInfo: (rank) => {
        const w = this.workers[rank];
        if (!w) throw new CodecError(`a WorkerInfo of rank ${rank}`);
        return w;
      },
    };
  }

  // ---- sending ----

  /**
   * Encodes and sends one message (throws before anything is sent when the value cannot be
   * encoded). Requests (CALL, REMOTE) send the argument tensors' memory as it is, without a copy:
   * as in torch, it must stay unchanged until the call settles (the answer comes after every byte
   * of the request arrived). Everything else (results above all: the callee cannot know when
   * they are out) is copied into the frame first.
   */
  private send(rank: number, type: MsgType, id: number, value: unknown, context: string, root: string | readonly string[] = 'value'): void {
    const peer = this.peers[rank];
    if (!peer || !peer.alive || !peer.connected) throw this.peerFailure(rank, context);
    const undo: (() => void)[] = [];
    let enc: { meta: Buffer; payloads: Uint8Array[]; temps: Tensor[] };
    try {
      enc = encode(value, this.hooksTo(rank, undo), context, root);
    } catch (e) {
      for (const u of undo.reverse()) u();
      throw e;
    }
    if (peer.loopback) peer.write(assemble(type, id, enc.meta, enc.payloads));
    else if (type === Msg.CALL || type === Msg.REMOTE) peer.write(frameHead(type, id, enc.meta, enc.payloads), enc.payloads);
    else peer.writeCopy(frameHead(type, id, enc.meta, enc.payloads), enc.payloads);
    // (a contiguous copy's host memory stays alive while the write still refers to it)
    for (const t of enc.temps) t.dispose();
    this.sent++;
  }

  request(rank: number, type: MsgType, value: unknown, opts: { timeoutMs?: number; what: string }): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) {
      return Promise.reject(invalid(`${opts.what}: timeoutMs must be a number of milliseconds >= 0 (0: no timeout), got ${String(timeoutMs)}`));
    }
    let id = this.nextRequestId;
    while (this.pending.has(id) || id === 0) id = id >= 0xffffffff ? 1 : id + 1;
    this.nextRequestId = id >= 0xffffffff ? 1 : id + 1;
    return new Promise((resolve, reject) => {
      const p: Pending = { rank, what: opts.what, resolve, reject, timer: null };
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          if (this.pending.get(id) !== p) return;
          this.pending.delete(id);
          reject(createError('ERR_DIST_TIMEOUT', `rpc: ${opts.what} did not complete within ${timeoutMs} ms`, { timeoutMs }));
          this.checkIdle();
        }, timeoutMs);
      }
      this.pending.set(id, p);
      try {
        this.send(rank, type, id, value, opts.what, ENVELOPE[type] ?? 'value');
      } catch (e) {
        this.pending.delete(id);
        if (p.timer) clearTimeout(p.timer);
        reject(e);
        this.checkIdle();
      }
    });
  }

  notify(rank: number, type: MsgType, value: unknown): void {
    try {
      this.send(rank, type, 0, value, MSG_NAMES[type] ?? 'a message');
    } catch {
      // the peer is gone: its side of the protocol went with it
    }
  }

  // ---- receiving ----

  private onData(peer: Peer, chunk: Buffer): void {
    if (!peer.alive) return;
    let frames: Frame[];
    try {
      frames = peer.reader.push(chunk);
    } catch (e) {
      this.protocolError(peer, (e as Error).message);
      return;
    }
    for (const f of frames) {
      if (!peer.alive) return;
      this.onFrame(peer, f);
    }
  }

  private protocolError(peer: Peer, message: string): void {
    this.peerClosed(peer, `it sent a malformed message (${message})`);
    peer.tx?.destroy();
    peer.rx?.destroy();
  }

  private onFrame(peer: Peer, f: Frame): void {
    this.received++;
    const created: RRef[] = [];
    let v: unknown;
    try {
      v = decode(f.meta, f.payloads, this.hooksFrom(created));
    } catch (e) {
      if (e instanceof CodecError || e instanceof FrameError) {
        this.protocolError(peer, e.message);
        return;
      }
      // an RRef that cannot be used (its owner is gone): answer the request with the error
      if (f.type === Msg.CALL || f.type === Msg.FETCH || f.type === Msg.REMOTE) this.reply(peer.rank, f.id, false, toWire(e));
      this.rrefs.releaseAll(created);
      return;
    }
    const src = peer.rank;
    switch (f.type) {
      case Msg.CALL: {
        const [spec, args] = Array.isArray(v) ? (v as unknown[]) : [];
        void this.execute(src, f.id, spec, args);
        return;
      }
      case Msg.RESULT:
      case Msg.ERROR: {
        const p = this.pending.get(f.id);
        if (!p || p.rank !== src) {
          this.rrefs.releaseAll(created); // a reply after its call timed out
          return;
        }
        this.pending.delete(f.id);
        if (p.timer) clearTimeout(p.timer);
        if (f.type === Msg.RESULT) p.resolve(v);
        else p.reject(fromWire(v, this.workers[src]!, p.what));
        this.checkIdle();
        return;
      }
      case Msg.REMOTE: {
        const [spec, args, fields] = Array.isArray(v) ? (v as unknown[]) : [];
        let settle: (ok: boolean, v: unknown) => void;
        try {
          settle = this.rrefs.onRemote(src, fields);
        } catch (e) {
          this.reply(src, f.id, false, toWire(e));
          return;
        }
        this.reply(src, f.id, true, null);
        void this.run(spec, args).then(
          (r) => settle(true, r),
          (e: unknown) => settle(false, e),
        );
        return;
      }
      case Msg.FETCH: {
        this.active++;
        let value: Promise<unknown>;
        try {
          value = this.rrefs.onFetch(v);
        } catch (e) {
          value = Promise.reject(e);
        }
        void value
          .then(
            (r) => this.reply(src, f.id, true, r, 'RRef.toHere()'),
            (e: unknown) => this.reply(src, f.id, false, toWire(e), 'RRef.toHere()'),
          )
          .finally(() => {
            this.active--;
            this.checkIdle();
          });
        return;
      }
      case Msg.FORK:
        try {
          this.rrefs.onFork(src, v);
          this.reply(src, f.id, true, null);
        } catch (e) {
          this.reply(src, f.id, false, toWire(e));
        }
        return;
      case Msg.CHILD_ACCEPT:
        this.rrefs.onChildAccept(v);
        return;
      case Msg.DELETE:
        this.rrefs.onDelete(v);
        return;
      default:
        this.protocolError(peer, `a ${MSG_NAMES[f.type] ?? f.type} message after the handshake`);
    }
  }

  /** Runs a target with args here (the callee side of a call or a remote()). */
  private async run(spec: unknown, args: unknown): Promise<unknown> {
    this.active++;
    try {
      const fn = await resolveTarget(spec, this.name);
      if (!Array.isArray(args)) throw invalid(`rpc: the arguments of ${targetName(spec)} did not arrive as an array`);
      return await (fn as (...a: unknown[]) => unknown)(...args);
    } finally {
      this.active--;
      this.checkIdle();
    }
  }

  private async execute(src: number, id: number, spec: unknown, args: unknown): Promise<void> {
    this.active++;
    try {
      let ok = true;
      let result: unknown;
      try {
        result = await this.run(spec, args);
      } catch (e) {
        ok = false;
        result = toWire(e);
      }
      this.reply(src, id, ok, result, targetName(spec));
    } finally {
      this.active--;
      this.checkIdle();
    }
  }

  /** Sends a RESULT (or ERROR); a result that cannot be sent becomes an ERROR saying why. */
  private reply(rank: number, id: number, ok: boolean, value: unknown, what = 'the call'): void {
    const peer = this.peers[rank];
    if (!peer || !peer.alive) return;
    try {
      this.send(rank, ok ? Msg.RESULT : Msg.ERROR, id, value, `worker '${this.name}' answering ${what}`, ok ? 'the result' : 'the error');
    } catch (e) {
      try {
        this.send(rank, Msg.ERROR, id, toWire(e), `worker '${this.name}' answering ${what}`, 'the error');
      } catch {
        // the peer went away meanwhile
      }
    }
  }

  // ---- failures ----

  peerFailure(rank: number, what: string): Error {
    const w = this.workers[rank];
    const who = w ? `worker '${w.name}' (rank ${rank})` : `rank ${rank}`;
    const why = this.peers[rank]?.alive === false && this.closeReasons.get(rank) ? ` (${this.closeReasons.get(rank)})` : '';
    return createError('ERR_DIST_PEER_FAILURE', `rpc: ${who} is gone${why}; ${what} failed`, { rank });
  }

  private closeReasons = new Map<number, string>();

  private peerClosed(peer: Peer, reason: string): void {
    if (!peer.alive || this.peers[peer.rank] !== peer) return;
    if (this.state === 'closed') {
      peer.alive = false;
      return;
    }
    peer.alive = false;
    this.closeReasons.set(peer.rank, reason);
    for (const [id, p] of [...this.pending]) {
      if (p.rank !== peer.rank) continue;
      this.pending.delete(id);
      if (p.timer) clearTimeout(p.timer);
      p.reject(this.peerFailure(peer.rank, p.what));
    }
    this.rrefs.peerDied(peer.rank);
    this.checkIdle();
    if (this.state === 'shutting-down') void this.checkShutdownPeer(peer.rank);
    this.readyWaiter?.reject(this.peerFailure(peer.rank, 'initRpc'));
  }

  // ---- the RRefAgent surface ----

  worker(rank: number): WorkerInfo {
    const w = this.workers[rank];
    if (!w) throw invalid(`rpc: there is no worker of rank ${rank} (world size ${this.worldSize})`);
    return w;
  }

  allWorkers(): WorkerInfo[] {
    return [...this.workers];
  }

  alive(rank: number): boolean {
    return this.peers[rank]?.alive === true;
  }

  check(who: string): void {
    if (this.state === 'closed') throw createError('ERR_DIST_NOT_INITIALIZED', `${who}: RPC was shut down`);
  }

  /** A worker's rank from a name, WorkerInfo or rank. */
  rankOf(to: unknown, who: string): number {
    if (to instanceof WorkerInfo) {
      if (this.workers[to.id]?.name !== to.name) throw invalid(`${who}: ${to.toString()} is not a worker of this RPC group`);
      return to.id;
    }
    if (typeof to === 'number') {
      if (!Number.isInteger(to) || to < 0 || to >= this.worldSize) throw invalid(`${who}: rank ${to} is not in [0, ${this.worldSize})`);
      return to;
    }
    if (typeof to === 'string') {
      const w = this.workers.find((x) => x.name === to);
      if (!w) throw invalid(`${who}: no worker is named '${to}' (workers: ${this.workers.map((x) => `'${x.name}'`).join(', ')})`);
      return w.id;
    }
    throw invalid(`${who}: 'to' must be a worker name, a WorkerInfo or a rank, got ${to === null ? 'null' : typeof to}`);
  }

  describeCall(kind: string, rank: number, spec: unknown): string {
    const w = this.workers[rank]!;
    return `${kind}(${targetName(spec)}) to worker '${w.name}' (rank ${rank})`;
  }

  callAsync(to: number, spec: string | [string, string], args: unknown[], opts: RRefCallOptions, kind = 'rpcAsync'): Promise<unknown> {
    return this.request(to, Msg.CALL, [spec, args], { timeoutMs: opts.timeoutMs, what: this.describeCall(kind, to, spec) });
  }

  callRemote(to: number, spec: string | [string, string], args: unknown[], opts: RRefCallOptions): RRef {
    const what = this.describeCall('remote', to, spec);
    if (to === this.rank) {
      // The arguments go through the codec, as to another worker (the function gets its own
      // copies); the result stays as it is, the owner's value.
      const copied = this.copyHere(args, what);
      const { rref, settle } = this.rrefs.ownPending();
      setImmediate(() =>
        this.run(spec, copied).then(
          (v) => settle(true, v),
          (e: unknown) => settle(false, e),
        ),
      );
      return rref;
    }
    const { rref, fields, confirm } = this.rrefs.newRemote(to);
    this.request(to, Msg.REMOTE, [spec, args, fields], { timeoutMs: opts.timeoutMs, what }).then(
      () => confirm(),
      (e: unknown) => confirm(e),
    );
    return rref;
  }

  /** `value` encoded and decoded on this worker, as a message to itself would carry it. */
  private copyHere(value: unknown, what: string): unknown {
    const undo: (() => void)[] = [];
    let enc: { meta: Buffer; payloads: Uint8Array[]; temps: Tensor[] };
    try {
      enc = encode(value, this.hooksTo(this.rank, undo), what, 'args');
    } catch (e) {
      for (const u of undo.reverse()) u();
      throw e;
    }
    const payloads = enc.payloads.map((p) => {
      const ab = new ArrayBuffer(p.byteLength);
      new Uint8Array(ab).set(p);
      return ab;
    });
    for (const t of enc.temps) t.dispose();
    return decode(enc.meta, payloads, this.hooksFrom([]));
  }

  // ---- idle, debug info ----

  private get idle(): boolean {
    return this.pending.size === 0 && this.active === 0;
  }

  private checkIdle(): void {
    if (!this.idle || this.idleWaiters.length === 0) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }

  private whenIdle(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  debugInfo(): RpcDebugInfo {
    return {
      numPendingRequests: this.pending.size,
      numActiveCalls: this.active,
      messagesSent: this.sent,
      messagesReceived: this.received,
      ...this.rrefs.info(),
    };
  }

  // ---- shutdown ----

  /** Graceful: waits for every worker and all outstanding work, then closes. Always closes, even when it throws. */
  async shutdown(graceful: boolean, timeoutMs: number): Promise<void> {
    if (!graceful || this.state === 'starting') {
      this.close('rpc.shutdown({ graceful: false }) was called');
      await this.cfg.lease?.release({ waitForOthers: false });
      return;
    }
    if (this.state !== 'running') throw createError('ERR_DIST', 'rpc.shutdown: already shutting down');
    this.state = 'shutting-down';
    const deadline = Date.now() + timeoutMs;
    const left = (): number => Math.max(1, deadline - Date.now());
    const g = (k: string): string => `${this.gen}/${k}`;
    const failed = new Promise<never>((_, reject) => (this.shutdownFail = reject));
    failed.catch(() => {});
    const guarded = <T>(p: Promise<T>): Promise<T> => Promise.race([p, failed]);
    let error: unknown = null;
    try {
      const dead = this.peers.findIndex((p) => !p.alive);
      if (dead >= 0) throw this.peerFailure(dead, 'the graceful shutdown');
      // 1. every worker has arrived
      this.shutdownRound = 0;
      await this.store.set(g(`sd/0/${this.rank}`), '1');
      await guarded(this.waitRound(0, left()));
      // 2. let go of this worker's user RRefs (torch's _delete_all_user_rrefs)
      this.rrefs.releaseAllUsers();
      // 3. until two rounds in a row see everyone idle, nothing in flight and no message since
      let prev: string | null = null;
      for (let k = 1; ; k++) {
        await guarded(this.withDeadline(this.whenIdle(), left(), 'waiting for its own outstanding calls'));
        this.shutdownRound = k;
        await this.store.set(g(`sd/${k}/${this.rank}`), `${this.sent},${this.received}`);
        const vals = await guarded(this.waitRound(k, left()));
        const sum = vals.reduce((a, v) => {
          const [s, r] = v.split(',').map(Number) as [number, number];
          return [a[0]! + s, a[1]! + r];
        }, [0, 0]);
        const snapshot = vals.join(';');
        if (sum[0] === sum[1] && snapshot === prev) break;
        prev = snapshot;
      }
    } catch (e) {
      error = e;
    }
    this.close('rpc.shutdown() was called');
    await this.cfg.lease?.release({ waitForOthers: error === null });
    if (error) throw error;
  }

  private withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            createError(
              'ERR_DIST_TIMEOUT',
              `rpc.shutdown: worker '${this.name}' timed out ${what} (${this.pending.size} call(s) of its own pending, ${this.active} running for others)`,
            ),
          ),
        ms,
      );
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(t);
          reject(e);
        },
      );
    });
  }

  /** Every worker's value for shutdown round k, in rank order. */
  private async waitRound(k: number, timeoutMs: number): Promise<string[]> {
    const keys = Array.from({ length: this.worldSize }, (_, r) => `${this.gen}/sd/${k}/${r}`);
    try {
      await this.store.wait(keys, { timeoutMs });
    } catch (e) {
      if ((e as NodeNcclError).code !== 'ERR_DIST_TIMEOUT') throw e;
      const missing: string[] = [];
      for (let r = 0; r < this.worldSize; r++) {
        if (!(await this.store.check([keys[r]!]).catch(() => false))) missing.push(`'${this.workers[r]!.name}' (rank ${r})`);
      }
      throw createError(
        'ERR_DIST_TIMEOUT',
        `rpc.shutdown: ${k === 0 ? `${missing.join(', ')} did not call shutdown` : `${missing.join(', ')} did not finish its outstanding work`} within the timeout`,
      );
    }
    return Promise.all(keys.map(async (key) => (await this.store.get(key)).toString('utf8')));
  }

  /** A peer closed during shutdown: fine if it reported the current round (it finished), else it died. */
  private async checkShutdownPeer(rank: number): Promise<void> {
    const k = this.shutdownRound;
    const reported = await this.store.check([`${this.gen}/sd/${k}/${rank}`]).catch(() => false);
    if (!reported && this.state === 'shutting-down') this.shutdownFail?.(this.peerFailure(rank, 'the graceful shutdown'));
  }

  /** Closes every connection and listener; pending calls fail with ERR_DIST. */
  private close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const [id, p] of [...this.pending]) {
      this.pending.delete(id);
      if (p.timer) clearTimeout(p.timer);
      p.reject(createError('ERR_DIST', `rpc: ${p.what} failed: ${reason}`));
    }
    for (const p of this.peers) {
      p.alive = false;
      p.destroy();
    }
    for (const s of this.accepting) s.destroy();
    for (const s of this.servers) s.close();
    this.servers = [];
    this.checkIdle();
  }
}

/** rpc.getDebugInfo(): counters of this worker (torch's `_get_debug_info()`). */
export interface RpcDebugInfo {
  /** Calls of this worker awaiting an answer. */
  numPendingRequests: number;
  /** Calls of other workers running here. */
  numActiveCalls: number;
  messagesSent: number;
  messagesReceived: number;
  /** Values this worker owns that are still referenced. */
  numOwnerRRefs: number;
  /** References other workers hold to values this worker owns. */
  numForks: number;
  /** References this worker holds to other workers' values. */
  numUserRRefs: number;
  /** RRefs this worker passed on whose receiver has not yet registered with the owner. */
  numPendingChildren: number;
}

/** RRef method calls: `rref.rpcSync().method(...args)` runs this on the owner. */
registerBuiltin('rpc.rrefCall', async (rref: RRef, method: string, args: unknown[]) => {
  try {
    const v = (await rref.toHere()) as Record<string, unknown>;
    const fn = v === null || v === undefined ? undefined : v[method];
    if (typeof fn !== 'function') {
      throw invalid(`rpc: the value of ${rref.toString()} has no method '${method}' (it is ${v === null ? 'null' : typeof v})`);
    }
    return await (fn as (...a: unknown[]) => unknown).apply(v, args);
  } finally {
    rref.release();
  }
});
