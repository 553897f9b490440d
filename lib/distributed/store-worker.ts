/**
 * The store server's thread (layer: lib/distributed). Rank 0 serves the rendezvous store from a
 * worker thread, not from its JS thread: a rank 0 that blocks (a synchronous work.wait(), a
 * blocking NCCL settle, a long computation) keeps answering the other ranks, so none of them can
 * deadlock or time out on it. This file is the worker's entry: it runs the TCP server
 * (StoreServer) over the key-value state (StoreState) and answers the main thread's own
 * operations, which store-host.ts sends as messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createError, type NodeNcclError } from '../errors.js';
import { StoreOpError, StoreServer, StoreState, type StoreServerOptions } from './store-server.js';

export type HostRequest =
  | { id: number; op: 'set'; key: string; value: Uint8Array }
  | { id: number; op: 'get'; key: string }
  | { id: number; op: 'add'; key: string; amount: bigint }
  | { id: number; op: 'compareSet'; key: string; expected: Uint8Array; desired: Uint8Array }
  | { id: number; op: 'wait'; keys: string[]; timeoutMs: number }
  | { id: number; op: 'check'; keys: string[] }
  | { id: number; op: 'delete'; key: string }
  | { id: number; op: 'numKeys' }
  | { id: number; op: 'waitForJoined'; n: number; timeoutMs: number }
  | { id: number; op: 'close' };

export type WorkerMessage =
  | { type: 'listening'; port: number }
  | { type: 'failed'; error: WireError }
  | { type: 'connections'; n: number }
  | { type: 'reply'; id: number; ok: true; value?: unknown }
  | { type: 'reply'; id: number; ok: false; error: WireError };

export interface WireError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  /** A StoreOpError: the message still needs the store's address in front. */
  op?: boolean;
}

function wire(e: unknown): WireError {
  if (e instanceof StoreOpError) return { code: e.code, message: e.message, op: true };
  const n = e as NodeNcclError & { details?: Record<string, unknown> };
  const details: Record<string, unknown> = {};
  for (const k of ['keys', 'missingKeys', 'timeoutMs', 'syscallCode'] as const) if (k in n) details[k] = (n as unknown as Record<string, unknown>)[k];
  return { code: n.code ?? 'ERR_STORE', message: n.message ?? String(e), details };
}

async function main(): Promise<void> {
  const port = parentPort!;
  const opts = workerData as Omit<StoreServerOptions, 'onConnections'>;
  const state = new StoreState(`${opts.host}:${opts.port}`);
  const server = new StoreServer(state, { ...opts, onConnections: (n) => port.postMessage({ type: 'connections', n } satisfies WorkerMessage) });
  let closed = false;
  try {
    const bound = await server.listen();
    state.where = `${opts.host}:${bound}`;
    port.postMessage({ type: 'listening', port: bound } satisfies WorkerMessage);
  } catch (e) {
    port.postMessage({ type: 'failed', error: wire(e) } satisfies WorkerMessage);
    return;
  }
  const reply = (id: number, fn: () => unknown): void => {
    try {
      port.postMessage({ type: 'reply', id, ok: true, value: fn() } satisfies WorkerMessage);
    } catch (e) {
      port.postMessage({ type: 'reply', id, ok: false, error: wire(e) } satisfies WorkerMessage);
    }
  };
  const settle = (id: number, p: Promise<unknown>): void => {
    p.then(
      (value) => port.postMessage({ type: 'reply', id, ok: true, value } satisfies WorkerMessage),
      (e: unknown) => port.postMessage({ type: 'reply', id, ok: false, error: wire(e) } satisfies WorkerMessage),
    );
  };
  port.on('message', (m: HostRequest) => {
    switch (m.op) {
      case 'set': return reply(m.id, () => state.set(m.key, Buffer.from(m.value)));
      case 'get': return reply(m.id, () => state.get(m.key) ?? new Uint8Array(0));
      case 'add': return reply(m.id, () => state.add(m.key, m.amount));
      case 'compareSet': return reply(m.id, () => state.compareSet(m.key, Buffer.from(m.expected), Buffer.from(m.desired)));
      case 'check': return reply(m.id, () => state.check(m.keys));
      case 'delete': return reply(m.id, () => state.delete(m.key));
      case 'numKeys': return reply(m.id, () => state.size);
      case 'wait':
        return settle(m.id, new Promise<void>((resolve, reject) => state.wait(m.keys, m.timeoutMs, (err) => (err ? reject(err) : resolve()), false)));
      case 'waitForJoined':
        return settle(m.id, state.waitForJoined(m.n, m.timeoutMs, () => closed));
      case 'close':
        closed = true;
        return settle(m.id, (async () => {
          const closing = server.close();
          state.failAll(() => createError('ERR_STORE', `store at ${state.where} was closed`));
          await closing;
          port.close();
        })());
    }
  });
}

void main();
