// Bad input of sort, argsort, topk, cumsum, cumprod, nonzero, maskedSelect and einsum: a typed
// error (stable code) whose message says what was wrong and what was expected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cumsum, einsum, maskedSelect, nonzero, sort, tensor, topk, zeros, type DType, type Tensor } from '../../lib/index.js';
import { errCode } from './helpers.js';

test('sort, argsort, topk: wrong dims, bad k, bad options', () => {
  const x = zeros([2, 3]);
  const cases: [string, () => unknown, string, RegExp][] = [
    ['sort dim 2', () => x.sort(2), 'ERR_INDEX_OUT_OF_RANGE', /sort: dimension 2 is out of range for a tensor with 2 dimensions \(expected in \[-2, 1\]\)/],
    ['sort dim -3', () => sort(x, -3), 'ERR_INDEX_OUT_OF_RANGE', /sort: dimension -3/],
    ['sort dim 1.5', () => x.sort(1.5), 'ERR_INVALID_ARG', /sort: dim must be an integer, got 1\.5/],
    ['sort dim a string', () => x.sort('1' as unknown as number), 'ERR_INVALID_ARG', /sort: dim must be an integer/],
    ['sort unknown option', () => x.sort(1, { descend: true } as never), 'ERR_INVALID_ARG', /descend.*descending/],
    ['sort descending not boolean', () => x.sort(1, { descending: 1 as unknown as boolean }), 'ERR_INVALID_ARG', /sort: option 'descending' must be a boolean, got 1/],
    ['argsort dim 5', () => x.argsort(5), 'ERR_INDEX_OUT_OF_RANGE', /argsort: dimension 5/],
    ['topk k > size', () => x.topk(4, 1), 'ERR_INDEX_OUT_OF_RANGE', /topk: k \(4\) is out of range for dimension 1 of size 3 \(shape \[2, 3\]\); expected 0 <= k <= 3/],
    ['topk k < 0', () => topk(x, -1), 'ERR_INDEX_OUT_OF_RANGE', /topk: k \(-1\) is out of range/],
    ['topk k fractional', () => x.topk(1.5), 'ERR_INVALID_ARG', /topk: k must be an integer, got 1\.5/],
    ['topk wrong dim', () => x.topk(1, 2), 'ERR_INDEX_OUT_OF_RANGE', /topk: dimension 2/],
    ['topk unknown option', () => x.topk(1, 1, { smallest: true } as never), 'ERR_INVALID_ARG', /smallest/],
    ['sort of a non-tensor', () => sort([3, 1] as unknown as Tensor), 'ERR_INVALID_ARG', /sort: input must be a Tensor/],
  ];
  for (const [name, f, code, re] of cases) assert.throws(f, errCode(code, re), name);
});

test('cumsum, cumprod: missing or wrong dim, bad dtype', () => {
  const x = zeros([2, 3]);
  assert.throws(() => x.cumsum(2), errCode('ERR_INDEX_OUT_OF_RANGE', /cumsum: dimension 2 is out of range/));
  assert.throws(() => x.cumprod(-3), errCode('ERR_INDEX_OUT_OF_RANGE', /cumprod: dimension -3/));
  assert.throws(() => cumsum(x, undefined as unknown as number), errCode('ERR_INVALID_ARG', /cumsum: dim is required/));
  assert.throws(() => x.cumsum(0, { dtype: 'complex64' as DType }), errCode('ERR_DTYPE', /complex64/));
  assert.throws(() => x.cumsum(0, { dtpye: 'float64' } as never), errCode('ERR_INVALID_ARG', /dtpye.*dtype/));
});

test('maskedSelect: a non-bool mask, shapes that do not broadcast, mixed devices; nonzero of a non-tensor', () => {
  const x = zeros([2, 3]);
  assert.throws(() => x.maskedSelect(tensor([1, 0, 1], { dtype: 'uint8' })), errCode('ERR_DTYPE', /maskedSelect: expected a bool mask, got uint8/));
  assert.throws(() => maskedSelect(x, tensor([1, 0, 1])), errCode('ERR_DTYPE', /expected a bool mask, got float32/));
  assert.throws(() => x.maskedSelect(tensor([true, false])), errCode('ERR_SHAPE_MISMATCH', /maskedSelect: shapes \[2, 3\] and \[2\] cannot be broadcast/));
  assert.throws(() => maskedSelect(x, 'mask' as unknown as Tensor), errCode('ERR_INVALID_ARG', /maskedSelect: mask must be a Tensor/));
  assert.throws(() => nonzero(null as unknown as Tensor), errCode('ERR_INVALID_ARG', /nonzero: input must be a Tensor/));
});

test('einsum: bad equations and operands', () => {
  const a = zeros([2, 3]);
  const b = zeros([4, 5]);
  const cases: [string, () => unknown, string, RegExp][] = [
    ['subscript count vs dims', () => einsum('ijk->i', a), 'ERR_SHAPE_MISMATCH', /the number of subscripts in the equation \(3\) does not match the number of dimensions \(2\) for operand 0 and no ellipsis was given/],
    ['operand count', () => einsum('ij,jk->ik', a), 'ERR_INVALID_ARG', /2 operands in the equation \('ij,jk->ik'\) but 1 tensor given/],
    ['size mismatch', () => einsum('ij,jk->ik', a, b), 'ERR_SHAPE_MISMATCH', /subscript j has size 4 for operand 1 \(shape \[4, 5\]\) which does not broadcast with previously seen size 3/],
    ['output label unknown', () => einsum('ij->k', a), 'ERR_INVALID_ARG', /output subscript k does not appear in the equation for any input operand/],
    ['output label twice', () => einsum('ij->ii', a), 'ERR_INVALID_ARG', /output subscript i appears more than once/],
    ['bad character', () => einsum('i1->i', a), 'ERR_INVALID_ARG', /invalid subscript '1' given for operand 0/],
    ['a lone dot', () => einsum('i.j->ij', a), 'ERR_INVALID_ARG', /'\.' for operand 0 that is not part of any ellipsis/],
    ['two ellipses', () => einsum('......->', a), 'ERR_INVALID_ARG', /more than one ellipsis/],
    ['two arrows', () => einsum('ij->ji->ij', a), 'ERR_INVALID_ARG', /more than one '->'/],
    ['diagonal of unequal sizes', () => einsum('ii->i', a), 'ERR_SHAPE_MISMATCH', /subscript i is repeated for operand 0 but the sizes don't match, 2 != 3/],
    ['no operands', () => einsum('i->i'), 'ERR_INVALID_ARG', /at least one operand/],
    ['equation not a string', () => einsum(3 as unknown as string, a), 'ERR_INVALID_ARG', /the equation must be a string, got 3/],
    ['operand not a tensor', () => einsum('i->i', [1, 2] as unknown as Tensor), 'ERR_INVALID_ARG', /einsum: operand 0 must be a Tensor/],
  ];
  for (const [name, f, code, re] of cases) assert.throws(f, errCode(code, re), name);
});
