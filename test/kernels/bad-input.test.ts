import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeNcclError, native } from '../../lib/index.js';

const k = native.kernels as unknown as Record<string, (...args: unknown[]) => unknown>;
const f = new Float32Array(8);
const v = (mem: unknown, offset: unknown = 0, strides: unknown = [1]) => ({ mem, offset, strides });
const s = (mem: unknown, offset: unknown = 0) => ({ mem, offset });
const idx = new BigInt64Array([0n]);

// [description, function, args, expected code]
const CASES: [string, string, unknown[], string][] = [
  ['no arguments', 'unary', [], 'ERR_INVALID_ARG'],
  ['unknown op', 'unary', ['explode', 0, [1], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['op not a string', 'binary', [3, 0, [1], v(f), v(f), v(f)], 'ERR_INVALID_ARG'],
  ['dtype out of range', 'unary', ['neg', 9, [1], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['dtype NaN', 'unary', ['neg', NaN, [1], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['shape with NaN', 'unary', ['neg', 0, [NaN], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['shape with a negative size', 'unary', ['neg', 0, [-1], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['shape with a fraction', 'unary', ['neg', 0, [1.5], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['shape not an array', 'unary', ['neg', 0, 'abc', v(f), v(f)], 'ERR_INVALID_ARG'],
  ['shape of 17 dims', 'unary', ['neg', 0, new Array(17).fill(1), v(f, 0, new Array(17).fill(1)), v(f, 0, new Array(17).fill(1))], 'ERR_INVALID_ARG'],
  ['shape whose numel overflows', 'unary', ['neg', 0, [2 ** 40, 2 ** 40], v(f, 0, [0, 0]), v(f, 0, [0, 0])], 'ERR_INVALID_ARG'],
  ['view is not an object', 'unary', ['neg', 0, [1], 5, v(f)], 'ERR_INVALID_ARG'],
  ['view mem is a plain object', 'unary', ['neg', 0, [1], v({}), v(f)], 'ERR_INVALID_ARG'],
  ['view mem missing', 'unary', ['neg', 0, [1], { offset: 0, strides: [1] }, v(f)], 'ERR_INVALID_ARG'],
  ['negative offset', 'unary', ['neg', 0, [1], v(f, -1), v(f)], 'ERR_INVALID_ARG'],
  ['NaN offset', 'unary', ['neg', 0, [1], v(f, NaN), v(f)], 'ERR_INVALID_ARG'],
  ['strides of the wrong length', 'unary', ['neg', 0, [2, 2], v(f, 0, [2]), v(f, 0, [2, 1])], 'ERR_INVALID_ARG'],
  ['stride NaN', 'unary', ['neg', 0, [2], v(f, 0, [NaN]), v(f)], 'ERR_INVALID_ARG'],
  ['view past the end', 'unary', ['neg', 0, [9], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['offset past the end', 'unary', ['neg', 0, [1], v(f, 8), v(f)], 'ERR_INVALID_ARG'],
  ['strided view past the end', 'unary', ['neg', 0, [3], v(f, 0, [4]), v(f)], 'ERR_INVALID_ARG'],
  ['negative stride before the start', 'unary', ['neg', 0, [3], v(f, 1, [-1]), v(f)], 'ERR_INVALID_ARG'],
  ['huge stride overflowing', 'unary', ['neg', 0, [3], v(f, 0, [2 ** 53]), v(f)], 'ERR_INVALID_ARG'],
  ['float-only op on int32', 'unary', ['exp', 4, [1], v(new Int32Array(1)), v(new Int32Array(1))], 'ERR_DTYPE'],
  ['fractional scalar on int32', 'unary', ['add_scalar', 4, [1], v(new Int32Array(1)), v(new Int32Array(1)), 0.5], 'ERR_DTYPE'],
  ['p0 not a number', 'unary', ['add_scalar', 0, [1], v(f), v(f), '1'], 'ERR_INVALID_ARG'],
  ['binary: b missing', 'binary', ['add', 0, [1], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['binary: atan2 on int64', 'binary', ['atan2', 5, [1], v(new BigInt64Array(1)), v(new BigInt64Array(1)), v(new BigInt64Array(1))], 'ERR_DTYPE'],
  ['where: cond too short (bool elements)', 'where', [0, [2], v(f), v(new Uint8Array(1)), v(f), v(f)], 'ERR_INVALID_ARG'],
  ['copy: dst dtype invalid', 'copy', [0, -1, [1], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['copy: float64 output too short', 'copy', [0, 1, [8], v(f), v(f)], 'ERR_INVALID_ARG'],
  ['reduce: unknown op', 'reduce', ['median', 0, 1, 1, 1, s(f), s(f)], 'ERR_INVALID_ARG'],
  ['reduce: input too short', 'reduce', ['sum', 0, 3, 3, 1, s(f), s(f)], 'ERR_INVALID_ARG'],
  ['reduce: argmax out needs int64 room', 'reduce', ['argmax', 0, 2, 1, 1, s(new Float32Array(2)), s(f)], 'ERR_INVALID_ARG'],
  ['reduce: sizes overflow', 'reduce', ['sum', 0, 2 ** 30, 2 ** 30, 2 ** 30, s(f), s(f)], 'ERR_INVALID_ARG'],
  ['reduce: indices for sum', 'reduce', ['sum', 0, 1, 1, 1, s(f), s(f), s(idx)], 'ERR_INVALID_ARG'],
  ['softmax: int dtype', 'softmax', [4, 1, 1, s(new Int32Array(1)), s(new Int32Array(1)), false], 'ERR_DTYPE'],
  ['softmax: log not boolean', 'softmax', [0, 1, 1, s(f), s(f), 1], 'ERR_INVALID_ARG'],
  ['layerNorm: mean too short', 'layerNorm', [0, 4, 2, s(f), s(new Float32Array(3)), s(new Float32Array(4)), s(f), null, null, 1e-5], 'ERR_INVALID_ARG'],
  ['layerNorm: negative eps', 'layerNorm', [0, 1, 2, s(f), s(f), s(f), s(f), null, null, -1], 'ERR_INVALID_ARG'],
  ['batchNormStats: int dtype', 'batchNormStats', [4, 1, 1, 1, s(f), s(f), s(new Int32Array(1))], 'ERR_DTYPE'],
  ['batchNormStats: x too short', 'batchNormStats', [0, 3, 2, 2, s(f), s(f), s(f)], 'ERR_INVALID_ARG'],
  ['batchNormStats: mean too short', 'batchNormStats', [0, 1, 9, 1, s(f), s(new Float32Array(9)), s(new Float32Array(9))], 'ERR_INVALID_ARG'],
  ['batchNormStats: float64 stats in a float32 buffer', 'batchNormStats', [1, 1, 8, 1, s(f), s(new Float64Array(8)), s(new Float64Array(8))], 'ERR_INVALID_ARG'],
  ['batchNormStats: sizes overflow', 'batchNormStats', [0, 2 ** 30, 2 ** 30, 2 ** 30, s(f), s(f), s(f)], 'ERR_INVALID_ARG'],
  ['batchNormElemt: weight too short', 'batchNormElemt', [0, 1, 4, 2, s(f), s(f), s(f), s(f), s(new Float32Array(3)), null], 'ERR_INVALID_ARG'],
  ['batchNormElemt: out past the end', 'batchNormElemt', [0, 1, 4, 2, s(f, 1), s(f), s(f), s(f), null, null], 'ERR_INVALID_ARG'],
  ['batchNormBackwardReduce: NaN scale', 'batchNormBackwardReduce', [0, 1, 2, 1, s(f), s(f), null, null, s(f), s(f), s(f), s(f), NaN], 'ERR_INVALID_ARG'],
  ['batchNormBackwardReduce: gradOut too short', 'batchNormBackwardReduce', [0, 3, 3, 1, s(f), s(f), null, null, s(f), s(new Float32Array(9)), s(f), s(f), 1], 'ERR_INVALID_ARG'],
  ['batchNormBackwardElemt: only meanDy given', 'batchNormBackwardElemt', [0, 1, 2, 1, s(f), s(f), s(f), s(f), s(f), null, s(f), null], 'ERR_INVALID_ARG'],
  ['batchNormBackwardElemt: wrong count', 'batchNormBackwardElemt', [0, 1, 2, 1, s(f)], 'ERR_INVALID_ARG'],
  ['matmul: wrong count', 'matmul', [0, 1, 1, 1, 1], 'ERR_INVALID_ARG'],
  ['matmul: lda smaller than k', 'matmul', [0, 1, 2, 2, 2, s(f), 1, 0, false, s(f), 2, 0, false, s(f), 2, 0, 1, 0, false], 'ERR_INVALID_ARG'],
  ['matmul: C too short', 'matmul', [0, 1, 3, 3, 1, s(f), 1, 0, false, s(f), 3, 0, false, s(f), 3, 0, 1, 0, false], 'ERR_INVALID_ARG'],
  ['matmul: batch stride past the end', 'matmul', [0, 2, 1, 1, 1, s(f), 1, 8, false, s(f), 1, 0, false, s(f), 1, 0, 1, 0, false], 'ERR_INVALID_ARG'],
  ['matmul: NaN alpha', 'matmul', [0, 1, 1, 1, 1, s(f), 1, 0, false, s(f), 1, 0, false, s(f), 1, 0, NaN, 0, false], 'ERR_INVALID_ARG'],
  ['matmul: int32', 'matmul', [4, 1, 1, 1, 1, s(f), 1, 0, false, s(f), 1, 0, false, s(f), 1, 0, 1, 0, false], 'ERR_DTYPE'],
  ['indexSelect: index too short', 'indexSelect', [0, 1, 2, 1, s(f), s(f), s(idx), 2], 'ERR_INVALID_ARG'],
  ['indexSelect: index out of range', 'indexSelect', [0, 1, 2, 1, s(f), s(f), s(new BigInt64Array([5n])), 1], 'ERR_INDEX_OUT_OF_RANGE'],
  ['gather: dim out of range', 'gather', [0, 3, [1], [1], s(f), s(f), s(idx)], 'ERR_INVALID_ARG'],
  ['gather: shapes of different rank', 'gather', [0, 0, [1], [1, 1], s(f), s(f), s(idx)], 'ERR_SHAPE_MISMATCH'],
  ['gather: index larger than src off-dim', 'gather', [0, 0, [1, 3], [1, 2], s(f), s(f), s(new BigInt64Array(3))], 'ERR_SHAPE_MISMATCH'],
  ['random: unknown distribution', 'random', ['cauchy', 0, s(f), 1, 0n, 0n, 0, 1], 'ERR_INVALID_ARG'],
  ['random: negative seed', 'random', ['uniform', 0, s(f), 1, -1n, 0n, 0, 1], 'ERR_INVALID_ARG'],
  ['random: seed above 2^64', 'random', ['uniform', 0, s(f), 1, 2n ** 64n, 0n, 0, 1], 'ERR_INVALID_ARG'],
  ['random: numel past the end', 'random', ['uniform', 0, s(f), 9, 0n, 0n, 0, 1], 'ERR_INVALID_ARG'],
  ['random: NaN bound', 'random', ['uniform', 0, s(f), 1, 0n, 0n, NaN, 1], 'ERR_INVALID_ARG'],
  ['random: randint empty range', 'random', ['randint', 4, s(new Int32Array(1)), 1, 0n, 0n, 3, 3], 'ERR_INVALID_ARG'],
  ['random: normal on int32', 'random', ['normal', 4, s(new Int32Array(1)), 1, 0n, 0n, 0, 1], 'ERR_DTYPE'],
  ['random: bernoulli p > 1', 'random', ['bernoulli', 0, s(f), 1, 0n, 0n, 2, 0], 'ERR_INVALID_ARG'],
  ['arange: Infinity step', 'arange', [0, s(f), 2, 0, Infinity], 'ERR_INVALID_ARG'],
  ['adamStep: list lengths differ', 'adamStep', [0, [s(f)], [], [s(f)], [s(f)], null, [1], {}], 'ERR_INVALID_ARG'],
  ['adamStep: missing lr', 'adamStep', [0, [s(f)], [s(f)], [s(f)], [s(f)], null, [1], { beta1: 0.9 }], 'ERR_INVALID_ARG'],
  ['adamStep: state too short', 'adamStep', [0, [s(f)], [s(f)], [s(new Float32Array(1))], [s(f)], null, [2],
    { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, step: 1, decoupled: false, amsgrad: false, maximize: false }], 'ERR_INVALID_ARG'],
  ['adamStep: step 0', 'adamStep', [0, [s(f)], [s(f)], [s(f)], [s(f)], null, [1],
    { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, step: 0, decoupled: false, amsgrad: false, maximize: false }], 'ERR_INVALID_ARG'],
  ['adamStep: amsgrad without state', 'adamStep', [0, [s(f)], [s(f)], [s(f)], [s(f)], null, [1],
    { lr: 1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, step: 1, decoupled: false, amsgrad: true, maximize: false }], 'ERR_INVALID_ARG'],
  ['sgdStep: momentum without buffers', 'sgdStep', [0, [s(f)], [s(f)], null, [1],
    { lr: 1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, firstStep: true }], 'ERR_INVALID_ARG'],
  ['sgdStep: nesterov with dampening', 'sgdStep', [0, [s(f)], [s(f)], [s(f)], [1],
    { lr: 1, momentum: 0.9, dampening: 0.1, weightDecay: 0, nesterov: true, maximize: false, firstStep: true }], 'ERR_INVALID_ARG'],
  ['sumSquares: out missing', 'sumSquares', [0, [s(f)], [1], null], 'ERR_INVALID_ARG'],
  ['sort: k > n', 'sort', [0, 1, 2, 3, s(f), s(idx), s(f), false], 'ERR_INVALID_ARG'],
  ['sort: values too short', 'sort', [0, 2, 4, 4, s(new Float32Array(7)), s(new BigInt64Array(8)), s(f), false], 'ERR_INVALID_ARG'],
  ['sort: indices too short', 'sort', [0, 2, 4, 4, s(f), s(idx), s(f), false], 'ERR_INVALID_ARG'],
  ['sort: input past its end', 'sort', [0, 1, 8, 8, s(f), s(new BigInt64Array(8)), s(f, 1), false], 'ERR_INVALID_ARG'],
  ['sort: descending not a boolean', 'sort', [0, 1, 1, 1, s(f), s(idx), s(f), 'yes'], 'ERR_INVALID_ARG'],
  ['scan: unknown op', 'scan', ['cummax', 0, 1, 8, 1, s(f), s(f), false], 'ERR_INVALID_ARG'],
  ['scan: input too short', 'scan', ['cumsum', 0, 3, 3, 1, s(f), s(f), false], 'ERR_INVALID_ARG'],
  ['scan: reverse missing', 'scan', ['cumsum', 0, 1, 8, 1, s(f), s(f)], 'ERR_INVALID_ARG'],
  ['compact: outLen > n', 'compact', [0, 2, s(f), 3, s(f), s(new Uint8Array(2)), s(new BigInt64Array(2))], 'ERR_INVALID_ARG'],
  ['compact: out too short', 'compact', [0, 8, s(new Float32Array(2)), 3, s(f), s(new Uint8Array(8)), s(new BigInt64Array(8))], 'ERR_INVALID_ARG'],
  ['compact: mask too short', 'compact', [0, 8, s(f), 1, s(f), s(new Uint8Array(7)), s(new BigInt64Array(8))], 'ERR_INVALID_ARG'],
  ['nonzero: outLen > numel', 'nonzero', [[2], s(new BigInt64Array(4)), 3, s(new Uint8Array(2)), s(new BigInt64Array(2))], 'ERR_INVALID_ARG'],
  ['nonzero: out too short', 'nonzero', [[2, 2], s(new BigInt64Array(3)), 2, s(new Uint8Array(4)), s(new BigInt64Array(4))], 'ERR_INVALID_ARG'],
  ['round: fractional decimals', 'unary', ['round', 0, [1], v(f), v(f), 1.5], 'ERR_INVALID_ARG'],
  ['round: decimals on int32', 'unary', ['round', 4, [1], v(new Int32Array(1)), v(new Int32Array(1)), 2], 'ERR_DTYPE'],
  ['isnan: out past the end (bool out)', 'unary', ['isnan', 0, [8], v(new Uint8Array(7)), v(f)], 'ERR_INVALID_ARG'],
  ['triangle: input too short', 'triangle', [0, 2, 2, 3, 0, false, s(new Float32Array(12)), s(f)], 'ERR_INVALID_ARG'],
  ['triangle: out too short', 'triangle', [0, 1, 3, 3, 0, true, s(f), s(new Float32Array(9))], 'ERR_INVALID_ARG'],
  ['triangle: diagonal fractional', 'triangle', [0, 1, 2, 2, 0.5, false, s(f), s(f)], 'ERR_INVALID_ARG'],
  ['triangle: upper missing', 'triangle', [0, 1, 2, 2, 0, s(f), s(f)], 'ERR_INVALID_ARG'],
  ['triangle: negative rows', 'triangle', [0, 1, -2, 2, 0, false, s(f), s(f)], 'ERR_INVALID_ARG'],
];

test('kernels bad-input table: every case throws a typed error and nothing crashes', () => {
  for (const [what, fn, args, code] of CASES) {
    assert.throws(() => k[fn]!(...args), (e: unknown) => {
      assert.ok(e instanceof NodeNcclError, `${what}: not a NodeNcclError: ${String(e)}`);
      assert.equal(e.code, code, `${what}: ${e.message}`);
      assert.ok(e.message.startsWith(`kernels.${fn}`), `${what}: message names the function: ${e.message}`);
      return true;
    }, what);
  }
  // the inputs were not modified by any failed call
  assert.ok(f.every((x) => x === 0));
});

test('after the failures the kernels still work', () => {
  const out = new Float32Array(2);
  k.unary!('fill', 0, [2], v(out), v(out), 3);
  assert.deepEqual([...out], [3, 3]);
});
