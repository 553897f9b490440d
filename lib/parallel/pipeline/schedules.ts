/**
 * Pipeline schedules (layer: lib/parallel), after torch.distributed.pipelining: the order in which
 * one stage runs the forwards and backwards of a batch's micro-batches.
 *
 * - ScheduleGPipe: every micro-batch's forward, then every backward (GPipe). Simple; holds all
 *   micro-batches' activations at once.
 * - Schedule1F1B: after a warm-up of (stages - stage index) forwards, alternate one backward and
 *   one forward (PipeDream-flush's 1F1B). The same result; a stage holds at most that many
 *   micro-batches' activations.
 *
 *     const stage = new PipelineStage(stageModule, rank, worldSize, 'cpu');
 *     const schedule = new Schedule1F1B(stage, 4, (out, y) => crossEntropy(out, y));
 *     if (stage.isFirst) await schedule.step(x);
 *     else if (stage.isLast) { const losses = []; await schedule.step(null, { target: y, losses }); }
 *     else await schedule.step();
 *     opt.step();
 *
 * Every rank builds its schedule with the same micro-batch count and loss function (without a
 * loss function a step is forwards only). With `scaleGrads` (default true, as torch) the
 * gradients are divided by the micro-batch count, so for a mean loss and equal micro-batches they
 * are the whole batch's gradients. A stage whose neighbour dies fails its step with
 * ERR_DIST_PEER_FAILURE (or ERR_DIST_ABORTED, passed on by the group's other ranks).
 */
import { createError } from '../../errors.js';
import type { Tensor } from '../../tensor/index.js';
import { checkCount, mergeBatches, splitBatch } from './microbatch.js';
import { PipelineStage } from './stage.js';

export type LossFn = (output: Tensor, target: Tensor) => Tensor;

export interface ScheduleOptions {
  /** Divide the gradients by the number of micro-batches (default true, as torch). */
  scaleGrads?: boolean;
}

export interface StepOptions {
  /** Last stage: the targets of the batch (cut into micro-batches as the input is). */
  target?: Tensor | null;
  /** Last stage: each micro-batch's loss is pushed here (detached). */
  losses?: Tensor[];
}

/** What every single-stage-per-rank schedule shares (torch's PipelineScheduleSingle). */
export abstract class PipelineSchedule {
  readonly stage: PipelineStage;
  readonly nMicrobatches: number;
  readonly lossFn: LossFn | undefined;
  readonly scaleGrads: boolean;
  #running = false;

  constructor(stage: PipelineStage, nMicrobatches: number, lossFn?: LossFn, opts: ScheduleOptions = {}) {
    const who = new.target.name;
    if (!(stage instanceof PipelineStage)) throw createError('ERR_INVALID_ARG', `${who}: stage must be a PipelineStage`);
    if (lossFn !== undefined && typeof lossFn !== 'function') throw createError('ERR_INVALID_ARG', `${who}: lossFn must be a function (output, target) => loss`);
    this.stage = stage;
    this.nMicrobatches = checkCount(who, 'nMicrobatches', nMicrobatches);
    this.lossFn = lossFn;
    this.scaleGrads = opts.scaleGrads ?? true;
  }

  /**
   * One batch through the pipeline: forwards and (with a loss function) backwards of every
   * micro-batch, gradients accumulated into `.grad`. The first stage passes the batch, the last
   * its targets; the last stage resolves with the merged output (detached), the others with null.
   */
  async step(input?: Tensor | null, opts: StepOptions = {}): Promise<Tensor | null> {
    const who = `${this.constructor.name}.step`;
    if (this.#running) throw createError('ERR_DIST', `${who}: the previous step has not finished (await it first)`);
    const st = this.stage;
    const n = this.nMicrobatches;
    const inputs = st.isFirst ? splitBatch(input, n, who, 'the input (first stage)') : null;
    if (!st.isFirst && input != null) throw createError('ERR_INVALID_ARG', `${who}: only the first stage (stage 0) takes the input; stage ${st.stageIndex} got one`);
    const backward = this.lossFn !== undefined;
    let targets: Tensor[] | null = null;
    if (st.isLast && backward) targets = splitBatch(opts.target, n, who, 'the target (last stage)');
    this.#running = true;
    try {
      st._begin(n, backward);
      const outputs: Tensor[] = [];
      const forward = async (i: number): Promise<void> => {
        await st._recvForward(i);
        const out = st._forward(i, inputs ? inputs[i]! : null, targets ? targets[i]! : null, this.lossFn);
        if (st.isLast) outputs.push(out.detach());
        st._sendForward(i);
      };
      const backwardOne = async (i: number): Promise<void> => {
        await st._recvBackward(i);
        await st._backward(i, i === n - 1);
        st._sendBackward(i);
      };
      await this.run(forward, backwardOne, backward);
      const losses = await st._end(backward && this.scaleGrads ? n : 1);
      if (opts.losses) opts.losses.push(...losses);
      return st.isLast ? mergeBatches(outputs) : null;
    } finally {
      this.#running = false;
    }
  }

  /** The order of the micro-batches' forwards and backwards. */
  protected abstract run(forward: (i: number) => Promise<void>, backward: (i: number) => Promise<void>, withBackward: boolean): Promise<void>;
}

/** GPipe: all forwards, then all backwards (torch's ScheduleGPipe). */
export class ScheduleGPipe extends PipelineSchedule {
  protected async run(forward: (i: number) => Promise<void>, backward: (i: number) => Promise<void>, withBackward: boolean): Promise<void> {
    for (let i = 0; i < this.nMicrobatches; i++) await forward(i);
    if (!withBackward) return;
    for (let i = 0; i < this.nMicrobatches; i++) await backward(i);
  }
}

/** 1F1B: warm-up forwards, then one backward and one forward at a time, then the last backwards (torch's Schedule1F1B). */
export class Schedule1F1B extends PipelineSchedule {
  protected async run(forward: (i: number) => Promise<void>, backward: (i: number) => Promise<void>, withBackward: boolean): Promise<void> {
    const n = this.nMicrobatches;
    if (!withBackward) {
      for (let i = 0; i < n; i++) await forward(i);
      return;
    }
    const warmup = Math.min(n, this.stage.numStages - this.stage.stageIndex);
    let f = 0;
    let b = 0;
    while (f < warmup) await forward(f++);
    for (;;) {
      await backward(b++);
      if (f === n) break;
      await forward(f++);
    }
    while (b < n) await backward(b++);
  }
}
