// Bad input of conv2d / conv1d / the poolings and their layers (a typed error with a stable code
// whose message says what was wrong and what was expected, as torch's), and of the native
// kernels under them (native.kernels.conv2d & co: every span checked before any work).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeNcclError, native, nn, randn, zeros, type Tensor } from '../../lib/index.js';
import { errCode } from '../tensor/helpers.js';

const F = nn.functional;

test('conv2d / conv1d: wrong channels, groups, kernel larger than the padded input, bad options, dtypes, dims', () => {
  const x = zeros([1, 3, 8, 8]);
  const w = zeros([6, 3, 3, 3]);
  const cases: [string, () => unknown, string, RegExp][] = [
    ['wrong channels', () => F.conv2d(zeros([1, 1, 8, 8]), w), 'ERR_SHAPE_MISMATCH',
      /conv2d: given groups=1, weight of size \[6, 3, 3, 3\], expected input\[1, 1, 8, 8\] to have 3 channels, but got 1 channels instead/],
    ['groups not dividing out channels', () => F.conv2d(zeros([1, 4, 8, 8]), zeros([3, 2, 3, 3]), null, { groups: 2 }), 'ERR_SHAPE_MISMATCH',
      /given groups=2, expected the weight to be divisible by 2 at dimension 0/],
    ['groups 0', () => F.conv2d(x, w, null, { groups: 0 }), 'ERR_INVALID_ARG', /groups must be a positive integer, got 0/],
    ['groups fractional', () => F.conv2d(x, w, null, { groups: 1.5 }), 'ERR_INVALID_ARG', /groups must be a positive integer/],
    ['kernel larger than the padded input', () => F.conv2d(zeros([1, 3, 2, 2]), w), 'ERR_SHAPE_MISMATCH',
      /calculated padded input size per channel: \(2 x 2\)\. Kernel size: \(3 x 3\)\. Kernel size can't be greater than actual input size/],
    ['dilated kernel larger than the input', () => F.conv2d(zeros([1, 3, 4, 4]), w, null, { dilation: 2 }), 'ERR_SHAPE_MISMATCH', /Kernel size: \(5 x 5\)/],
    ['negative padding', () => F.conv2d(x, w, null, { padding: -1 }), 'ERR_INVALID_ARG', /conv2d: padding must be an integer >= 0/],
    ['stride 0', () => F.conv2d(x, w, null, { stride: 0 }), 'ERR_INVALID_ARG', /conv2d: stride must be an integer >= 1/],
    ['stride of 3 entries', () => F.conv2d(x, w, null, { stride: [1, 1, 1] as unknown as [number, number] }), 'ERR_INVALID_ARG', /an array of 2 such integers, got/],
    ['dilation 0', () => F.conv2d(x, w, null, { dilation: [1, 0] }), 'ERR_INVALID_ARG', /dilation must be an integer >= 1/],
    ['padding string', () => F.conv2d(x, w, null, { padding: 'full' as 'same' }), 'ERR_INVALID_ARG', /invalid padding string 'full', should be one of 'valid', 'same'/],
    ["'same' with a stride", () => F.conv2d(x, w, null, { padding: 'same', stride: 2 }), 'ERR_INVALID_ARG', /padding='same' is not supported for strided convolutions/],
    ['unknown option', () => F.conv2d(x, w, null, { strides: 2 } as never), 'ERR_INVALID_ARG', /strides.*stride/],
    ['2-D input', () => F.conv2d(zeros([3, 8]), w), 'ERR_SHAPE_MISMATCH', /expected 3D \(unbatched\) or 4D \(batched\) input, but got input of size \[3, 8\]/],
    ['2-D weight', () => F.conv2d(x, zeros([6, 27])), 'ERR_SHAPE_MISMATCH', /expected a 4-dimensional weight/],
    ['bias of the wrong size', () => F.conv2d(x, w, zeros([5])), 'ERR_SHAPE_MISMATCH', /expected the bias to be 1-dimensional with 6 elements, but got a bias of size \[5\]/],
    ['dtype mismatch', () => F.conv2d(x, w.to('float64')), 'ERR_DTYPE', /input type \(float32\) and weight type \(float64\) should be the same/],
    ['integer input', () => F.conv2d(x.to('int32'), w.to('int32')), 'ERR_DTYPE', /expected a floating point input/],
    ['not a tensor', () => F.conv2d([1, 2] as unknown as Tensor, w), 'ERR_INVALID_ARG', /conv2d: input must be a Tensor/],
    ['conv1d 4-D input', () => F.conv1d(x, zeros([2, 3, 3])), 'ERR_SHAPE_MISMATCH', /conv1d: expected 2D \(unbatched\) or 3D \(batched\) input/],
    ['conv1d 4-D weight', () => F.conv1d(zeros([1, 3, 8]), w), 'ERR_SHAPE_MISMATCH', /conv1d: expected a 3-dimensional weight/],
    ['conv1d stride pair', () => F.conv1d(zeros([1, 3, 8]), zeros([2, 3, 3]), null, { stride: [1, 1] as unknown as [number] }), 'ERR_INVALID_ARG', /conv1d: stride must be an integer >= 1 or an array of 1 such integers/],
  ];
  for (const [name, f, code, re] of cases) assert.throws(f, errCode(code, re), name);
});

test('nn.Conv2d / nn.Conv1d: bad channel counts, groups, padding modes, kernel sizes, options', () => {
  const cases: [string, () => unknown, string, RegExp][] = [
    ['in channels 0', () => new nn.Conv2d(0, 4, 3), 'ERR_INVALID_ARG', /Conv2d: inChannels must be a positive integer, got 0/],
    ['out channels fractional', () => new nn.Conv2d(3, 2.5, 3), 'ERR_INVALID_ARG', /Conv2d: outChannels must be a positive integer/],
    ['in channels not divisible by groups', () => new nn.Conv2d(3, 4, 3, { groups: 2 }), 'ERR_INVALID_ARG', /inChannels \(3\) must be divisible by groups \(2\)/],
    ['out channels not divisible by groups', () => new nn.Conv2d(4, 3, 3, { groups: 2 }), 'ERR_INVALID_ARG', /outChannels \(3\) must be divisible by groups \(2\)/],
    ['reflect padding', () => new nn.Conv2d(3, 4, 3, { paddingMode: 'reflect' as 'zeros' }), 'ERR_UNSUPPORTED', /paddingMode 'reflect' is not supported \(only 'zeros'\)/],
    ['unknown padding mode', () => new nn.Conv2d(3, 4, 3, { paddingMode: 'mirror' as 'zeros' }), 'ERR_INVALID_ARG', /paddingMode 'mirror' is not one of/],
    ['kernel size 0', () => new nn.Conv2d(3, 4, 0), 'ERR_INVALID_ARG', /Conv2d: kernelSize must be an integer >= 1/],
    ["'same' strided", () => new nn.Conv2d(3, 4, 3, { padding: 'same', stride: 2 }), 'ERR_INVALID_ARG', /padding='same' is not supported for strided convolutions/],
    ['unknown option', () => new nn.Conv2d(3, 4, 3, { bais: false } as never), 'ERR_INVALID_ARG', /bais.*bias/],
    ['conv1d kernel pair', () => new nn.Conv1d(3, 4, [3, 3] as unknown as number), 'ERR_INVALID_ARG', /Conv1d: kernelSize must be an integer >= 1 or an array of 1 such integers/],
  ];
  for (const [name, f, code, re] of cases) assert.throws(f, errCode(code, re), name);
  const conv = new nn.Conv2d(3, 4, 3);
  assert.throws(() => conv.forward(zeros([2, 5, 8, 8])), errCode('ERR_SHAPE_MISMATCH', /expected input\[2, 5, 8, 8\] to have 3 channels, but got 5 channels instead/));
});

test('pooling: windows larger than the input, padding over half the kernel, bad sizes and options', () => {
  const x = zeros([1, 2, 4, 4]);
  const cases: [string, () => unknown, string, RegExp][] = [
    ['max pad over half the kernel', () => F.maxPool2d(x, 3, { padding: 2 }), 'ERR_INVALID_ARG', /pad should be at most half of the kernel size, but got padH = 2, padW = 2, kH = 3, kW = 3/],
    ['max output too small', () => F.maxPool2d(x, 5), 'ERR_SHAPE_MISMATCH', /maxPool2d: given input size \[1, 2, 4, 4\], the calculated output size 0x0 is too small/],
    ['max dilated window too large', () => F.maxPool2d(x, 3, { dilation: 2 }), 'ERR_SHAPE_MISMATCH', /output size -?\d+x-?\d+ is too small/],
    ['max kernel 0', () => F.maxPool2d(x, 0), 'ERR_INVALID_ARG', /maxPool2d: kernelSize must be an integer >= 1/],
    ['max stride 0', () => F.maxPool2d(x, 2, { stride: 0 }), 'ERR_INVALID_ARG', /maxPool2d: stride must be an integer >= 1/],
    ['max returnIndices not boolean', () => F.maxPool2d(x, 2, { returnIndices: 1 as unknown as boolean }), 'ERR_INVALID_ARG', /returnIndices must be a boolean/],
    ['max 2-D input', () => F.maxPool2d(zeros([4, 4]), 2), 'ERR_SHAPE_MISMATCH', /maxPool2d: expected a 3D \(unbatched\) or 4D \(batched\) input, but got input of size \[4, 4\]/],
    ['max empty plane', () => F.maxPool2d(zeros([1, 2, 0, 4]), 1), 'ERR_SHAPE_MISMATCH', /non-zero height and width/],
    ['max integer input', () => F.maxPool2d(x.to('int64'), 2), 'ERR_DTYPE', /maxPool2d: expected a floating point input/],
    ['max unknown option', () => F.maxPool2d(x, 2, { ceil: true } as never), 'ERR_INVALID_ARG', /ceil.*ceilMode/],
    ['avg output too small', () => F.avgPool2d(x, [5, 1]), 'ERR_SHAPE_MISMATCH', /avgPool2d: given input size \[1, 2, 4, 4\], the calculated output size 0x4 is too small/],
    ['avg pad over half the kernel', () => F.avgPool2d(x, 2, { padding: 2 }), 'ERR_INVALID_ARG', /pad should be at most half of the kernel size/],
    ['avg divisor 0', () => F.avgPool2d(x, 2, { divisorOverride: 0 }), 'ERR_INVALID_ARG', /divisorOverride must be a positive integer or null, got 0/],
    ['avg countIncludePad not boolean', () => F.avgPool2d(x, 2, { countIncludePad: 'yes' as unknown as boolean }), 'ERR_INVALID_ARG', /countIncludePad must be a boolean/],
    ['avg dilation is not an option', () => F.avgPool2d(x, 2, { dilation: 2 } as never), 'ERR_INVALID_ARG', /dilation/],
    ['adaptive size 0', () => F.adaptiveAvgPool2d(x, 0), 'ERR_INVALID_ARG', /adaptiveAvgPool2d: outputSize must be a positive integer or an array \[h, w\]/],
    ['adaptive size of 3', () => F.adaptiveAvgPool2d(x, [1, 2, 3] as unknown as [number, number]), 'ERR_INVALID_ARG', /outputSize must be/],
    ['adaptive 5-D input', () => F.adaptiveAvgPool2d(zeros([1, 1, 1, 2, 2]), 1), 'ERR_SHAPE_MISMATCH', /adaptiveAvgPool2d: expected a 3D/],
    ['layer MaxPool2d kernel 0', () => new nn.MaxPool2d(0), 'ERR_INVALID_ARG', /MaxPool2d: kernelSize must be an integer >= 1/],
    ['layer AvgPool2d negative padding', () => new nn.AvgPool2d(2, { padding: -1 }), 'ERR_INVALID_ARG', /AvgPool2d: padding must be an integer >= 0/],
    ['layer AdaptiveAvgPool2d', () => new nn.AdaptiveAvgPool2d([0, 1]), 'ERR_INVALID_ARG', /AdaptiveAvgPool2d: outputSize must be/],
  ];
  for (const [name, f, code, re] of cases) assert.throws(f, errCode(code, re), name);
});

test('native.kernels conv2d / pooling: geometry, spans and dtypes are checked before any work', () => {
  const k = native.kernels as unknown as Record<string, (...args: unknown[]) => unknown>;
  const s = (mem: unknown, offset = 0) => ({ mem, offset });
  const f = (n: number) => new Float32Array(n);
  const geom = { n: 1, c: 2, h: 4, w: 4, outC: 2, kh: 3, kw: 3, oh: 2, ow: 2, strideH: 1, strideW: 1, padH: 0, padW: 0, dilH: 1, dilW: 1, groups: 1 };
  const pool = { planes: 2, h: 4, w: 4, oh: 2, ow: 2, kh: 2, kw: 2, strideH: 2, strideW: 2, padH: 0, padW: 0, dilH: 1, dilW: 1 };
  const idx = new BigInt64Array(8);
  const out = f(8);
  const CASES: [string, string, unknown[], string][] = [
    ['conv2d: wrong count', 'conv2d', [0, geom], 'ERR_INVALID_ARG'],
    ['conv2d: geometry not an object', 'conv2d', [0, 5, s(out), s(f(32)), s(f(36)), null, false], 'ERR_INVALID_ARG'],
    ['conv2d: a geometry field missing', 'conv2d', [0, { ...geom, kw: undefined }, s(out), s(f(32)), s(f(36)), null, false], 'ERR_INVALID_ARG'],
    ['conv2d: stride 0', 'conv2d', [0, { ...geom, strideH: 0 }, s(out), s(f(32)), s(f(36)), null, false], 'ERR_INVALID_ARG'],
    ['conv2d: groups not dividing', 'conv2d', [0, { ...geom, groups: 3 }, s(out), s(f(32)), s(f(36)), null, false], 'ERR_INVALID_ARG'],
    ['conv2d: input too short', 'conv2d', [0, geom, s(out), s(f(31)), s(f(36)), null, false], 'ERR_INVALID_ARG'],
    ['conv2d: weight too short', 'conv2d', [0, geom, s(out), s(f(32)), s(f(35)), null, false], 'ERR_INVALID_ARG'],
    ['conv2d: out too short', 'conv2d', [0, geom, s(f(7)), s(f(32)), s(f(36)), null, false], 'ERR_INVALID_ARG'],
    ['conv2d: bias too short', 'conv2d', [0, geom, s(out), s(f(32)), s(f(36)), s(f(1)), false], 'ERR_INVALID_ARG'],
    ['conv2d: int32', 'conv2d', [4, geom, s(out), s(f(32)), s(f(36)), null, false], 'ERR_DTYPE'],
    ['conv2d: im2col overflows', 'conv2d', [0, { ...geom, c: 2 ** 20, oh: 2 ** 20, ow: 2 ** 20 }, s(out), s(f(32)), s(f(36)), null, false], 'ERR_INVALID_ARG'],
    ['conv2dBackwardInput: gradInput too short', 'conv2dBackwardInput', [0, geom, s(f(31)), s(out), s(f(36)), false], 'ERR_INVALID_ARG'],
    ['conv2dBackwardWeight: nothing to compute', 'conv2dBackwardWeight', [0, geom, null, null, s(out), s(f(32)), false], 'ERR_INVALID_ARG'],
    ['conv2dBackwardWeight: gradBias too short', 'conv2dBackwardWeight', [0, geom, null, s(f(1)), s(out), s(f(32)), false], 'ERR_INVALID_ARG'],
    ['maxPool2d: indices too short', 'maxPool2d', [0, pool, s(out), s(new BigInt64Array(7)), s(f(32))], 'ERR_INVALID_ARG'],
    ['maxPool2d: input too short', 'maxPool2d', [0, pool, s(out), s(idx), s(f(31))], 'ERR_INVALID_ARG'],
    ['maxPool2d: dilation 0', 'maxPool2d', [0, { ...pool, dilH: 0 }, s(out), s(idx), s(f(32))], 'ERR_INVALID_ARG'],
    ['maxPool2dBackward: gradInput too short', 'maxPool2dBackward', [0, pool, s(f(31)), s(out), s(idx)], 'ERR_INVALID_ARG'],
    ['avgPool2d: divisor negative', 'avgPool2d', [0, pool, s(out), s(f(32)), true, -1], 'ERR_INVALID_ARG'],
    ['avgPool2d: countIncludePad not boolean', 'avgPool2d', [0, pool, s(out), s(f(32)), 1, 0], 'ERR_INVALID_ARG'],
    ['avgPool2dBackward: float64 spans too short', 'avgPool2dBackward', [1, pool, s(f(32)), s(out), true, 0], 'ERR_INVALID_ARG'],
    ['adaptiveAvgPool2d: h 0', 'adaptiveAvgPool2d', [0, { ...pool, h: 0 }, s(out), s(f(32))], 'ERR_INVALID_ARG'],
    ['adaptiveAvgPool2d: bool', 'adaptiveAvgPool2d', [7, pool, s(new Uint8Array(8)), s(new Uint8Array(32))], 'ERR_DTYPE'],
    ['adaptiveAvgPool2dBackward: gradOut too short', 'adaptiveAvgPool2dBackward', [0, pool, s(f(32)), s(f(7))], 'ERR_INVALID_ARG'],
  ];
  for (const [what, fn, args, code] of CASES) {
    assert.throws(() => k[fn]!(...args), (e: unknown) => {
      assert.ok(e instanceof NodeNcclError, `${what}: not a NodeNcclError: ${String(e)}`);
      assert.equal(e.code, code, `${what}: ${e.message}`);
      assert.ok(e.message.startsWith(`kernels.${fn}`), `${what}: message names the function: ${e.message}`);
      return true;
    }, what);
  }
  assert.ok(out.every((v) => v === 0), 'no failed call wrote its output');
  // a correct call works, so the rows above fail for their own reason
  const x = randn([1, 2, 4, 4]);
  assert.deepEqual(F.conv2d(x, randn([2, 2, 3, 3])).shape, [1, 2, 2, 2]);
});
