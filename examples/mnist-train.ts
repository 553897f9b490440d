/**
 * What the MNIST examples share (mnist-ddp.ts, mnist-ps.ts, mnist-pipeline.ts): the training set
 * with its seeded 2-pixel shifts, the MLP and the CNN, the learning-rate schedule and the held-out
 * accuracy.
 */
import { nn, noGrad, tensor, type Tensor } from '../lib/index.js';
import { IMAGE_SIZE, NUM_CLASSES, type MnistSplit } from './mnist-data.js';

/** Training digits, each shifted by up to 2 pixels (deterministic in seed, epoch and index). */
export class MnistTrain {
  epoch = 0;
  constructor(
    private readonly split: MnistSplit,
    private readonly augment: boolean,
    private readonly seed: number,
  ) {}
  get length(): number {
    return this.split.length;
  }
  getItems(indices: readonly number[]): [Float32Array, number][] {
    return indices.map((i) => [this.image(i), this.split.labels[i]!]);
  }
  private image(i: number): Float32Array {
    const src = this.split.images.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE);
    if (!this.augment) return src;
    let h = Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(this.epoch + 1, 0x85ebca6b) ^ Math.imul(this.seed + 1, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    const dx = (h % 5) - 2;
    const dy = (Math.floor(h / 5) % 5) - 2;
    if (dx === 0 && dy === 0) return src;
    const out = new Float32Array(IMAGE_SIZE);
    for (let y = 0; y < 28; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= 28) continue;
      for (let x = 0; x < 28; x++) {
        const sx = x - dx;
        if (sx >= 0 && sx < 28) out[y * 28 + x] = src[sy * 28 + sx]!;
      }
    }
    return out;
  }
}

export async function evaluate(model: { forward(x: Tensor): Tensor }, test: MnistSplit, device: string): Promise<number> {
  let correct = 0;
  const bs = 500;
  for (let s = 0; s < test.length; s += bs) {
    const n = Math.min(bs, test.length - s);
    const x = tensor(test.images.subarray(s * IMAGE_SIZE, (s + n) * IMAGE_SIZE), { dtype: 'float32' }).reshape([n, IMAGE_SIZE]).to(device);
    const pred = noGrad(() => model.forward(x).argmax(1));
    const p = await pred.data();
    for (let i = 0; i < n; i++) if (Number(p[i]) === test.labels[s + i]) correct++;
    x.dispose();
    pred.dispose();
  }
  return correct / test.length;
}

/** The MLP of the examples: 784 → hidden... → 10, ReLU between. */
export function buildMlp(hidden: readonly number[]): nn.Sequential {
  const sizes = [IMAGE_SIZE, ...hidden, NUM_CLASSES];
  const layers: nn.TensorModule[] = [];
  sizes.slice(1).forEach((out, i) => {
    layers.push(new nn.Linear(sizes[i]!, out));
    if (i < sizes.length - 2) layers.push(new nn.ReLU());
  });
  return new nn.Sequential(...layers);
}

/**
 * The CNN of `npm start -- --model cnn`: LeNet-5's layout with batch norm and 16/32 feature maps
 * (LeNet-5 has 6/16; on these 8,499 training digits the wider maps reach 98.5% held-out for every
 * seed tried, 6/16 not): [N, 784] → [N, 1, 28, 28] → conv 5x5 (16, padding 2) → BN → ReLU →
 * max-pool 2 → conv 5x5 (32) → BN → ReLU → max-pool 2 → flatten (800) → 120 (BN, ReLU) → 84 (ReLU) → 10. The convolutions and the first linear layer
 * have no bias (the batch norm after each one has it). bench/compare/torch_mnist_cnn.py is the
 * same network in PyTorch.
 */
export function buildCnn(): nn.Sequential {
  return new nn.Sequential(
    new nn.Unflatten(1, [1, 28, 28]),
    new nn.Conv2d(1, 16, 5, { padding: 2, bias: false }), new nn.BatchNorm2d(16), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(16, 32, 5, { bias: false }), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(800, 120, { bias: false }), new nn.BatchNorm1d(120), new nn.ReLU(),
    new nn.Linear(120, 84), new nn.ReLU(), new nn.Linear(84, NUM_CLASSES),
  );
}

/** The examples' schedule: `base` cosine-decayed to 0 over `total` steps. */
export function cosineLr(base: number, step: number, total: number): number {
  return 0.5 * base * (1 + Math.cos((Math.PI * step) / total));
}
