/**
 * Futures and step runners (layer: lib/parallel): how DDP runs the same communication code either
 * blocking (PyTorch's `loss.backward()`, the constructor) or awaited (`await ddp.backward(loss)`).
 *
 * - A Waitable is what a collective returns (a Work): `wait()` blocks until it is complete for the
 *   caller (cpu: data in place; nccl: the current stream ordered after it), `await` does not block.
 * - A Future is torch.futures.Future for communication hooks: a Waitable plus the value it yields
 *   once complete (`wait()` returns it).
 * - A StepRunner drives a generator that yields Waitables: runSync() waits for each in turn,
 *   runAsync() awaits each; a runSync() may overtake a runAsync() in flight (it finishes the steps
 *   the async run was waiting for), which is how an un-awaited `ddp.backward(loss)` is completed
 *   by the next optimizer step instead of being raced.
 */
import { createError } from '../errors.js';

export interface Waitable extends PromiseLike<unknown> {
  /** Blocks until complete for the caller; throws the op's error. */
  wait(): unknown;
}

type State<T> = { kind: 'pending' } | { kind: 'ok'; value: T } | { kind: 'failed'; error: unknown };

/** A value that becomes available when some communication completes (torch.futures.Future). */
export class Future<T> implements PromiseLike<T> {
  #state: State<T> = { kind: 'pending' };
  readonly #sync: (() => T) | null;
  readonly #promise: Promise<T>;
  readonly #why: string;

  private constructor(sync: (() => T) | null, promise: Promise<T>, why: string) {
    this.#sync = sync;
    this.#why = why;
    this.#promise = promise.then(
      (value) => {
        if (this.#state.kind === 'pending') this.#state = { kind: 'ok', value };
        return this.#state.kind === 'ok' ? this.#state.value : value;
      },
      (error: unknown) => {
        if (this.#state.kind === 'pending') this.#state = { kind: 'failed', error };
        throw this.#state.kind === 'failed' ? this.#state.error : error;
      },
    );
    this.#promise.catch(() => {}); // reported to whoever waits or awaits
  }

  /**
   * The value of `finish()` once `work` is complete: `finish` runs exactly once, in whichever of
   * wait() and await comes first (e.g. copying a compressed result back into the bucket).
   */
  static of<T>(work: Waitable, finish: () => T): Future<T> {
    let done: State<T> = { kind: 'pending' };
    const once = (): T => {
      if (done.kind === 'ok') return done.value;
      if (done.kind === 'failed') throw done.error;
      try {
        done = { kind: 'ok', value: finish() };
        return done.value;
      } catch (error) {
        done = { kind: 'failed', error };
        throw error;
      }
    };
    const sync = (): T => {
      work.wait();
      return once();
    };
    return new Future(sync, Promise.resolve(work).then(once), '');
  }

  /** An already available value. */
  static resolved<T>(value: T): Future<T> {
    const f = new Future<T>(() => value, Promise.resolve(value), '');
    f.#state = { kind: 'ok', value };
    return f;
  }

  /**
   * A Promise seen as a Future: it can be waited for synchronously only once it has settled (a
   * Promise's continuation needs the event loop), so wait() on a pending one is an error.
   */
  static fromPromise<T>(p: PromiseLike<T>, what: string): Future<T> {
    return new Future<T>(null, Promise.resolve(p), what);
  }

  /** The value, blocking until the communication is complete; throws its error. */
  wait(): T {
    const s = this.#state;
    if (s.kind === 'ok') return s.value;
    if (s.kind === 'failed') throw s.error;
    if (!this.#sync) {
      throw createError(
        'ERR_DIST',
        `${this.#why} returned a Promise that is still pending, and a Promise cannot be waited for synchronously; ` +
          'return a Future (Future.of(work, () => result)) from it, or use the asynchronous form (`await ddp.backward(loss)`)',
      );
    }
    try {
      const value = this.#sync();
      this.#state = { kind: 'ok', value };
      return value;
    } catch (error) {
      this.#state = { kind: 'failed', error };
      throw error;
    }
  }

  /** Whether wait() would return (or throw) without blocking. */
  isCompleted(): boolean {
    return this.#state.kind !== 'pending';
  }

  then<A = T, B = never>(onFulfilled?: ((v: T) => A | PromiseLike<A>) | null, onRejected?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    const s = this.#state;
    if (s.kind === 'ok') return Promise.resolve(s.value).then(onFulfilled, onRejected);
    if (s.kind === 'failed') return Promise.reject(s.error).then(onFulfilled, onRejected);
    return this.#promise.then(onFulfilled, onRejected);
  }
}

/** A step of a StepRunner: a collective to wait for. */
export type Steps<T> = Generator<Waitable, T, void>;

/** Drives a generator of Waitables, blocking (runSync) or awaiting (runAsync). */
export class StepRunner<T> {
  readonly #g: Steps<T>;
  #cur: IteratorResult<Waitable, T> | null = null;
  #step = 0;
  #error: { e: unknown } | null = null;

  constructor(g: Steps<T>) {
    this.#g = g;
  }

  /** True once the generator returned or threw. */
  get finished(): boolean {
    return this.#error !== null || (this.#cur !== null && this.#cur.done === true);
  }

  #advance(failed: boolean, err: unknown): void {
    this.#step++;
    try {
      this.#cur = failed ? this.#g.throw(err) : this.#g.next();
    } catch (e) {
      this.#error = { e };
      throw e;
    }
  }

  #result(): T {
    if (this.#error) throw this.#error.e;
    return (this.#cur as IteratorReturnResult<T>).value;
  }

  /** Runs every remaining step, blocking on each; returns the generator's value or throws its error. */
  runSync(): T {
    if (this.#cur === null && !this.#error) this.#advance(false, undefined);
    while (!this.finished) {
      let failed = false;
      let err: unknown;
      try {
        (this.#cur!.value as Waitable).wait();
      } catch (e) {
        failed = true;
        err = e;
      }
      this.#advance(failed, err);
    }
    return this.#result();
  }

  /** Runs every remaining step, awaiting each (a runSync() meanwhile may finish them). */
  async runAsync(): Promise<T> {
    if (this.#cur === null && !this.#error) this.#advance(false, undefined);
    while (!this.finished) {
      const step = this.#step;
      let failed = false;
      let err: unknown;
      try {
        await this.#cur!.value;
      } catch (e) {
        failed = true;
        err = e;
      }
      if (step !== this.#step) continue; // a runSync() advanced meanwhile
      this.#advance(failed, err);
    }
    return this.#result();
  }
}
