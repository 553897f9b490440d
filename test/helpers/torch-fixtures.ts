/**
 * Reads the PyTorch reference values written by scripts/torch-fixtures.py (test/fixtures/torch/<topic>.json)
 * and rebuilds their tensors exactly: see scripts/torch_fixtures/common.py for the encoding.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tensor, type Tensor } from '../../lib/tensor/index.js';
import type { DType } from '../../lib/tensor/dtype.js';

export interface EncodedTensor {
  dtype: DType;
  shape: number[];
  data: (number | string | boolean)[];
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The cases of a fixture topic (what its generate() returned). */
export function torchFixture<T = Record<string, unknown>>(topic: string): T {
  const path = `${ROOT}test/fixtures/torch/${topic}.json`;
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { torch: string; cases: T };
  return parsed.cases;
}

function num(v: number | string | boolean): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === 'nan') return NaN;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return Number(v);
}

/** The values of an encoded tensor as plain numbers (int64 as Number: fine below 2^53). */
export function fixtureValues(e: EncodedTensor): number[] {
  return e.data.map(num);
}

/** An encoded tensor as a node-nccl CPU tensor of the same dtype and shape. */
export function fromFixture(e: EncodedTensor): Tensor {
  if (e.dtype === 'int64') {
    return tensor(BigInt64Array.from(e.data.map((v) => BigInt(v as string))), { shape: e.shape });
  }
  if (e.dtype === 'bool') {
    return tensor(Uint8Array.from(e.data.map((v) => (v ? 1 : 0))), { shape: e.shape, dtype: 'bool' });
  }
  const f = Float64Array.from(e.data.map(num));
  return tensor(f, { shape: e.shape, dtype: e.dtype });
}
