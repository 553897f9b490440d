/**
 * PipelineStage (layer: lib/parallel): one stage of a pipeline split across processes, after
 * torch.distributed.pipelining.PipelineStage. Stage i runs on rank i of its process group and
 * talks to its neighbours with point-to-point sends and receives: activations forward (each
 * preceded by a small header: dtype, shape, whether it needs a gradient), gradients backward.
 * A schedule (schedules.ts) decides the order of the micro-batches' forwards and backwards.
 *
 * The stage's module may be a DistributedDataParallel (data parallelism over replicas of the
 * pipeline): its forwards run inside noSync(), and only the last micro-batch's backward
 * synchronizes the gradients, accumulated over all micro-batches (as torch's stage does).
 */
import { createError } from '../../errors.js';
import { noGrad } from '../../autograd/index.js';
import { empty, tensor, zeros, DTYPES, Tensor, type DType } from '../../tensor/index.js';
import { p2pFor, type P2PComm, type Pending, type ProcessGroup } from '../comm.js';
import { DistributedDataParallel } from '../ddp.js';
import { namedParams, type ModuleLike } from '../module-like.js';

import { checkCount } from './microbatch.js';

export interface PipelineStageOptions {
  /** The pipeline's process group: stage i is its rank i (default: the default group). */
  group?: ProcessGroup;
}

/** A module a stage runs (an nn.Module, or a DistributedDataParallel of one): one tensor in, one tensor out. */
export interface StageModule {
  namedParameters(): Iterable<readonly [string, Tensor]>;
  forward(x: Tensor): unknown;
}

const MAX_NDIM = 9;
const HEADER = 3 + MAX_NDIM; // [ndim, dtype, requiresGrad, d0..d8]

interface MicroBatch {
  input: Tensor | null;
  output: Tensor | null;
  loss: Tensor | null;
  outGrad: Tensor | null;
}

export class PipelineStage {
  readonly submod: StageModule;
  readonly stageIndex: number;
  readonly numStages: number;
  readonly device: string;
  readonly isFirst: boolean;
  readonly isLast: boolean;
  readonly group: ProcessGroup | undefined;
  readonly #comm: P2PComm;
  readonly #ddp: DistributedDataParallel | null;
  #mbs: MicroBatch[] = [];
  #sends: Pending[] = [];
  #backward = false;

  constructor(submodule: StageModule, stageIndex: number, numStages: number, device: string | { toString(): string } = 'cpu', opts: PipelineStageOptions = {}) {
    const who = 'PipelineStage';
    if (!submodule || typeof submodule.forward !== 'function' || typeof submodule.namedParameters !== 'function') {
      throw createError('ERR_INVALID_ARG', `${who}: submodule must be an nn.Module (or a DistributedDataParallel of one)`);
    }
    this.numStages = checkCount(who, 'numStages', numStages);
    if (!Number.isSafeInteger(stageIndex) || stageIndex < 0 || stageIndex >= numStages) {
      throw createError('ERR_INVALID_ARG', `${who}: stageIndex must be an integer in [0, ${numStages}), got ${String(stageIndex)}`);
    }
    if (opts === null || typeof opts !== 'object') throw createError('ERR_INVALID_ARG', `${who}: options must be an object`);
    this.#comm = p2pFor(opts.group, who);
    if (this.#comm.size !== numStages) {
      throw createError(
        'ERR_INVALID_ARG',
        `${who}: the pipeline's group has ${this.#comm.size} rank(s) but numStages is ${numStages}: one stage per rank ` +
          '(pass the pipeline\'s own group, e.g. from dist.newGroup, when several pipelines share the job)',
      );
    }
    if (this.#comm.rank !== stageIndex) {
      throw createError('ERR_INVALID_ARG', `${who}: stage ${stageIndex} must run on rank ${stageIndex} of its group, and this process is rank ${this.#comm.rank}`);
    }
    this.submod = submodule;
    this.stageIndex = stageIndex;
    this.isFirst = stageIndex === 0;
    this.isLast = stageIndex === numStages - 1;
    this.device = String(device);
    this.group = opts.group;
    this.#ddp = submodule instanceof DistributedDataParallel ? submodule : null;
  }

  /** @internal A new step of n micro-batches. */
  _begin(n: number, backward: boolean): void {
    this.#mbs = Array.from({ length: n }, () => ({ input: null, output: null, loss: null, outGrad: null }));
    this.#sends = [];
    this.#backward = backward;
  }

  /** @internal Receives micro-batch i's input from the stage before. */
  async _recvForward(i: number): Promise<void> {
    if (this.isFirst) return;
    const h = zeros([HEADER], { dtype: 'int64' });
    await this.#comm.irecv(h, this.stageIndex - 1);
    const v = Array.from(h.dataSync() as BigInt64Array, Number);
    const ndim = v[0]!;
    const dtype = DTYPES[v[1]!] as DType | undefined;
    if (!(ndim >= 0 && ndim <= MAX_NDIM) || dtype === undefined) {
      throw createError('ERR_DIST_MISMATCH', `PipelineStage ${this.stageIndex}: the stage before sent a malformed activation header`);
    }
    const x = empty(v.slice(3, 3 + ndim), { dtype, device: this.device });
    await this.#comm.irecv(x, this.stageIndex - 1);
    if (v[2] === 1 && this.#backward) x.requiresGrad_(true);
    this.#mbs[i]!.input = x;
  }

  /** @internal Runs micro-batch i (the first stage gets it from the schedule); the last stage computes its loss. */
  _forward(i: number, input: Tensor | null, target: Tensor | null, lossFn: ((out: Tensor, target: Tensor) => Tensor) | undefined): Tensor {
    const mb = this.#mbs[i]!;
    if (this.isFirst) mb.input = input!.device.toString() === this.device ? input! : input!.to(this.device);
    const x = mb.input!;
    const fwd = (): unknown => (this.#ddp ? (this.#ddp.forward as (a: Tensor) => unknown).call(this.#ddp, x) : this.submod.forward(x));
    const out = this.#ddp && this.#backward ? this.#ddp.noSync(fwd) : fwd();
    if (!(out instanceof Tensor)) throw createError('ERR_INVALID_ARG', `PipelineStage ${this.stageIndex}: the module's forward must return one Tensor`);
    mb.output = out;
    if (this.isLast && lossFn && target) {
      const loss = lossFn(out, target);
      if (!(loss instanceof Tensor) || loss.numel() !== 1) throw createError('ERR_INVALID_ARG', 'PipelineSchedule: lossFn must return a scalar Tensor');
      mb.loss = loss;
    }
    return out;
  }

  /** @internal Sends micro-batch i's output to the stage after. */
  _sendForward(i: number): void {
    if (this.isLast) return;
    const out = this.#mbs[i]!.output!;
    if (out.ndim > MAX_NDIM) throw createError('ERR_SHAPE_MISMATCH', `PipelineStage ${this.stageIndex}: activations have at most ${MAX_NDIM} dims, got ${out.ndim}`);
    const h = new BigInt64Array(HEADER);
    h[0] = BigInt(out.ndim);
    h[1] = BigInt(DTYPES.indexOf(out.dtype));
    h[2] = out.requiresGrad && this.#backward ? 1n : 0n;
    out.shape.forEach((d, k) => (h[3 + k] = BigInt(d)));
    this.#sends.push(this.#comm.isend(tensor(h), this.stageIndex + 1));
    this.#sends.push(this.#comm.isend(out.detach(), this.stageIndex + 1));
  }

  /** @internal Receives the gradient of micro-batch i's output from the stage after. */
  async _recvBackward(i: number): Promise<void> {
    const mb = this.#mbs[i]!;
    if (this.isLast || !mb.output!.requiresGrad) return;
    const g = empty([...mb.output!.shape], { dtype: mb.output!.dtype, device: this.device });
    await this.#comm.irecv(g, this.stageIndex + 1);
    mb.outGrad = g;
  }

  /** @internal Backward of micro-batch i; the last micro-batch's backward synchronizes DDP's gradients. */
  async _backward(i: number, last: boolean): Promise<void> {
    const mb = this.#mbs[i]!;
    const run = (): void => {
      if (this.isLast) {
        if (mb.loss) mb.loss.backward();
      } else if (mb.outGrad) {
        mb.output!.backward(mb.outGrad);
      }
    };
    if (this.#ddp && last) {
      this.#ddp.prepareForBackward();
      run();
      await this.#ddp.finishGradientSync();
    } else {
      run();
    }
    mb.output = null;
    mb.outGrad = null;
  }

  /** @internal Sends the gradient of micro-batch i's input to the stage before. */
  _sendBackward(i: number): void {
    const mb = this.#mbs[i]!;
    if (!this.isFirst && mb.input && mb.input.requiresGrad) {
      const g = mb.input.grad ?? zeros([...mb.input.shape], { dtype: mb.input.dtype, device: this.device });
      this.#sends.push(this.#comm.isend(g, this.stageIndex - 1));
    }
    mb.input = null;
  }

  /** @internal The step's losses (last stage); waits for every send; scales the gradients. */
  async _end(scale: number): Promise<Tensor[]> {
    await Promise.all(this.#sends);
    this.#sends = [];
    if (this.#backward && scale !== 1) {
      noGrad(() => {
        for (const [, p] of namedParams(this.submod as ModuleLike)) p.grad?.div_(scale);
      });
    }
    return this.#mbs.map((m) => m.loss).filter((l): l is Tensor => l !== null).map((l) => l.detach());
  }
}
