/**
 * einsum (torch.einsum): an equation of subscripts over operands, evaluated by the existing
 * differentiable ops so autograd follows: a repeated subscript in one operand takes a diagonal
 * (a strided view), a subscript that appears in no other operand and not in the output is summed
 * away at once, and operands are contracted left to right, each pair as one batched matmul
 * (batch subscripts, then the left's own, the contracted ones, the right's own), then permuted to
 * the output order. '...' stands for broadcast dims (right-aligned, as torch); without '->' the
 * output is '...' followed by the subscripts seen exactly once, in alphabetical order (upper case
 * first), as torch's implicit form.
 */
import { tensorArg } from '../args.js';
import { createError } from '../../errors.js';
import { record } from '../../autograd/function.js';
import { describe } from '../describe.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { copyInto } from './copy.js';
import { mul } from './elementwise.js';
import { matmul } from './matmul.js';
import { sum } from './reduce.js';
import { expand, makeView, permute, reshape } from './view.js';
import { zeros } from '../creation.js';
import { tidy } from '../scope.js';

const ELLIPSIS_BASE = 1000; // label ids of the ellipsis dims: ELLIPSIS_BASE + i (letters: their char code)

interface Term {
  labels: number[]; // letters (char codes) with -1 where '...' stands
  hasEllipsis: boolean;
}

function bad(msg: string): Error {
  return createError('ERR_INVALID_ARG', `einsum(): ${msg}`);
}

function parseTerm(s: string, what: string): Term {
  const labels: number[] = [];
  let hasEllipsis = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '.') {
      if (s.slice(i, i + 3) !== '...') throw bad(`found '.' for ${what} that is not part of any ellipsis ('...')`);
      if (hasEllipsis) throw bad(`found more than one ellipsis ('...') for ${what}`);
      hasEllipsis = true;
      labels.push(-1);
      i += 2;
    } else if (/^[a-zA-Z]$/.test(c)) {
      labels.push(c.charCodeAt(0));
    } else {
      throw bad(`invalid subscript '${c}' given for ${what} in the equation; subscripts must be letters in [a-zA-Z]`);
    }
  }
  return { labels, hasEllipsis };
}

/** A view of x on the diagonal of repeated dims: each dim in dropFrom merges into an earlier one. */
function diagonal(x: Tensor, dropFrom: Map<number, number>): Tensor {
  // dropFrom: dim -> the earlier dim it merges into
  const shape: number[] = [];
  const strides: number[] = [];
  const keptIndex = new Map<number, number>();
  for (let d = 0; d < x.ndim; d++) {
    const into = dropFrom.get(d);
    if (into === undefined) {
      keptIndex.set(d, shape.length);
      shape.push(x.shape[d]!);
      strides.push(x.strides[d]!);
    } else {
      strides[keptIndex.get(into)!]! += x.strides[d]!;
    }
  }
  const fullStrides = (t: Tensor): number[] => {
    const st: number[] = [];
    for (let d = 0; d < t.ndim; d++) {
      const into = dropFrom.get(d);
      if (into === undefined) st.push(t.strides[d]!);
      else st[keptIndex.get(into)!]! += t.strides[d]!;
    }
    return st;
  };
  const out = makeView(x, shape, fullStrides(x), x.offset);
  const from = [...x.shape];
  return record('DiagonalBackward0', out, [x], (g) => {
    const z = zeros(from, { dtype: g.dtype, device: g.device });
    const target = makeView(z, shape, fullStrides(z), 0);
    copyInto(target, g);
    target.dispose();
    return [z];
  });
}

interface Op {
  t: Tensor;
  labels: number[];
}

function sizeOf(o: Op, l: number): number {
  return o.t.shape[o.labels.indexOf(l)]!;
}

/** Sums the dims of o whose labels are not in `keep`. */
function sumAway(o: Op, keep: Set<number>): Op {
  const dims = o.labels.map((l, i) => (keep.has(l) ? -1 : i)).filter((i) => i >= 0);
  if (dims.length === 0) return o;
  return { t: sum(o.t, dims), labels: o.labels.filter((l) => keep.has(l)) };
}

function permuteTo(o: Op, order: number[]): Tensor {
  const perm = order.map((l) => o.labels.indexOf(l));
  if (perm.every((p, i) => p === i)) return o.t;
  return permute(o.t, perm);
}

/** a and b contracted over their shared labels not in keep; the result's labels: batch, a's own, b's own. */
function contract(a: Op, b: Op, keep: Set<number>): Op {
  a = sumAway(a, new Set([...keep, ...b.labels]));
  b = sumAway(b, new Set([...keep, ...a.labels]));
  if (a.labels.length === 0) return { t: mul(a.t, b.t), labels: b.labels };
  if (b.labels.length === 0) return { t: mul(a.t, b.t), labels: a.labels };
  const shared = a.labels.filter((l) => b.labels.includes(l));
  const batch = shared.filter((l) => keep.has(l));
  const contracted = shared.filter((l) => !keep.has(l));
  const aOwn = a.labels.filter((l) => !shared.includes(l));
  const bOwn = b.labels.filter((l) => !shared.includes(l));
  // shared dims broadcast: a size-1 side is expanded to the other's size
  const size = new Map<number, number>();
  for (const l of shared) size.set(l, Math.max(sizeOf(a, l), sizeOf(b, l)));
  const widen = (o: Op): Op => {
    if (!shared.some((l) => sizeOf(o, l) !== size.get(l))) return o;
    return { t: expand(o.t, o.labels.map((l, i) => size.get(l) ?? o.t.shape[i]!)), labels: o.labels };
  };
  a = widen(a);
  b = widen(b);
  const prod = (ls: number[], o: Op): number => ls.reduce((p, l) => p * sizeOf(o, l), 1);
  const B = prod(batch, a), M = prod(aOwn, a), Kc = prod(contracted, a), N = prod(bOwn, b);
  const at = reshape(permuteTo(a, [...batch, ...aOwn, ...contracted]), [B, M, Kc]);
  const bt = reshape(permuteTo(b, [...batch, ...contracted, ...bOwn]), [B, Kc, N]);
  const c = matmul(at, bt);
  const shape = [...batch.map((l) => sizeOf(a, l)), ...aOwn.map((l) => sizeOf(a, l)), ...bOwn.map((l) => sizeOf(b, l))];
  return { t: reshape(c, shape), labels: [...batch, ...aOwn, ...bOwn] };
}

/** torch.einsum(equation, ...operands); operands may also be given as one array. */
export function einsum(equation: string, ...operands: (Tensor | Tensor[])[]): Tensor {
  if (typeof equation !== 'string') throw bad(`the equation must be a string, got ${describe(equation)}`);
  const ops: Tensor[] = operands.length === 1 && Array.isArray(operands[0]) ? [...operands[0]] : (operands as Tensor[]);
  ops.forEach((t, i) => tensorArg(t, 'einsum', `operand ${i}`));
  if (ops.length === 0) throw bad('must provide at least one operand');
  const eq = equation.replace(/\s+/g, '');
  const arrow = eq.indexOf('->');
  if (arrow >= 0 && eq.indexOf('->', arrow + 1) >= 0) throw bad(`the equation '${equation}' has more than one '->'`);
  const lhs = arrow >= 0 ? eq.slice(0, arrow) : eq;
  const inTerms = lhs.split(',');
  if (inTerms.length !== ops.length) {
    throw bad(`${inTerms.length} operand${inTerms.length === 1 ? '' : 's'} in the equation ('${equation}') but ${ops.length} tensor${ops.length === 1 ? '' : 's'} given`);
  }
  const terms = inTerms.map((s, i) => parseTerm(s, `operand ${i}`));
  // expand '...' into ellipsis labels, right-aligned across operands
  let ellDims = 0;
  const opLabels: number[][] = terms.map((term, i) => {
    const t = ops[i]!;
    const letters = term.labels.filter((l) => l >= 0).length;
    if (term.hasEllipsis ? t.ndim < letters : t.ndim !== letters) {
      throw createError(
        'ERR_SHAPE_MISMATCH',
        `einsum(): the number of subscripts in the equation (${letters}) does not match the number of dimensions (${t.ndim}) for operand ${i}` +
          (term.hasEllipsis ? '' : ' and no ellipsis was given'),
      );
    }
    const e = t.ndim - letters;
    ellDims = Math.max(ellDims, term.hasEllipsis ? e : 0);
    return term.labels.flatMap((l) => (l >= 0 ? [l] : Array.from({ length: e }, (_, k) => -(e - k)))); // -e..-1, fixed below
  });
  const ellLabel = (negPos: number): number => ELLIPSIS_BASE + ellDims + negPos; // -1 -> the last ellipsis dim
  const labels = opLabels.map((ls) => ls.map((l) => (l < 0 ? ellLabel(l) : l)));
  const ellAll = Array.from({ length: ellDims }, (_, k) => ELLIPSIS_BASE + k);
  // the output labels
  const count = new Map<number, number>();
  for (const ls of labels) for (const l of ls) count.set(l, (count.get(l) ?? 0) + 1);
  let outLabels: number[];
  if (arrow >= 0) {
    const outTerm = parseTerm(eq.slice(arrow + 2), 'the output');
    outLabels = outTerm.labels.flatMap((l) => (l >= 0 ? [l] : ellAll));
    const seen = new Set<number>();
    for (const l of outTerm.labels) {
      if (l < 0) continue;
      const c = String.fromCharCode(l);
      if (seen.has(l)) throw bad(`output subscript ${c} appears more than once in the output`);
      if (!count.has(l)) throw bad(`output subscript ${c} does not appear in the equation for any input operand`);
      seen.add(l);
    }
  } else {
    const once = [...count.entries()].filter(([l, c]) => l < ELLIPSIS_BASE && c === 1).map(([l]) => l).sort((x, y) => x - y);
    outLabels = [...ellAll, ...once];
  }
  // label sizes must agree or broadcast (size 1)
  const sizes = new Map<number, number>();
  labels.forEach((ls, i) => ls.forEach((l, d) => {
    const s = ops[i]!.shape[d]!;
    const f = ls.indexOf(l);
    if (f < d && ops[i]!.shape[f] !== s) {
      throw createError('ERR_SHAPE_MISMATCH', `einsum(): subscript ${String.fromCharCode(l)} is repeated for operand ${i} but the sizes don't match, ${ops[i]!.shape[f]} != ${s}`);
    }
    const prev = sizes.get(l);
    if (prev !== undefined && prev !== s && prev !== 1 && s !== 1) {
      const name = l >= ELLIPSIS_BASE ? `ellipsis dim ${l - ELLIPSIS_BASE}` : `subscript ${String.fromCharCode(l)}`;
      throw createError('ERR_SHAPE_MISMATCH', `einsum(): ${name} has size ${s} for operand ${i} (shape ${fmtShape(ops[i]!.shape)}) which does not broadcast with previously seen size ${prev}`);
    }
    if (prev === undefined || prev === 1) sizes.set(l, s);
  }));
  // intermediates (views, sums, matmul results) are released at once; autograd keeps what it saves
  return tidy(() => evaluate(ops, labels, outLabels));
}

function evaluate(ops: Tensor[], labels: number[][], outLabels: number[]): Tensor {
  // per operand: diagonals of repeated labels, then sum labels used nowhere else
  const prepared: Op[] = labels.map((ls, i) => {
    let t = ops[i]!;
    const first = new Map<number, number>();
    const dropFrom = new Map<number, number>();
    ls.forEach((l, d) => {
      const f = first.get(l);
      if (f === undefined) first.set(l, d);
      else dropFrom.set(d, f); // sizes checked above
    });
    let own = ls;
    if (dropFrom.size > 0) {
      t = diagonal(t, dropFrom);
      own = ls.filter((_, d) => !dropFrom.has(d));
    }
    const elsewhere = new Set<number>(outLabels);
    labels.forEach((other, j) => { if (j !== i) for (const l of other) elsewhere.add(l); });
    return sumAway({ t, labels: own }, elsewhere);
  });
  let acc = prepared[0]!;
  for (let i = 1; i < prepared.length; i++) {
    const keep = new Set<number>(outLabels);
    for (let j = i + 1; j < prepared.length; j++) for (const l of prepared[j]!.labels) keep.add(l);
    acc = contract(acc, prepared[i]!, keep);
  }
  acc = sumAway(acc, new Set(outLabels));
  const out = permuteTo(acc, outLabels);
  // '...->...' and the like: a view of the operand, as torch's (never the operand itself)
  return out === ops[0] ? permute(out, out.shape.map((_, i) => i)) : out;
}
