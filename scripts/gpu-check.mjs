#!/usr/bin/env node
// One command for a machine with a GPU: the GPU tests on the real device, then node-nccl against
// PyTorch measured in the same run, and one table of ratios last (versions first).
//
//   npm run gpu:check                 (or: node scripts/gpu-check.mjs, where there is no npm)
//   node scripts/gpu-check.mjs --smoke      tiny sizes, no tests: a dry run of every step (it runs
//                                           on simulated devices too: NODE_NCCL_SIM_DEVICES=1)
//   options: --out DIR (logs and JSON; default $OUT, else ./gpu-check), --skip-tests;
//   NODE_NCCL_PYTHON: the Python with PyTorch (default python3)
//
// On the GPU machine (no Node.js there: see the project's GPU machine notes), after carrying a
// build:  . .device/enter.sh && node scripts/gpu-check.mjs --out $OUT
// Every step has a time budget (the whole run is planned for at most 8 minutes on an H100/H200);
// a step over budget is killed and reported, the others still run. The PyTorch halves run where
// `python3` has torch with CUDA, and are skipped, saying why, elsewhere.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const has = (f) => args.includes(f);
const opt = (f, d) => (args.indexOf(f) >= 0 ? args[args.indexOf(f) + 1] : d);
if (has('-h') || has('--help')) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 16).map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}
for (const a of args) {
  if (a.startsWith('-') && !['--smoke', '--skip-tests', '--out'].includes(a)) {
    process.stderr.write(`gpu-check: unknown option ${a} (expected --smoke, --skip-tests, --out DIR)\n`);
    process.exit(2);
  }
}
const smoke = has('--smoke');
const out = resolve(opt('--out', process.env.OUT || join(root, 'gpu-check')));
mkdirSync(out, { recursive: true });
const node = process.execPath;
const cli = join(root, 'bin', 'node-nccl.js');
const dist = (p) => join(root, 'dist', p);
const py = (p) => join(root, 'bench', 'compare', p);
const python = process.env.NODE_NCCL_PYTHON || 'python3';
const t0 = Date.now();

/** Runs one step within its budget; returns { ok, status, stdout, seconds, note }. */
function step(name, budgetS, cmd, cmdArgs, env = {}) {
  const started = Date.now();
  const r = spawnSync(cmd, cmdArgs, { cwd: root, encoding: 'utf8', timeout: budgetS * 1000, env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  const seconds = (Date.now() - started) / 1000;
  const log = `$ ${[cmd, ...cmdArgs].join(' ')}\n${r.stdout ?? ''}${r.stderr ?? ''}`;
  writeFileSync(join(out, `${name}.log`), log);
  const timedOut = r.error?.code === 'ETIMEDOUT' || r.signal === 'SIGTERM';
  const ok = r.status === 0;
  const note = timedOut ? `over its ${budgetS} s budget` : r.error ? r.error.message : ok ? '' : `exit ${r.status}`;
  process.stdout.write(`# ${name}: ${ok ? 'ok' : 'FAILED'} in ${seconds.toFixed(1)} s${note ? ` (${note})` : ''}\n`);
  return { ok, status: r.status, stdout: r.stdout ?? '', seconds, note };
}

/** The last JSON object line a command printed. */
function lastJson(text) {
  const lines = text.split('\n').filter((l) => l.trim().startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      return JSON.parse(lines[i]);
    } catch {
      // a table line that starts with a brace: keep looking
    }
  }
  return null;
}
const jsonLines = (text) => text.split('\n').filter((l) => l.trim().startsWith('{')).flatMap((l) => { try { return [JSON.parse(l)]; } catch { return []; } });
const readJson = (p) => { try { return JSON.parse(readFileSync(p, 'utf8')); } catch { return null; } };

// ---- versions -------------------------------------------------------------------------------
const doctor = step('doctor', 60, node, [cli, 'doctor', '--json']);
const dr = lastJson(doctor.stdout) ?? (() => { try { return JSON.parse(doctor.stdout); } catch { return null; } })();
const torchProbe = spawnSync(python, ['-c', 'import json,torch;print(json.dumps({"torch":torch.__version__,"cuda":torch.version.cuda,"gpu":torch.cuda.is_available(),"nccl":".".join(map(str,torch.cuda.nccl.version())) if torch.cuda.is_available() else None,"device":torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}))'], { encoding: 'utf8', timeout: 120_000 });
const torchInfo = torchProbe.status === 0 ? lastJson(torchProbe.stdout) : null;
const torchSkip = !torchInfo ? `no torch in python3 (${(torchProbe.stderr || torchProbe.error?.message || '').trim().split('\n').pop()})`
  : !torchInfo.gpu ? `torch ${torchInfo.torch} has no CUDA device here` : null;
const nvsmi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
const versions = {
  device: dr?.cuda?.devices?.map((d) => d.name).join(', ') || dr?.cuda?.reason || 'unknown',
  deviceApi: dr?.cuda?.deviceApi?.kind ?? 'unknown',
  nvidiaSmi: nvsmi.status === 0 ? nvsmi.stdout.trim() : null,
  driver: dr?.cuda?.driverVersion ?? null,
  cuda: dr?.cuda?.runtimeVersion ?? null,
  nccl: dr?.libraries?.nccl?.versionString ?? null,
  cublas: dr?.libraries?.cublas?.versionString ?? null,
  node: process.version,
  torch: torchInfo ? `${torchInfo.torch} (CUDA ${torchInfo.cuda}, NCCL ${torchInfo.nccl})` : null,
};
process.stdout.write(`# versions: ${JSON.stringify(versions)}\n`);
if (torchSkip) process.stdout.write(`# PyTorch comparisons skipped: ${torchSkip}\n`);

// ---- the GPU tests on the real device ----------------------------------------------------------
const results = { versions, steps: {}, ratios: [] };
if (!smoke && !has('--skip-tests')) {
  const t = step('gpu-tests', 200, node, [join(root, 'scripts', 'run-tests.mjs'), '--gpu'], { NCCL_MULTI_RANK_GPU_ENABLE: '1' });
  results.steps['gpu-tests'] = { ok: t.ok, seconds: t.seconds, note: t.note, summary: t.stdout.split('\n').filter((l) => /passed,|^\s+x /.test(l)) };
}

// ---- node-nccl vs PyTorch ----------------------------------------------------------------------
const S = smoke
  ? { gemm: '256x256x256', iters: '2', warm: '1', alloc: '2000', copy: '1', copyIters: '2', steps: '1', stepWarm: '0', ops: '1', launches: '100', arBig: '1M' }
  : { gemm: '8192x8192x8192', iters: '20', warm: '5', alloc: '200000', copy: '256', copyIters: '20', steps: '30', stepWarm: '5', ops: '50', launches: '100000', arBig: '256M' };
const ratio = (what, ours, theirs, higherIsBetter, unit) => {
  const ok = Number.isFinite(ours) && Number.isFinite(theirs) && ours > 0 && theirs > 0;
  results.ratios.push({ what, nodeNccl: ours ?? null, torch: theirs ?? null, unit, ratio: ok ? (higherIsBetter ? ours / theirs : theirs / ours) : null });
};
const torchRun = (name, budget, pyArgs) => (torchSkip ? null : step(name, budget, python, pyArgs));
const torchrun1 = (name, budget, pyArgs) => (torchSkip ? null : step(name, budget, python, ['-m', 'torch.distributed.run', '--nproc-per-node', '1', ...pyArgs]));

// GEMM
{
  const a = step('gemm', 90, node, [cli, 'bench', 'gemm', '--shapes', S.gemm, '-d', 'float32,bfloat16', '--tf32', 'both', '-n', S.iters, '-w', S.warm, '--json', join(out, 'gemm.json')]);
  const b = torchRun('gemm-torch', 90, [py('torch_bench.py'), 'gemm', '--shapes', S.gemm, '-d', 'float32,bfloat16', '--tf32', 'both', '-n', S.iters, '-w', S.warm, '--json', join(out, 'gemm-torch.json')]);
  const ours = readJson(join(out, 'gemm.json'))?.rows ?? [], theirs = b ? readJson(join(out, 'gemm-torch.json'))?.rows ?? [] : [];
  for (const [dt, tf, label] of [['float32', false, 'fp32'], ['float32', true, 'tf32'], ['bfloat16', false, 'bf16']]) {
    const f = (rows) => rows.find((r) => r.dtype === dt && Boolean(r.tf32) === tf)?.tflops;
    ratio(`GEMM ${S.gemm} ${label}`, f(ours), f(theirs), true, 'TFLOP/s');
  }
  results.steps.gemm = { ok: a.ok, seconds: a.seconds };
}
// element-wise add on 2^26 fp32 (and the rest of bench/ops)
{
  const a = step('ops', 120, node, [dist('bench/ops.js'), '--device', 'cuda', '--iters', S.ops, '--json']);
  const b = torchRun('ops-torch', 120, [py('torch_ops.py'), '--iters', S.ops, '--launches', S.launches]);
  const ours = lastJson(a.stdout)?.results ?? {}, theirs = b ? lastJson(b.stdout)?.results ?? {} : {};
  ratio('add 2^26 fp32', ours['add 2^26']?.gbps, theirs['add 2^26']?.gbps, true, 'GB/s');
  ratio('host overhead of a 1-element add', ours['host overhead 1-elem add']?.timeUs, theirs['host overhead 1-elem add']?.timeUs, false, 'us');
}
// caching allocator
{
  const a = step('alloc', 60, node, [dist('bench/alloc.js'), '--iters', S.alloc, '--json']);
  const b = torchRun('alloc-torch', 60, [py('torch_alloc.py'), '--iters', S.alloc]);
  const ours = lastJson(a.stdout) ?? {}, theirs = b ? lastJson(b.stdout) ?? {} : {};
  ratio('allocator alloc/free pairs', ours.pairs_per_s, theirs.pairs_per_s, true, 'pairs/s');
  ratio('allocator, 64 buffers live', ours.window_pairs_per_s, theirs.window_pairs_per_s, true, 'pairs/s');
}
// pinned copy bandwidth
{
  const a = step('copy', 60, node, [dist('bench/copy.js'), '--sizes', S.copy, '--iters', S.copyIters, '--json']);
  const b = torchRun('copy-torch', 60, [py('torch_copy.py'), '--sizes', S.copy, '--iters', S.copyIters]);
  const ours = lastJson(a.stdout)?.rows ?? [], theirs = b ? lastJson(b.stdout)?.rows ?? [] : [];
  for (const dir of ['h2d', 'd2h']) {
    const f = (rows) => rows.find((r) => r.dir === dir)?.dma_GBps;
    ratio(`pinned copy ${dir} ${S.copy} MiB`, f(ours), f(theirs), true, 'GB/s');
  }
}
// MLP 784-4096-4096-10 training step
{
  const a = step('train-step', 120, node, [dist('bench/train-step.js'), '--dtype', 'both', '--steps', S.steps, '--warmup', S.stepWarm, '--json']);
  const b = torchRun('train-step-torch', 120, [py('torch_train_step.py'), '--dtype', 'both', '--steps', S.steps, '--warmup', S.stepWarm]);
  const ours = jsonLines(a.stdout), theirs = b ? jsonLines(b.stdout) : [];
  for (const dt of ['fp32', 'bf16']) {
    const f = (rows) => rows.find((r) => r.dtype === dt && r.stepMs !== undefined)?.stepMs;
    ratio(`MLP 784-4096-4096-10 train step ${dt}`, f(ours), f(theirs), false, 'ms');
  }
}
// DDP at world size 1 (the overhead of DDP itself)
{
  step('ddp', 90, node, [cli, 'bench', 'ddp', '--backend', 'nccl', '--world-sizes', '1', '-n', S.iters, '-w', S.warm, '--json', join(out, 'ddp.json')]);
  const b = torchrun1('ddp-torch', 90, [py('torch_bench.py'), 'ddp', '--backend', 'nccl', '-n', S.iters, '-w', S.warm, '--json', join(out, 'ddp-torch.json')]);
  const f = (rows) => rows?.find((r) => r.worldSize === 1 && r.overlap)?.stepMs;
  ratio('DDP step, world size 1', f(readJson(join(out, 'ddp.json'))?.rows), b ? f(readJson(join(out, 'ddp-torch.json'))?.rows) : undefined, false, 'ms');
}
// all-reduce 8 B and 256 MiB against torch.distributed
for (const [label, size] of [['8 B', '8'], [S.arBig === '1M' ? '1 MiB' : '256 MiB', S.arBig]]) {
  const tag = size === '8' ? 'small' : 'large';
  step(`allreduce-${tag}`, 90, node, [cli, 'bench', 'all-reduce', '--backend', 'nccl', '--np', '1', '-b', size, '-e', size, '-n', S.iters, '-w', S.warm, '--json', join(out, `allreduce-${tag}.json`)]);
  const b = torchrun1(`allreduce-${tag}-torch`, 90, [py('torch_bench.py'), 'coll', 'all-reduce', '--backend', 'nccl', '-b', size, '-e', size, '-n', S.iters, '-w', S.warm, '--json', join(out, `allreduce-${tag}-torch.json`)]);
  const row = (p) => readJson(p)?.rows?.[0]?.outOfPlace;
  const ours = row(join(out, `allreduce-${tag}.json`)), theirs = b ? row(join(out, `allreduce-${tag}-torch.json`)) : undefined;
  if (size === '8') ratio(`all-reduce ${label}, world size 1`, ours?.timeUs, theirs?.timeUs, false, 'us');
  else ratio(`all-reduce ${label}, world size 1`, ours?.algBw, theirs?.algBw, true, 'GB/s algbw');
}

// ---- the table ----------------------------------------------------------------------------------
const fmt = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
const lines = [
  '', `# gpu-check ${smoke ? '(smoke: tiny sizes, not figures) ' : ''}on ${versions.device}; ${((Date.now() - t0) / 1000).toFixed(0)} s in all`,
  `# node-nccl: CUDA ${versions.cuda}, driver ${versions.driver}, NCCL ${versions.nccl}, cuBLAS ${versions.cublas}, Node ${versions.node}; torch ${versions.torch ?? `skipped (${torchSkip})`}`,
  `| what | node-nccl | torch | unit | ratio (>1: node-nccl faster) |`, '|---|---|---|---|---|',
  ...results.ratios.map((r) => `| ${r.what} | ${fmt(r.nodeNccl)} | ${fmt(r.torch)} | ${r.unit} | ${fmt(r.ratio)} |`),
];
if (results.steps['gpu-tests']) lines.splice(1, 0, `# GPU tests: ${results.steps['gpu-tests'].ok ? 'passed' : 'FAILED'} (${results.steps['gpu-tests'].summary.join('; ')})`);
process.stdout.write(lines.join('\n') + '\n');
writeFileSync(join(out, 'gpu-check.json'), JSON.stringify(results, null, 2));
writeFileSync(join(out, 'gpu-check.md'), lines.join('\n') + '\n');
const testsFailed = results.steps['gpu-tests'] && !results.steps['gpu-tests'].ok;
process.exit(testsFailed ? 1 : 0);
