/**
 * DistributedDataParallel (layer: lib/parallel): PyTorch's DDP for node-nccl.
 *
 * Construction checks that every rank has the same parameters (names' order and shapes) and
 * broadcasts rank 0's parameters and buffers; like torch's it returns when that is done (cpu
 * backend: it blocks; nccl: the broadcasts are stream-ordered, only the small check is read back).
 * Each parameter gets a post-accumulate-grad hook; as backward produces gradients, the reducer
 * copies them into flat buckets (reverse registration order, first bucket 1 MiB, then bucketCapMb)
 * and launches each bucket's all-reduce the moment its last gradient is ready, while backward keeps
 * computing the earlier layers. The two ways to end an iteration:
 *
 *     const loss = crossEntropy(ddp.forward(x), y);
 *     loss.backward();           // PyTorch's form: at its end the gradients are averaged (a callback
 *     opt.step();                // queued on the autograd engine blocks for the all-reduces; nccl: stream-ordered)
 *
 *     await ddp.backward(loss);  // the event-loop-friendly form: the same, awaited
 *     opt.step();
 *
 * An un-awaited `ddp.backward(loss)` is finished (blocking) by the next optimizer step, zeroGrad or
 * forward, so gradients are never used half-synchronized.
 */
import { createError, ArgumentError } from '../errors.js';
import { isGradEnabled } from '../autograd/index.js';
import { tensor, Tensor } from '../tensor/index.js';
import type { DeviceLike } from '../tensor/index.js';
import { commFor, type Comm, type ProcessGroup } from './comm.js';
import type { CommHook } from './comm-hooks.js';
import { namedBufs, namedParams, type ForwardArgs, type ForwardResult, type ModuleLike } from './module-like.js';
import { Reducer, wrapCommError, type ReducerEvent } from './reducer.js';
import { Future, StepRunner, type Steps } from './future.js';
import { queueCallback } from '../autograd/index.js';
import { DEFAULT_BUCKET_CAP_MB } from './buckets.js';
import { checkOptions, optionKeys } from '../options.js';

export interface DistributedDataParallelOptions {
  /**
   * The one device the module lives on, e.g. `[localRank]` or `['cuda:1']` (default: none — the
   * module stays where it is, as for CPU modules). The module must already be there
   * (`model.to(device)`), as in PyTorch; inputs given to forward are moved there.
   */
  deviceIds?: readonly (number | DeviceLike)[];
  /** Where forward's output tensors are moved (default: deviceIds[0], i.e. left where they are). */
  outputDevice?: number | DeviceLike;
  /** Broadcast rank 0's buffers (e.g. running statistics) after every synchronized iteration (default true). */
  broadcastBuffers?: boolean;
  /** Bucket size cap in MiB (default 25); the first bucket is capped at 1 MiB. */
  bucketCapMb?: number;
  /**
   * Allow parameters that take no part in some iterations' loss: they are reduced with zero
   * gradients, and a parameter unused on every rank keeps its .grad untouched (default false:
   * an unused parameter is an error that names it).
   */
  findUnusedParameters?: boolean;
  /** Make each .grad a view into its bucket, saving one copy and the gradients' memory (default false). */
  gradientAsBucketView?: boolean;
  /**
   * The set of used parameters is the same every iteration: parameters unused in the first
   * iteration are remembered and reduced with zeros afterwards, and the buckets are rebuilt even
   * with findUnusedParameters (default false).
   */
  staticGraph?: boolean;
  /** The process group to reduce over (default: the default group). */
  processGroup?: ProcessGroup;
}

export interface JoinOptions {
  /** Join uneven inputs (default true); false runs fn as is. */
  enable?: boolean;
  /** Throw on every rank as soon as one rank runs out of inputs, instead of shadowing it (default false). */
  throwOnEarlyTermination?: boolean;
}

const DDP_OPTIONS = optionKeys<DistributedDataParallelOptions>({
  deviceIds: true, outputDevice: true, broadcastBuffers: true, bucketCapMb: true, findUnusedParameters: true,
  gradientAsBucketView: true, staticGraph: true, processGroup: true,
});
const JOIN_OPTIONS = optionKeys<JoinOptions>({ enable: true, throwOnEarlyTermination: true });

/** Statistics, as torch's `_get_ddp_logging_data()`. */
export interface DdpLoggingData {
  worldSize: number;
  rank: number;
  bucketCapMb: number;
  bucketSizes: number[];
  bucketParams: string[][];
  iterations: number;
  rebuiltBuckets: boolean;
  findUnusedParameters: boolean;
  gradientAsBucketView: boolean;
}

function toDeviceLike(d: number | DeviceLike): DeviceLike {
  return typeof d === 'number' ? `cuda:${d}` : d;
}

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const MAX_NDIM = 8;
const ROW = 2 + MAX_NDIM; // [ndim, nameHash, d0..d7]

export class DistributedDataParallel<M extends ModuleLike = ModuleLike> {
  /** The wrapped model (save `ddp.module.stateDict()`, as `model.module.state_dict()`). */
  readonly module: M;
  /**
   * Resolves when construction's cross-rank checks and broadcasts are done: at once, since the
   * constructor waits for them (except with NODE_NCCL_DEBUG=detail, where they are asynchronous).
   */
  readonly ready: Promise<void>;
  readonly broadcastBuffers: boolean;
  readonly bucketCapMb: number;
  readonly findUnusedParameters: boolean;
  readonly gradientAsBucketView: boolean;
  readonly staticGraph: boolean;
  readonly device: DeviceLike | undefined;
  readonly outputDevice: DeviceLike | undefined;
  private readonly comm: Comm;
  private readonly reducer: Reducer;
  private readonly paramNames: string[];
  private readonly hookHandles: { remove(): void }[] = [];
  private initState: 'pending' | 'ready' | 'failed' = 'pending';
  private initError: unknown = null;
  private requireBackwardGradSync = true;
  private joinState: { throwOnEarlyTermination: boolean } | null = null;
  /** The end of the current iteration, once started (awaited by finishGradientSync, or run blocking). */
  private finishing: StepRunner<void> | null = null;
  /** Inside ddp.backward(loss): the engine callback leaves the end of the iteration to the await. */
  private asyncBackward = false;

  /** Wraps and awaits construction: `const ddp = await DistributedDataParallel.create(model, opts)`. */
  static async create<M extends ModuleLike>(module: M, opts: DistributedDataParallelOptions = {}): Promise<DistributedDataParallel<M>> {
    const ddp = new DistributedDataParallel(module, opts);
    await ddp.ready;
    return ddp;
  }

  constructor(module: M, opts: DistributedDataParallelOptions = {}) {
    opts = checkOptions(opts, DDP_OPTIONS, 'DistributedDataParallel');
    if (!module || typeof module.namedParameters !== 'function' || typeof module.forward !== 'function') {
      throw new ArgumentError('DistributedDataParallel: expected an nn.Module (with namedParameters() and forward())');
    }
    this.module = module;
    this.broadcastBuffers = opts.broadcastBuffers ?? true;
    this.bucketCapMb = opts.bucketCapMb ?? DEFAULT_BUCKET_CAP_MB;
    this.findUnusedParameters = opts.findUnusedParameters ?? false;
    this.gradientAsBucketView = opts.gradientAsBucketView ?? false;
    this.staticGraph = opts.staticGraph ?? false;
    if (!(typeof this.bucketCapMb === 'number' && this.bucketCapMb > 0 && Number.isFinite(this.bucketCapMb))) {
      throw new ArgumentError(`DistributedDataParallel: bucketCapMb must be a positive number, got ${String(opts.bucketCapMb)}`);
    }
    if (opts.deviceIds !== undefined) {
      if (!Array.isArray(opts.deviceIds) || opts.deviceIds.length !== 1) {
        throw new ArgumentError(
          `DistributedDataParallel: deviceIds must list exactly one device (one process per device), got ${JSON.stringify(opts.deviceIds)}; ` +
            'for several devices in one process use DataParallel',
        );
      }
      this.device = toDeviceLike(opts.deviceIds[0]!);
    }
    this.outputDevice = opts.outputDevice === undefined ? undefined : toDeviceLike(opts.outputDevice);

    // Trainable parameters, each once (shared parameters are reduced once).
    const seen = new Set<Tensor>();
    const params: { name: string; tensor: Tensor }[] = [];
    for (const [name, t] of namedParams(module)) {
      if (!t.requiresGrad || seen.has(t)) continue;
      seen.add(t);
      params.push({ name, tensor: t });
    }
    if (params.length === 0) {
      throw new ArgumentError(
        "DistributedDataParallel is not needed when a module doesn't have any parameter that requires a gradient: " +
          'the module has no trainable parameters (all are frozen with requiresGrad = false, or it has none)',
      );
    }
    if (this.device !== undefined) {
      const want = String(this.device === 'cuda' ? params[0]!.tensor.device : this.device);
      const wrong = params.find((p) => p.tensor.device.toString() !== want);
      if (wrong) {
        throw createError(
          'ERR_DEVICE_MISMATCH',
          `DistributedDataParallel: deviceIds is [${want}] but parameter '${wrong.name}' is on ${wrong.tensor.device.toString()}; ` +
            `move the module there first (model.to('${want}')), as with PyTorch`,
        );
      }
    }
    this.paramNames = params.map((p) => p.name);
    this.comm = commFor(opts.processGroup, 'DistributedDataParallel');
    this.reducer = new Reducer(params, this.comm, {
      bucketCapMb: this.bucketCapMb,
      findUnusedParameters: this.findUnusedParameters,
      gradientAsBucketView: this.gradientAsBucketView,
      staticGraph: this.staticGraph,
    });
    params.forEach((p, i) => {
      this.hookHandles.push(p.tensor.registerPostAccumulateGradHook(() => this.reducer.markReady(i)));
      p.tensor._gradSync = () => this.settlePending();
    });
    // torch's reducer queues finalize_backward on the autograd engine at the first gradient
    this.reducer.onFirstReady = () => {
      if (!this.asyncBackward) queueCallback(() => this.startFinish().runSync());
    };
    const init = new StepRunner(this.initialSync());
    if (this.comm.syncWait) {
      try {
        init.runSync();
      } catch (e) {
        this.dispose();
        throw e;
      }
      this.initState = 'ready';
      this.ready = Promise.resolve();
      return;
    }
    this.ready = init.runAsync().then(
      () => {
        this.initState = 'ready';
      },
      (e: unknown) => {
        this.initState = 'failed';
        this.initError = e;
        throw e;
      },
    );
    // forward() reports a failed construction too, so an un-awaited `ready` is not an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Verifies parameters across ranks, then broadcasts rank 0's parameters and buffers. */
  private *initialSync(): Steps<void> {
    const params = this.reducer.params;
    const size = this.comm.size;
    const dev = params[0]!.tensor.device;
    // 1. [count, hash of all (name, shape)] from every rank.
    const sig = params.map((p) => `${p.name}:${p.tensor.shape.join('x')}:${p.tensor.dtype}`).join('|');
    const head = tensor(Float64Array.from([params.length, hash32(sig)]), { dtype: 'float64', device: dev });
    const heads = Array.from({ length: size }, () => tensor(new Float64Array(2), { dtype: 'float64', device: dev }));
    yield this.comm.allGather(heads, head);
    const headVals = heads.map((h) => Array.from(h.dataSync() as Float64Array));
    if (headVals.some((h) => h[0] !== headVals[0]![0] || h[1] !== headVals[0]![1])) {
      // 2. Per-parameter rows, to name the first disagreement.
      const maxCount = Math.max(...headVals.map((h) => h[0]!));
      const mine = new Float64Array(maxCount * ROW).fill(-1);
      params.forEach((p, i) => {
        const shape = p.tensor.shape;
        mine[i * ROW] = shape.length;
        mine[i * ROW + 1] = hash32(`${p.name}:${p.tensor.dtype}`);
        shape.slice(0, MAX_NDIM).forEach((d, k) => (mine[i * ROW + 2 + k] = d));
      });
      const rows = Array.from({ length: size }, () => tensor(new Float64Array(maxCount * ROW), { dtype: 'float64', device: dev }));
      yield this.comm.allGather(rows, tensor(mine, { dtype: 'float64', device: dev }));
      const all = rows.map((r) => r.dataSync() as Float64Array);
      throw this.mismatchError(headVals.map((h) => h[0]!), all);
    }
    // 3. Rank 0's parameters and buffers everywhere.
    const bufs = this.broadcastBuffers ? namedBufs(this.module).map(([, t]) => t) : [];
    const works = [...params.map((p) => p.tensor), ...bufs].map((t) => this.comm.broadcast(t, 0));
    for (const w of works) yield w;
  }

  private mismatchError(counts: number[], rows: Float64Array[]): Error {
    const describe = (r: number, i: number): string => {
      if (i >= counts[r]!) return '(missing)';
      const row = rows[r]!;
      const nd = row[i * ROW]!;
      const dims = Array.from(row.subarray(i * ROW + 2, i * ROW + 2 + Math.min(nd, MAX_NDIM)));
      return `[${dims.join(', ')}]`;
    };
    const maxCount = Math.max(...counts);
    for (let i = 0; i < maxCount; i++) {
      const keys = rows.map((row, r) => (i < counts[r]! ? Array.from(row.subarray(i * ROW, (i + 1) * ROW)).join(',') : 'missing'));
      if (keys.every((k) => k === keys[0])) continue;
      const groups = new Map<string, number[]>();
      keys.forEach((k, r) => groups.set(k, [...(groups.get(k) ?? []), r]));
      const parts = [...groups.values()].map((ranks) => `${describe(ranks[0]!, i)} on rank${ranks.length > 1 ? 's' : ''} ${ranks.join(', ')}`);
      const name = this.paramNames[i] ?? `#${i}`;
      const nameNote = new Set(rows.map((row, r) => (i < counts[r]! ? row[i * ROW + 1] : -2))).size > 1 ? ' (its name or dtype also differs across ranks)' : '';
      return createError(
        'ERR_SHAPE_MISMATCH',
        `DistributedDataParallel: the ranks' models differ: parameter ${i} ('${name}' on rank ${this.comm.rank})${nameNote} has shape ` +
          `${parts.join(' but ')}. ${counts.some((c) => c !== counts[0]) ? `Parameter counts per rank: ${counts.join(', ')}. ` : ''}` +
          'Every rank must build the same model (same layers, sizes and order) before wrapping it in DistributedDataParallel.',
        { parameterIndex: i, parameterName: name },
      );
    }
    return createError('ERR_SHAPE_MISMATCH', `DistributedDataParallel: the ranks' parameter lists differ (counts per rank: ${counts.join(', ')})`);
  }

  private checkReady(who: string): void {
    if (this.initState === 'ready') return;
    if (this.initState === 'failed') throw this.initError;
    throw createError(
      'ERR_DIST',
      `DistributedDataParallel.${who}: construction has not finished its cross-rank checks and broadcast ` +
        '(with NODE_NCCL_DEBUG=detail they run asynchronously); `await ddp.ready` first, or build it with ' +
        '`await DistributedDataParallel.create(model, opts)`',
    );
  }

  private moveTo(x: unknown, device: DeviceLike): unknown {
    if (x instanceof Tensor) return x.device.toString() === String(device) ? x : x.to(device);
    if (Array.isArray(x)) return x.map((v) => this.moveTo(v, device));
    return x;
  }

  /** Runs the module's forward (inputs moved to deviceIds[0]) and prepares the gradient sync. */
  forward(...args: ForwardArgs<M>): ForwardResult<M> {
    this.checkReady('forward');
    this.settlePending();
    if (isGradEnabled() && this.requireBackwardGradSync) {
      this.reducer.prepareForBackward();
      if (this.joinState) this.reducer.preSync.push(this.notifyJoin(1));
    } else {
      this.reducer.expectHooks = false;
    }
    const inputs = (this.device !== undefined ? args.map((a) => this.moveTo(a, this.device!)) : args) as never[];
    const out = (this.module.forward as (...a: never[]) => unknown)(...inputs);
    return (this.outputDevice !== undefined ? this.moveTo(out, this.outputDevice) : out) as ForwardResult<M>;
  }

  /**
   * Makes the next backward synchronize the gradients, as a forward outside noSync() does
   * (torch's `reducer.prepare_for_backward`): for loops that run several forwards inside
   * noSync() and want one backward to reduce what all of them accumulated. Pipeline stages
   * call it before their last micro-batch's backward.
   */
  prepareForBackward(): void {
    this.checkReady('prepareForBackward');
    this.settlePending();
    this.reducer.prepareForBackward();
  }

  /**
   * The event-loop-friendly `loss.backward()`: gradients averaged across ranks when it resolves
   * (`loss.backward()` alone does the same, blocking at its end).
   */
  async backward(loss: Tensor, gradient?: Tensor): Promise<void> {
    this.asyncBackward = true;
    try {
      if (gradient === undefined) loss.backward();
      else loss.backward(gradient);
    } finally {
      this.asyncBackward = false;
    }
    await this.finishGradientSync();
  }

  /**
   * Waits for the buckets' all-reduces launched during backward and writes the averaged gradients
   * into each parameter's `.grad`. Resolves at once when there is nothing to finish: after a
   * PyTorch-style `loss.backward()` (which finished the iteration itself) or one inside noSync().
   */
  async finishGradientSync(): Promise<void> {
    const run = this.startFinish();
    try {
      await run.runAsync();
    } finally {
      if (this.finishing === run) this.finishing = null;
    }
  }

  /** The end of the current iteration (joined when it has already started). */
  private startFinish(): StepRunner<void> {
    if (this.finishing && !this.finishing.finished) return this.finishing;
    const run = new StepRunner(this.iterationEnd());
    this.finishing = run;
    return run;
  }

  private *iterationEnd(): Steps<void> {
    const syncing = this.reducer.expectHooks;
    yield* this.reducer.finalize();
    if (syncing) yield* this.bufferSync();
  }

  /**
   * Finishes, blocking, an iteration whose gradient sync is still in flight (an un-awaited
   * `ddp.backward(loss)`): the optimizer's step and zeroGrad and the next forward call it.
   */
  private settlePending(): void {
    const run = this.finishing;
    if (!run || run.finished) return;
    this.finishing = null;
    run.runSync();
  }

  /** Broadcasts rank 0's buffers (done after every synchronized iteration when broadcastBuffers). */
  async syncBuffers(): Promise<void> {
    await new StepRunner(this.bufferSync()).runAsync();
  }

  private *bufferSync(): Steps<void> {
    if (!this.broadcastBuffers) return;
    const bufs = namedBufs(this.module);
    if (bufs.length === 0) return;
    const works = bufs.map(([, t]) => this.comm.broadcast(t, 0));
    for (const w of works) {
      try {
        yield w;
      } catch (e) {
        throw wrapCommError(e, 'the buffer broadcast');
      }
    }
  }

  /**
   * Runs fn with gradient synchronization off: backward passes inside only accumulate into
   * `.grad`; the first synchronized backward after it reduces the accumulated sum. fn may be async.
   */
  noSync<T>(fn: () => T): T {
    const prev = this.requireBackwardGradSync;
    this.requireBackwardGradSync = false;
    const restore = (): void => {
      this.requireBackwardGradSync = prev;
    };
    let r: T;
    try {
      r = fn();
    } catch (e) {
      restore();
      throw e;
    }
    if (r && typeof (r as { then?: unknown }).then === 'function') {
      return (r as unknown as PromiseLike<unknown>).then(
        (v) => {
          restore();
          return v;
        },
        (e: unknown) => {
          restore();
          throw e;
        },
      ) as T;
    }
    restore();
    return r;
  }

  private notifyJoin(flag: 0 | 1): Future<number> {
    const t = tensor(Float32Array.from([flag]), { dtype: 'float32', device: this.reducer.buckets[0]!.buffer.device });
    const w = this.comm.allReduceSum(t);
    const p = Future.of(w, () => {
      const v = (t.dataSync() as Float32Array)[0]!;
      t.dispose();
      if (flag === 1 && this.joinState?.throwOnEarlyTermination && v < this.comm.size) {
        throw createError(
          'ERR_DIST',
          `DistributedDataParallel.join: ${this.comm.size - v} rank(s) ran out of inputs before rank ${this.comm.rank} ` +
            '(throwOnEarlyTermination is set)',
        );
      }
      return v;
    });
    return p;
  }

  /**
   * Trains on uneven inputs (torch's `with model.join():`): run the training loop inside fn on every
   * rank. A rank whose loop ends first keeps shadowing the others' collectives with zero gradients
   * until every rank is done, so nothing hangs; gradients are still divided by the full world size.
   * At the end the model of the last rank to finish is broadcast to all (optimizer state is local,
   * as in torch: an optimizer with momentum keeps each rank's own buffers).
   */
  async join<T>(fn: () => Promise<T> | T, opts: JoinOptions = {}): Promise<T> {
    opts = checkOptions(opts, JOIN_OPTIONS, 'DistributedDataParallel.join');
    this.checkReady('join');
    if (!(opts.enable ?? true)) return fn();
    if (this.joinState) throw createError('ERR_INVALID_ARG', 'DistributedDataParallel.join: already inside join()');
    this.joinState = { throwOnEarlyTermination: opts.throwOnEarlyTermination ?? false };
    try {
      const result = await fn();
      await this.shadowUntilAllJoined();
      return result;
    } finally {
      this.joinState = null;
    }
  }

  private async shadowUntilAllJoined(): Promise<void> {
    let lastJoiner = true;
    for (;;) {
      const active = await this.notifyJoin(0);
      if (active === 0) {
        await this.syncFinalModel(lastJoiner);
        return;
      }
      lastJoiner = false;
      const shadows = this.reducer.shadowBuckets();
      const results: unknown[] = [];
      for (let i = 0; i < shadows.length; i++) {
        try {
          results.push(await shadows[i]);
        } catch (e) {
          throw wrapCommError(e, `the join shadow of bucket ${i}`);
        }
      }
      if (this.reducer.needsUsedBitmap) {
        const z = tensor(new Float32Array(this.reducer.params.length), { dtype: 'float32', device: this.reducer.buckets[0]!.buffer.device });
        await this.comm.allReduceSum(z);
        z.dispose();
      }
      if (this.reducer.needsRebuild) await new StepRunner(this.reducer.rebuildFromArrival([])).runAsync();
      await this.syncBuffers();
      if (this.joinState?.throwOnEarlyTermination) {
        throw createError('ERR_DIST', `DistributedDataParallel.join: rank ${this.comm.rank} ran out of inputs before ${active} other rank(s) (throwOnEarlyTermination is set)`);
      }
    }
  }

  /**
   * After join: the ranks that joined early stopped stepping their optimizer, so the model of the
   * last rank to run out of inputs (the highest rank among them) is broadcast to all, as torch does.
   */
  private async syncFinalModel(lastJoiner: boolean): Promise<void> {
    const dev = this.reducer.buckets[0]!.buffer.device;
    const votes = new Float32Array(this.comm.size);
    if (lastJoiner) votes[this.comm.rank] = 1;
    const t = tensor(votes, { dtype: 'float32', device: dev });
    await this.comm.allReduceSum(t);
    const v = (await t.data()) as Float32Array;
    t.dispose();
    let src = 0;
    v.forEach((x, r) => {
      if (x > 0) src = r;
    });
    const tensors = [...this.reducer.params.map((p) => p.tensor), ...namedBufs(this.module).map(([, b]) => b)];
    const works = tensors.map((x) => this.comm.broadcast(x, src));
    for (const w of works) {
      try {
        await w;
      } catch (e) {
        throw wrapCommError(e, 'the final model broadcast of join()');
      }
    }
  }

  /** Registers a communication hook (once, before the first backward); see comm-hooks.ts. */
  registerCommHook<S>(state: S, hook: CommHook<S>): void {
    if (typeof hook !== 'function') throw new ArgumentError('DistributedDataParallel.registerCommHook: hook must be a function (state, bucket) => Promise<Tensor>');
    this.reducer.registerCommHook(state, hook as CommHook<unknown>);
  }

  /** Instrumentation (tests, profiling): called on each gradient arrival and bucket launch/completion. */
  setEventListener(fn: ((e: ReducerEvent) => void) | null): void {
    this.reducer.onEvent = fn;
  }

  getLoggingData(): DdpLoggingData {
    return {
      worldSize: this.comm.size,
      rank: this.comm.rank,
      bucketCapMb: this.bucketCapMb,
      bucketSizes: this.reducer.buckets.map((b) => b.plan.bytes),
      bucketParams: this.reducer.bucketParams().map((ps) => ps.map((i) => this.paramNames[i]!)),
      iterations: this.reducer.iterationCount,
      rebuiltBuckets: this.reducer.rebuilt,
      findUnusedParameters: this.findUnusedParameters,
      gradientAsBucketView: this.gradientAsBucketView,
    };
  }

  /** The wrapped module's parameters. */
  parameters(): Tensor[] {
    return namedParams(this.module).map(([, t]) => t);
  }

  /** Parameters named as PyTorch's DDP names them: 'module.' + the module's name. */
  namedParameters(): [string, Tensor][] {
    return namedParams(this.module).map(([n, t]) => [`module.${n}`, t]);
  }

  train(mode = true): this {
    this.module.train?.(mode);
    return this;
  }

  eval(): this {
    this.module.eval?.();
    return this;
  }

  /** Removes the gradient hooks and frees the buckets; the module keeps working on its own. */
  dispose(): void {
    for (const p of this.reducer.params) if (p.tensor._gradSync) p.tensor._gradSync = null;
    for (const h of this.hookHandles) h.remove();
    this.hookHandles.length = 0;
    this.reducer.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

