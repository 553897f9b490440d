import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NodeNcclError } from '../../lib/errors.js';
import * as nn from '../../lib/nn/index.js';
import { Tensor, manualSeed, tensor, tidy, zeros } from '../../lib/tensor/index.js';
import { data, gradcheck } from './gradcheck.js';

class Block extends nn.Module {
  declare fc: nn.Linear;
  declare norm: nn.LayerNorm;
  declare scale: nn.Parameter;
  declare steps: Tensor;
  constructor() {
    super();
    this.registerModule('fc', new nn.Linear(3, 4));
    this.registerParameter('scale', new nn.Parameter(tensor([1.5])));
    this.registerModule('norm', new nn.LayerNorm(4));
    this.registerBuffer('steps', zeros([1]));
    this.registerBuffer('cache', zeros([2]), { persistent: false });
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.fc.forward(x)).mul(this.scale);
  }
}

class Net extends nn.Module {
  declare body: nn.Sequential;
  declare head: nn.Linear;
  constructor() {
    super();
    this.registerModule('body', new nn.Sequential(new Block(), new nn.GELU(), new nn.Dropout(0.1)));
    this.registerModule('head', new nn.Linear(4, 2, { bias: false }));
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.body.forward(x));
  }
}

test('registration order and dotted names, like torch', () => {
  const net = new Net();
  assert.deepEqual(
    [...net.namedParameters()].map(([n]) => n),
    ['body.0.scale', 'body.0.fc.weight', 'body.0.fc.bias', 'body.0.norm.weight', 'body.0.norm.bias', 'head.weight'],
  );
  assert.deepEqual([...net.namedBuffers()].map(([n]) => n), ['body.0.steps', 'body.0.cache']);
  assert.deepEqual([...net.namedChildren()].map(([n]) => n), ['body', 'head']);
  assert.deepEqual([...net.namedModules()].map(([n]) => n), ['', 'body', 'body.0', 'body.0.fc', 'body.0.norm', 'body.1', 'body.2', 'head']);
  assert.equal([...net.parameters()].length, 6);
  assert.deepEqual(Object.keys(net.stateDict()), [
    'body.0.scale', 'body.0.steps', 'body.0.fc.weight', 'body.0.fc.bias', 'body.0.norm.weight', 'body.0.norm.bias', 'head.weight',
  ]);
  for (const p of net.parameters()) {
    assert.ok(p instanceof nn.Parameter);
    assert.equal(p.requiresGrad, true);
  }
  assert.ok(!(tensor([1]) instanceof nn.Parameter));
});

test('state dict keys: parameters then persistent buffers of each module, in module order', () => {
  const b = new Block();
  assert.deepEqual(Object.keys(b.stateDict()), ['scale', 'steps', 'fc.weight', 'fc.bias', 'norm.weight', 'norm.bias']);
});

test('assignment through the registered properties, shared parameters counted once', () => {
  const lin = new nn.Linear(2, 2);
  const w = new nn.Parameter(tensor([[1, 2], [3, 4]]));
  lin.weight = w;
  assert.equal(lin.weight, w);
  assert.equal([...lin.parameters()][0], w);
  lin.bias = null;
  assert.deepEqual([...lin.namedParameters()].map(([n]) => n), ['weight']);
  assert.throws(() => {
    (lin as unknown as { weight: Tensor }).weight = tensor([[1, 2], [3, 4]]);
  }, /nn.Parameter/);
  const seq = new nn.Sequential(lin, lin);
  assert.equal([...seq.parameters()].length, 1);
  assert.throws(() => lin.registerParameter('a.b', w), /can't contain "."/);
  assert.throws(() => lin.registerBuffer('weight', zeros([1])), /already registered/);
  assert.throws(() => lin.registerBuffer('forward', zeros([1])), /already exists/);
});

test('train/eval, apply, zeroGrad', () => {
  const net = new Net();
  assert.equal(net.training, true);
  net.eval();
  for (const m of net.modules()) assert.equal(m.training, false);
  net.train();
  assert.equal((net.body.at(2) as nn.Dropout).training, true);
  const visited: string[] = [];
  net.apply((m) => visited.push(m.constructor.name));
  assert.deepEqual(visited, ['Linear', 'LayerNorm', 'Block', 'GELU', 'Dropout', 'Sequential', 'Linear', 'Net']);
  net.eval();
  net.forward(tensor(data(6, 1)).reshape([2, 3])).sum().backward();
  for (const p of net.parameters()) assert.ok(p.grad instanceof Tensor);
  net.zeroGrad({ setToNone: false });
  for (const p of net.parameters()) assert.ok((p.grad!.dataSync() as Float32Array).every((v) => v === 0));
  net.zeroGrad();
  for (const p of net.parameters()) assert.equal(p.grad, null);
});

test('loadStateDict copies values; errors list missing keys, unexpected keys and shape mismatches', () => {
  manualSeed(1);
  const a = new Net();
  manualSeed(2);
  const b = new Net();
  const x = tensor(data(6, 3)).reshape([2, 3]);
  a.eval();
  b.eval();
  const res = b.loadStateDict(a.stateDict());
  assert.deepEqual(res, { missingKeys: [], unexpectedKeys: [] });
  assert.deepEqual(b.forward(x).dataSync(), a.forward(x).dataSync());

  const sd = a.stateDict();
  delete sd['head.weight'];
  sd['extra.bias'] = zeros([3]);
  sd['body.0.fc.weight'] = zeros([5, 3]);
  const before = Array.from(b.head.weight.dataSync() as Float32Array);
  assert.throws(() => b.loadStateDict(sd), (e: unknown) => {
    const m = (e as Error).message;
    return (
      e instanceof NodeNcclError && e.code === 'ERR_STATE_DICT' &&
      /Missing key\(s\) in state_dict: "head.weight"/.test(m) &&
      /Unexpected key\(s\) in state_dict: "extra.bias"/.test(m) &&
      /size mismatch for body.0.fc.weight: copying a param with shape \[5, 3\] from checkpoint, the shape in current model is \[4, 3\]/.test(m)
    );
  });
  assert.deepEqual(Array.from(b.head.weight.dataSync() as Float32Array), before, 'nothing copied on error');
  // non-strict: missing/unexpected are reported, shape mismatches still refused
  delete sd['body.0.fc.weight'];
  const r = b.loadStateDict(sd, { strict: false });
  assert.deepEqual(r, { missingKeys: ['body.0.fc.weight', 'head.weight'], unexpectedKeys: ['extra.bias'] });
});

test('modules built, converted or loaded inside tidy() keep their parameters and buffers', () => {
  let net: Net | null = null;
  tidy(() => {
    net = new Net();
    net.to('float64');
    net.loadStateDict(new Net().to('float64').stateDict());
  });
  const n = net! as Net;
  for (const p of n.parameters()) assert.equal(p.isDisposed, false);
  for (const b of n.buffers()) assert.equal(b.isDisposed, false);
  n.eval();
  assert.deepEqual(n.forward(tensor(data(6, 4), { dtype: 'float64' }).reshape([2, 3])).shape, [2, 2]);
});

test('to() keeps unchanged parameters and shared parameters shared', () => {
  const lin = new nn.Linear(2, 2);
  const seq = new nn.Sequential(lin, new nn.ReLU(), lin);
  const w = lin.weight;
  seq.to('float32');
  seq.to('cpu');
  assert.equal(lin.weight, w, 'nothing to convert: same Parameter');
  seq.to('float64');
  assert.notEqual(lin.weight, w);
  assert.equal((seq.at(0) as nn.Linear).weight, (seq.at(2) as nn.Linear).weight);
  assert.equal([...seq.parameters()].length, 2);
  // the repeated module runs twice, as in torch
  assert.equal(seq.length, 3);
  const x = tensor([[1, -2]], { dtype: 'float64' });
  const once = lin.forward(x).relu();
  assert.deepEqual(seq.forward(x).dataSync(), lin.forward(once).dataSync());
});

test('to(dtype) converts parameters and buffers; the module still runs', () => {
  const net = new Net().to('float64');
  for (const p of net.parameters()) assert.equal(p.dtype, 'float64');
  for (const b of net.buffers()) assert.equal(b.dtype, 'float64');
  for (const p of net.parameters()) assert.ok(p instanceof nn.Parameter && p.requiresGrad);
  net.eval();
  const y = net.forward(tensor(data(6, 2), { dtype: 'float64' }).reshape([2, 3]));
  assert.equal(y.dtype, 'float64');
  assert.throws(() => net.to('int32'), (e: unknown) => (e as NodeNcclError).code === 'ERR_DTYPE');
});

test('default initializations follow torch (bounds and moments)', () => {
  manualSeed(0);
  const lin = new nn.Linear(400, 300);
  const w = Array.from(lin.weight.dataSync() as Float32Array);
  const bound = 1 / Math.sqrt(400);
  assert.ok(w.every((v) => Math.abs(v) <= bound));
  const varW = w.reduce((a, v) => a + v * v, 0) / w.length;
  assert.ok(Math.abs(varW - bound ** 2 / 3) < 0.05 * bound ** 2 / 3, `Linear weight variance ${varW}`);
  assert.ok(Array.from(lin.bias!.dataSync() as Float32Array).every((v) => Math.abs(v) <= bound));
  const emb = new nn.Embedding(200, 100, { paddingIdx: 3 });
  const e = Array.from(emb.weight.dataSync() as Float32Array);
  const mean = e.reduce((a, b) => a + b, 0) / e.length;
  const sd = Math.sqrt(e.reduce((a, v) => a + (v - mean) ** 2, 0) / e.length);
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(sd - 1) < 0.03, `Embedding N(0,1): mean ${mean} sd ${sd}`);
  assert.ok(e.slice(300, 400).every((v) => v === 0), 'padding row is zero');
  const ln = new nn.LayerNorm([2, 3]);
  assert.deepEqual(Array.from(ln.weight!.dataSync() as Float32Array), [1, 1, 1, 1, 1, 1]);
  assert.deepEqual(Array.from(ln.bias!.dataSync() as Float32Array), [0, 0, 0, 0, 0, 0]);
});

test('nn.init: gains, fans and the distributions they give', () => {
  assert.equal(nn.init.calculateGain('relu'), Math.SQRT2);
  assert.equal(nn.init.calculateGain('tanh'), 5 / 3);
  assert.equal(nn.init.calculateGain('leaky_relu', Math.sqrt(5)), Math.sqrt(1 / 3));
  assert.equal(nn.init.calculateGain('selu'), 0.75);
  assert.deepEqual(nn.init.calculateFanInAndFanOut(zeros([8, 4, 3, 3])), [36, 72]);
  assert.throws(() => nn.init.calculateFanInAndFanOut(zeros([5])), /fewer than 2 dimensions/);
  manualSeed(3);
  const t = zeros([500, 200]);
  const moments = (x: Tensor): [number, number] => {
    const v = Array.from(x.dataSync() as Float32Array);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return [m, v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length];
  };
  nn.init.kaimingNormal_(t, { nonlinearity: 'relu' });
  let [m, v] = moments(t);
  assert.ok(Math.abs(m) < 0.01 && Math.abs(v - 2 / 200) < 0.05 * (2 / 200), `kaimingNormal var ${v}`);
  nn.init.kaimingUniform_(t, { mode: 'fan_out', nonlinearity: 'relu' });
  [m, v] = moments(t);
  assert.ok(Math.abs(v - 2 / 500) < 0.05 * (2 / 500), `kaimingUniform fan_out var ${v}`);
  nn.init.xavierUniform_(t, 2);
  [m, v] = moments(t);
  assert.ok(Math.abs(v - (4 * 2) / 700) < 0.05 * (8 / 700), `xavierUniform var ${v}`);
  nn.init.xavierNormal_(t);
  [m, v] = moments(t);
  assert.ok(Math.abs(v - 2 / 700) < 0.05 * (2 / 700), `xavierNormal var ${v}`);
  nn.init.constant_(t, 0.25);
  assert.ok((t.dataSync() as Float32Array).every((x) => x === 0.25));
  nn.init.uniform_(t, 2, 3);
  assert.ok((t.dataSync() as Float32Array).every((x) => x >= 2 && x < 3));
});

test('gradcheck through modules: Linear, LayerNorm, Embedding, Sequential', () => {
  manualSeed(4);
  const lin = new nn.Linear(3, 2).to('float64');
  const ln = new nn.LayerNorm(3).to('float64');
  gradcheck('Linear∘LayerNorm input grad', ([x]) => lin.forward(ln.forward(x!)), [{ data: data(6, 5), shape: [2, 3] }]);
  const seq = new nn.Sequential(new nn.Linear(3, 4), new nn.Tanh(), new nn.Linear(4, 2), new nn.SiLU()).to('float64');
  gradcheck('Sequential input grad', ([x]) => seq.forward(x!), [{ data: data(9, 6), shape: [3, 3] }]);
  // parameter gradients of a module equal those of the functional form (gradchecked above)
  const x = tensor(data(6, 7), { dtype: 'float64' }).reshape([2, 3]);
  lin.zeroGrad();
  lin.forward(x).sum().backward();
  const w = tensor(Array.from(lin.weight.dataSync() as Float64Array), { dtype: 'float64' }).reshape([2, 3]).detach();
  w.requiresGrad = true;
  const F = nn.functional;
  F.linear(x, w, lin.bias!.detach()).sum().backward();
  assert.deepEqual(Array.from(lin.weight.grad!.dataSync() as Float64Array), Array.from(w.grad!.dataSync() as Float64Array));
});
