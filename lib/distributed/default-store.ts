/**
 * The process's rendezvous store (layer: lib/distributed), shared by the default process group and
 * RPC: `initProcessGroup` and `initRpc` both rendezvous through the TCPStore at MASTER_ADDR /
 * MASTER_PORT (rank 0 serves it), so a process that uses both binds that port once. Each user
 * acquires it and releases it when done; the last release closes it. The server lives in rank
 * 0's process, so rank 0's last release first waits (at most 10 s, or the store's timeout) until
 * every rank has let go of it too: it never closes under a rank that still needs it.
 */
import { createError } from '../errors.js';
import type { InitConfig } from './env.js';
import { TCPStore, type Store } from './store.js';

interface Shared {
  key: string;
  rank: number;
  worldSize: number;
  store: Promise<TCPStore>;
  refs: number;
  /** Ranks some user released with as gone. */
  gone: Set<number>;
}

let shared: Shared | null = null;

/** How long rank 0's last release waits for the others to let go, at most. */
const EXIT_WAIT_MS = 10_000;

export interface ReleaseOptions {
  /**
   * Rank 0: wait for the other ranks to let go before closing (default true). false when this
   * rank already knows one is gone (it would only wait out the bound).
   */
  waitForOthers?: boolean;
  /**
   * Ranks this user knows to be gone (a peer failure named them): rank 0's last release does not
   * wait for them, whichever user releases last.
   */
  gone?: readonly number[];
}

/** A handle on the shared store; `release()` once (later calls do nothing). */
export interface StoreLease {
  readonly store: Store;
  release(opts?: ReleaseOptions): Promise<void>;
}

/**
 * The store for `cfg` (rank 0 serves it), created on first use and shared afterwards. A second
 * user with another address, rank or world size is ERR_INVALID_ARG: one process is one rank of
 * one job.
 */
export async function acquireDefaultStore(cfg: InitConfig, who: string): Promise<StoreLease> {
  const key = `${cfg.masterAddr}:${cfg.masterPort}`;
  if (shared && (shared.key !== key || shared.rank !== cfg.rank || shared.worldSize !== cfg.worldSize)) {
    throw createError(
      'ERR_INVALID_ARG',
      `${who}: this process already rendezvoused as rank ${shared.rank} of ${shared.worldSize} through the store at ${shared.key}; ` +
        `it cannot also be rank ${cfg.rank} of ${cfg.worldSize} at ${key} (pass { store } to use another store)`,
    );
  }
  if (!shared) {
    const s: Shared = {
      key,
      rank: cfg.rank,
      worldSize: cfg.worldSize,
      refs: 0,
      gone: new Set(),
      store: TCPStore.create({
        host: cfg.masterAddr,
        port: cfg.masterPort,
        isServer: cfg.rank === 0,
        worldSize: cfg.worldSize,
        token: cfg.token,
        timeoutMs: cfg.timeoutMs,
      }),
    };
    shared = s;
    s.store.catch(() => {
      if (shared === s) shared = null;
    });
  }
  const s = shared;
  s.refs++;
  let store: TCPStore;
  try {
    store = await s.store;
  } catch (e) {
    s.refs--;
    throw e;
  }
  let released = false;
  return {
    store,
    release: async (opts: ReleaseOptions = {}) => {
      if (released) return;
      released = true;
      for (const r of opts.gone ?? []) s.gone.add(r);
      if (--s.refs > 0) return;
      if (shared === s) shared = null;
      try {
        await store.set(`__exit/${s.rank}`, '1');
        if (s.rank === 0 && s.worldSize > 1 && (opts.waitForOthers ?? true)) {
          const keys = Array.from({ length: s.worldSize }, (_, r) => r)
            .filter((r) => r === s.rank || !s.gone.has(r))
            .map((r) => `__exit/${r}`);
          await store.wait(keys, { timeoutMs: Math.min(store.timeoutMs, EXIT_WAIT_MS) });
        }
      } catch {
        // a rank that died never lets go: close anyway
      }
      await store.close().catch(() => {});
    },
  };
}
