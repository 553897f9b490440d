/**
 * The autograd graph. Every differentiable op whose inputs require grad gives its output a Node
 * (its `gradFn`): the op's backward function, edges to the inputs' nodes (a leaf's edge is its
 * AccumulateGrad node) and the tensors saved for backward. Nodes are reference-counted by the
 * tensors whose gradFn they are and by the nodes that point at them, so a graph nobody can reach
 * any more frees its saved tensors at once, without waiting for the garbage collector.
 */
import { createError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';

/** A hook on a tensor's gradient: may return a replacement gradient. */
export type GradHook = (grad: Tensor) => Tensor | void | undefined;
export type PostAccumulateGradHook = (param: Tensor) => void;

export interface RemovableHandle {
  remove(): void;
}

let seq = 0;

/**
 * A tensor saved for backward: an alias holding its own reference to the storage (so disposing the
 * user's handle does not pull the data away) plus the storage version at save time, checked on use.
 */
export class SavedTensor {
  private alias: Tensor | null;
  private readonly version: number;
  private readonly opName: string;
  constructor(t: Tensor, opName: string) {
    this.alias = t._alias();
    this.version = t._version;
    this.opName = opName;
  }
  get(): Tensor {
    const a = this.alias;
    if (!a) {
      throw createError(
        'ERR_AUTOGRAD',
        `${this.opName}: trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). ` +
          'Saved intermediate values of the graph are freed when you call backward(); pass { retainGraph: true } to backward the first time if you need to backward twice.',
      );
    }
    if (a._version !== this.version) {
      throw createError(
        'ERR_AUTOGRAD',
        `one of the variables needed for gradient computation has been modified by an inplace operation: ${this.opName} saved a ` +
          `${a.dtype} tensor of shape [${a.shape.join(', ')}] at version ${this.version}, and it is now at version ${a._version}`,
      );
    }
    return a;
  }
  release(): void {
    this.alias?.dispose();
    this.alias = null;
  }
}

export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

export class Node {
  readonly name: string;
  /** Edges to the inputs' nodes (null: that input needs no gradient). */
  next: (Node | null)[];
  /** Shapes and dtypes of the inputs (gradients are reduced / cast to them). */
  readonly inputMeta: { shape: number[]; dtype: Tensor['dtype'] }[];
  private fn: BackwardFn | null;
  private saved: SavedTensor[];
  /** Creation order: the engine runs later nodes first, like PyTorch. */
  readonly seq = seq++;
  released = false;
  refs = 0;
  /** registerHook() on the tensor this node produced. */
  hooks: GradHook[] = [];
  /** retainGrad(): the non-leaf tensor whose .grad receives this node's gradient. */
  retained: Tensor | null = null;

  constructor(name: string, next: (Node | null)[], inputMeta: Node['inputMeta'], fn: BackwardFn | null, saved: SavedTensor[]) {
    this.name = name;
    this.next = next;
    this.inputMeta = inputMeta;
    this.fn = fn;
    this.saved = saved;
    for (const n of next) if (n) n.refs++;
  }

  apply(grad: Tensor): (Tensor | null)[] {
    if (this.released || !this.fn) {
      throw createError(
        'ERR_AUTOGRAD',
        `${this.name}: trying to backward through the graph a second time (or directly access saved tensors after they have already been freed). ` +
          'Saved intermediate values of the graph are freed when you call backward(); pass { retainGraph: true } to backward the first time if you need to backward twice.',
      );
    }
    return this.fn(grad);
  }

  /** Frees the saved tensors (after backward without retainGraph); the node can no longer run. */
  releaseSaved(): void {
    if (this.released) return;
    this.released = true;
    for (const s of this.saved) s.release();
    this.saved = [];
    this.fn = null;
  }

  retain(): void {
    this.refs++;
  }

  /** Drops one reference; an unreachable node frees its saved tensors and drops its edges. */
  drop(): void {
    // Iterative: dropping a long chain must not recurse.
    const stack: Node[] = [this];
    while (stack.length) {
      const n = stack.pop()!;
      if (--n.refs > 0) continue;
      n.onUnreachable();
      n.releaseSaved();
      for (const e of n.next) if (e) stack.push(e);
      n.next = [];
    }
  }

  protected onUnreachable(): void {}

  toString(): string {
    return `<${this.name}>`;
  }
}

/** The node at the end of a leaf's edges: accumulates into leaf.grad, then runs post hooks. */
export class AccumulateGrad extends Node {
  variable: Tensor | null;
  postHooks: PostAccumulateGradHook[] = [];
  constructor(variable: Tensor) {
    super('AccumulateGrad', [], [{ shape: [...variable.shape], dtype: variable.dtype }], null, []);
    this.variable = variable;
  }
  protected override onUnreachable(): void {
    if (this.variable && this.variable._accumulator === this) this.variable._accumulator = null;
    this.variable = null;
  }
}
