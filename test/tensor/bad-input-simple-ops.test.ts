// Bad input of round, floor, ceil, trunc, isnan, isinf, isfinite, any, all, flip, roll, repeat,
// tile, tril and triu: a typed error (stable code) whose message says what was wrong and what was
// expected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { all, any, flip, isnan, repeat, roll, round, tensor, tile, tril, triu, zeros, type Tensor } from '../../lib/index.js';
import { errCode } from './helpers.js';

test('rounding and predicates: bool inputs, decimals on integers, bad options', () => {
  const b = tensor([true, false]);
  const i = tensor([1, 2], { dtype: 'int64' });
  const x = zeros([2]);
  const cases: [string, () => unknown, string, RegExp][] = [
    ['round of bool', () => b.round(), 'ERR_DTYPE', /round: not supported for bool tensors \(shape \[2\]\)/],
    ['floor of bool', () => b.floor(), 'ERR_DTYPE', /floor: not supported for bool tensors/],
    ['ceil of bool', () => b.ceil(), 'ERR_DTYPE', /ceil: not supported for bool/],
    ['trunc of bool', () => b.trunc(), 'ERR_DTYPE', /trunc: not supported for bool/],
    ['round decimals on int64', () => i.round({ decimals: 1 }), 'ERR_DTYPE', /round: decimals \(1\) needs a floating point tensor, got int64/],
    ['round decimals fractional', () => x.round({ decimals: 0.5 }), 'ERR_INVALID_ARG', /round: option 'decimals' must be an integer, got 0\.5/],
    ['round decimals a string', () => round(x, { decimals: '2' as unknown as number }), 'ERR_INVALID_ARG', /option 'decimals' must be an integer/],
    ['round unknown option', () => x.round({ digits: 2 } as never), 'ERR_INVALID_ARG', /digits/],
    ['round of a non-tensor', () => round(1.5 as unknown as Tensor), 'ERR_INVALID_ARG', /round: input must be a Tensor/],
    ['isnan of a non-tensor', () => isnan([NaN] as unknown as Tensor), 'ERR_INVALID_ARG', /isnan: input must be a Tensor/],
  ];
  for (const [name, f, code, re] of cases) assert.throws(f, errCode(code, re), name);
});

test('any and all: wrong dims, bad keepdim', () => {
  const x = zeros([2, 3]);
  const cases: [string, () => unknown, string, RegExp][] = [
    ['any dim 2', () => x.any(2), 'ERR_INDEX_OUT_OF_RANGE', /any: dimension 2 is out of range for a tensor with 2 dimensions \(expected in \[-2, 1\]\)/],
    ['all dim -3', () => all(x, -3), 'ERR_INDEX_OUT_OF_RANGE', /all: dimension -3/],
    ['all repeated dims', () => x.all([0, 0]), 'ERR_INVALID_ARG', /all: dimension list \[0,0\] repeats a dimension/],
    ['any dim a string', () => any(x, 'x' as unknown as number), 'ERR_INVALID_ARG', /any: dim must be an integer or an array of integers/],
    ['any keepdim not boolean', () => x.any(0, { keepdim: 1 as unknown as boolean }), 'ERR_INVALID_ARG', /any: option 'keepdim' must be a boolean, got 1/],
    ['all unknown option', () => x.all(0, { keepDim: true } as never), 'ERR_INVALID_ARG', /keepDim.*keepdim/],
    ['any of a non-tensor', () => any(null as unknown as Tensor), 'ERR_INVALID_ARG', /any: input must be a Tensor/],
  ];
  for (const [name, f, code, re] of cases) assert.throws(f, errCode(code, re), name);
});

test('flip, roll, repeat, tile: bad dims, misaligned shifts, too few or negative repeats', () => {
  const x = zeros([2, 3]);
  const cases: [string, () => unknown, string, RegExp][] = [
    ['flip dim 2', () => x.flip(2), 'ERR_INDEX_OUT_OF_RANGE', /flip: dimension 2 is out of range/],
    ['flip dim twice', () => flip(x, [0, -2]), 'ERR_INVALID_ARG', /flip: dim 0 appears multiple times in the list of dims \[0,-2\]/],
    ['flip dims fractional', () => x.flip(0.5), 'ERR_INVALID_ARG', /flip: dims must be an integer or an array of integers, got \[0\.5\]/],
    ['flip dims missing', () => flip(x, undefined as unknown as number), 'ERR_INVALID_ARG', /flip: dims must be an integer or an array of integers/],
    ['roll two shifts no dims', () => x.roll([1, 2]), 'ERR_INVALID_ARG', /roll: shifts and dims must align: 2 shifts but no dims/],
    ['roll shifts vs dims', () => roll(x, 1, [0, 1]), 'ERR_INVALID_ARG', /roll: shifts and dims must align: 1 shift 1 but 2 dims \[0,1\]/],
    ['roll dim out of range', () => x.roll(1, 2), 'ERR_INDEX_OUT_OF_RANGE', /roll: dimension 2 is out of range/],
    ['roll a 0-dim tensor along a dim', () => tensor(5).roll(1, 0), 'ERR_INDEX_OUT_OF_RANGE', /roll: dims 0 given for a 0-dim tensor/],
    ['roll shift fractional', () => x.roll(1.5), 'ERR_INVALID_ARG', /roll: shifts must be an integer or an array of integers, got 1\.5/],
    ['repeat too few sizes', () => x.repeat(2), 'ERR_INVALID_ARG', /repeat: the number of repeat dims \(1\) can not be smaller than the number of dimensions of the tensor \(2, shape \[2, 3\]\)/],
    ['repeat negative', () => repeat(x, [2, -1]), 'ERR_INVALID_ARG', /repeat: repeats must be non-negative, got \[2,-1\]/],
    ['repeat fractional', () => x.repeat(1, 1.5), 'ERR_INVALID_ARG', /repeat: sizes must be an integer or an array of integers/],
    ['repeat no sizes', () => x.repeat(), 'ERR_INVALID_ARG', /repeat: the number of repeat dims \(0\) can not be smaller/],
    ['repeat overflowing', () => x.repeat(2 ** 30, 2 ** 30), 'ERR_INVALID_ARG', /repeat: \[1073741824,1073741824\] repeats of shape \[2, 3\] overflow the element count/],
    ['repeat 17 dims', () => x.repeat(new Array(17).fill(1)), 'ERR_INVALID_ARG', /repeat: 17 repeat dims exceed the 16-dimension limit/],
    ['tile negative', () => tile(x, [-2]), 'ERR_INVALID_ARG', /tile: repeats must be non-negative, got \[-2\]/],
    ['tile a string', () => tile(x, 'ab' as unknown as number[]), 'ERR_INVALID_ARG', /tile: dims must be an integer or an array of integers/],
  ];
  for (const [name, f, code, re] of cases) assert.throws(f, errCode(code, re), name);
});

test('tril and triu: fewer than 2 dims, a bad diagonal', () => {
  const cases: [string, () => unknown, string, RegExp][] = [
    ['tril of 1-D', () => tensor([1, 2, 3]).tril(), 'ERR_INVALID_ARG', /tril: input must have at least 2 dimensions \(a matrix or a batch of matrices\), got shape \[3\]/],
    ['triu of 0-D', () => triu(tensor(1)), 'ERR_INVALID_ARG', /triu: input must have at least 2 dimensions.*got shape \[\]/],
    ['tril diagonal fractional', () => zeros([2, 2]).tril(0.5), 'ERR_INVALID_ARG', /tril: diagonal must be an integer, got 0\.5/],
    ['triu diagonal a string', () => zeros([2, 2]).triu('1' as unknown as number), 'ERR_INVALID_ARG', /triu: diagonal must be an integer, got "1"/],
    ['tril of a non-tensor', () => tril([[1]] as unknown as Tensor), 'ERR_INVALID_ARG', /tril: input must be a Tensor/],
  ];
  for (const [name, f, code, re] of cases) assert.throws(f, errCode(code, re), name);
});
