// Garbage arguments to every Tensor method and every free op: always a typed NodeNcclError,
// never a TypeError from deep inside, never a crash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as lib from '../../lib/index.js';

const { NodeNcclError, noGrad, tensor } = lib;
const BAD: unknown[] = [undefined, null, 'x', {}, [], [1.5], NaN, Infinity, -1, 1e20, true, 2n, [[1]], () => 1, Symbol('s')];

function untyped(calls: [string, () => unknown][]): string[] {
  const out = new Set<string>();
  for (const [name, f] of calls) {
    try {
      noGrad(f);
    } catch (e) {
      if (!(e instanceof NodeNcclError)) out.add(`${name}: ${(e as Error).constructor.name}: ${(e as Error).message}`);
    }
  }
  return [...out];
}

test('Tensor methods with bad arguments throw typed errors', () => {
  const t = tensor([[1, 2, 3], [4, 5, 6]]);
  const methods = ['reshape', 'view', 'flatten', 'transpose', 'permute', 'squeeze', 'unsqueeze', 'expand', 'narrow', 'slice',
    'select', 'split', 'chunk', 'unbind', 'sum', 'mean', 'prod', 'max', 'min', 'amax', 'amin', 'argmax', 'argmin', 'var', 'std',
    'logsumexp', 'norm', 'softmax', 'logSoftmax', 'matmul', 'mm', 'bmm', 'gather', 'indexSelect', 'scatterAdd', 'add', 'sub',
    'mul', 'div', 'pow', 'maximum', 'minimum', 'atan2', 'eq', 'lt', 'logicalAnd', 'where', 'maskedFill', 'clamp', 'to', 'copy_',
    'fill_', 'add_', 'mul_', 'clamp_', 'uniform_', 'normal_', 'bernoulli_', 'gelu', 'size', 'registerHook', 'backward', 'requiresGrad_'];
  const calls: [string, () => unknown][] = [];
  for (const m of methods) {
    for (const a of BAD) for (const b of [undefined, 0, 'x', null]) {
      calls.push([m, () => (t.clone() as unknown as Record<string, (...x: unknown[]) => unknown>)[m]!(a, b)]);
    }
  }
  assert.deepEqual(untyped(calls), []);
});

test('free ops and creation functions with bad arguments throw typed errors', () => {
  const fns = Object.entries(lib.ops).filter(([, f]) => typeof f === 'function') as [string, (...a: unknown[]) => unknown][];
  const args: unknown[] = [undefined, null, 'x', {}, [], 3, 2n, Symbol('s'), tensor([1, 2])];
  const calls: [string, () => unknown][] = [];
  for (const [name, f] of fns) {
    for (const a of args) for (const b of args.slice(0, 6)) for (const c of [undefined, 0, null]) calls.push([name, () => f(a, b, c)]);
  }
  const creators = ['tensor', 'zeros', 'ones', 'empty', 'full', 'arange', 'linspace', 'eye', 'rand', 'randn', 'randint'] as const;
  for (const name of creators) {
    const f = lib[name] as (...a: unknown[]) => unknown;
    for (const a of BAD) for (const b of [undefined, null, 'x', [2], { dtype: 'nope' }, { device: 'tpu' }]) calls.push([name, () => f(a, b)]);
  }
  calls.push(['tidy', () => lib.tidy(undefined as unknown as () => void)]);
  calls.push(['manualSeed', () => lib.manualSeed('x' as unknown as number)]);
  assert.deepEqual(untyped(calls), []);
});
