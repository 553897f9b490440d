/**
 * The optimizer base class, torch.optim.Optimizer's semantics: param groups with per-group
 * options (defaults filled from the constructor), per-parameter state, zeroGrad, and state dicts
 * whose state is keyed by the parameter's index across all groups (in group order).
 */
import { createError } from '../errors.js';
import { checkOptions, optionKeyList, optionKeys, type OptionKeys } from '../options.js';
import type { DTypeCode, Span } from '../../typings/native.js';
import { Tensor, keep, zeros, type DType } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';

export interface BaseOptions {
  lr: number;
}

/** A parameter group as given to the constructor: its params and any option overriding the defaults. */
export type ParamGroupInput<O> = { params: Iterable<Tensor> | Tensor } & Partial<O>;

/** What an optimizer accepts: parameters, or param groups with their own options. */
export type Params<O> = Iterable<Tensor> | Iterable<ParamGroupInput<O>>;

/** A param group: its parameters and its complete options. `initialLr` is set by LR schedulers. */
export type ParamGroup<O> = O & { params: Tensor[]; initialLr?: number };

/** Per-parameter state: tensors (moments, buffers) and numbers (step). */
export type ParamState = Record<string, Tensor | number>;

export interface OptimizerStateDict {
  /** State of each parameter with state, keyed by its index across all groups (group order). */
  state: Record<number, ParamState>;
  /** Each group's options, with its params as indices. */
  paramGroups: Array<Record<string, unknown> & { params: number[] }>;
}

export interface ZeroGradOptions {
  /** Set grads to null instead of filling them with zeros (torch 2.x's default). Default true. */
  setToNone?: boolean;
}

const ZERO_GRAD_OPTIONS = optionKeys<ZeroGradOptions>({ setToNone: true });

const DTYPE_CODES: Record<DType, DTypeCode> = {
  float32: 0, float64: 1, float16: 2, bfloat16: 3, int32: 4, int64: 5, uint8: 6, bool: 7,
};
export const dtypeCodeOf = (d: DType): DTypeCode => DTYPE_CODES[d];

export function argError(msg: string): Error {
  return createError('ERR_INVALID_ARG', msg);
}

/** The kernel span of a tensor (which must be contiguous). */
export function spanOfTensor(t: Tensor): Span {
  return t.span();
}

/** The gradient of p as a contiguous tensor of p's dtype/device, checked. */
export function gradOf(p: Tensor, who: string): Tensor {
  const g = p.grad!;
  if (g.dtype !== p.dtype || !g.device.equals(p.device)) {
    throw createError('ERR_DTYPE', `${who}: a gradient (${g.dtype} on ${g.device}) does not match its parameter (${p.dtype} on ${p.device})`);
  }
  if (g.shape.length !== p.shape.length || g.shape.some((d, i) => d !== p.shape[i])) {
    throw createError('ERR_SHAPE_MISMATCH', `${who}: a gradient of shape [${g.shape.join(', ')}] does not match its parameter [${p.shape.join(', ')}]`);
  }
  return g.isContiguous() ? g : g.contiguous();
}

export abstract class Optimizer<O extends BaseOptions = BaseOptions> {
  readonly defaults: O;
  paramGroups: Array<ParamGroup<O>> = [];
  /** Per-parameter state, created on the parameter's first step. */
  state = new Map<Tensor, ParamState>();

  /** What a param group may hold: `params` and the option keys of the defaults. */
  private readonly groupKeys: OptionKeys;

  constructor(params: Params<O>, defaults: O) {
    this.defaults = { ...defaults };
    this.groupKeys = optionKeyList(['params', ...Object.keys(defaults), 'initialLr']);
    if (params == null || typeof (params as Iterable<unknown>)[Symbol.iterator] !== 'function' || params instanceof Tensor) {
      throw argError(`${new.target.name}: params must be an iterable of Tensors or of param groups ({ params, ...options }), got ${params instanceof Tensor ? 'a Tensor' : String(params)}`);
    }
    const list = [...(params as Iterable<Tensor | ParamGroupInput<O>>)];
    if (list.length === 0) throw argError(`${new.target.name}: got an empty parameter list`);
    const groups: Array<ParamGroupInput<O>> = list[0] instanceof Tensor ? [{ params: list as Tensor[] } as unknown as ParamGroupInput<O>] : (list as Array<ParamGroupInput<O>>);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a param group (torch's add_param_group): options it omits come from the defaults. */
  addParamGroup(group: ParamGroupInput<O>): void {
    const who = this.constructor.name;
    if (group == null || typeof group !== 'object' || group instanceof Tensor || !('params' in group)) {
      throw argError(`${who}: a param group must be an object { params, ...options }`);
    }
    checkOptions(group, this.groupKeys, `${who} param group`);
    const params = group.params instanceof Tensor ? [group.params] : [...group.params];
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw argError(`${who}: param group entry ${i} is not a Tensor`);
      if (!p.isLeaf) throw argError(`${who}: can't optimize a non-leaf Tensor (entry ${i}, shape [${p.shape.join(', ')}])`);
      if (p.dtype !== 'float32' && p.dtype !== 'float64' && p.dtype !== 'float16' && p.dtype !== 'bfloat16') {
        throw createError('ERR_DTYPE', `${who}: can only optimize floating-point tensors, entry ${i} is ${p.dtype}`);
      }
    });
    if (new Set(params).size !== params.length) {
      throw argError(`${who}: a param group contains the same parameter more than once`);
    }
    const existing = new Set(this.paramGroups.flatMap((g) => g.params));
    if (params.some((p) => existing.has(p))) throw argError(`${who}: some parameters appear in more than one parameter group`);
    const full = { ...this.defaults, ...group, params } as ParamGroup<O>;
    this.validateOptions(full);
    this.paramGroups.push(full);
  }

  /** Checks a group's options (ranges); subclasses throw ERR_INVALID_ARG naming the option. */
  protected abstract validateOptions(o: O): void;

  /** Performs one optimization step over every parameter that has a gradient. */
  abstract step(): void;

  /**
   * Finishes any gradient sync still in flight that writes these parameters' .grad (an un-awaited
   * `ddp.backward(loss)`), so a step never reads half-synchronized gradients.
   */
  protected settleGrads(): void {
    for (const g of this.paramGroups) for (const p of g.params) p._gradSync?.();
  }

  /** Clears the gradients of all optimized parameters (set to null by default, as torch 2.x). */
  zeroGrad(options: ZeroGradOptions = {}): void {
    const { setToNone = true } = checkOptions(options, ZERO_GRAD_OPTIONS, `${this.constructor.name}.zeroGrad`);
    this.settleGrads();
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (setToNone) {
          p.grad = null;
        } else {
          noGrad(() => p.grad!.zero_());
        }
      }
    }
  }

  /** Lazily creates the state tensor `name` (zeros in the state dtype on the param's device). */
  protected stateZeros(p: Tensor): Tensor {
    // kept: a first step taken inside tidy() must not free the optimizer's state
    // the state has the parameter's dtype, as torch's (16-bit steps compute in float32)
    return keep(zeros([...p.shape], { dtype: p.dtype, device: p.device }));
  }

  stateDict(): OptimizerStateDict {
    let index = 0;
    const ids = new Map<Tensor, number>();
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...opts } = g;
      return { ...(opts as Record<string, unknown>), params: params.map((p) => (ids.set(p, index), index++)) };
    });
    const state: Record<number, ParamState> = {};
    for (const [p, s] of this.state) {
      const i = ids.get(p);
      if (i !== undefined) state[i] = { ...s };
    }
    return { state, paramGroups };
  }

  /**
   * Loads a state dict (from stateDict(), possibly of another optimizer instance over parameters
   * of the same shapes). State tensors are copied to the parameter's device and state dtype.
   * ERR_STATE_DICT when the group count, group sizes or state shapes do not match.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const who = `${this.constructor.name}.loadStateDict`;
    if (!sd || typeof sd !== 'object' || !Array.isArray(sd.paramGroups) || typeof sd.state !== 'object' || sd.state === null) {
      throw createError('ERR_STATE_DICT', `${who}: expected { state, paramGroups }`);
    }
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw createError('ERR_STATE_DICT', `${who}: the state dict has ${sd.paramGroups.length} parameter groups, the optimizer has ${this.paramGroups.length}`);
    }
    const byIndex = new Map<number, Tensor>();
    sd.paramGroups.forEach((sg, gi) => {
      const mine = this.paramGroups[gi]!;
      if (!Array.isArray(sg.params) || sg.params.length !== mine.params.length) {
        throw createError('ERR_STATE_DICT', `${who}: parameter group ${gi} has ${sg.params?.length} parameters in the state dict and ${mine.params.length} in the optimizer`);
      }
      sg.params.forEach((id, k) => byIndex.set(id, mine.params[k]!));
    });
    const newState = new Map<Tensor, ParamState>();
    for (const [key, s] of Object.entries(sd.state)) {
      const p = byIndex.get(Number(key));
      if (!p) throw createError('ERR_STATE_DICT', `${who}: state for parameter index ${key}, which no parameter group lists`);
      const out: ParamState = {};
      for (const [name, v] of Object.entries(s)) {
        if (v instanceof Tensor) {
          if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i])) {
            throw createError('ERR_STATE_DICT', `${who}: state "${name}" of parameter ${key} has shape [${v.shape.join(', ')}], the parameter has [${p.shape.join(', ')}]`);
          }
          const moved = v.to({ device: p.device, dtype: p.dtype });
          out[name] = keep((moved === v ? v.clone() : moved).contiguous());
        } else if (typeof v === 'number') {
          out[name] = v;
        } else {
          throw createError('ERR_STATE_DICT', `${who}: state "${name}" of parameter ${key} is neither a Tensor nor a number`);
        }
      }
      newState.set(p, out);
    }
    sd.paramGroups.forEach((sg, gi) => {
      const { params: _ignored, ...opts } = sg;
      const g = this.paramGroups[gi]!;
      this.validateOptions({ ...g, ...opts, params: g.params } as ParamGroup<O>);
      Object.assign(g, opts);
    });
    this.state = newState;
  }
}
