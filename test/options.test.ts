/**
 * Unknown option keys: every public options object goes through lib/options.ts, which refuses a key
 * it does not know with ERR_INVALID_ARG, naming it and the nearest valid key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DataLoader, DistributedDataParallel, DistributedSampler, TCPStore, cuda, dist, loadCheckpoint, nn, optim, rpc, safetensors, saveCheckpoint,
  tensor, zeros,
} from '../lib/index.js';
import { checkOptions, nearestKey, optionKeys } from '../lib/options.js';

/** The call fails with ERR_INVALID_ARG naming `key` (and `suggestion`, when given). */
function refuses(f: () => unknown, key: string, suggestion?: string): void {
  assert.throws(f, (e: unknown) => {
    const err = e as { code?: string; message: string; option?: string; suggestion?: string };
    assert.equal(err.code, 'ERR_INVALID_ARG', err.message);
    assert.ok(err.message.includes(`unknown option '${key}'`), err.message);
    assert.equal(err.option, key);
    if (suggestion) {
      assert.ok(err.message.includes(`did you mean '${suggestion}'?`), err.message);
      assert.equal(err.suggestion, suggestion);
    }
    return true;
  });
}
async function refusesAsync(f: () => Promise<unknown>, key: string, suggestion?: string): Promise<void> {
  let caught: unknown = null;
  try {
    await f();
  } catch (e) {
    caught = e;
  }
  refuses(() => {
    if (caught) throw caught;
  }, key, suggestion);
}

test('nearestKey: case, _ and - ignored; initials; small typos; nothing far away', () => {
  const keys = ['batchSize', 'shuffle', 'dropLast', 'pinMemory', 'bucketCapMb', 'lr', 'dtype'];
  assert.equal(nearestKey('batch_size', keys), 'batchSize');
  assert.equal(nearestKey('BatchSize', keys), 'batchSize');
  assert.equal(nearestKey('drop-last', keys), 'dropLast');
  assert.equal(nearestKey('bucketCapMB', keys), 'bucketCapMb');
  assert.equal(nearestKey('learningRate', keys), 'lr');
  assert.equal(nearestKey('learning_rate', keys), 'lr');
  assert.equal(nearestKey('shufle', keys), 'shuffle');
  assert.equal(nearestKey('dtyp', keys), 'dtype');
  assert.equal(nearestKey('pin', keys), 'pinMemory');
  assert.equal(nearestKey('frobnicate', keys), undefined);
});

test('checkOptions: null/undefined are {}, non-objects and unknown keys are refused, the list is in the message', () => {
  const K = optionKeys<{ a?: number; bee?: string }>({ a: true, bee: true });
  assert.deepEqual(checkOptions(undefined, K, 'f'), {});
  assert.deepEqual(checkOptions(null, K, 'f'), {});
  const o = { a: 1 };
  assert.equal(checkOptions(o, K, 'f'), o);
  assert.throws(() => checkOptions(5 as never, K, 'f'), /f: options must be an object, got number 5/);
  assert.throws(() => checkOptions([] as never, K, 'f'), /f: options must be an object, got an array/);
  assert.throws(() => checkOptions({ be: 'x' } as never, K, 'f'), /^ArgumentError: f: unknown option 'be'; did you mean 'bee'\? \(valid options: a, bee\)$/);
  // a key set to undefined is still a typo
  assert.throws(() => checkOptions({ bea: undefined } as never, K, 'f'), /unknown option 'bea'/);
});

test("the issue's three: DataLoader batch_size, Adam learningRate, DDP bucketCapMB", () => {
  refuses(() => new DataLoader([1, 2, 3], { batch_size: 16 } as never), 'batch_size', 'batchSize');
  const p = [zeros([2], { requiresGrad: true })];
  refuses(() => new optim.Adam(p, { learningRate: 0.1 } as never), 'learningRate', 'lr');
  refuses(() => new DistributedDataParallel(new nn.Linear(2, 2), { bucketCapMB: 10 } as never), 'bucketCapMB', 'bucketCapMb');
});

test('every public options object refuses unknown keys', async () => {
  const p = [zeros([2], { requiresGrad: true })];
  const x = tensor([[1, 2], [3, 4]]);
  const target = tensor([0n, 1n]);
  // tensors
  refuses(() => zeros([2], { dtyp: 'float32' } as never), 'dtyp', 'dtype');
  refuses(() => tensor([1], { requires_grad: true } as never), 'requires_grad', 'requiresGrad');
  refuses(() => x.sum(0, { keepDim: true } as never), 'keepDim', 'keepdim');
  refuses(() => x.to({ non_blocking: true } as never), 'non_blocking', 'nonBlocking');
  refuses(() => x.var(0, { unbiased: false } as never), 'unbiased');
  refuses(() => x.add(x, { alpah: 2 } as never), 'alpah', 'alpha');
  // nn
  refuses(() => new nn.Linear(2, 3, { bias_: false } as never), 'bias_', 'bias');
  refuses(() => new nn.LayerNorm(2, { epsilon: 1e-6 } as never), 'epsilon');
  refuses(() => nn.functional.crossEntropy(x, target, { label_smoothing: 0.1 } as never), 'label_smoothing', 'labelSmoothing');
  refuses(() => nn.functional.dropout(x, { prob: 0.5 } as never), 'prob');
  refuses(() => new nn.Linear(2, 2).loadStateDict({}, { strick: false } as never), 'strick', 'strict');
  // optim
  refuses(() => new optim.SGD(p, { moment: 0.9 } as never), 'moment', 'momentum');
  refuses(() => new optim.SGD([{ params: p, lR: 0.1 } as never]), 'lR', 'lr');
  refuses(() => optim.clipGradNorm(p, 1, { norm_type: 2 } as never), 'norm_type', 'normType');
  refuses(() => new optim.lrScheduler.StepLR(new optim.SGD(p), 2, { gama: 0.5 } as never), 'gama', 'gamma');
  // parallel
  refuses(() => new DistributedSampler([1, 2], { num_replicas: 2, rank: 0 } as never), 'num_replicas', 'numReplicas');
  await refusesAsync(() => saveCheckpoint('/nonexistent', { model: new nn.Linear(1, 1), step: 1, kep: 2 } as never), 'kep', 'keep');
  await refusesAsync(() => loadCheckpoint('/nonexistent', { map_location: 'cpu' } as never), 'map_location', 'mapLocation');
  // io
  refuses(() => safetensors.serialize({ x }, { meta: {} } as never), 'meta', 'metadata');
  // distributed
  await refusesAsync(() => dist.initProcessGroup({ world_size: 1 } as never), 'world_size', 'worldSize');
  await refusesAsync(() => TCPStore.create({ host: '127.0.0.1', port: 0, isServer: true, timeout: 5 } as never), 'timeout');
  refuses(() => dist.allReduce(x, { opp: 'sum' } as never), 'opp', 'op');
  await refusesAsync(() => rpc.initRpc({ nam: 'w0' } as never), 'nam', 'name');
  // cuda (argument checks run before any device is needed)
  refuses(() => new cuda.Stream({ prio: -1 } as never), 'prio');
  refuses(() => new cuda.Event({ enable_timing: true } as never), 'enable_timing', 'enableTiming');
});
