/**
 * nn.init with torch.nn.init's conventions: fan-in/fan-out from dims 1 and 0 times the receptive
 * field (the product of dims 2..), gains from calculateGain, in-place fills (names ending in _)
 * that return the tensor. The random numbers come from the global generator (manualSeed).
 */
import { createError } from '../errors.js';
import { Tensor, rand, randn } from '../tensor/index.js';
import { noGrad } from '../autograd/index.js';
import { checkOptions, optionKeys } from '../options.js';

export type Nonlinearity =
  | 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'conv_transpose1d' | 'conv_transpose2d' | 'conv_transpose3d'
  | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

export type FanMode = 'fan_in' | 'fan_out';

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv1d': case 'conv2d': case 'conv3d':
    case 'conv_transpose1d': case 'conv_transpose2d': case 'conv_transpose3d': case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      if (typeof slope !== 'number' || !Number.isFinite(slope)) throw createError('ERR_INVALID_ARG', `calculateGain: negative slope ${String(param)} is not a valid number`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw createError('ERR_INVALID_ARG', `calculateGain: unsupported nonlinearity ${String(nonlinearity)}`);
  }
}

/** [fanIn, fanOut] of a weight of at least 2 dims. */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  if (t.ndim < 2) {
    throw createError('ERR_SHAPE_MISMATCH', `Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (shape [${t.shape.join(', ')}])`);
  }
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return [t.shape[1]! * receptive, t.shape[0]! * receptive];
}

function fan(t: Tensor, mode: FanMode): number {
  if (mode !== 'fan_in' && mode !== 'fan_out') throw createError('ERR_INVALID_ARG', `mode ${String(mode)} not supported, please use one of fan_in, fan_out`);
  const [fi, fo] = calculateFanInAndFanOut(t);
  return mode === 'fan_in' ? fi : fo;
}

function checkTensor(t: unknown, who: string): asserts t is Tensor {
  if (!(t instanceof Tensor)) throw createError('ERR_INVALID_ARG', `nn.init.${who}: expected a Tensor, got ${String(t)}`);
}

/** Random numbers are drawn in float64 for float64 tensors, else in float32 (then cast, as for half types). */
function randomDType(t: Tensor): 'float32' | 'float64' {
  return t.dtype === 'float64' ? 'float64' : 'float32';
}

/** Fills t with U(a, b). */
export function uniform_(t: Tensor, a = 0, b = 1): Tensor {
  checkTensor(t, 'uniform_');
  if (!(a <= b)) throw createError('ERR_INVALID_ARG', `nn.init.uniform_: expects a <= b, got a=${a}, b=${b}`);
  if (t.numel() === 0) return t;
  noGrad(() => {
    const r = rand([...t.shape], { dtype: randomDType(t), device: t.device.toString() });
    t.copy_(r.mul(b - a).add(a));
  });
  return t;
}

/** Fills t with N(mean, std^2). */
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  checkTensor(t, 'normal_');
  if (!(std >= 0)) throw createError('ERR_INVALID_ARG', `nn.init.normal_: std must be >= 0, got ${std}`);
  if (t.numel() === 0) return t;
  noGrad(() => {
    const r = randn([...t.shape], { dtype: randomDType(t), device: t.device.toString() });
    t.copy_(r.mul(std).add(mean));
  });
  return t;
}

export function constant_(t: Tensor, val: number): Tensor {
  checkTensor(t, 'constant_');
  noGrad(() => t.fill_(val));
  return t;
}
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu). Default 0. */
  a?: number;
  /** 'fan_in' (default) keeps the forward variance, 'fan_out' the backward one. */
  mode?: FanMode;
  /** Default 'leaky_relu'. */
  nonlinearity?: Nonlinearity;
}

const KAIMING_OPTIONS = optionKeys<KaimingOptions>({ a: true, mode: true, nonlinearity: true });

/** He initialization, uniform: U(-b, b), b = gain * sqrt(3 / fan). */
export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' } = checkOptions(options, KAIMING_OPTIONS, 'kaimingUniform_');
  checkTensor(t, 'kaimingUniform_');
  if (t.numel() === 0) return t;
  const std = calculateGain(nonlinearity, a) / Math.sqrt(fan(t, mode));
  const bound = Math.sqrt(3) * std;
  return uniform_(t, -bound, bound);
}

/** He initialization, normal: N(0, std^2), std = gain / sqrt(fan). */
export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const { a = 0, mode = 'fan_in', nonlinearity = 'leaky_relu' } = checkOptions(options, KAIMING_OPTIONS, 'kaimingNormal_');
  checkTensor(t, 'kaimingNormal_');
  if (t.numel() === 0) return t;
  const std = calculateGain(nonlinearity, a) / Math.sqrt(fan(t, mode));
  return normal_(t, 0, std);
}

/** Glorot initialization, uniform: U(-a, a), a = gain * sqrt(6 / (fanIn + fanOut)). */
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  checkTensor(t, 'xavierUniform_');
  const [fi, fo] = calculateFanInAndFanOut(t);
  const a = gain * Math.sqrt(6 / (fi + fo));
  return uniform_(t, -a, a);
}

/** Glorot initialization, normal: N(0, std^2), std = gain * sqrt(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1): Tensor {
  checkTensor(t, 'xavierNormal_');
  const [fi, fo] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fi + fo)));
}
