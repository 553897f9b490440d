/**
 * Pipe across devices in one process (the seed's model parallelism, pipelined): stages on cuda:0
 * and cuda:1, the micro-batches' activations and gradients crossing between them, against the
 * unsplit model on the CPU. Needs 2 devices (simulated ones in npm test).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cuda, manualSeed, nn, Pipe, randint, randn, type Tensor } from '../../lib/index.js';

const skip = cuda.deviceCount() < 2 ? `needs 2 devices, this machine has ${cuda.deviceCount()}${cuda.deviceCount() ? '' : `: ${cuda.noGpuReason()}`}` : false;

function model(): nn.Sequential {
  manualSeed(3);
  return new nn.Sequential(
    new nn.Sequential(new nn.Linear(7, 16, { dtype: 'float64' }), new nn.Tanh()),
    new nn.Sequential(new nn.Linear(16, 9, { dtype: 'float64' }), new nn.ReLU()),
    new nn.Sequential(new nn.Linear(9, 4, { dtype: 'float64' })),
  );
}

async function maxDiff(a: Tensor, b: Tensor): Promise<number> {
  const x = (await a.to('cpu').data()) as Float64Array, y = (await b.to('cpu').data()) as Float64Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

test('Pipe with stages on cuda:0, cuda:1, cuda:0: output and gradients equal the unsplit model on the CPU for 1, 2 and 5 micro-batches', { skip }, async () => {
  manualSeed(9);
  const x = randn([10, 7], { dtype: 'float64' });
  const y = randint(0, 4, [10]);
  const ref = model();
  const refOut = ref.forward(x);
  nn.functional.crossEntropy(refOut, y).backward();
  const refGrads = new Map([...ref.namedParameters()].map(([n, p]) => [n, p.grad!] as const));
  for (const chunks of [1, 2, 5]) {
    const m = model();
    const stages = [...m.children()] as nn.Module[];
    stages.forEach((s, i) => s.to(i % 2 ? 'cuda:1' : 'cuda:0'));
    const pipe = new Pipe(m, { chunks });
    assert.deepEqual(pipe.devices, ['cuda:0', 'cuda:1', 'cuda:0']);
    const out = pipe.forward(x.to('cuda:0'));
    assert.equal(out.device.toString(), 'cuda:0');
    assert.ok((await maxDiff(out, refOut)) < 1e-12, `chunks ${chunks}: output`);
    nn.functional.crossEntropy(out, y.to('cuda:0')).backward();
    for (const [n, p] of pipe.namedParameters()) {
      const want = refGrads.get(n.replace(/^module\./, ''));
      assert.ok(want && p.grad, `chunks ${chunks}: no gradient for ${n}`);
      assert.ok((await maxDiff(p.grad, want)) < 1e-12, `chunks ${chunks}: gradient of ${n}`);
    }
  }
  assert.equal(cuda.currentDevice(), 0);
});
