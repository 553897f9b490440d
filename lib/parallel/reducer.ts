/**
 * The DDP reducer (layer: lib/parallel): owns the gradient buckets, reacts to each parameter's
 * post-accumulate-grad hook, launches a bucket's communication hook the moment its last gradient
 * is ready (buckets strictly in order, so every rank issues the same collectives in the same
 * order), and at the end of the iteration waits for the results and writes them into `.grad`.
 *
 * One iteration: prepareForBackward() (from DDP's forward) → markReady(i) for every parameter as
 * backward produces its gradient → finalize(), a generator of the collectives to wait for, which DDP
 * runs blocking at the end of `loss.backward()` or awaited by `ddp.finishGradientSync()`.
 */
import { createError } from '../errors.js';
import { noGrad } from '../autograd/index.js';
import { tensor, zeros, type Tensor } from '../tensor/index.js';
import { planBuckets, type Bucket } from './buckets.js';
import type { Comm } from './comm.js';
import { allreduceHook, type CommHook, type GradBucket } from './comm-hooks.js';
import { Future, type Steps } from './future.js';
import { DTYPE_BYTES } from './module-like.js';

export interface ReducerOptions {
  bucketCapMb: number;
  findUnusedParameters: boolean;
  gradientAsBucketView: boolean;
  staticGraph: boolean;
}

interface ParamEntry {
  name: string;
  tensor: Tensor;
  numel: number;
  key: string;
}

interface BucketState {
  plan: Bucket;
  /** Element offset of each of plan.params inside buffer. */
  offsets: number[];
  numel: number;
  buffer: Tensor;
  views: Tensor[];
  pending: number;
  /** The hook's result once launched (a failure is kept until finalize reports it). */
  result: Future<Tensor> | null;
}

/** An instrumentation event (used by tests and by `ddp.getLoggingData()`). */
export type ReducerEvent =
  | { type: 'grad-ready'; param: number; name: string }
  | { type: 'bucket-launch'; bucket: number }
  | { type: 'bucket-done'; bucket: number }
  | { type: 'rebuild'; order: number[] };

export class Reducer {
  readonly params: ParamEntry[];
  buckets: BucketState[] = [];
  private paramBucket: Int32Array;
  private paramSlot: Int32Array;
  private hook: { state: unknown; fn: CommHook<unknown> } = { state: null, fn: allreduceHook };
  private hookRegistered = false;

  // Iteration state.
  /** Set by DDP's forward when this iteration's backward must synchronize gradients. */
  expectHooks = false;
  private ready: Uint8Array;
  private nextToLaunch = 0;
  private arrival: number[] = [];
  private anyReady = false;
  /** Collectives DDP's forward enqueued for this iteration (the join notification). */
  preSync: Future<unknown>[] = [];
  /** Called when the first gradient of a synchronized backward arrives (DDP queues the end of backward). */
  onFirstReady: (() => void) | null = null;

  // Across iterations.
  private hasRebuilt = false;
  private iterations = 0;
  private staticUnused: Set<number> | null = null;
  onEvent: ((e: ReducerEvent) => void) | null = null;

  constructor(
    params: { name: string; tensor: Tensor }[],
    private readonly comm: Comm,
    private readonly opts: ReducerOptions,
  ) {
    this.params = params.map(({ name, tensor }) => {
      const bytes = DTYPE_BYTES[tensor.dtype];
      if (bytes === undefined) throw createError('ERR_DTYPE', `DistributedDataParallel: parameter '${name}' has unsupported dtype ${tensor.dtype}`);
      return { name, tensor, numel: tensor.numel(), key: `${tensor.dtype}@${tensor.device.toString()}` };
    });
    this.ready = new Uint8Array(this.params.length);
    this.paramBucket = new Int32Array(this.params.length);
    this.paramSlot = new Int32Array(this.params.length);
    this.build(undefined);
  }

  get bucketCount(): number {
    return this.buckets.length;
  }

  /** Parameter indices of each bucket, in launch order. */
  bucketParams(): number[][] {
    return this.buckets.map((b) => [...b.plan.params]);
  }

  get iterationCount(): number {
    return this.iterations;
  }

  get rebuilt(): boolean {
    return this.hasRebuilt;
  }

  private build(order: number[] | undefined): void {
    for (const b of this.buckets) b.buffer.dispose();
    const plans = planBuckets(
      this.params.map((p) => ({ numel: p.numel, elementSize: DTYPE_BYTES[p.tensor.dtype]!, key: p.key })),
      { bucketCapMb: this.opts.bucketCapMb, order },
    );
    this.buckets = plans.map((plan, bi) => {
      const first = this.params[plan.params[0]!]!.tensor;
      let off = 0;
      const offsets = plan.params.map((pi, slot) => {
        this.paramBucket[pi] = bi;
        this.paramSlot[pi] = slot;
        const o = off;
        off += this.params[pi]!.numel;
        return o;
      });
      const buffer = zeros([off], { dtype: first.dtype, device: first.device });
      const views = plan.params.map((pi, slot) => buffer.narrow(0, offsets[slot]!, this.params[pi]!.numel).view([...this.params[pi]!.tensor.shape]));
      return { plan, offsets, numel: off, buffer, views, pending: plan.params.length, result: null };
    });
  }

  registerCommHook(state: unknown, fn: CommHook<unknown>): void {
    if (this.hookRegistered) {
      throw createError('ERR_INVALID_ARG', 'DistributedDataParallel.registerCommHook: a communication hook is already registered (it can be registered only once)');
    }
    if (this.iterations > 0 || this.anyReady) {
      throw createError('ERR_INVALID_ARG', 'DistributedDataParallel.registerCommHook: register the hook before the first backward');
    }
    this.hook = { state, fn };
    this.hookRegistered = true;
  }

  /** True between the first gradient of a synchronized backward and finalize(). */
  get inFlight(): boolean {
    return this.anyReady;
  }

  prepareForBackward(): void {
    if (this.anyReady) {
      const launched = this.buckets.filter((b) => b.result).length;
      throw createError(
        'ERR_DIST',
        `DistributedDataParallel: a new forward started while the previous backward's gradients are not synchronized ` +
          `(${launched} of ${this.buckets.length} buckets launched). Call \`await ddp.finishGradientSync()\` ` +
          '(or use `await ddp.backward(loss)`) after each backward and before the optimizer step; to accumulate ' +
          'gradients locally over several backward passes, run them inside `ddp.noSync(...)`.',
      );
    }
    this.expectHooks = true;
  }

  /** The post-accumulate-grad hook of parameter i. */
  markReady(i: number): void {
    if (!this.expectHooks) return;
    const p = this.params[i]!;
    if (this.ready[i]) {
      throw createError(
        'ERR_AUTOGRAD',
        `DistributedDataParallel: parameter '${p.name}' received a gradient twice in one iteration (backward() ran twice ` +
          'between forward and finishGradientSync(), or the parameter is reached by a reentrant backward). Synchronize after each ' +
          'backward with `await ddp.finishGradientSync()`, or accumulate with `ddp.noSync(...)`.',
      );
    }
    this.ready[i] = 1;
    const first = !this.anyReady;
    this.anyReady = true;
    if (first) this.onFirstReady?.();
    this.arrival.push(i);
    this.onEvent?.({ type: 'grad-ready', param: i, name: p.name });
    const b = this.buckets[this.paramBucket[i]!]!;
    if (this.opts.gradientAsBucketView) this.adoptGradIntoView(i, b);
    if (--b.pending === 0) this.launchReady();
  }

  private adoptGradIntoView(i: number, b: BucketState): void {
    const p = this.params[i]!;
    const view = b.views[this.paramSlot[i]!]!;
    const g = p.tensor.grad;
    if (g && g !== view) {
      noGrad(() => view.copy_(g));
      p.tensor.grad = view;
    }
  }

  /** Launches, in order, every bucket whose gradients are all ready. */
  private launchReady(): void {
    while (this.nextToLaunch < this.buckets.length && this.buckets[this.nextToLaunch]!.pending === 0) {
      this.launch(this.nextToLaunch++);
    }
  }

  private fill(b: BucketState): void {
    noGrad(() => {
      b.plan.params.forEach((pi, slot) => {
        const view = b.views[slot]!;
        const g = this.params[pi]!.tensor.grad;
        if (!g) view.zero_();
        else if (g !== view) view.copy_(g);
      });
    });
  }

  private gradBucket(bi: number, b: BucketState): GradBucket {
    return {
      index: () => bi,
      buffer: () => b.buffer,
      gradients: () => b.views,
      parameters: () => b.plan.params.map((pi) => this.params[pi]!.tensor),
      isLast: () => bi === this.buckets.length - 1,
      comm: () => this.comm,
    };
  }

  private launch(bi: number): void {
    const b = this.buckets[bi]!;
    this.fill(b);
    this.onEvent?.({ type: 'bucket-launch', bucket: bi });
    b.result = this.runHook(bi, b);
  }

  private runHook(bi: number, b: BucketState): Future<Tensor> {
    try {
      return asFuture(this.hook.fn(this.hook.state, this.gradBucket(bi, b)));
    } catch (e) {
      return Future.fromPromise(Promise.reject(e), 'the communication hook'); // reported by finalize
    }
  }

  /** Runs the iteration's collectives with zero gradients (a rank that has joined: shadowing). */
  shadowBuckets(): Future<Tensor>[] {
    return this.buckets.map((b, bi) => {
      noGrad(() => b.buffer.zero_());
      return this.runHook(bi, b);
    });
  }

  get needsRebuild(): boolean {
    return !this.hasRebuilt && (!this.opts.findUnusedParameters || this.opts.staticGraph);
  }

  get needsUsedBitmap(): boolean {
    return this.opts.findUnusedParameters;
  }

  /** Resets the iteration (also after a failed one, so the next forward starts clean). */
  private reset(): void {
    this.expectHooks = false;
    this.ready.fill(0);
    this.nextToLaunch = 0;
    this.anyReady = false;
    this.preSync = [];
    for (const b of this.buckets) {
      b.pending = b.plan.params.length;
      b.result = null;
    }
  }

  /** Names of the parameters whose gradients did not arrive this iteration. */
  private unready(): number[] {
    const out: number[] = [];
    this.ready.forEach((r, i) => {
      if (!r) out.push(i);
    });
    return out;
  }

  /**
   * Waits for every bucket and writes the averaged gradients into `.grad`. Also runs the
   * end-of-iteration collectives (used-parameter bitmap, bucket rebuild) in a fixed order.
   * A generator of the collectives to wait for: DDP runs it blocking or awaited (future.ts).
   */
  *finalize(): Steps<void> {
    if (!this.expectHooks) return; // noSync iteration, eval forward, or nothing to do
    if (!this.anyReady) {
      this.reset();
      throw createError(
        'ERR_AUTOGRAD',
        'DistributedDataParallel.finishGradientSync: no gradient arrived since the last forward; call loss.backward() first ' +
          '(or use `await ddp.backward(loss)`)',
      );
    }
    try {
      for (const w of this.preSync) {
        yield w;
        w.wait(); // the join notification's own check (throwOnEarlyTermination)
      }
      let missing = this.unready();
      if (missing.length > 0) {
        const allowed =
          this.opts.findUnusedParameters || (this.opts.staticGraph && this.iterations === 0) ||
          (this.staticUnused !== null && missing.every((i) => this.staticUnused!.has(i)));
        if (!allowed) {
          const names = missing.map((i) => `'${this.params[i]!.name}'`);
          throw createError(
            'ERR_DIST',
            `DistributedDataParallel: ${missing.length} parameter(s) did not receive a gradient in this iteration: ` +
              `${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''} (this rank: ${this.comm.rank}). ` +
              'They were not used to compute the loss, so their buckets can never be reduced. Either make every parameter ' +
              'take part in the loss, or pass `findUnusedParameters: true` to DistributedDataParallel (slower: the unused ' +
              'parameters are found after each backward and reduced with zero gradients).',
            { unusedParameters: missing.map((i) => this.params[i]!.name), rank: this.comm.rank },
          );
        }
        if (this.opts.staticGraph && this.iterations === 0) this.staticUnused = new Set(missing);
        // Mark them ready with zero gradients (their buckets' fill() zeroes them), in bucket order.
        for (const i of missing) {
          this.ready[i] = 1;
          this.buckets[this.paramBucket[i]!]!.pending--;
        }
        this.launchReady();
        missing = [];
      }
      const results: Tensor[] = [];
      for (let bi = 0; bi < this.buckets.length; bi++) {
        const f = this.buckets[bi]!.result!;
        try {
          yield f;
          results.push(f.wait());
        } catch (e) {
          throw wrapCommError(e, `the gradient all-reduce of bucket ${bi}`);
        }
        this.onEvent?.({ type: 'bucket-done', bucket: bi });
      }
      let globallyUnused: Set<number> | null = null;
      if (this.needsUsedBitmap) {
        const bits = new Float32Array(this.params.length);
        for (const i of this.arrival) bits[i] = 1;
        const usedDev = tensor(bits, { dtype: 'float32', device: this.buckets[0]!.buffer.device });
        try {
          yield this.comm.allReduceSum(usedDev);
        } catch (e) {
          throw wrapCommError(e, 'the used-parameter all-reduce (findUnusedParameters)');
        }
        const counts = usedDev.dataSync() as Float32Array;
        globallyUnused = new Set();
        counts.forEach((c, i) => {
          if (c === 0) globallyUnused!.add(i);
        });
        usedDev.dispose();
      }
      noGrad(() => {
        this.buckets.forEach((b, bi) => {
          const r = results[bi]!;
          if (r !== b.buffer) b.buffer.copy_(r);
          b.plan.params.forEach((pi, slot) => {
            if (globallyUnused?.has(pi)) return;
            const p = this.params[pi]!.tensor;
            const view = b.views[slot]!;
            if (this.opts.gradientAsBucketView) {
              p.grad = view;
            } else if (p.grad) {
              p.grad.copy_(view);
            } else {
              p.grad = view.clone();
            }
          });
        });
      });
      if (this.needsRebuild) yield* this.rebuildFromArrival(this.arrival);
      this.iterations++;
    } finally {
      this.arrival = [];
      this.reset();
    }
  }

  /**
   * Rebuilds the buckets from the order gradients arrived on rank 0 (broadcast, so every rank
   * uses the same buckets). Called once, after the first synchronized iteration; a joined rank
   * calls it with an empty order and receives rank 0's.
   */
  *rebuildFromArrival(localArrival: number[]): Steps<void> {
    const n = this.params.length;
    const seen = new Uint8Array(n);
    const order: number[] = [];
    for (const i of localArrival) if (!seen[i]) (seen[i] = 1), order.push(i);
    for (let i = n - 1; i >= 0; i--) if (!seen[i]) order.push(i);
    const td = tensor(Float64Array.from(order), { dtype: 'float64', device: this.buckets[0]!.buffer.device });
    try {
      yield this.comm.broadcast(td, 0);
    } catch (e) {
      throw wrapCommError(e, 'the bucket-rebuild broadcast');
    }
    const agreed = Array.from(td.dataSync() as Float64Array, (x) => Math.round(x));
    td.dispose();
    const gradViews = this.opts.gradientAsBucketView;
    this.build(agreed);
    if (gradViews) {
      // Point .grad at the new buckets' views, keeping the values.
      noGrad(() =>
        this.buckets.forEach((b) =>
          b.plan.params.forEach((pi, slot) => {
            const p = this.params[pi]!.tensor;
            if (p.grad) {
              b.views[slot]!.copy_(p.grad);
              p.grad = b.views[slot]!;
            }
          }),
        ),
      );
    }
    this.hasRebuilt = true;
    this.onEvent?.({ type: 'rebuild', order: agreed });
  }

  dispose(): void {
    for (const b of this.buckets) b.buffer.dispose();
    this.buckets = [];
  }
}

/** Adds context (which collective, and how to fix the usual cause) to a communication failure. */
export function wrapCommError(e: unknown, what: string): Error {
  const err = e as { code?: string; message?: string };
  const code = typeof err?.code === 'string' ? err.code : 'ERR_DIST';
  const hint =
    code === 'ERR_DIST_TIMEOUT' || code === 'ERR_DIST_PEER_FAILURE' || code === 'ERR_DIST_ABORTED'
      ? ' A peer rank failed or did not reach this collective. If the ranks have different numbers of batches (uneven inputs), ' +
        'use DistributedSampler (it pads so every rank gets the same count) or wrap the training loop in `await ddp.join(async () => ...)`.'
      : '';
  const out = createError(
    (['ERR_DIST_TIMEOUT', 'ERR_DIST_PEER_FAILURE', 'ERR_DIST_ABORTED', 'ERR_DIST_MISMATCH', 'ERR_DIST'].includes(code) ? code : 'ERR_DIST') as 'ERR_DIST',
    `DistributedDataParallel: ${what} failed: ${err?.message ?? String(e)}.${hint}`,
  );
  (out as Error & { cause?: unknown }).cause = e;
  return out;
}

/** A communication hook's result as a Future (a Promise can be waited for only once settled). */
function asFuture(r: Future<Tensor> | PromiseLike<Tensor> | Tensor): Future<Tensor> {
  if (r instanceof Future) return r;
  if (r && typeof (r as PromiseLike<Tensor>).then === 'function') return Future.fromPromise(r as PromiseLike<Tensor>, 'the communication hook');
  return Future.resolved(r as Tensor);
}
