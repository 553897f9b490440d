/**
 * The main thread's side of rank 0's store server (layer: lib/distributed): the server and the
 * key-value state live in a worker thread (store-worker.ts), so they keep serving the other ranks
 * while this thread is blocked; rank 0's own store operations are messages to that thread.
 * While an operation of this thread is pending, the worker keeps the process alive (as the
 * in-thread server's local waits did); otherwise it does not.
 */
import { Worker } from 'node:worker_threads';
import { createError, type ErrorCode } from '../errors.js';
import type { StoreServerOptions } from './store-server.js';
import type { HostRequest, WireError, WorkerMessage } from './store-worker.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
type Request = HostRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class StoreHost {
  /** The bound port. */
  readonly port: number;
  /** Open client connections (kept up to date by the worker). */
  connectionCount = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exited: Error | null = null;

  private constructor(private readonly worker: Worker, port: number, private where: string) {
    this.port = port;
  }

  /** Starts the server thread and resolves once it listens (ERR_STORE when it cannot). */
  static start(opts: Omit<StoreServerOptions, 'onConnections'>): Promise<StoreHost> {
    // no execArgv: the parent's flags (--input-type, an -e script, test runner flags) are not the worker's
    const worker = new Worker(new URL('./store-worker.js', import.meta.url), { workerData: opts, execArgv: [] });
    worker.unref();
    return new Promise((resolve, reject) => {
      let host: StoreHost | null = null;
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'listening') {
          host = new StoreHost(worker, m.port, `${opts.host}:${m.port}`);
          resolve(host);
        } else if (m.type === 'failed') {
          void worker.terminate();
          reject(toError(m.error, `${opts.host}:${opts.port}`));
        } else if (m.type === 'connections') {
          if (host) host.connectionCount = m.n;
        } else if (host) {
          host.settle(m);
        }
      });
      const gone = (why: string): void => {
        const err = createError('ERR_STORE', `store server thread for ${opts.host}:${opts.port} ${why}`);
        if (!host) return reject(err);
        host.exited = err;
        for (const p of host.pending.values()) p.reject(err);
        host.pending.clear();
      };
      worker.on('error', (e) => gone(`failed: ${e.message}`));
      worker.on('exit', (code) => gone(`exited (code ${code})`));
    });
  }

  /** Sends one operation to the server thread. */
  call<T>(req: Request): Promise<T> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id });
    });
  }

  /** Closes the server (its clients' calls fail with ERR_STORE, local waits too) and the thread. */
  async close(): Promise<void> {
    if (this.exited) return;
    await this.call({ op: 'close' }).catch(() => {});
    await this.worker.terminate();
  }

  private settle(m: Extract<WorkerMessage, { type: 'reply' }>): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker.unref();
    if (m.ok) p.resolve(m.value);
    else p.reject(toError(m.error, this.where));
  }
}

function toError(e: WireError, where: string): Error {
  return createError(e.code as ErrorCode, e.op ? `store at ${where}: ${e.message}` : e.message, e.details ?? {});
}
