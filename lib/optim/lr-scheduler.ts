/**
 * Learning-rate schedulers with torch.optim.lr_scheduler's semantics: the same recurrences (the
 * "chainable" get_lr forms), the same closed forms for step(epoch), the same lastEpoch and
 * initialLr conventions, and state dicts.
 *
 * A scheduler only touches `optimizer.paramGroups[i].lr` (and sets `initialLr` on construction),
 * so it works with any object that has param groups (our Optimizer, or a user's).
 *
 * Usage, as in PyTorch: construct the scheduler after the optimizer (this performs step 0 and sets
 * the lr of epoch 0), then call `optimizer.step()` and `scheduler.step()` once per epoch/iteration.
 */
import { createError } from '../errors.js';
import { checkOptions, optionKeys } from '../options.js';

export interface SchedulableParamGroup {
  lr: number;
  initialLr?: number;
}

/** What a scheduler needs from an optimizer. */
export interface SchedulableOptimizer {
  paramGroups: SchedulableParamGroup[];
}

export interface LRSchedulerState {
  lastEpoch: number;
  stepCount: number;
  baseLrs: number[];
  lastLr: number[];
  [key: string]: unknown;
}

function argError(msg: string): Error {
  return createError('ERR_INVALID_ARG', msg);
}

function checkOptimizer(optimizer: unknown, who: string): SchedulableOptimizer {
  const o = optimizer as SchedulableOptimizer | null;
  if (!o || !Array.isArray(o.paramGroups) || o.paramGroups.length === 0) {
    throw argError(`${who}: expected an optimizer with paramGroups, got ${String(optimizer)}`);
  }
  return o;
}

/** Python's floor modulo (the sign of the divisor). */
function pyMod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

/** The base class, torch.optim.lr_scheduler.LRScheduler. */
export abstract class LRScheduler {
  readonly optimizer: SchedulableOptimizer;
  /** The index of the last epoch; -1 before the first step (the constructor performs step 0). */
  lastEpoch: number;
  /** The learning rates each group started from (its `initialLr`). */
  baseLrs: number[];
  protected stepCount = 0;
  protected lastLrValues: number[] = [];

  /**
   * @param lastEpoch -1 (default) starts fresh and sets each group's `initialLr` from its `lr`
   *   (unless already set, like torch's setdefault). Another value resumes: each group must then
   *   have `initialLr` (ERR_INVALID_ARG otherwise).
   */
  constructor(optimizer: SchedulableOptimizer, lastEpoch = -1) {
    this.optimizer = checkOptimizer(optimizer, new.target.name);
    if (!Number.isInteger(lastEpoch) || lastEpoch < -1) {
      throw argError(`${new.target.name}: lastEpoch must be an integer >= -1, got ${lastEpoch}`);
    }
    if (lastEpoch === -1) {
      for (const g of this.optimizer.paramGroups) if (g.initialLr === undefined) g.initialLr = g.lr;
    } else {
      this.optimizer.paramGroups.forEach((g, i) => {
        if (g.initialLr === undefined) {
          throw argError(`${new.target.name}: param group ${i} has no initialLr, which resuming (lastEpoch = ${lastEpoch}) needs`);
        }
      });
    }
    this.baseLrs = this.optimizer.paramGroups.map((g) => g.initialLr as number);
    this.lastEpoch = lastEpoch;
  }

  /** Subclasses call this at the end of their constructor: torch's `_initial_step()`. */
  protected initialStep(): void {
    this.stepCount = 0;
    this.step();
  }

  /** The recurrence (torch's get_lr): the next lrs from the groups' current lrs and lastEpoch. */
  protected abstract computeLr(): number[];

  /** The closed form at lastEpoch (torch's _get_closed_form_lr), used by step(epoch). */
  protected closedFormLr(): number[] | null {
    return null;
  }

  /**
   * Advances one epoch (or, deprecated in torch but supported, jumps to `epoch` through the
   * closed form) and writes the new lr into every param group.
   */
  step(epoch?: number): void {
    this.stepCount += 1;
    let values: number[];
    if (epoch === undefined) {
      this.lastEpoch += 1;
      values = this.computeLr();
    } else {
      if (!Number.isInteger(epoch) || epoch < 0) throw argError(`${this.constructor.name}.step: epoch must be a non-negative integer, got ${epoch}`);
      this.lastEpoch = epoch;
      values = this.closedFormLr() ?? this.computeLr();
    }
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = values[i]!;
    });
    this.lastLrValues = this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** The lrs the last step() set (torch's get_last_lr()). */
  getLastLr(): number[] {
    return [...this.lastLrValues];
  }

  /** Hyper-parameters of the subclass, saved in the state dict. */
  protected abstract hyper(): Record<string, unknown>;
  protected abstract setHyper(h: Record<string, unknown>): void;

  /** Everything but the optimizer, like torch's state_dict(). */
  stateDict(): LRSchedulerState {
    return { ...this.hyper(), lastEpoch: this.lastEpoch, stepCount: this.stepCount, baseLrs: [...this.baseLrs], lastLr: [...this.lastLrValues] };
  }

  loadStateDict(state: LRSchedulerState): void {
    if (!state || typeof state !== 'object' || !Number.isInteger(state.lastEpoch) || !Array.isArray(state.baseLrs) || !Array.isArray(state.lastLr) || !Number.isInteger(state.stepCount)) {
      throw createError('ERR_STATE_DICT', `${this.constructor.name}.loadStateDict: not a scheduler state dict (needs lastEpoch, stepCount, baseLrs, lastLr)`);
    }
    if (state.baseLrs.length !== this.optimizer.paramGroups.length) {
      throw createError('ERR_STATE_DICT', `${this.constructor.name}.loadStateDict: the state has ${state.baseLrs.length} base lrs but the optimizer has ${this.optimizer.paramGroups.length} param groups`);
    }
    this.setHyper(state);
    this.lastEpoch = state.lastEpoch;
    this.stepCount = state.stepCount;
    this.baseLrs = [...state.baseLrs];
    this.lastLrValues = [...state.lastLr];
  }
}

function checkPositiveInt(v: number, what: string): void {
  if (!Number.isInteger(v) || v <= 0) throw argError(`${what} must be a positive integer, got ${v}`);
}

export interface StepLROptions {
  /** Multiplicative factor of the decay. Default 0.1. */
  gamma?: number;
  /** Default -1 (a fresh start). */
  lastEpoch?: number;
}

const STEP_LR_OPTIONS = optionKeys<StepLROptions>({ gamma: true, lastEpoch: true });

/** Decays each group's lr by gamma every stepSize epochs: lr = base * gamma^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;
  constructor(optimizer: SchedulableOptimizer, stepSize: number, options: StepLROptions = {}) {
    const { gamma = 0.1, lastEpoch = -1 } = checkOptions(options, STEP_LR_OPTIONS, 'StepLR');
    super(optimizer, lastEpoch);
    checkPositiveInt(stepSize, 'StepLR: stepSize');
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const groups = this.optimizer.paramGroups;
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * this.gamma);
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
  protected hyper(): Record<string, unknown> {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }
  protected setHyper(h: Record<string, unknown>): void {
    this.stepSize = h.stepSize as number;
    this.gamma = h.gamma as number;
  }
}

export interface CosineAnnealingLROptions {
  /** Minimum learning rate. Default 0. */
  etaMin?: number;
  lastEpoch?: number;
}

const COSINE_ANNEALING_LR_OPTIONS = optionKeys<CosineAnnealingLROptions>({ etaMin: true, lastEpoch: true });

/**
 * Cosine annealing (SGDR without restarts), torch's recurrence:
 * lr = etaMin + (base - etaMin) * (1 + cos(pi * epoch / tMax)) / 2 in closed form.
 */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;
  constructor(optimizer: SchedulableOptimizer, tMax: number, options: CosineAnnealingLROptions = {}) {
    const { etaMin = 0, lastEpoch = -1 } = checkOptions(options, COSINE_ANNEALING_LR_OPTIONS, 'CosineAnnealingLR');
    super(optimizer, lastEpoch);
    checkPositiveInt(tMax, 'CosineAnnealingLR: tMax');
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const groups = this.optimizer.paramGroups;
    const { tMax, etaMin, lastEpoch: e } = this;
    if (e === 0) return groups.map((g) => g.lr);
    if (this.stepCount === 1 && e > 0) {
      return this.baseLrs.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((e * Math.PI) / tMax))) / 2);
    }
    if (pyMod(e - 1 - tMax, 2 * tMax) === 0) {
      return groups.map((g, i) => g.lr + ((this.baseLrs[i]! - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2);
    }
    return groups.map(
      (g) => ((1 + Math.cos((Math.PI * e) / tMax)) / (1 + Math.cos((Math.PI * (e - 1)) / tMax))) * (g.lr - etaMin) + etaMin,
    );
  }
  protected override closedFormLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }
  protected hyper(): Record<string, unknown> {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }
  protected setHyper(h: Record<string, unknown>): void {
    this.tMax = h.tMax as number;
    this.etaMin = h.etaMin as number;
  }
}

export interface LinearLROptions {
  /** Factor at epoch 0, in (0, 1]. Default 1/3. */
  startFactor?: number;
  /** Factor from totalIters on, in [0, 1]. Default 1. */
  endFactor?: number;
  /** Epochs of the linear ramp. Default 5. */
  totalIters?: number;
  lastEpoch?: number;
}

const LINEAR_LR_OPTIONS = optionKeys<LinearLROptions>({ startFactor: true, endFactor: true, totalIters: true, lastEpoch: true });
const SEQUENTIAL_LR_OPTIONS = optionKeys<{ lastEpoch?: number }>({ lastEpoch: true });

/**
 * Multiplies the lr by a factor moving linearly from startFactor to endFactor over totalIters
 * epochs: lr = base * (start + (end - start) * min(epoch, totalIters) / totalIters) in closed form.
 */
export class LinearLR extends LRScheduler {
  startFactor: number;
  endFactor: number;
  totalIters: number;
  constructor(optimizer: SchedulableOptimizer, options: LinearLROptions = {}) {
    const { startFactor = 1 / 3, endFactor = 1, totalIters = 5, lastEpoch = -1 } = checkOptions(options, LINEAR_LR_OPTIONS, 'LinearLR');
    super(optimizer, lastEpoch);
    if (!(startFactor > 0 && startFactor <= 1)) {
      throw argError(`LinearLR: startFactor must be > 0 and <= 1 (it multiplies the lr at epoch 0), got ${startFactor}`);
    }
    if (!(endFactor >= 0 && endFactor <= 1)) throw argError(`LinearLR: endFactor must be in [0, 1], got ${endFactor}`);
    checkPositiveInt(totalIters, 'LinearLR: totalIters');
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this.initialStep();
  }
  protected computeLr(): number[] {
    const groups = this.optimizer.paramGroups;
    const { startFactor: s, endFactor: f, totalIters: n, lastEpoch: e } = this;
    if (e === 0) return groups.map((g) => g.lr * s);
    if (e > n) return groups.map((g) => g.lr);
    return groups.map((g) => g.lr * (1 + (f - s) / (n * s + (e - 1) * (f - s))));
  }
  protected override closedFormLr(): number[] {
    const { startFactor: s, endFactor: f, totalIters: n, lastEpoch: e } = this;
    return this.baseLrs.map((b) => b * (s + ((f - s) * Math.min(n, e)) / n));
  }
  protected hyper(): Record<string, unknown> {
    return { startFactor: this.startFactor, endFactor: this.endFactor, totalIters: this.totalIters };
  }
  protected setHyper(h: Record<string, unknown>): void {
    this.startFactor = h.startFactor as number;
    this.endFactor = h.endFactor as number;
    this.totalIters = h.totalIters as number;
  }
}

export interface SequentialLRState {
  lastEpoch: number;
  milestones: number[];
  lastLr: number[];
  schedulers: LRSchedulerState[];
}

/**
 * Runs `schedulers[i]` between milestones[i-1] and milestones[i] (torch's SequentialLR): at a
 * milestone the next scheduler starts from its epoch 0 (step(0), its closed form).
 */
export class SequentialLR {
  readonly optimizer: SchedulableOptimizer;
  readonly schedulers: LRScheduler[];
  readonly milestones: number[];
  lastEpoch: number;
  private lastLrValues: number[];

  constructor(optimizer: SchedulableOptimizer, schedulers: LRScheduler[], milestones: number[], options: { lastEpoch?: number } = {}) {
    const { lastEpoch = -1 } = checkOptions(options, SEQUENTIAL_LR_OPTIONS, 'SequentialLR');
    this.optimizer = checkOptimizer(optimizer, 'SequentialLR');
    if (!Array.isArray(schedulers) || schedulers.length < 1) throw argError('SequentialLR: expects at least one scheduler');
    schedulers.forEach((s, i) => {
      if (!(s instanceof LRScheduler)) throw argError(`SequentialLR: schedulers[${i}] is not an LRScheduler`);
      if (s.optimizer !== optimizer) {
        throw argError(`SequentialLR: schedulers[${i}] belongs to a different optimizer than the one given`);
      }
    });
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1) {
      throw argError(`SequentialLR: expects ${schedulers.length - 1} milestones (one fewer than schedulers), got ${milestones?.length}`);
    }
    for (let i = 0; i < milestones.length; i++) {
      if (!Number.isInteger(milestones[i]) || (i > 0 && milestones[i]! < milestones[i - 1]!)) {
        throw argError(`SequentialLR: milestones must be non-decreasing integers, got [${milestones.join(', ')}]`);
      }
    }
    this.schedulers = schedulers;
    this.milestones = [...milestones];
    this.lastEpoch = lastEpoch + 1;
    // As torch: reset the lrs, undo the step each scheduler's constructor made, redo the first's.
    for (const g of this.optimizer.paramGroups) g.lr = g.initialLr ?? g.lr;
    for (const s of schedulers) s.lastEpoch -= 1;
    (schedulers[0] as unknown as { initialStep(): void }).initialStep();
    this.lastLrValues = schedulers[0]!.getLastLr();
  }

  step(): void {
    this.lastEpoch += 1;
    // bisect_right
    let idx = 0;
    while (idx < this.milestones.length && this.milestones[idx]! <= this.lastEpoch) idx++;
    const s = this.schedulers[idx]!;
    if (idx > 0 && this.milestones[idx - 1] === this.lastEpoch) s.step(0);
    else s.step();
    this.lastLrValues = s.getLastLr();
  }

  getLastLr(): number[] {
    return [...this.lastLrValues];
  }

  stateDict(): SequentialLRState {
    return { lastEpoch: this.lastEpoch, milestones: [...this.milestones], lastLr: [...this.lastLrValues], schedulers: this.schedulers.map((s) => s.stateDict()) };
  }

  loadStateDict(state: SequentialLRState): void {
    if (!state || !Array.isArray(state.schedulers) || state.schedulers.length !== this.schedulers.length) {
      throw createError('ERR_STATE_DICT', `SequentialLR.loadStateDict: expected the states of ${this.schedulers.length} schedulers`);
    }
    this.lastEpoch = state.lastEpoch;
    this.lastLrValues = [...state.lastLr];
    state.schedulers.forEach((s, i) => this.schedulers[i]!.loadStateDict(s));
  }
}
