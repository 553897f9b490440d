/**
 * The backward engine. It counts each node's dependencies with an iterative walk (no recursion:
 * deep graphs must not overflow the stack), then runs nodes whose gradients are complete, latest
 * created first (PyTorch's order, which makes leaves' post-accumulate hooks fire roughly in
 * reverse order of use, as DDP expects). Gradients arriving at one node are summed; leaves
 * accumulate into .grad with +=. Without retainGraph, every node's saved tensors are freed as soon
 * as it has run. Gradients the engine made and nobody keeps are disposed as soon as they are used.
 * Callbacks queued during a backward (queueCallback, torch's Variable._execution_engine.queue_callback)
 * run once the whole graph has, before backward() returns: DDP finishes its gradient sync there.
 */
import { createError } from '../errors.js';
import { tensorArg } from '../tensor/args.js';
import type { Tensor } from '../tensor/tensor.js';
import { AccumulateGrad, type Node } from './node.js';
import { noGrad } from './grad-mode.js';
import { keep, tidy } from '../tensor/scope.js';
import { add } from '../tensor/ops/elementwise.js';
import { contiguous, clone } from '../tensor/ops/copy.js';
import { onesLike } from '../tensor/creation.js';
import { fmtShape, shapesEqual } from '../tensor/shape.js';

/** Max-heap of nodes by creation order. */
class NodeHeap {
  private a: Node[] = [];
  get size(): number {
    return this.a.length;
  }
  push(n: Node): void {
    const a = this.a;
    a.push(n);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.seq >= a[i]!.seq) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): Node {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.seq > a[m]!.seq) m = l;
        if (r < a.length && a[r]!.seq > a[m]!.seq) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

export interface EngineOptions {
  retainGraph?: boolean;
}

/** Callbacks of the backward passes running now (innermost last). */
const callbackStack: (() => void)[][] = [];

/**
 * Runs fn at the end of the backward pass that is running now, after every gradient has been
 * computed and accumulated, before backward() returns; an error it throws is backward()'s error.
 * Only callable from inside a backward (a hook), as torch's queue_callback.
 */
export function queueCallback(fn: () => void): void {
  const top = callbackStack[callbackStack.length - 1];
  if (!top) throw createError('ERR_AUTOGRAD', 'queueCallback(): can only be called while a backward pass runs (from a hook)');
  top.push(fn);
}

export function backward(root: Tensor, grad: Tensor | null, opts: EngineOptions = {}): void {
  if (!root.requiresGrad) {
    throw createError('ERR_AUTOGRAD', 'backward(): element 0 of tensors does not require grad and does not have a grad_fn');
  }
  if (grad === null) {
    if (root.numel() !== 1) {
      throw createError('ERR_AUTOGRAD', `backward(): grad can be implicitly created only for scalar outputs; this tensor has shape ${fmtShape(root.shape)}, pass a gradient of that shape`);
    }
  } else {
    tensorArg(grad, 'backward', 'gradient');
    if (!shapesEqual(grad.shape, root.shape)) {
      throw createError('ERR_SHAPE_MISMATCH', `backward(): gradient of shape ${fmtShape(grad.shape)} does not match the output shape ${fmtShape(root.shape)}`);
    }
    if (!grad.device.equals(root.device)) {
      throw createError('ERR_DEVICE_MISMATCH', `backward(): gradient is on ${grad.device} but the output is on ${root.device}`);
    }
  }
  const callbacks: (() => void)[] = [];
  callbackStack.push(callbacks);
  try {
    noGrad(() => run(root, grad, opts.retainGraph ?? false));
    // callbacks may queue more (they still see this pass as running)
    for (let i = 0; i < callbacks.length; i++) callbacks[i]!();
  } finally {
    callbackStack.pop();
  }
}

function run(root: Tensor, userGrad: Tensor | null, retainGraph: boolean): void {
  const owned = new Set<Tensor>(); // gradients the engine made (safe to dispose)
  const rootGrad = userGrad ?? onesLike(root);
  if (!userGrad) owned.add(rootGrad);
  const rootNode = root._gradEdge()!;

  // 1. dependency counts (iterative DFS)
  const deps = new Map<Node, number>();
  const seen = new Set<Node>([rootNode]);
  const stack: Node[] = [rootNode];
  while (stack.length) {
    const n = stack.pop()!;
    for (const e of n.next) {
      if (!e) continue;
      deps.set(e, (deps.get(e) ?? 0) + 1);
      if (!seen.has(e)) {
        seen.add(e);
        stack.push(e);
      }
    }
  }

  // 2. run nodes whose inputs are complete, latest first
  const buffers = new Map<Node, Tensor>();
  buffers.set(rootNode, rootGrad);
  const ready = new NodeHeap();
  ready.push(rootNode);
  const disposeOwned = (t: Tensor): void => {
    if (owned.delete(t)) t.dispose();
  };
  try {
    while (ready.size) {
      const node = ready.pop();
      let g = buffers.get(node) ?? null;
      buffers.delete(node);
      if (g) {
        for (const hook of node instanceof AccumulateGrad ? node.variable?._leafHooks ?? [] : node.hooks) {
          const r = hook(g);
          if (r && r !== g) {
            disposeOwned(g);
            g = r;
          }
        }
      }
      if (node instanceof AccumulateGrad) {
        if (g) accumulate(node, g, owned);
        continue;
      }
      if (g && node.retained) accumulateRetained(node.retained, g, owned);
      let grads: (Tensor | null)[] = [];
      if (g) {
        const input = g;
        grads = tidy(() => node.apply(input)); // temporaries of the backward formula die here
        // a backward may hand its incoming gradient (or one tensor twice) straight through
        const seenOut = new Set<Tensor>();
        grads = grads.map((x) => {
          if (!x) return null;
          const y = x === g || seenOut.has(x) ? x._alias() : x;
          seenOut.add(y);
          owned.add(y);
          return y;
        });
        disposeOwned(g);
      }
      if (!retainGraph) node.releaseSaved();
      node.next.forEach((e, i) => {
        if (!e) {
          if (grads[i]) disposeOwned(grads[i]!);
          return;
        }
        const gi = grads[i];
        if (gi) {
          const prev = buffers.get(e);
          if (prev) {
            const sum = add(prev, gi);
            owned.add(sum);
            disposeOwned(prev);
            disposeOwned(gi);
            buffers.set(e, sum);
          } else buffers.set(e, gi);
        }
        const left = deps.get(e)! - 1;
        deps.set(e, left);
        if (left === 0) ready.push(e);
      });
    }
  } finally {
    for (const t of owned) t.dispose();
  }
}

/** A gradient .grad may own: contiguous and not sharing storage with anyone else. */
function stealable(g: Tensor, owned: Set<Tensor>): boolean {
  return owned.has(g) && g.isContiguous() && g._storage.refs === 1 && g.offset === 0;
}

function accumulate(node: AccumulateGrad, g: Tensor, owned: Set<Tensor>): void {
  const v = node.variable;
  if (!v || v.isDisposed) return;
  if (v.grad && !v.grad.isDisposed) {
    v.grad.add_(g);
    if (owned.delete(g)) g.dispose();
  } else {
    let ng: Tensor;
    if (stealable(g, owned)) {
      owned.delete(g);
      ng = g;
    } else {
      ng = g.isContiguous() && !owned.has(g) ? clone(g) : contiguousCopy(g);
      if (owned.delete(g)) g.dispose();
    }
    v.grad = keep(ng);
  }
  for (const h of v._postAccHooks) h(v);
}

function contiguousCopy(g: Tensor): Tensor {
  return g.isContiguous() ? clone(g) : contiguous(g);
}

function accumulateRetained(t: Tensor, g: Tensor, owned: Set<Tensor>): void {
  void owned;
  if (t.grad && !t.grad.isDisposed) t.grad.add_(g);
  else t.grad = keep(clone(g));
}
