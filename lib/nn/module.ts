/**
 * nn.Module with torch.nn.Module's semantics, spelled for JavaScript: parameters, buffers and
 * child modules are registered explicitly (registerParameter / registerBuffer / registerModule)
 * and become properties of the module (`this.weight`), which can be re-assigned. Traversal is in
 * registration order with dotted names; stateDict/loadStateDict use the same names as PyTorch
 * would for the same structure ("0.weight", "encoder.layers.1.bias").
 */
import { createError } from '../errors.js';
import { Tensor, keep, type DType } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { Parameter, isParameter } from './parameter.js';
import { checkOptions, optionKeys } from '../options.js';

export type StateDict = Record<string, Tensor>;

export interface LoadStateDictOptions {
  /** Require the keys to match this module's exactly. Default true. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** `to()` targets: a device ('cpu', 'cuda:0'), a floating dtype, or both. */
const NAMED_OPTIONS = optionKeys<{ prefix?: string; recurse?: boolean }>({ prefix: true, recurse: true });
const RECURSE_OPTIONS = optionKeys<{ recurse?: boolean }>({ recurse: true });
const PREFIX_OPTIONS = optionKeys<{ prefix?: string }>({ prefix: true });
const BUFFER_OPTIONS = optionKeys<{ persistent?: boolean }>({ persistent: true });
const ZERO_GRAD_OPTIONS = optionKeys<{ setToNone?: boolean }>({ setToNone: true });
const LOAD_STATE_DICT_OPTIONS = optionKeys<LoadStateDictOptions>({ strict: true });
const TO_OPTIONS = optionKeys<{ device?: string; dtype?: DType }>({ device: true, dtype: true });

export type ModuleToTarget = string | DType | { device?: string; dtype?: DType };

const DTYPE_NAMES = new Set<string>(['float32', 'float64', 'float16', 'bfloat16', 'int32', 'int64', 'uint8', 'bool']);
const isFloating = (d: DType): boolean => d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';

function checkName(owner: string, name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) throw createError('ERR_INVALID_ARG', `${owner}: ${what} name must be a non-empty string, got ${String(name)}`);
  if (name.includes('.')) throw createError('ERR_INVALID_ARG', `${owner}: ${what} name can't contain ".", got ${JSON.stringify(name)}`);
}

export abstract class Module {
  /** Training mode (dropout active, etc.). Set by train()/eval(). */
  training = true;
  private readonly _parameters = new Map<string, Parameter | null>();
  private readonly _buffers = new Map<string, Tensor | null>();
  private readonly _nonPersistent = new Set<string>();
  private readonly _modules = new Map<string, Module | null>();

  /** The computation. Subclasses define it with their own signature. */
  abstract forward(...args: never[]): unknown;

  private defineSlot(name: string, kind: 'parameter' | 'buffer' | 'module'): void {
    const owner = this.constructor.name;
    const taken = (kind !== 'parameter' && this._parameters.has(name)) || (kind !== 'buffer' && this._buffers.has(name)) || (kind !== 'module' && this._modules.has(name));
    if (taken) throw createError('ERR_INVALID_ARG', `${owner}: attribute "${name}" is already registered as another kind (parameters, buffers and modules share one namespace)`);
    const own = Object.getOwnPropertyDescriptor(this, name);
    if (!own && name in this) {
      throw createError('ERR_INVALID_ARG', `${owner}: attribute "${name}" already exists (a method or property of the class)`);
    }
    if (own && !own.get && own.value !== undefined && own.value !== null && !(own.value instanceof Tensor) && !(own.value instanceof Module)) {
      throw createError('ERR_INVALID_ARG', `${owner}: attribute "${name}" already exists and is not a tensor or module`);
    }
    // The accessors read `this`, not a captured module: a copy of the module (DataParallel's
    // replicas copy own properties) then reads its own parameters, not the original's.
    Object.defineProperty(this, name, {
      configurable: true,
      enumerable: true,
      get(this: Module) {
        return kind === 'parameter' ? this._parameters.get(name) : kind === 'buffer' ? this._buffers.get(name) : this._modules.get(name);
      },
      set(this: Module, v: unknown) {
        if (kind === 'parameter') this.registerParameter(name, v as Parameter | null);
        else if (kind === 'buffer') this.registerBuffer(name, v as Tensor | null, { persistent: !this._nonPersistent.has(name) });
        else this.registerModule(name, v as Module | null);
      },
    });
  }

  /** Registers (or replaces) a parameter; null registers the name with no parameter (like bias=None). */
  registerParameter(name: string, param: Parameter | null): void {
    checkName(this.constructor.name, name, 'parameter');
    if (param !== null && !isParameter(param)) {
      throw createError('ERR_INVALID_ARG', `${this.constructor.name}: cannot assign a plain Tensor to parameter "${name}": wrap it in new nn.Parameter(t) (or use registerBuffer)`);
    }
    if (!this._parameters.has(name)) this.defineSlot(name, 'parameter');
    this._parameters.set(name, param);
  }

  /**
   * Registers (or replaces) a buffer: state that is not trained (running stats, masks).
   * @param options.persistent saved in stateDict(). Default true.
   */
  registerBuffer(name: string, t: Tensor | null, options: { persistent?: boolean } = {}): void {
    const { persistent = true } = checkOptions(options, BUFFER_OPTIONS, 'registerBuffer');
    checkName(this.constructor.name, name, 'buffer');
    if (t !== null && !(t instanceof Tensor)) throw createError('ERR_INVALID_ARG', `${this.constructor.name}: buffer "${name}" must be a Tensor or null`);
    if (!this._buffers.has(name)) this.defineSlot(name, 'buffer');
    // kept: module state outlives any tidy() scope it was created in
    this._buffers.set(name, t === null ? null : keep(t));
    if (persistent) this._nonPersistent.delete(name);
    else this._nonPersistent.add(name);
  }

  /** Registers (or replaces) a child module. */
  registerModule(name: string, m: Module | null): void {
    checkName(this.constructor.name, name, 'module');
    if (m !== null && !(m instanceof Module)) throw createError('ERR_INVALID_ARG', `${this.constructor.name}: child "${name}" must be a Module or null`);
    if (!this._modules.has(name)) this.defineSlot(name, 'module');
    this._modules.set(name, m);
  }

  /** The registered child slots in order, repeats included (what Sequential runs). */
  protected childSlots(): Module[] {
    return [...this._modules.values()].filter((m): m is Module => m !== null);
  }

  /** Direct children, in registration order. */
  *namedChildren(): Generator<[string, Module]> {
    const seen = new Set<Module>();
    for (const [n, m] of this._modules) {
      if (m && !seen.has(m)) {
        seen.add(m);
        yield [n, m];
      }
    }
  }
  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }

  /** This module and every descendant (pre-order, each once), with dotted names ('' for this one). */
  *namedModules(prefix = '', memo: Set<Module> = new Set()): Generator<[string, Module]> {
    if (memo.has(this)) return;
    memo.add(this);
    yield [prefix, this];
    for (const [n, m] of this._modules) {
      if (m) yield* m.namedModules(prefix ? `${prefix}.${n}` : n, memo);
    }
  }
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /** Parameters with dotted names, in registration order; shared parameters once. */
  *namedParameters(options: { prefix?: string; recurse?: boolean } = {}): Generator<[string, Parameter]> {
  const { prefix = '', recurse = true } = checkOptions(options, NAMED_OPTIONS, 'Module.namedParameters');
    const seen = new Set<Tensor>();
    const mods = recurse ? this.namedModules(prefix) : ([[prefix, this]] as Iterable<[string, Module]>);
    for (const [mp, m] of mods) {
      for (const [n, p] of m._parameters) {
        if (p && !seen.has(p)) {
          seen.add(p);
          yield [mp ? `${mp}.${n}` : n, p];
        }
      }
    }
  }
  *parameters(options: { recurse?: boolean } = {}): Generator<Parameter> {
  const { recurse = true } = checkOptions(options, RECURSE_OPTIONS, 'Module.parameters');
    for (const [, p] of this.namedParameters({ recurse })) yield p;
  }

  *namedBuffers(options: { prefix?: string; recurse?: boolean } = {}): Generator<[string, Tensor]> {
  const { prefix = '', recurse = true } = checkOptions(options, NAMED_OPTIONS, 'Module.namedBuffers');
    const seen = new Set<Tensor>();
    const mods = recurse ? this.namedModules(prefix) : ([[prefix, this]] as Iterable<[string, Module]>);
    for (const [mp, m] of mods) {
      for (const [n, b] of m._buffers) {
        if (b && !seen.has(b)) {
          seen.add(b);
          yield [mp ? `${mp}.${n}` : n, b];
        }
      }
    }
  }
  *buffers(options: { recurse?: boolean } = {}): Generator<Tensor> {
  const { recurse = true } = checkOptions(options, RECURSE_OPTIONS, 'Module.buffers');
    for (const [, b] of this.namedBuffers({ recurse })) yield b;
  }

  /** Sets training mode on this module and all descendants. Returns this. */
  train(mode = true): this {
    if (typeof mode !== 'boolean') throw createError('ERR_INVALID_ARG', `train(mode): mode must be a boolean, got ${String(mode)}`);
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  /** Evaluation mode: train(false). */
  eval(): this {
    return this.train(false);
  }

  /** Calls fn on every descendant (children first) and then on this module, like torch. Returns this. */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /** Clears the gradients of all parameters (to null by default, as torch 2.x). */
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    const { setToNone = true } = checkOptions(options, ZERO_GRAD_OPTIONS, 'Module.zeroGrad');
    for (const p of this.parameters()) {
      if (!p.grad) continue;
      if (setToNone) p.grad = null;
      else noGrad(() => p.grad!.zero_());
    }
  }

  /**
   * Moves parameters and buffers to a device and/or casts the floating ones to a dtype. Each
   * parameter that changes is replaced in the module by a new Parameter holding the converted
   * values (and its converted grad); unchanged ones are kept. Create the optimizer after to(), as
   * PyTorch recommends: an optimizer made before still holds the old parameters.
   */
  to(target: ModuleToTarget): this {
    let device: string | undefined;
    let dtype: DType | undefined;
    if (typeof target === 'string') {
      if (DTYPE_NAMES.has(target)) dtype = target as DType;
      else device = target;
    } else if (target && typeof target === 'object') {
      ({ device, dtype } = checkOptions(target, TO_OPTIONS, 'Module.to'));
    } else {
      throw createError('ERR_INVALID_ARG', `Module.to: expected a device, a dtype or { device, dtype }, got ${String(target)}`);
    }
    if (dtype !== undefined && !isFloating(dtype)) {
      throw createError('ERR_DTYPE', `Module.to: only floating dtypes are allowed, got ${dtype}`);
    }
    const convert = (t: Tensor): Tensor => {
      const opts: { device?: string; dtype?: DType } = {};
      if (device !== undefined) opts.device = device;
      if (dtype !== undefined && isFloating(t.dtype)) opts.dtype = dtype;
      return t.to(opts);
    };
    // One conversion per tensor, so parameters and buffers shared between modules stay shared.
    const done = new Map<Tensor, Tensor>();
    noGrad(() => {
      for (const m of this.modules()) {
        for (const [n, p] of m._parameters) {
          if (!p) continue;
          let q = done.get(p);
          if (!q) {
            const moved = convert(p);
            q = moved === p ? p : Parameter.replaceData(p, moved);
            done.set(p, q);
          }
          m._parameters.set(n, q as Parameter);
        }
        for (const [n, b] of m._buffers) {
          if (!b) continue;
          let c = done.get(b);
          if (!c) done.set(b, (c = keep(convert(b))));
          m._buffers.set(n, c);
        }
      }
    });
    return this;
  }

  /**
   * Parameters and persistent buffers by dotted name (the tensors themselves, detached from
   * autograd, as torch's state_dict returns them).
   */
  stateDict(options: { prefix?: string } = {}): StateDict {
  const { prefix = '' } = checkOptions(options, PREFIX_OPTIONS, 'Module.stateDict');
    const out: StateDict = {};
    for (const [mp, m] of this.namedModules(prefix)) {
      const key = (n: string): string => (mp ? `${mp}.${n}` : n);
      for (const [n, p] of m._parameters) if (p) out[key(n)] = p.detach();
      for (const [n, b] of m._buffers) if (b && !m._nonPersistent.has(n)) out[key(n)] = b.detach();
    }
    return out;
  }

  /**
   * Copies tensors from a state dict into this module's parameters and buffers (values copied in
   * place, converted to each parameter's dtype and device). With strict (default), missing or
   * unexpected keys are an error; shape mismatches are always an error. The error
   * (ERR_STATE_DICT) lists every problem: missing keys, unexpected keys, shape mismatches.
   * Nothing is copied when there is an error.
   */
  loadStateDict(sd: StateDict, options: LoadStateDictOptions = {}): LoadStateDictResult {
  const { strict = true } = checkOptions(options, LOAD_STATE_DICT_OPTIONS, 'Module.loadStateDict');
    if (!sd || typeof sd !== 'object') throw createError('ERR_STATE_DICT', `loadStateDict: expected an object of tensors, got ${String(sd)}`);
    const own = new Map<string, Tensor>();
    for (const [mp, m] of this.namedModules()) {
      const key = (n: string): string => (mp ? `${mp}.${n}` : n);
      for (const [n, p] of m._parameters) if (p) own.set(key(n), p);
      for (const [n, b] of m._buffers) if (b && !m._nonPersistent.has(n)) own.set(key(n), b);
    }
    const missingKeys = [...own.keys()].filter((k) => !Object.prototype.hasOwnProperty.call(sd, k));
    const unexpectedKeys = Object.keys(sd).filter((k) => !own.has(k));
    const problems: string[] = [];
    const mismatches: string[] = [];
    for (const [k, t] of own) {
      if (!Object.prototype.hasOwnProperty.call(sd, k)) continue;
      const src = sd[k];
      if (!(src instanceof Tensor)) {
        mismatches.push(`${k}: expected a Tensor, got ${typeof src}`);
        continue;
      }
      if (src.shape.length !== t.shape.length || src.shape.some((d, i) => d !== t.shape[i])) {
        mismatches.push(`size mismatch for ${k}: copying a param with shape [${src.shape.join(', ')}] from checkpoint, the shape in current model is [${t.shape.join(', ')}]`);
      }
    }
    if (strict && unexpectedKeys.length) problems.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}.`);
    if (strict && missingKeys.length) problems.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}.`);
    problems.push(...mismatches);
    if (problems.length) {
      throw createError('ERR_STATE_DICT', `Error(s) in loading state_dict for ${this.constructor.name}:\n\t${problems.join('\n\t')}`, {
        missingKeys, unexpectedKeys, mismatches,
      });
    }
    noGrad(() => {
      for (const [k, t] of own) {
        const src = sd[k];
        if (src) t.copy_(src.to({ device: t.device.toString(), dtype: t.dtype }));
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  /** A PyTorch-like printout of the module tree. */
  toString(): string {
    const children = [...this._modules].filter(([, m]) => m).map(([n, m]) => `(${n}): ${String(m).replace(/\n/g, '\n  ')}`);
    const extra = this.extraRepr();
    if (!children.length) return `${this.constructor.name}(${extra})`;
    return `${this.constructor.name}(${extra ? `\n  ${extra}` : ''}\n  ${children.join('\n  ')}\n)`;
  }
  /** Extra text shown by toString(), e.g. "in_features=4, out_features=2". */
  extraRepr(): string {
    return '';
  }
}
