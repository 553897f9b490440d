/**
 * PyTorch-style repr: tensor([[1.0000, 2.5000], ...], dtype=torch.float64, device='cuda:0').
 * Follows torch/_tensor_str.py: 4 decimals (or scientific notation when the magnitudes span more
 * than 1e3, exceed 1e8 or go below 1e-4), integers-valued floats as "1.", right-aligned columns,
 * summarized with "..." (3 edge items) above 1000 elements, default dtypes left unsaid.
 */
import type { Tensor } from './tensor.js';
import { isFloating } from './dtype.js';
import { readDataSync } from './read.js';
import { noGrad } from '../autograd/grad-mode.js';
import { cat } from './ops/join.js';
import { narrow } from './ops/view.js';

const THRESHOLD = 1000;
const EDGE = 3;
const LINE_WIDTH = 80;

function sci(v: number): string {
  const s = v.toExponential(4);
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

function makeFormatter(t: Tensor, values: number[]): (v: number) => string {
  if (t.dtype === 'bool') return (v) => (v ? 'True' : 'False');
  if (!isFloating(t.dtype)) return (v) => String(v);
  const finite = values.filter((v) => Number.isFinite(v));
  const nonzero = finite.filter((v) => v !== 0).map(Math.abs);
  const intMode = finite.every((v) => Number.isInteger(v));
  const max = nonzero.length ? Math.max(...nonzero) : 0;
  const min = nonzero.length ? Math.min(...nonzero) : 0;
  const special = (v: number): string | null => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : null);
  let fmt: (v: number) => string;
  if (intMode) {
    fmt = nonzero.length && (max / min > 1000 || max > 1e8) ? sci : (v) => `${v.toFixed(0)}.`;
  } else {
    fmt = nonzero.length && (max / min > 1000 || max > 1e8 || min < 1e-4) ? sci : (v) => v.toFixed(4);
  }
  return (v) => special(v) ?? fmt(v);
}

/** Indices kept along a dim of size n (null marks the "..." gap). */
function keptIndices(n: number, summarize: boolean): (number | null)[] {
  if (!summarize || n <= 2 * EDGE) return Array.from({ length: n }, (_, i) => i);
  return [0, 1, 2, null, n - 3, n - 2, n - 1];
}

/** For big tensors, the first and last EDGE entries of every long dim (the rest is never read). */
function edges(t: Tensor): Tensor {
  let cur = t.detach();
  for (let d = 0; d < t.ndim; d++) {
    const n = t.shape[d]!;
    if (n <= 2 * EDGE) continue;
    const next = cat([narrow(cur, d, 0, EDGE), narrow(cur, d, n - EDGE, EDGE)], d);
    cur.dispose();
    cur = next;
  }
  return cur;
}

export function formatTensor(t: Tensor): string {
  const summarize = t.numel() > THRESHOLD;
  const small = summarize ? noGrad(() => edges(t)) : t;
  const data = readDataSync(small);
  if (small !== t) small.dispose();
  const shape = t.shape;
  // strides of the (possibly summarized) values read
  const readShape = shape.map((n) => (summarize && n > 2 * EDGE ? 2 * EDGE : n));
  const strides: number[] = [];
  let acc = 1;
  for (let i = readShape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= readShape[i]!;
  }
  const get = (i: number): number => Number(data[i]!);
  const shown: number[] = [];
  for (let i = 0; i < data.length; i++) shown.push(get(i));
  const fmt = makeFormatter(t, shown);
  const width = Math.max(1, ...shown.map((v) => fmt(v).length));
  const pad = (s: string): string => s.padStart(width);
  const prefix = 'tensor(';
  let body: string;
  if (t.ndim === 0) body = fmt(get(0));
  else if (t.numel() === 0) body = '[]';
  else {
    const render = (d: number, base: number, indent: number): string => {
      const idx = keptIndices(shape[d]!, summarize);
      const pos = (i: number): number => (summarize && shape[d]! > 2 * EDGE && i >= EDGE ? i - shape[d]! + 2 * EDGE : i);
      if (d === shape.length - 1) {
        const items = idx.map((i) => (i === null ? pad('...') : pad(fmt(get(base + pos(i) * strides[d]!)))));
        const perLine = Math.max(1, Math.floor((LINE_WIDTH - indent) / (width + 2)));
        const lines: string[] = [];
        for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
        return `[${lines.join(',\n' + ' '.repeat(indent + 1))}]`;
      }
      const sep = ',' + '\n'.repeat(shape.length - d - 1) + ' '.repeat(indent + 1);
      const parts = idx.map((i) => (i === null ? '...' : render(d + 1, base + pos(i) * strides[d]!, indent + 1)));
      return `[${parts.join(sep)}]`;
    };
    body = render(0, 0, prefix.length);
  }
  const suffix: string[] = [];
  if (t.numel() === 0 && !(t.ndim === 1 && shape[0] === 0)) suffix.push(`size=(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`);
  if (t.device.type !== 'cpu') suffix.push(`device='${t.device}'`);
  if (!(t.dtype === 'float32' || t.dtype === 'int64' || t.dtype === 'bool')) suffix.push(`dtype=torch.${t.dtype}`);
  if (t.gradFn) suffix.push(`grad_fn=<${t.gradFn.name}>`);
  else if (t.requiresGrad) suffix.push('requires_grad=True');
  return `${prefix}${body}${suffix.map((s) => ', ' + s).join('')})`;
}
