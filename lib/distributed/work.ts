/**
 * Work: the handle every collective returns, like PyTorch's `Work` with `async_op=True`.
 *
 * - `work.wait()` is torch's: it returns when the op is complete for the caller, throwing its
 *   error. On the cpu backend it blocks the thread until the data is in place; on the nccl backend
 *   it makes the current CUDA stream wait for the collective (the host does not wait for the GPU).
 * - `await work` is the asynchronous form: the event loop keeps running meanwhile (other ranks'
 *   traffic in the same process, timers, I/O), and the same ordering holds when it resolves.
 *
 * A failed op never becomes an unhandled rejection by itself: its error waits in `error`, in
 * `wait()` and in `then` for whoever asks.
 */
import { createError } from '../errors.js';

export interface WorkOptions {
  /** Runs after completion, on `wait()` and `await` (e.g. makes the current stream wait on an event). */
  onWait?: () => void;
  /**
   * The blocking wait: returns once the op is complete for the caller (finishing steps included),
   * throws its error otherwise. Absent: wait() on a pending op is an error that says to await it.
   */
  waitSync?: () => void;
  /** Why waitSync is absent (for the error message). */
  noSyncReason?: string;
}

/** The completion of a Work that was complete when it was made. */
const SETTLED: Promise<void> = Promise.resolve();

export class Work implements PromiseLike<void> {
  readonly #done: Promise<void>;
  #settled = false;
  #error: Error | undefined;
  readonly #onWait: (() => void) | undefined;
  readonly #waitSync: (() => void) | undefined;
  readonly #noSyncReason: string | undefined;
  /** A synchronous wait returned: the op is complete for this caller (the Promise may lag). */
  #syncDone = false;

  constructor(done: Promise<void>, opts: WorkOptions = {}) {
    this.#onWait = opts.onWait;
    this.#waitSync = opts.waitSync;
    this.#noSyncReason = opts.noSyncReason;
    if (done === SETTLED) {
      this.#settled = true;
      this.#done = SETTLED;
      return;
    }
    this.#done = done.then(
      () => {
        this.#settled = true;
      },
      (e: unknown) => {
        this.#settled = true;
        this.#error = e instanceof Error ? e : new Error(String(e));
        throw this.#error;
      },
    );
    this.#done.catch(() => {});
  }

  /** A Work that is already complete (isCompleted() is true at once). */
  static completed(opts: WorkOptions = {}): Work {
    return new Work(SETTLED, opts);
  }

  /** A Work that failed with `error` (it rejects only when awaited or waited on). */
  static failed(error: Error): Work {
    return new Work(Promise.reject(error), {
      waitSync: () => {
        throw error;
      },
    });
  }

  /** Whether the op has finished (successfully or not). */
  isCompleted(): boolean {
    return this.#settled || this.#syncDone;
  }

  /** Whether the op finished without an error. */
  isSuccess(): boolean {
    return this.#syncDone || (this.#settled && this.#error === undefined);
  }

  /** The error the op failed with, once it has failed. */
  get error(): Error | undefined {
    return this.#error;
  }

  /**
   * Returns when the op is complete for the caller (cpu: the data is in place; nccl: the current
   * stream is ordered after it), blocking the thread while a cpu op runs; throws the op's error.
   * `await work` is the non-blocking form.
   */
  wait(): void {
    if (this.#syncDone) return;
    if (this.#settled) {
      if (this.#error) throw this.#error;
      this.#onWait?.();
      return;
    }
    if (!this.#waitSync) {
      throw createError(
        'ERR_DIST',
        `work.wait(): this op cannot be waited for synchronously${this.#noSyncReason ? ` (${this.#noSyncReason})` : ''}; ` +
          '`await work` instead',
      );
    }
    try {
      this.#waitSync();
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.#error ??= err;
      this.#settled = true;
      throw err;
    }
    this.#syncDone = true;
  }

  /** The asynchronous wait: resolves when the op is complete for the caller; rejects with its error. */
  async #waitAsync(): Promise<void> {
    await this.#done;
    if (!this.#syncDone) this.#onWait?.();
  }

  then<T1 = void, T2 = never>(
    onFulfilled?: ((value: void) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    // Without an onWait step, wait() is the completion itself: skip its extra Promise hops.
    if (this.#onWait === undefined) return this.#done.then(onFulfilled, onRejected);
    return this.#waitAsync().then(onFulfilled, onRejected);
  }

  catch<T = never>(onRejected?: ((reason: unknown) => T | PromiseLike<T>) | null): Promise<void | T> {
    return this.then(undefined, onRejected);
  }
}
