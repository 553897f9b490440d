/**
 * In-place ops. The naming rule: a method ending in `_` writes into `this` and returns it (as in
 * PyTorch). Every in-place write bumps the storage's version counter, so autograd can tell when a
 * tensor it saved for backward was overwritten. Under grad mode, in-place ops on leaves that
 * require grad are refused, and in-place ops on other tensors are recorded (the tensor's gradFn is
 * replaced by the op's), like PyTorch.
 */
import { tensorArg } from '../args.js';
import { createError } from '../../errors.js';
import { fitGrad, needsGrad } from '../../autograd/function.js';
import { isGradEnabled } from '../../autograd/grad-mode.js';
import { Node } from '../../autograd/node.js';
import { dtypeCode, isFloating, isIntegral, type DType, type Scalar } from '../dtype.js';
import { K, viewOf } from '../kernels.js';
import { broadcastShapes, fmtShape, shapesEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { cast, clone, contiguous, copyInto, transfer } from './copy.js';

export function bumpVersion(t: Tensor): void {
  t._storage.version++;
}

/** Common checks before writing into t. */
export function checkInplace(t: Tensor, op: string): void {
  tensorArg(t, op, 'input');
  if (isGradEnabled() && t.requiresGrad && t.isLeaf) {
    throw createError('ERR_AUTOGRAD', `${op}: a leaf tensor that requires grad is being used in an in-place operation (wrap it in noGrad(), or use an out-of-place op)`);
  }
  for (let i = 0; i < t.ndim; i++) {
    if (t.strides[i] === 0 && t.shape[i]! > 1) {
      throw createError('ERR_INVALID_ARG', `${op}: unsupported operation: more than one element of the written-to tensor (shape ${fmtShape(t.shape)}, strides ${fmtShape(t.strides)}) refers to a single memory location; clone() it first`);
    }
  }
}

/** Whether a value of dtype `from` may be written into `to` (torch.can_cast). */
export function canCast(from: DType, to: DType): boolean {
  if (isFloating(from)) return isFloating(to);
  if (isIntegral(from)) return to !== 'bool';
  return true;
}

/** Raw fill of every element (no checks, no version bump). */
export function fillScalar(t: Tensor, v: Scalar): void {
  if (t.numel() === 0) return;
  const x = typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
  const view = viewOf(t);
  K().unary('fill', dtypeCode(t.dtype), t.shape as number[], view, view, x);
}

function recordOverwrite(t: Tensor, name: string): void {
  if (isGradEnabled() && t.requiresGrad) t._setGradFn(new Node(name, [], [], () => [], []));
}

export function fill_<T extends Tensor>(t: T, v: Scalar): T {
  checkInplace(t, 'fill_');
  if (typeof v !== 'number' && typeof v !== 'bigint' && typeof v !== 'boolean') {
    throw createError('ERR_INVALID_ARG', `fill_: value must be a number, bigint or boolean, got ${typeof v}`);
  }
  fillScalar(t, v);
  bumpVersion(t);
  recordOverwrite(t, 'FillBackward0');
  return t;
}

function checkTarget(t: Tensor, r: Tensor, op: string): void {
  if (!shapesEqual(broadcastShapes(t.shape, r.shape, op), t.shape)) {
    throw createError('ERR_SHAPE_MISMATCH', `${op}: output with shape ${fmtShape(t.shape)} doesn't match the broadcast shape ${fmtShape(broadcastShapes(t.shape, r.shape, op))}`);
  }
  if (!canCast(r.dtype, t.dtype)) {
    throw createError('ERR_DTYPE', `${op}: result type ${r.dtype} can't be cast to the desired output type ${t.dtype}`);
  }
}

/** copy_(src): writes src (broadcast, converted; from any device) into t. */
export function copy_<T extends Tensor>(t: T, src: Tensor | Scalar): T {
  if (!(src instanceof Tensor)) return fill_(t, src);
  checkInplace(t, 'copy_');
  tensorArg(src, 'copy_', 'input');
  const bs = broadcastShapes(t.shape, src.shape, 'copy_');
  if (!shapesEqual(bs, t.shape)) {
    throw createError('ERR_SHAPE_MISMATCH', `copy_: source of shape ${fmtShape(src.shape)} cannot be broadcast to the destination shape ${fmtShape(t.shape)}`);
  }
  const local = src.device.equals(t.device) ? src : transfer(contiguous(src.detach()), t.device);
  copyInto(t, local);
  if (local !== src) local.dispose();
  bumpVersion(t);
  if (needsGrad(src) || (isGradEnabled() && t.requiresGrad)) {
    const srcDevice = src.device;
    const dst = new Node('CopyBackwards', [src._gradEdge()], [{ shape: [...src.shape], dtype: src.dtype }], (g) => {
      const r = g.device.equals(srcDevice) ? g : transfer(contiguous(g), srcDevice);
      return [fitGrad(r, src.shape, src.dtype)];
    }, []);
    t._setGradFn(dst);
  }
  return t;
}

/**
 * Runs an out-of-place `compute(x)` and writes the result into t. Recording: when autograd must
 * see the write, compute runs on a clone that stands in for t's old value in the graph (so the
 * op's own saved values stay valid) and t takes over the result's gradFn.
 */
export function assign_<T extends Tensor>(t: T, op: string, compute: (x: Tensor) => Tensor, ...operands: unknown[]): T {
  checkInplace(t, op);
  if (needsGrad(t, ...operands)) {
    if (t._base && t._base.requiresGrad) {
      throw createError('ERR_AUTOGRAD', `${op}: in-place operations on views of tensors that require grad are not supported; use the out-of-place op`);
    }
    const standIn = clone(t);
    const r = compute(standIn);
    checkTarget(t, r, op);
    const rr = cast(r, t.dtype);
    copyInto(t, rr);
    bumpVersion(t);
    const node = rr.gradFn;
    t._setGradFn(node);
    if (rr !== r) rr.dispose();
    r.dispose();
    if (standIn !== t) standIn.dispose();
    return t;
  }
  const r = compute(t);
  checkTarget(t, r, op);
  copyInto(t, r);
  r.dispose();
  bumpVersion(t);
  return t;
}

/**
 * add_/sub_/mul_/div_ written straight into t by one kernel when nothing needs recording, the
 * result dtype is t's and the operand does not share t's storage; otherwise the general path.
 */
export function arith_<T extends Tensor>(t: T, op: 'add' | 'sub' | 'mul' | 'div', other: Tensor | Scalar, alpha: number,
  general: (x: Tensor) => Tensor): T {
  t._check(`${op}_`);
  if (!needsGrad(t, other) && isFloating(t.dtype) && typeof alpha === 'number') {
    if (typeof other === 'number') {
      checkInplace(t, `${op}_`);
      if (t.numel()) {
        const view = viewOf(t);
        const code = dtypeCode(t.dtype);
        if (op === 'add' || op === 'sub') K().unary('add_scalar', code, t.shape as number[], view, view, (op === 'add' ? 1 : -1) * alpha * other);
        else K().unary('mul_scalar', code, t.shape as number[], view, view, op === 'mul' ? other : 1 / other);
      }
      bumpVersion(t);
      return t;
    }
    if (other instanceof Tensor && other.dtype === t.dtype && alpha === 1 && other._storage !== t._storage) {
      other._check(`${op}_`);
      checkInplace(t, `${op}_`);
      if (!other.device.equals(t.device)) {
        throw createError('ERR_DEVICE_MISMATCH', `${op}_: expected all tensors to be on the same device, but found ${t.device} and ${other.device}`);
      }
      const bs = broadcastShapes(t.shape, other.shape, `${op}_`);
      if (!shapesEqual(bs, t.shape)) {
        throw createError('ERR_SHAPE_MISMATCH', `${op}_: output with shape ${fmtShape(t.shape)} doesn't match the broadcast shape ${fmtShape(bs)}`);
      }
      if (t.numel()) {
        const view = viewOf(t);
        K().binary(op, dtypeCode(t.dtype), t.shape as number[], view, view, viewOf(other, t.shape));
      }
      bumpVersion(t);
      return t;
    }
  }
  return assign_(t, `${op}_`, general, other);
}
