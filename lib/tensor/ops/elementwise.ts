/**
 * Element-wise ops: unary math, binary arithmetic with broadcasting and scalar operands,
 * comparisons (bool results), logical ops, where and clamp. Each op's backward sits beside it.
 * Type promotion follows PyTorch (see dtype.ts); integer inputs to float-only functions (exp, log,
 * ...) and true division compute in float32.
 */
import { optsArg, tensorArg } from '../args.js';
import { describe } from '../describe.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import type { BinaryOp, UnaryOp } from '../../../typings/native.js';
import { DEFAULT_FLOAT, dtypeCode, isFloating, promoteScalar, promoteTypes, type DType, type Scalar } from '../dtype.js';
import { checkSameDevice, K, viewOf } from '../kernels.js';
import { broadcastShapes } from '../shape.js';
import { Tensor } from '../tensor.js';
import { copyInto, emptyTensor } from './copy.js';
import { full, zeros } from '../creation.js';
import { optionKeys } from '../../options.js';

export type Operand = Tensor | Scalar;

const isScalar = (v: unknown): v is Scalar => typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean';

function checkOperand(v: unknown, op: string): asserts v is Operand {
  if (v instanceof Tensor) {
    tensorArg(v, op, 'input');
    return;
  }
  if (!isScalar(v)) throw createError('ERR_INVALID_ARG', `${op}: operand must be a Tensor, number, bigint or boolean, got ${v === null ? 'null' : typeof v}`);
}

const category = (d: DType): number => (d === 'bool' ? 0 : isFloating(d) ? 2 : 1);

/** The dtype of a ⊕ b for tensors: 0-dim tensors only win when of a higher category (torch.result_type). */
export function resultType(a: Tensor, b: Tensor): DType {
  tensorArg(a, 'resultType', 'a');
  tensorArg(b, 'resultType', 'b');
  const az = a.ndim === 0;
  const bz = b.ndim === 0;
  if (az === bz) return promoteTypes(a.dtype, b.dtype);
  const [dim, zero] = az ? [b, a] : [a, b];
  return category(zero.dtype) > category(dim.dtype) ? zero.dtype : dim.dtype;
}

/** x converted to dtype without recording (x itself when it already has it). */
export function castRaw(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const out = emptyTensor(x.shape, dtype, x.device, 'to');
  copyInto(out, x);
  return out;
}

function scalarNum(s: Scalar): number {
  return typeof s === 'boolean' ? (s ? 1 : 0) : Number(s);
}

/** out = op(x[, p0, p1]) in x's dtype (comparisons: bool out). No autograd. */
export function unaryRaw(op: UnaryOp, x: Tensor, outDtype: DType = x.dtype, p0?: number, p1?: number): Tensor {
  const out = emptyTensor(x.shape, outDtype, x.device, op);
  if (out.numel()) K().unary(op, dtypeCode(x.dtype), x.shape as number[], viewOf(out), viewOf(x), p0, p1);
  return out;
}

/** out = op(a, b) broadcast, computing in `dtype` (inputs cast to it). No autograd. */
export function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor, dtype: DType, outDtype: DType, name: string): Tensor {
  checkSameDevice(name, a, b);
  const shape = broadcastShapes(a.shape, b.shape, name);
  const ac = castRaw(a, dtype);
  const bc = castRaw(b, dtype);
  const out = emptyTensor(shape, outDtype, a.device, name);
  if (out.numel()) K().binary(op, dtypeCode(dtype), shape, viewOf(out), viewOf(ac, shape), viewOf(bc, shape));
  if (ac !== a) ac.dispose();
  if (bc !== b) bc.dispose();
  return out;
}

const names = new Map<string, string>();
/** PyTorch's node name for an op ('add' → 'AddBackward0'). */
const backwardName = (op: string): string => {
  let n = names.get(op);
  if (!n) names.set(op, (n = op.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase()) + 'Backward0'));
  return n;
};

// ---- unary -------------------------------------------------------------------------------------
const FLOAT_ONLY = new Set<UnaryOp>(['exp', 'log', 'sqrt', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid', 'gelu', 'gelu_tanh', 'silu', 'reciprocal', 'log1p', 'expm1', 'erf']);

type UnaryGrad = (g: Tensor, x: Tensor, y: Tensor) => Tensor;

function unary(op: UnaryOp, x: Tensor, grad: UnaryGrad | null, save: 'x' | 'y' | 'xy' | '' = 'x'): Tensor {
  const name = op === 'gelu_tanh' ? 'gelu' : op;
  tensorArg(x, name, 'input');
  let xin = x;
  if (FLOAT_ONLY.has(op)) {
    if (!isFloating(x.dtype)) xin = castRaw(x, DEFAULT_FLOAT);
  } else if (x.dtype === 'bool') {
    throw createError('ERR_DTYPE', `${name}: not supported for bool tensors (shape [${x.shape.join(', ')}])`);
  }
  const y = unaryRaw(op, xin);
  if (xin !== x) xin.dispose();
  if (!grad) return y;
  const saved = save === 'x' ? [x] : save === 'y' ? [y] : save === 'xy' ? [x, y] : [];
  return record(backwardName(name), y, [x], (g, s) => {
    const sx = save.includes('x') ? s[0]! : x;
    const sy = save === 'y' ? s[0]! : save === 'xy' ? s[1]! : y;
    return [grad(g, sx, sy)];
  }, saved);
}

export const neg = (x: Tensor): Tensor => unary('neg', x, (g) => neg(g), '');
export const abs = (x: Tensor): Tensor => unary('abs', x, (g, xx) => mul(g, sign(xx)));
export const sign = (x: Tensor): Tensor => unary('sign', x, (g) => mul(g, 0), '');
export const exp = (x: Tensor): Tensor => unary('exp', x, (g, _x, y) => mul(g, y), 'y');
export const log = (x: Tensor): Tensor => unary('log', x, (g, xx) => div(g, xx));
export const sqrt = (x: Tensor): Tensor => unary('sqrt', x, (g, _x, y) => div(g, mul(y, 2)), 'y');
export const rsqrt = (x: Tensor): Tensor => unary('rsqrt', x, (g, _x, y) => mul(g, mul(pow(y, 3), -0.5)), 'y');
export const sin = (x: Tensor): Tensor => unary('sin', x, (g, xx) => mul(g, cos(xx)));
export const cos = (x: Tensor): Tensor => unary('cos', x, (g, xx) => mul(g, neg(sin(xx))));
export const tanh = (x: Tensor): Tensor => unary('tanh', x, (g, _x, y) => backwardKernel('tanh_backward_y', g, y), 'y');
export const sigmoid = (x: Tensor): Tensor => unary('sigmoid', x, (g, _x, y) => backwardKernel('sigmoid_backward_y', g, y), 'y');
export const relu = (x: Tensor): Tensor => unary('relu', x, (g, xx) => backwardKernel('relu_backward', g, xx));
export const silu = (x: Tensor): Tensor => unary('silu', x, (g, xx) => backwardKernel('silu_backward', g, xx));
export const square = (x: Tensor): Tensor => unary('square', x, (g, xx) => mul(g, mul(xx, 2)));
export const reciprocal = (x: Tensor): Tensor => unary('reciprocal', x, (g, _x, y) => mul(g, neg(mul(y, y))), 'y');
export const log1p = (x: Tensor): Tensor => unary('log1p', x, (g, xx) => div(g, add(xx, 1)));
export const expm1 = (x: Tensor): Tensor => unary('expm1', x, (g, _x, y) => mul(g, add(y, 1)), 'y');
export const erf = (x: Tensor): Tensor => unary('erf', x, (g, xx) => mul(g, mul(exp(neg(square(xx))), 2 / Math.sqrt(Math.PI))));

/** GELU: approximate 'none' (exact, erf) or 'tanh'. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate !== 'none' && approximate !== 'tanh') {
    throw createError('ERR_INVALID_ARG', `gelu: approximate must be 'none' or 'tanh', got ${describe(approximate)}`);
  }
  return approximate === 'tanh'
    ? unary('gelu_tanh', x, (g, xx) => backwardKernel('gelu_tanh_backward', g, xx))
    : unary('gelu', x, (g, xx) => backwardKernel('gelu_backward', g, xx));
}

/** Kernels that compute an activation's input gradient from (grad, x or y). */
function backwardKernel(op: BinaryOp, g: Tensor, v: Tensor): Tensor {
  const dt = promoteTypes(g.dtype, v.dtype);
  return binaryRaw(op, g, v, dt, dt, op);
}

// ---- rounding and float predicates ------------------------------------------------------------
export interface RoundOptions {
  /**
   * Round to this many decimal places (default 0); negative rounds to tens, hundreds, ... as
   * torch.round(x, decimals=). Floating dtypes only when not 0.
   */
  decimals?: number;
}
export const ROUND_OPTIONS = optionKeys<RoundOptions>({ decimals: true });

type RoundingOp = 'round' | 'floor' | 'ceil' | 'trunc';

/**
 * round/floor/ceil/trunc as torch: same dtype out, integer tensors unchanged (a copy), bool
 * refused; the gradient is zero everywhere.
 */
function rounding(op: RoundingOp, x: Tensor, decimals: number): Tensor {
  tensorArg(x, op, 'input');
  if (x.dtype === 'bool') throw createError('ERR_DTYPE', `${op}: not supported for bool tensors (shape [${x.shape.join(', ')}])`);
  if (decimals !== 0 && !isFloating(x.dtype)) {
    throw createError('ERR_DTYPE', `round: decimals (${decimals}) needs a floating point tensor, got ${x.dtype} (integers are already whole)`);
  }
  const y = unaryRaw(op, x, x.dtype, op === 'round' ? decimals : undefined);
  const name = op === 'round' && decimals !== 0 ? 'RoundBackward1' : backwardName(op);
  return record(name, y, [x], (g) => [zeros([...g.shape], { dtype: g.dtype, device: g.device })]);
}

/** Rounds half to even (torch.round); { decimals } rounds to that many decimal places. */
export function round(x: Tensor, opts: RoundOptions = {}): Tensor {
  opts = optsArg(opts, 'round', ROUND_OPTIONS);
  const d = opts.decimals ?? 0;
  if (typeof d !== 'number' || !Number.isSafeInteger(d)) throw createError('ERR_INVALID_ARG', `round: option 'decimals' must be an integer, got ${describe(d)}`);
  return rounding('round', x, d);
}
export const floor = (x: Tensor): Tensor => rounding('floor', x, 0);
export const ceil = (x: Tensor): Tensor => rounding('ceil', x, 0);
/** Rounds toward zero (torch.trunc, torch.fix). */
export const trunc = (x: Tensor): Tensor => rounding('trunc', x, 0);

function predicate(op: 'isnan' | 'isinf' | 'isfinite', x: Tensor): Tensor {
  tensorArg(x, op, 'input');
  return unaryRaw(op, x, 'bool');
}
/** A bool tensor: true where x is NaN (never for integer and bool tensors). */
export const isnan = (x: Tensor): Tensor => predicate('isnan', x);
/** A bool tensor: true where x is +inf or -inf. */
export const isinf = (x: Tensor): Tensor => predicate('isinf', x);
/** A bool tensor: true where x is neither NaN nor infinite (always for integer and bool tensors). */
export const isfinite = (x: Tensor): Tensor => predicate('isfinite', x);

export function logicalNot(x: Tensor): Tensor {
  tensorArg(x, 'logicalNot', 'input');
  return unaryRaw('eq_scalar', x, 'bool', 0);
}

// ---- binary ------------------------------------------------------------------------------------
type Arith = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'atan2';

/** A 0-dim tensor holding a scalar, typed to combine with `like`. */
function scalarTensor(s: Scalar, like: Tensor): Tensor {
  return full([], s, { dtype: promoteScalar(like.dtype, s), device: like.device });
}

function arith(op: Arith, a: Operand, b: Operand, alpha = 1): Tensor {
  checkOperand(a, op);
  checkOperand(b, op);
  if (typeof alpha !== 'number') throw createError('ERR_INVALID_ARG', `${op}: alpha must be a number`);
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) {
    throw createError('ERR_INVALID_ARG', `${op}: at least one operand must be a Tensor`);
  }
  if (a instanceof Tensor && b instanceof Tensor) return arithTT(op, a, b, alpha);
  if (a instanceof Tensor) {
    const r = arithTS(op, a, b as Scalar, alpha);
    if (r) return r;
    const bt = scalarTensor(b as Scalar, a);
    const out = arithTT(op, a, bt, alpha);
    bt.dispose();
    return out;
  }
  const bt = b as Tensor;
  const r = arithST(op, a, bt, alpha);
  if (r) return r;
  const at = scalarTensor(a, bt);
  const out = arithTT(op, at, bt, alpha);
  at.dispose();
  return out;
}

function computeType(op: Arith, dt: DType): DType {
  if ((op === 'div' || op === 'atan2') && !isFloating(dt)) return DEFAULT_FLOAT;
  return dt;
}

/** tensor ⊕ scalar through the scalar kernels (null: use the tensor path). */
function arithTS(op: Arith, a: Tensor, s: Scalar, alpha: number): Tensor | null {
  const dt = computeType(op, promoteScalar(a.dtype, s));
  if (dt === 'bool' || op === 'atan2') return null;
  const v = scalarNum(s);
  if (op === 'pow' && !isFloating(dt) && v < 0) {
    throw createError('ERR_DTYPE', `pow: integers to negative integer powers are not allowed (${a.dtype} tensor ** ${v})`);
  }
  const ac = castRaw(a, dt);
  let y: Tensor;
  switch (op) {
    case 'add': y = unaryRaw('add_scalar', ac, dt, alpha * v); break;
    case 'sub': y = unaryRaw('add_scalar', ac, dt, -alpha * v); break;
    case 'mul': y = unaryRaw('mul_scalar', ac, dt, v); break;
    case 'div': y = unaryRaw('mul_scalar', ac, dt, 1 / v); break;
    case 'pow': y = unaryRaw('pow_scalar', ac, dt, v); break;
    case 'maximum': y = unaryRaw('maximum_scalar', ac, dt, v); break;
    default: y = unaryRaw('minimum_scalar', ac, dt, v); break;
  }
  if (ac !== a) ac.dispose();
  const name = backwardName(op);
  switch (op) {
    case 'add': case 'sub': return record(name, y, [a], (g) => [g]);
    case 'mul': return record(name, y, [a], (g) => [mul(g, v)]);
    case 'div': return record(name, y, [a], (g) => [mul(g, 1 / v)]);
    case 'pow':
      return record(name, y, [a], (g, [x]) => [v === 0 ? mul(g, 0) : mul(g, mul(pow(x!, v - 1), v))], [a]);
    default: // maximum / minimum with a scalar: ties split the gradient, like torch
      return record(name, y, [a], (g, [x]) => [tieGrad(op, g, x!, v)], [a]);
  }
}

function tieGrad(op: 'maximum' | 'minimum', g: Tensor, x: Tensor, other: Operand): Tensor {
  const win = compare(op === 'maximum' ? 'gt' : 'lt', x, other);
  const tie = compare('eq', x, other);
  const half = mul(g, 0.5);
  const r = where(win, g, where(tie, half, 0));
  return r;
}

/** scalar ⊕ tensor (null: use the tensor path). */
function arithST(op: Arith, s: Scalar, b: Tensor, alpha: number): Tensor | null {
  if (op === 'add' || op === 'mul' || op === 'maximum' || op === 'minimum') {
    if (op === 'add' && alpha !== 1) return null;
    return arithTS(op, b, s, 1);
  }
  const dt = computeType(op, promoteScalar(b.dtype, s));
  if (dt === 'bool' || op === 'atan2' || alpha !== 1) return null;
  const v = scalarNum(s);
  const bc = castRaw(b, dt);
  const kop: UnaryOp = op === 'sub' ? 'rsub_scalar' : op === 'div' ? 'rdiv_scalar' : 'rpow_scalar';
  const y = unaryRaw(kop, bc, dt, v);
  if (bc !== b) bc.dispose();
  const name = backwardName(op);
  if (op === 'sub') return record(name, y, [b], (g) => [neg(g)]);
  if (op === 'div') return record(name, y, [b], (g, [x, yy]) => [neg(div(mul(g, yy!), x!))], [b, y]);
  return record(name, y, [b], (g, [yy]) => [v === 0 ? mul(g, 0) : mul(g, mul(yy!, Math.log(v)))], [y]);
}

function arithTT(op: Arith, a: Tensor, b: Tensor, alpha: number): Tensor {
  let dt = computeType(op, resultType(a, b));
  let kop: BinaryOp = op;
  if (dt === 'bool') {
    if (op === 'add' || op === 'maximum') kop = 'logical_or';
    else if (op === 'mul' || op === 'minimum') kop = 'logical_and';
    else throw createError('ERR_DTYPE', `${op}: not supported for two bool tensors (shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}])`);
  }
  let bIn = b;
  if (alpha !== 1 && (op === 'add' || op === 'sub')) {
    if (dt === 'bool') dt = 'int64';
    if (!isFloating(dt) && !Number.isInteger(alpha)) throw createError('ERR_DTYPE', `${op}: a fractional alpha needs a floating point result (got ${dt})`);
    bIn = unaryRaw('mul_scalar', castRaw(b, dt), dt, alpha);
  }
  const y = binaryRaw(kop, a, bIn, dt, dt, op);
  if (bIn !== b) bIn.dispose();
  const name = backwardName(op);
  switch (op) {
    case 'add': return record(name, y, [a, b], (g) => [g, alpha === 1 ? g : mul(g, alpha)]);
    case 'sub': return record(name, y, [a, b], (g) => [g, mul(g, -alpha)]);
    case 'mul': return record(name, y, [a, b], (g, [sa, sb], need) => [need[0] ? mul(g, sb!) : null, need[1] ? mul(g, sa!) : null], [a, b]);
    case 'div':
      return record(name, y, [a, b], (g, [sa, sb], need) => [
        need[0] ? div(g, sb!) : null,
        need[1] ? neg(div(mul(g, sa!), mul(sb!, sb!))) : null,
      ], [a, b]);
    case 'pow':
      return record(name, y, [a, b], (g, [sa, sb, sy], need) => [
        need[0] ? mul(g, mul(sb!, pow(sa!, sub(sb!, 1)))) : null,
        need[1] ? where(logicalAndT(compare('eq', sa!, 0), compare('ge', sb!, 0)), 0, mul(g, mul(sy!, log(sa!)))) : null,
      ], [a, b, y]);
    case 'maximum': case 'minimum':
      return record(name, y, [a, b], (g, [sa, sb]) => [tieGrad(op, g, sa!, sb!), tieGrad(op, g, sb!, sa!)], [a, b]);
    default: // atan2(a = y, b = x)
      return record(name, y, [a, b], (g, [sa, sb]) => {
        const den = add(mul(sa!, sa!), mul(sb!, sb!));
        return [div(mul(g, sb!), den), neg(div(mul(g, sa!), den))];
      }, [a, b]);
  }
}

function logicalAndT(a: Tensor, b: Tensor): Tensor {
  return binaryRaw('logical_and', a, b, 'bool', 'bool', 'logicalAnd');
}

/** a + alpha * b. */
export const add = (a: Operand, b: Operand, alpha = 1): Tensor => arith('add', a, b, alpha);
/** a - alpha * b. */
export const sub = (a: Operand, b: Operand, alpha = 1): Tensor => arith('sub', a, b, alpha);
export const mul = (a: Operand, b: Operand): Tensor => arith('mul', a, b);
/** True division (integer inputs give float32). */
export const div = (a: Operand, b: Operand): Tensor => arith('div', a, b);
export const pow = (a: Operand, b: Operand): Tensor => arith('pow', a, b);
export const maximum = (a: Operand, b: Operand): Tensor => arith('maximum', a, b);
export const minimum = (a: Operand, b: Operand): Tensor => arith('minimum', a, b);
export const atan2 = (a: Operand, b: Operand): Tensor => arith('atan2', a, b);

// ---- comparisons and logic ---------------------------------------------------------------------
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
const FLIP: Record<CompareOp, CompareOp> = { eq: 'eq', ne: 'ne', lt: 'gt', le: 'ge', gt: 'lt', ge: 'le' };

/** Element-wise comparison; a bool tensor. */
export function compare(op: CompareOp, a: Operand, b: Operand): Tensor {
  if (typeof op !== 'string' || !Object.prototype.hasOwnProperty.call(FLIP, op)) {
    throw createError('ERR_INVALID_ARG', `compare: op must be one of ${Object.keys(FLIP).join(', ')}, got ${describe(op)}`);
  }
  checkOperand(a, op);
  checkOperand(b, op);
  if (!(a instanceof Tensor)) {
    if (!(b instanceof Tensor)) throw createError('ERR_INVALID_ARG', `${op}: at least one operand must be a Tensor`);
    return compare(FLIP[op], b, a);
  }
  if (!(b instanceof Tensor)) {
    const dt = promoteScalar(a.dtype, b);
    const ac = castRaw(a, dt);
    const out = unaryRaw(`${op}_scalar`, ac, 'bool', scalarNum(b));
    if (ac !== a) ac.dispose();
    return out;
  }
  return binaryRaw(op, a, b, resultType(a, b), 'bool', op);
}

export function logical(op: 'logical_and' | 'logical_or', a: Operand, b: Operand): Tensor {
  if (op !== 'logical_and' && op !== 'logical_or') throw createError('ERR_INVALID_ARG', `logical: op must be 'logical_and' or 'logical_or', got ${describe(op)}`);
  const name = op === 'logical_and' ? 'logicalAnd' : 'logicalOr';
  checkOperand(a, name);
  checkOperand(b, name);
  const at = a instanceof Tensor ? a : null;
  const bt = b instanceof Tensor ? b : null;
  if (!at && !bt) throw createError('ERR_INVALID_ARG', `${name}: at least one operand must be a Tensor`);
  const ta = at ?? full([], a as Scalar, { dtype: 'bool', device: bt!.device });
  const tb = bt ?? full([], b as Scalar, { dtype: 'bool', device: at!.device });
  const na = ta.dtype === 'bool' ? ta : compare('ne', ta, 0);
  const nb = tb.dtype === 'bool' ? tb : compare('ne', tb, 0);
  const out = binaryRaw(op, na, nb, 'bool', 'bool', name);
  for (const t of [ta, tb, na, nb]) if (t !== a && t !== b) t.dispose();
  return out;
}

/** cond ? a : b, broadcast over all three. cond must be bool. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  checkOperand(cond, 'where');
  if (!(cond instanceof Tensor)) throw createError('ERR_INVALID_ARG', 'where: condition must be a bool Tensor');
  if (cond.dtype !== 'bool') throw createError('ERR_DTYPE', `where: condition must be a bool tensor, got ${cond.dtype}`);
  checkOperand(a, 'where');
  checkOperand(b, 'where');
  const at = a instanceof Tensor ? a : b instanceof Tensor ? scalarTensor(a, b) : full([], a, { device: cond.device });
  const bt = b instanceof Tensor ? b : scalarTensor(b, at);
  checkSameDevice('where', cond, at, bt);
  const dt = resultType(at, bt);
  const shape = broadcastShapes(broadcastShapes(cond.shape, at.shape, 'where'), bt.shape, 'where');
  const ac = castRaw(at, dt);
  const bc = castRaw(bt, dt);
  const out = emptyTensor(shape, dt, cond.device, 'where');
  if (out.numel()) K().where(dtypeCode(dt), shape, viewOf(out), viewOf(cond, shape), viewOf(ac, shape), viewOf(bc, shape));
  for (const t of [ac, bc]) if (t !== at && t !== bt) t.dispose();
  if (at !== a) at.dispose();
  if (bt !== b) bt.dispose();
  return record('WhereBackward0', out, [null, a instanceof Tensor ? a : null, b instanceof Tensor ? b : null], (g, [c]) => [
    null, where(c!, g, 0), where(c!, 0, g),
  ], [cond]);
}

/** Limits values to [min, max] (either may be null). */
export function clamp(x: Tensor, min: number | null, max: number | null): Tensor {
  tensorArg(x, 'clamp', 'input');
  min = min ?? null;
  max = max ?? null;
  if (min === null && max === null) throw createError('ERR_INVALID_ARG', 'clamp: at least one of min and max must be given');
  for (const v of [min, max]) if (v !== null && typeof v !== 'number') throw createError('ERR_INVALID_ARG', 'clamp: min and max must be numbers or null');
  let dt = x.dtype;
  if (min !== null) dt = promoteTypes(dt, promoteScalar(x.dtype, min));
  if (max !== null) dt = promoteTypes(dt, promoteScalar(x.dtype, max));
  if (dt === 'bool') throw createError('ERR_DTYPE', 'clamp: not supported for bool tensors');
  const xc = castRaw(x, dt);
  const y = min !== null && max !== null
    ? unaryRaw('clamp', xc, dt, min, max)
    : min !== null ? unaryRaw('maximum_scalar', xc, dt, min) : unaryRaw('minimum_scalar', xc, dt, max!);
  if (xc !== x) xc.dispose();
  return record('ClampBackward1', y, [x], (g, [sx]) => {
    let mask: Tensor | null = null;
    if (min !== null) mask = compare('ge', sx!, min);
    if (max !== null) {
      const m2 = compare('le', sx!, max);
      mask = mask ? logicalAndT(mask, m2) : m2;
    }
    return [where(mask!, g, 0)];
  }, [x]);
}
