/**
 * Remote references (layer: lib/distributed/rpc), after torch.distributed.rpc's RRef protocol.
 *
 * An RRef names a value that lives on its owner. The owner keeps the value while anyone holds a
 * reference: every user RRef is a "fork" the owner counts; when the last fork is released (and no
 * handle on the owner itself remains) the owner drops the value. The messages, as torch's:
 *
 * - `remote(to, fn)`: the caller (creator) makes the RRef id and its own fork id and sends REMOTE;
 *   the owner records the fork, runs fn into the value, and confirms at once.
 * - An RRef passed inside a message: from the owner to a user, the owner records the new fork as
 *   it encodes it; from a user to the owner, nothing (the owner gets a handle on its own value;
 *   the sender's fork outlives the message because messages between two workers arrive in order);
 *   from user A to user C, A keeps its own fork alive ("pending child") until C has told the owner
 *   (FORK, acknowledged) and then told A (CHILD_ACCEPT). So a fork is never counted down before the
 *   fork that replaces it is counted.
 * - `release()` (or the RRef being garbage-collected) sends DELETE, once the fork is confirmed and
 *   its pending children are accepted.
 * - A worker that dies drops every fork it held on every owner; its own values become errors for
 *   the users (ERR_DIST_PEER_FAILURE on toHere()).
 */
import { createError } from '../../errors.js';
import { checkOptions, optionKeys } from '../../options.js';
import { Msg, type MsgType } from './frame.js';
import type { WorkerInfo } from './worker-info.js';

/** Options of calls made through an RRef (and of toHere). */
export interface RRefCallOptions {
  /** Milliseconds before the call fails with ERR_DIST_TIMEOUT (default: initRpc's rpcTimeoutMs; 0 = never). */
  timeoutMs?: number;
}

const RREF_CALL_OPTIONS = optionKeys<RRefCallOptions>({ timeoutMs: true });

type AnyFn = (...a: never[]) => unknown;
type MethodKeys<T> = { [K in keyof T]: T[K] extends AnyFn ? K : never }[keyof T];
/** `rref.rpcSync()` / `rref.rpcAsync()`: the owner's value's methods, each returning a Promise of its result. */
export type RRefProxy<T> = {
  [K in MethodKeys<T>]: T[K] extends (...a: infer A) => infer R ? (...a: A) => Promise<Awaited<R>> : never;
};
/** `rref.remote()`: the owner's value's methods, each returning an RRef to its result (owned by the same owner). */
export type RRefRemoteProxy<T> = {
  [K in MethodKeys<T>]: T[K] extends (...a: infer A) => infer R ? (...a: A) => RRef<Awaited<R>> : never;
};

/** What the RRef protocol needs from the agent. */
export interface RRefAgent {
  readonly rank: number;
  readonly defaultTimeoutMs: number;
  worker(rank: number): WorkerInfo;
  alive(rank: number): boolean;
  /** Throws ERR_DIST_NOT_INITIALIZED (or ERR_DIST after shutdown). */
  check(who: string): void;
  request(rank: number, type: MsgType, value: unknown, opts: { timeoutMs?: number; what: string }): Promise<unknown>;
  notify(rank: number, type: MsgType, value: unknown): void;
  callAsync(to: number, target: string, args: unknown[], opts: RRefCallOptions): Promise<unknown>;
  callRemote(to: number, target: string, args: unknown[], opts: RRefCallOptions): RRef;
  peerFailure(rank: number, what: string): Error;
}

type Id = [number, number];
const key = (id: Id): string => `${id[0]}:${id[1]}`;

interface OwnerEntry {
  key: string;
  id: Id;
  state: 'pending' | 'ok' | 'error';
  value: unknown;
  error: unknown;
  waiters: { resolve(v: unknown): void; reject(e: unknown): void }[];
  /** fork key → the rank holding it */
  forks: Map<string, number>;
  /** handles on this worker (the owner's own RRef objects) */
  handles: number;
  /** false while only FORKs have arrived and the creator's REMOTE has not */
  created: boolean;
}

interface UserFork {
  kind: 'user';
  rrefKey: string;
  id: Id;
  owner: number;
  fork: Id;
  forkKey: string;
  confirmed: boolean;
  confirmWaiters: (() => void)[];
  /** creation failed, the owner died, or the fork request failed */
  error: unknown;
  released: boolean;
  pendingChildren: number;
  deleted: boolean;
}

interface OwnerHandle {
  kind: 'owner';
  entry: OwnerEntry;
  released: boolean;
}

type State = UserFork | OwnerHandle;

const FROM_STATE = Symbol('RRef.fromState');
const finalizer = new FinalizationRegistry<{ ctx: RRefContext; state: State }>(({ ctx, state }) => ctx.releaseState(state));

/** The agent's RRef context, set by initRpc (null when RPC is not running). */
let current: RRefContext | null = null;
export function setRRefContext(ctx: RRefContext | null): void {
  current = ctx;
}

/**
 * A reference to a value that lives on one worker, its owner (torch.distributed.rpc.RRef).
 * `new RRef(value)` makes an RRef owned by this worker, to pass to others; `rpc.remote(...)`
 * makes one owned by the callee. Release it when done (`rref.release()` or `using`), so the owner
 * can free the value; a forgotten RRef is released when it is garbage-collected.
 */
export class RRef<T = unknown> implements Disposable {
  readonly #ctx: RRefContext;
  readonly #s: State;

  constructor(value: T, ...internal: unknown[]) {
    if ((value as unknown) === FROM_STATE) {
      this.#ctx = internal[0] as RRefContext;
      this.#s = internal[1] as State;
    } else {
      const ctx = current;
      if (!ctx) throw createError('ERR_DIST_NOT_INITIALIZED', 'new RRef(value): RPC is not initialized; call `await rpc.initRpc(...)` first');
      ctx.agent.check('new RRef');
      this.#ctx = ctx;
      this.#s = ctx.ownLocal(value);
    }
    finalizer.register(this, { ctx: this.#ctx, state: this.#s }, this.#s);
  }

  /** @internal */
  static [FROM_STATE](ctx: RRefContext, s: State): RRef {
    return new RRef(FROM_STATE as unknown, ctx, s);
  }

  /** @internal the protocol state (rref.ts and the agent only). */
  get _state(): State {
    return this.#s;
  }

  /** The owner's WorkerInfo. */
  owner(): WorkerInfo {
    return this.#ctx.agent.worker(this.#ownerRank());
  }
  ownerName(): string {
    return this.owner().name;
  }
  /** Whether this worker owns the value. */
  isOwner(): boolean {
    return this.#s.kind === 'owner';
  }
  /** Whether the owner knows about this reference (always true on the owner). */
  confirmedByOwner(): boolean {
    return this.#s.kind === 'owner' || this.#s.confirmed;
  }
  /** Whether release() was called. */
  get released(): boolean {
    return this.#s.released;
  }

  #ownerRank(): number {
    return this.#s.kind === 'owner' ? this.#ctx.agent.rank : this.#s.owner;
  }

  #live(who: string): void {
    if (this.#s.released) throw createError('ERR_DISPOSED', `RRef.${who}: this RRef was released`);
  }

  /**
   * The value: on the owner the value itself, elsewhere a copy fetched from the owner. Rethrows
   * the error of the function that made it. Timeout: `timeoutMs` (default rpcTimeoutMs).
   */
  async toHere(opts: RRefCallOptions = {}): Promise<T> {
    opts = checkOptions(opts, RREF_CALL_OPTIONS, 'RRef.toHere');
    this.#live('toHere');
    const s = this.#s;
    if (s.kind === 'owner') return (await this.#ctx.ownerValue(s.entry)) as T;
    this.#ctx.agent.check('RRef.toHere');
    if (s.error) throw s.error;
    return (await this.#ctx.agent.request(s.owner, Msg.FETCH, [s.id[0], s.id[1]], {
      timeoutMs: opts.timeoutMs,
      what: `RRef.toHere() of ${this.toString()}`,
    })) as T;
  }

  /**
   * The value itself, on its owner (torch's local_value()). Elsewhere, or before the function
   * that makes it has finished, ERR_DIST (use `await rref.toHere()`).
   */
  localValue(): T {
    this.#live('localValue');
    const s = this.#s;
    if (s.kind !== 'owner') {
      throw createError('ERR_DIST', `RRef.localValue(): this worker (rank ${this.#ctx.agent.rank}) is not the owner of ${this.toString()}; use await rref.toHere()`);
    }
    if (s.entry.state === 'error') throw s.entry.error;
    if (s.entry.state === 'pending') {
      throw createError('ERR_DIST', `RRef.localValue(): the value of ${this.toString()} is still being computed; await rref.toHere() instead`);
    }
    return s.entry.value as T;
  }

  #proxy<R>(who: string, call: (method: string, args: unknown[]) => R): Record<string, (...a: unknown[]) => R> {
    this.#live(who);
    return new Proxy({} as Record<string, (...a: unknown[]) => R>, {
      get: (_t, prop) => {
        if (typeof prop !== 'string' || prop === 'then') return undefined; // not a thenable
        return (...args: unknown[]) => call(prop, args);
      },
    });
  }

  /** `rref.rpcSync().method(...args)`: runs the method on the owner's value; a Promise of its result. */
  rpcSync(opts: RRefCallOptions = {}): RRefProxy<T> {
    opts = checkOptions(opts, RREF_CALL_OPTIONS, 'RRef.rpcSync');
    return this.#proxy('rpcSync', (m, a) => this.#ctx.agent.callAsync(this.#ownerRank(), 'rpc.rrefCall', [this, m, a], opts)) as unknown as RRefProxy<T>;
  }
  /** Same as rpcSync() (both return Promises in JavaScript). */
  rpcAsync(opts: RRefCallOptions = {}): RRefProxy<T> {
    return this.rpcSync(opts);
  }
  /** `rref.remote().method(...args)`: an RRef to the method's result, owned by this RRef's owner. */
  remote(opts: RRefCallOptions = {}): RRefRemoteProxy<T> {
    opts = checkOptions(opts, RREF_CALL_OPTIONS, 'RRef.remote');
    return this.#proxy('remote', (m, a) => this.#ctx.agent.callRemote(this.#ownerRank(), 'rpc.rrefCall', [this, m, a], opts)) as unknown as RRefRemoteProxy<T>;
  }

  /** Lets go of this reference (idempotent): the owner frees the value when the last one is released. */
  release(): void {
    if (this.#s.released) return;
    finalizer.unregister(this.#s);
    this.#ctx.releaseState(this.#s);
  }
  [Symbol.dispose](): void {
    this.release();
  }

  toString(): string {
    const s = this.#s;
    const id = s.kind === 'owner' ? s.entry.key : s.rrefKey;
    return `${s.kind === 'owner' ? 'OwnerRRef' : 'UserRRef'}(id=${id}, owner=${this.#ctx.agent.worker(this.#ownerRank()).name})`;
  }
}

/** A fresh RRef object for a state (used by the agent). */
function wrap(ctx: RRefContext, s: State): RRef {
  return RRef[FROM_STATE](ctx, s);
}

/** Fields of an RRef on the wire: owner, creator, seq, forkRank, forkSeq, parent (forkRank -1: no fork). */
const FIELDS = 6;

export class RRefContext {
  readonly agent: RRefAgent;
  private readonly owners = new Map<string, OwnerEntry>();
  private readonly users = new Map<string, UserFork>();
  /** child fork key → the parent fork held for it and the child's rank */
  private readonly children = new Map<string, { parent: UserFork; rank: number }>();
  private seq = 0;

  constructor(agent: RRefAgent) {
    this.agent = agent;
  }

  private nextId(): Id {
    return [this.agent.rank, ++this.seq];
  }

  // ---- owner side ----

  private entry(id: Id): OwnerEntry {
    const k = key(id);
    let e = this.owners.get(k);
    if (!e) {
      e = { key: k, id, state: 'pending', value: undefined, error: undefined, waiters: [], forks: new Map(), handles: 0, created: false };
      this.owners.set(k, e);
    }
    return e;
  }

  /** An owner handle on a new local value (new RRef(value)). */
  ownLocal(value: unknown): OwnerHandle {
    const e = this.entry(this.nextId());
    e.created = true;
    e.handles++;
    this.settle(e, 'ok', value);
    return { kind: 'owner', entry: e, released: false };
  }

  /** An owner handle on a value being computed here (remote() to this worker). */
  ownPending(): { rref: RRef; settle(ok: boolean, v: unknown): void } {
    const e = this.entry(this.nextId());
    e.created = true;
    e.handles++;
    const h: OwnerHandle = { kind: 'owner', entry: e, released: false };
    return { rref: wrap(this, h), settle: (ok, v) => this.settle(e, ok ? 'ok' : 'error', v) };
  }

  settle(e: OwnerEntry, state: 'ok' | 'error', v: unknown): void {
    if (e.state !== 'pending') return;
    e.state = state;
    if (state === 'ok') e.value = v;
    else e.error = v;
    const ws = e.waiters;
    e.waiters = [];
    for (const w of ws) (state === 'ok' ? w.resolve(v) : w.reject(v));
  }

  ownerValue(e: OwnerEntry): Promise<unknown> {
    if (e.state === 'ok') return Promise.resolve(e.value);
    if (e.state === 'error') return Promise.reject(e.error);
    return new Promise((resolve, reject) => e.waiters.push({ resolve, reject }));
  }

  private maybeFree(e: OwnerEntry): void {
    if (e.created && e.forks.size === 0 && e.handles === 0) {
      this.owners.delete(e.key);
      e.value = undefined;
      e.error = undefined;
    }
  }

  /** REMOTE from `src`: [rrefCreator, rrefSeq, forkRank, forkSeq]. The value comes from `settle`. */
  onRemote(src: number, f: unknown): (ok: boolean, v: unknown) => void {
    const [c, s, fr, fs] = this.ids(f, 4);
    const e = this.entry([c, s]);
    e.created = true;
    e.forks.set(key([fr, fs]), src);
    return (ok, v) => this.settle(e, ok ? 'ok' : 'error', v);
  }

  /** FETCH: the value of an owned RRef, once it is there. */
  onFetch(f: unknown): Promise<unknown> {
    const [c, s] = this.ids(f, 2);
    const e = this.owners.get(key([c, s]));
    if (!e) return Promise.reject(createError('ERR_DIST', `RRef ${c}:${s} is not (or no longer) owned by worker '${this.agent.worker(this.agent.rank).name}'`));
    return this.ownerValue(e);
  }

  /** FORK from `src`: it holds fork [fr, fs] of [c, s]. */
  onFork(src: number, f: unknown): void {
    const [c, s, fr, fs] = this.ids(f, 4);
    this.entry([c, s]).forks.set(key([fr, fs]), src);
  }

  /** DELETE from `src`: fork [fr, fs] of [c, s] is released. */
  onDelete(f: unknown): void {
    const [c, s, fr, fs] = this.ids(f, 4);
    const e = this.owners.get(key([c, s]));
    if (!e) return;
    e.forks.delete(key([fr, fs]));
    this.maybeFree(e);
  }

  /** CHILD_ACCEPT: the child fork [fr, fs] is known to its owner; the parent may go. */
  onChildAccept(f: unknown): void {
    const [fr, fs] = this.ids(f, 2);
    const k = key([fr, fs]);
    const c = this.children.get(k);
    if (!c) return;
    this.children.delete(k);
    c.parent.pendingChildren--;
    this.maybeDelete(c.parent);
  }

  private ids(f: unknown, n: number): number[] {
    if (!Array.isArray(f) || f.length !== n || !f.every((x) => Number.isSafeInteger(x))) {
      throw createError('ERR_DIST', 'rpc: a malformed RRef message arrived');
    }
    return f as number[];
  }

  // ---- user side ----

  /** remote(to, ...) from this worker: the user RRef and the REMOTE fields; `confirm` when the owner acknowledged. */
  newRemote(owner: number): { rref: RRef; fields: number[]; confirm(err?: unknown): void } {
    const id = this.nextId();
    const fork = this.nextId();
    const u = this.user(id, owner, fork, false);
    return {
      rref: wrap(this, u),
      fields: [id[0], id[1], fork[0], fork[1]],
      confirm: (err) => (err === undefined ? this.confirm(u) : this.failFork(u, err)),
    };
  }

  private user(id: Id, owner: number, fork: Id, confirmed: boolean): UserFork {
    const u: UserFork = {
      kind: 'user',
      rrefKey: key(id),
      id,
      owner,
      fork,
      forkKey: key(fork),
      confirmed,
      confirmWaiters: [],
      error: null,
      released: false,
      pendingChildren: 0,
      deleted: false,
    };
    this.users.set(u.forkKey, u);
    return u;
  }

  private confirm(u: UserFork): void {
    if (u.confirmed) return;
    u.confirmed = true;
    const ws = u.confirmWaiters;
    u.confirmWaiters = [];
    for (const w of ws) w();
    this.maybeDelete(u);
  }

  private failFork(u: UserFork, err: unknown): void {
    u.error = err;
    // the owner may or may not know this fork: it never will be confirmed, so it is dropped here
    u.deleted = true;
    this.users.delete(u.forkKey);
  }

  private maybeDelete(u: UserFork): void {
    if (!u.released || u.deleted || !u.confirmed || u.pendingChildren > 0) return;
    u.deleted = true;
    this.users.delete(u.forkKey);
    if (this.agent.alive(u.owner)) this.agent.notify(u.owner, Msg.DELETE, [u.id[0], u.id[1], u.fork[0], u.fork[1]]);
  }

  releaseState(s: State): void {
    if (s.released) return;
    s.released = true;
    if (s.kind === 'owner') {
      s.entry.handles--;
      this.maybeFree(s.entry);
    } else {
      this.maybeDelete(s);
    }
  }

  // ---- on the wire ----

  /** The fields of `o` (an RRef) in a message to `dst`, or undefined when `o` is not an RRef. `undo` rolls back if the message is not sent. */
  encode(o: object, dst: number, undo: (() => void)[]): number[] | undefined {
    if (!(o instanceof RRef)) return undefined;
    const s = o._state;
    if (s.released) throw createError('ERR_DISPOSED', `rpc: ${o.toString()} was released and cannot be sent`);
    const me = this.agent.rank;
    if (s.kind === 'owner') {
      const e = s.entry;
      if (dst === me) return [me, e.id[0], e.id[1], -1, -1, me];
      const fork = this.nextId();
      const fk = key(fork);
      e.forks.set(fk, dst);
      undo.push(() => {
        e.forks.delete(fk);
        this.maybeFree(e);
      });
      return [me, e.id[0], e.id[1], fork[0], fork[1], me];
    }
    if (s.error) throw s.error;
    if (dst === s.owner) return [s.owner, s.id[0], s.id[1], -1, -1, me];
    const child = this.nextId();
    const ck = key(child);
    this.children.set(ck, { parent: s, rank: dst });
    s.pendingChildren++;
    undo.push(() => {
      if (this.children.delete(ck)) {
        s.pendingChildren--;
        this.maybeDelete(s);
      }
    });
    return [s.owner, s.id[0], s.id[1], child[0], child[1], me];
  }

  /** The RRef for fields that arrived from `src` (once the whole message is here). */
  decode(f: number[]): RRef {
    if (f.length !== FIELDS || !f.every((x) => Number.isSafeInteger(x))) throw createError('ERR_DIST', 'rpc: a malformed RRef arrived');
    const [owner, c, s, fr, fs, parent] = f as [number, number, number, number, number, number];
    const me = this.agent.rank;
    if (owner === me) {
      const e = this.entry([c, s]);
      e.handles++;
      return wrap(this, { kind: 'owner', entry: e, released: false });
    }
    if (fr < 0) throw createError('ERR_DIST', `rpc: an RRef owned by rank ${owner} arrived at rank ${me} without a fork`);
    if (parent === owner) return wrap(this, this.user([c, s], owner, [fr, fs], true));
    const u = this.user([c, s], owner, [fr, fs], false);
    if (!this.agent.alive(owner)) {
      this.failFork(u, this.agent.peerFailure(owner, `an RRef it owns was passed to this worker`));
      return wrap(this, u);
    }
    this.agent
      .request(owner, Msg.FORK, [c, s, fr, fs], { what: `registering a fork of RRef ${c}:${s}` })
      .then(
        () => {
          this.confirm(u);
          const accept = [fr, fs];
          if (parent === me) this.onChildAccept(accept);
          else if (this.agent.alive(parent)) this.agent.notify(parent, Msg.CHILD_ACCEPT, accept);
        },
        (e: unknown) => this.failFork(u, e),
      );
    return wrap(this, u);
  }

  /** Drops RRefs decoded from a message nobody will read (a late reply). */
  releaseAll(rrefs: readonly RRef[]): void {
    for (const r of rrefs) r.release();
  }

  // ---- failures and shutdown ----

  /** A worker died: its forks everywhere here are gone, and RRefs it owns are errors. */
  peerDied(rank: number): void {
    for (const e of [...this.owners.values()]) {
      let changed = false;
      for (const [fk, r] of e.forks) {
        if (r === rank) {
          e.forks.delete(fk);
          changed = true;
        }
      }
      if (!e.created && e.id[0] === rank) {
        e.created = true;
        this.settle(e, 'error', this.agent.peerFailure(rank, `it died before it asked for RRef ${e.key}`));
        changed = true;
      }
      if (changed) this.maybeFree(e);
    }
    for (const [ck, c] of [...this.children]) {
      if (c.rank === rank || c.parent.owner === rank) {
        this.children.delete(ck);
        c.parent.pendingChildren--;
        this.maybeDelete(c.parent);
      }
    }
    for (const u of [...this.users.values()]) {
      if (u.owner === rank) {
        if (!u.error) u.error = this.agent.peerFailure(rank, `it owns ${u.rrefKey}`);
        u.deleted = true;
        this.users.delete(u.forkKey);
      }
    }
  }

  /** Graceful shutdown: every user RRef of this worker is released (torch's _delete_all_user_rrefs). */
  releaseAllUsers(): void {
    for (const u of [...this.users.values()]) {
      u.released = true;
      this.maybeDelete(u);
    }
  }

  /** Counts for rpc.getDebugInfo(). */
  info(): { numOwnerRRefs: number; numForks: number; numUserRRefs: number; numPendingChildren: number } {
    let forks = 0;
    for (const e of this.owners.values()) forks += e.forks.size;
    return { numOwnerRRefs: this.owners.size, numForks: forks, numUserRRefs: this.users.size, numPendingChildren: this.children.size };
  }
}
