/**
 * Work: the handle every collective returns, like PyTorch's `Work` with `async_op=True`.
 * It is awaitable (`await dist.allReduce(t)`), and `wait()` resolves when the op is complete for
 * the caller: on the cpu backend that is when the data is in place; on the nccl backend the
 * current CUDA stream is ordered after the collective (the host does not wait for the GPU).
 * A failed op never becomes an unhandled rejection by itself: its error waits in `error` and in
 * `wait()` / `then` for whoever asks.
 */
export interface WorkOptions {
  /** Runs after completion, on `wait()` (e.g. makes the current stream wait on an event). */
  onWait?: () => void;
  /** Resolves when the device work is finished too (nccl); defaults to the completion promise. */
  finished?: Promise<void>;
}

/** The completion of a Work that was complete when it was made. */
const SETTLED: Promise<void> = Promise.resolve();

export class Work implements PromiseLike<void> {
  readonly #done: Promise<void>;
  #settled = false;
  #error: Error | undefined;
  readonly #onWait: (() => void) | undefined;

  constructor(done: Promise<void>, opts: WorkOptions = {}) {
    this.#onWait = opts.onWait;
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
    return new Work(Promise.reject(error));
  }

  /** Whether the op has finished (successfully or not). */
  isCompleted(): boolean {
    return this.#settled;
  }

  /** Whether the op finished without an error. */
  isSuccess(): boolean {
    return this.#settled && this.#error === undefined;
  }

  /** The error the op failed with, once it has failed. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Resolves when the op is complete for the caller; rejects with its error. */
  async wait(): Promise<void> {
    await this.#done;
    this.#onWait?.();
  }

  then<T1 = void, T2 = never>(
    onFulfilled?: ((value: void) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    // Without an onWait step, wait() is the completion itself: skip its extra Promise hops.
    if (this.#onWait === undefined) return this.#done.then(onFulfilled, onRejected);
    return this.wait().then(onFulfilled, onRejected);
  }

  catch<T = never>(onRejected?: ((reason: unknown) => T | PromiseLike<T>) | null): Promise<void | T> {
    return this.wait().catch(onRejected);
  }
}
