import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSize } from '../../lib/bench/argparse.js';
import { COLLECTIVES, COLLECTIVE_NAMES, bandwidth } from '../../lib/bench/collectives.js';
import { parseCollectiveArgs, sizeSteps } from '../../lib/bench/options.js';
import { resolveBackend } from '../../lib/bench/run-collective.js';
import { ArgumentError, NodeNcclError } from '../../lib/errors.js';

const isArgErr = (re: RegExp) => (e: unknown) => e instanceof NodeNcclError && e instanceof ArgumentError && re.test(e.message);

test('sizes: plain bytes and K/M/G suffixes (powers of 1024, any case, fractions)', () => {
  assert.equal(parseSize('-b', '8'), 8);
  assert.equal(parseSize('-b', '64K'), 65536);
  assert.equal(parseSize('-b', '64k'), 65536);
  assert.equal(parseSize('-b', '1M'), 1048576);
  assert.equal(parseSize('-b', '2G'), 2 * 1024 ** 3);
  assert.equal(parseSize('-b', '1.5M'), 1.5 * 1048576);
  assert.equal(parseSize('-b', '1MiB'), 1048576);
  assert.equal(parseSize('-b', '0'), 0);
  for (const bad of ['', 'x', '-8', '8Q', '1M2', 'M', '1..2K']) assert.throws(() => parseSize('-b', bad), isArgErr(/invalid size/), bad);
  assert.throws(() => parseSize('-e', '1000T'), isArgErr(/out of range/));
});

test('defaults are nccl-tests defaults', () => {
  const o = parseCollectiveArgs('all-reduce', []);
  assert.equal(o.minBytes, 32 * 1024 ** 2);
  assert.equal(o.maxBytes, 32 * 1024 ** 2);
  assert.equal(o.stepFactor, 1);
  assert.equal(o.stepBytes, 1024 ** 2);
  assert.equal(o.iters, 20);
  assert.equal(o.warmupIters, 5);
  assert.equal(o.check, 1);
  assert.deepEqual(o.dtypes.map((d) => d.ncclName), ['float']);
  assert.deepEqual(o.ops, ['sum']);
  assert.equal(o.root, 0);
  assert.equal(o.blocking, false);
  assert.equal(o.average, 1);
  assert.equal(o.graphLaunches, 0);
  assert.equal(o.backend, 'auto');
  assert.equal(o.np, undefined);
  assert.equal(o.json, undefined);
});

test('every flag, short, long, attached and = forms', () => {
  const o = parseCollectiveArgs('broadcast', [
    '-b', '8', '-e128M', '--stepfactor=4', '-i', '1K', '-n', '7', '-w', '2', '-c', '0', '-d', 'half', '-o', 'max',
    '-r', '1', '-z', '1', '-a', '3', '-G', '0', '-T', '30', '--backend', 'cpu', '--np', '2', '--json', 'out.json',
  ]);
  assert.equal(o.collective, 'broadcast');
  assert.equal(o.minBytes, 8);
  assert.equal(o.maxBytes, 128 * 1024 ** 2);
  assert.equal(o.stepFactor, 4);
  assert.equal(o.stepBytes, 1024);
  assert.equal(o.iters, 7);
  assert.equal(o.warmupIters, 2);
  assert.equal(o.check, 0);
  assert.deepEqual(o.dtypes.map((d) => d.name), ['float16']);
  assert.deepEqual(o.ops, ['max']);
  assert.equal(o.root, 1);
  assert.equal(o.blocking, true);
  assert.equal(o.average, 3);
  assert.equal(o.timeoutSec, 30);
  assert.equal(o.backend, 'cpu');
  assert.equal(o.np, 2);
  assert.equal(o.json, 'out.json');
  const l = parseCollectiveArgs('all-reduce', ['--minbytes', '1K', '--maxbytes', '4K', '--iters', '3', '--warmup_iters', '1', '--datatype', 'bfloat16', '--op', 'avg', '--average', '0']);
  assert.deepEqual([l.minBytes, l.maxBytes, l.iters, l.warmupIters, l.dtypes[0]!.name, l.ops[0], l.average], [1024, 4096, 3, 1, 'bfloat16', 'avg', 0]);
});

test('dtype names: nccl-tests names, node-nccl names, all', () => {
  const names = (d: string) => parseCollectiveArgs('all-reduce', ['-d', d]).dtypes.map((x) => x.name);
  assert.deepEqual(names('float'), ['float32']);
  assert.deepEqual(names('float32'), ['float32']);
  assert.deepEqual(names('double'), ['float64']);
  assert.deepEqual(names('half'), ['float16']);
  assert.deepEqual(names('float16'), ['float16']);
  assert.deepEqual(names('bfloat16'), ['bfloat16']);
  assert.deepEqual(names('int32'), ['int32']);
  assert.deepEqual(names('int64'), ['int64']);
  assert.deepEqual(names('uint8'), ['uint8']);
  assert.equal(names('all').length, 7);
  assert.deepEqual(parseCollectiveArgs('all-reduce', ['-o', 'all']).ops, ['sum', 'prod', 'max', 'min', 'avg']);
});

test('bad input: unknown flags, bad values, inverted and out-of-range sizes', () => {
  const bad = (argv: string[], re: RegExp) => assert.throws(() => parseCollectiveArgs('all-reduce', argv), isArgErr(re), argv.join(' '));
  bad(['--frobnicate'], /unknown option '--frobnicate'/);
  bad(['-q', '1'], /unknown option '-q'/);
  bad(['-t', '2'], /unknown option '-t'/);
  bad(['-b'], /needs a value/);
  bad(['-b', '1M', '-e', '8'], /invalid sizes.*1048576 > 8/);
  bad(['-b', 'lots'], /invalid size/);
  bad(['-e', '99999T'], /out of range/);
  bad(['-b', '0', '-e', '1M', '-f', '2'], /never grows/);
  bad(['-b', '8', '-e', '1M', '-i', '0'], /at least 1 byte/);
  bad(['-b', '8', '-e', '1G', '-i', '8'], /more than 10000 steps/);
  bad(['-f', '0'], /out of range/);
  bad(['-n', '0'], /out of range/);
  bad(['-n', 'ten'], /expected an integer/);
  bad(['-w', '-1'], /out of range/);
  bad(['-a', '4'], /out of range/);
  bad(['-z', '2'], /out of range/);
  bad(['-d', 'float8'], /unknown dtype/);
  bad(['-d', 'int8'], /no int8 dtype/);
  bad(['-d', 'uint64'], /no uint64 dtype/);
  bad(['-o', 'xor'], /unknown reduction op/);
  bad(['--backend', 'gloo'], /unknown backend/);
  bad(['--np', '0'], /out of range/);
  bad(['--np', '2', '-r', '2'], /root out of range/);
  bad(['stray'], /unexpected argument 'stray'/);
  bad(['--json', ''], /expected a file name/);
  assert.throws(() => parseCollectiveArgs('all-smash', []), isArgErr(/unknown benchmark 'all-smash'/));
});

test('size stepping: -f multiplies, -i adds, both stop at -e inclusive', () => {
  assert.deepEqual(sizeSteps(8, 128, 2, 0), [8, 16, 32, 64, 128]);
  assert.deepEqual(sizeSteps(8, 1024 ** 2, 4, 0), [8, 32, 128, 512, 2048, 8192, 32768, 131072, 524288]);
  assert.deepEqual(sizeSteps(1000, 4000, 1, 1000), [1000, 2000, 3000, 4000]);
  assert.deepEqual(sizeSteps(1000, 3500, 1, 1000), [1000, 2000, 3000]);
  assert.deepEqual(sizeSteps(64, 64, 2, 0), [64]);
  assert.deepEqual(sizeSteps(0, 0, 1, 0), [0]);
});

test('busbw factors are nccl-tests factors', () => {
  const n = 4;
  const f = (c: (typeof COLLECTIVE_NAMES)[number]) => COLLECTIVES[c].busBwFactor(n);
  assert.equal(f('all-reduce'), (2 * (n - 1)) / n);
  assert.equal(f('all-gather'), (n - 1) / n);
  assert.equal(f('reduce-scatter'), (n - 1) / n);
  assert.equal(f('all-to-all'), (n - 1) / n);
  assert.equal(f('broadcast'), 1);
  assert.equal(f('reduce'), 1);
  assert.equal(f('send-recv'), 1);
  assert.equal(COLLECTIVES['all-reduce'].busBwFactor(1), 0);
  // algbw: all-reduce of 1e9 bytes in 1 s is 1 GB/s; busbw at 2 ranks equals algbw.
  const ar = bandwidth(COLLECTIVES['all-reduce'], 250_000_000, 4, 2, 1);
  assert.deepEqual(ar, { algBw: 1, busBw: 1 });
  // all-gather's algbw counts the whole gathered buffer (count per rank * nranks).
  const ag = bandwidth(COLLECTIVES['all-gather'], 1000, 4, 4, 1e-6);
  assert.ok(Math.abs(ag.algBw - 16) < 1e-9 && Math.abs(ag.busBw - 12) < 1e-9);
});

test('counts per collective follow nccl-tests getCollByteCount', () => {
  assert.deepEqual(COLLECTIVES['all-gather'].counts(10, 4), { sendCount: 2, recvCount: 8, paramCount: 2, sendInplaceOffset: 2, recvInplaceOffset: 0 });
  assert.deepEqual(COLLECTIVES['reduce-scatter'].counts(10, 4), { sendCount: 8, recvCount: 2, paramCount: 2, sendInplaceOffset: 0, recvInplaceOffset: 2 });
  assert.deepEqual(COLLECTIVES['all-to-all'].counts(10, 4), { sendCount: 8, recvCount: 8, paramCount: 2, sendInplaceOffset: 0, recvInplaceOffset: 0 });
  assert.deepEqual(COLLECTIVES['all-reduce'].counts(10, 4), { sendCount: 10, recvCount: 10, paramCount: 10, sendInplaceOffset: 0, recvInplaceOffset: 0 });
});

test('backend resolution: --np beyond the GPUs, nccl without GPU, -G on cpu, refused clearly', () => {
  const gpus = (n: number) => ({ deviceCount: () => n, reason: n ? null : 'no CUDA device is visible' });
  const opts = (argv: string[]) => parseCollectiveArgs('all-reduce', argv);
  assert.equal(resolveBackend(opts([]), gpus(0), {}), 'cpu');
  assert.equal(resolveBackend(opts([]), gpus(2), {}), 'nccl');
  assert.equal(resolveBackend(opts(['--backend', 'cpu', '--np', '8']), gpus(1), {}), 'cpu');
  assert.throws(() => resolveBackend(opts(['--backend', 'nccl', '--np', '4']), gpus(2), {}), (e: unknown) => e instanceof NodeNcclError && /--np 4.*has 2 GPUs/.test(e.message));
  assert.equal(resolveBackend(opts(['--backend', 'nccl', '--np', '2']), gpus(1), { NCCL_MULTI_RANK_GPU_ENABLE: '1' }), 'nccl');
  assert.equal(resolveBackend(opts(['--backend', 'nccl', '--np', '4']), gpus(2), { NCCL_MULTI_RANK_GPU_ENABLE: '1' }), 'nccl');
  // NCCL's documentation: up to 2 ranks per GPU with the default configuration
  assert.throws(() => resolveBackend(opts(['--backend', 'nccl', '--np', '3']), gpus(1), { NCCL_MULTI_RANK_GPU_ENABLE: '1' }),
    (e: Error & { code?: string }) => e.code === 'ERR_INDEX_OUT_OF_RANGE' && /at most 2 ranks per GPU/.test(e.message) && /at most 2 ranks$/.test(e.message));
  assert.throws(() => resolveBackend(opts(['--backend', 'nccl']), gpus(0), {}), (e: unknown) => e instanceof NodeNcclError && e.code === 'ERR_NO_GPU' && /no CUDA device/.test(e.message));
  assert.throws(() => resolveBackend(opts(['--backend', 'cpu', '-G', '2']), gpus(0), {}), (e: unknown) => e instanceof NodeNcclError && e.code === 'ERR_UNSUPPORTED' && /cpu backend/.test(e.message));
});
