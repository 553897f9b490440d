/**
 * The package as a user gets it: `npm pack`, then `npm install ./node-nccl-x.y.z.tgz` into a new
 * app with no compiler on PATH (only node and sh), then type-check (strict, NodeNext, no
 * skipLibCheck), require(), import, doctor and a short DDP job under the launcher, from the app.
 *
 * The tarball is packed from a copy of exactly the files npm would pack (`npm pack --dry-run`),
 * with the prebuilt addon made by the release script (scripts/prebuild.mjs) from the addon `npm ci`
 * built (--from build/Release), so this test adds no second nvcc build; `npm pack` in the repo
 * runs the same script through prepack and compiles the full fat binary instead.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { native } from '../../lib/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const npmBin = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
const npmCli = npmBin ? join(dirname(realpathSync(npmBin)), 'npm-cli.js') : '';
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const skip = !npmCli || !existsSync(npmCli) ? 'npm is not installed' : !existsSync(join(root, 'build', 'Release', 'node_nccl.node')) ? 'no build/Release addon' : false;

let work = '';
let app = '';
let tarball = '';
let packInfo: { size: number; unpackedSize: number; files: { path: string; size: number }[] } | null = null;
let installMs = 0;
/** PATH for the app: node and sh, nothing else (no cc, c++, make, python, nvcc). */
let bareBin = '';

function run(cmd: string, args: string[], cwd: string, env: Record<string, string | undefined> = {}, timeout = 300_000): SpawnSyncReturns<string> {
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) merged[k] = v;
  return spawnSync(cmd, args, { cwd, env: merged, encoding: 'utf8', timeout });
}
const ok = (r: SpawnSyncReturns<string>, what: string): string => {
  assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};
/** Runs in the app with the compiler-less PATH. */
const inApp = (cmd: string, args: string[], env: Record<string, string | undefined> = {}): SpawnSyncReturns<string> =>
  run(cmd, args, app, { PATH: bareBin, NODE_NCCL_BLAS: undefined, ...env });

before(() => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'nn-packed-'));
  // 1. exactly the files npm packs from this checkout, minus a local prebuilds/ (made fresh below)
  const dry = JSON.parse(ok(run(process.execPath, [npmCli, 'pack', '--dry-run', '--json', '--ignore-scripts'], root), 'npm pack --dry-run')) as [{ files: { path: string }[] }];
  const stage = join(work, 'stage');
  for (const f of dry[0].files) {
    if (f.path.startsWith('prebuilds/')) continue;
    mkdirSync(dirname(join(stage, f.path)), { recursive: true });
    cpSync(join(root, f.path), join(stage, f.path));
  }
  // 2. the prebuilt addon, by the release script
  ok(run(process.execPath, [join(root, 'scripts', 'prebuild.mjs'), '--from', join(root, 'build', 'Release'), '--out', stage], root), 'prebuild.mjs');
  ok(run(process.execPath, [join(root, 'scripts', 'prebuild.mjs'), '--check', '--out', stage], root), 'prebuild.mjs --check');
  // 3. the tarball
  const packed = JSON.parse(ok(run(process.execPath, [npmCli, 'pack', '--json', '--ignore-scripts', '--pack-destination', work], stage), 'npm pack')) as [{ filename: string; size: number; unpackedSize: number; files: { path: string; size: number }[] }];
  packInfo = packed[0];
  tarball = join(work, packed[0].filename);
  // 4. a new app, and a PATH with node and sh only
  bareBin = join(work, 'bin');
  mkdirSync(bareBin);
  symlinkSync(process.execPath, join(bareBin, 'node'));
  symlinkSync('/bin/sh', join(bareBin, 'sh'));
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }, null, 2));
  const t0 = Date.now();
  const inst = inApp(process.execPath, [npmCli, 'install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts']);
  installMs = Date.now() - t0;
  ok(inst, 'npm install of the tarball without a compiler');
  process.stdout.write(`# packed ${(packInfo.size / 2 ** 20).toFixed(1)} MB, unpacked ${(packInfo.unpackedSize / 2 ** 20).toFixed(1)} MB, ` +
    `${packInfo.files.length} files; npm install without a compiler: ${(installMs / 1000).toFixed(1)} s\n`);
  writeFileSync(join(work, 'install.log'), inst.stdout + inst.stderr);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball: the prebuilt addon, types, sources for the maps, LICENSE; no object files, no build/', { skip }, () => {
  const paths = packInfo!.files.map((f) => f.path);
  for (const p of ['prebuilds/linux-x64/node.napi.glibc.node', 'prebuilds/linux-x64/node.napi.glibc.json', 'LICENSE', 'README.md',
    'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/typings/native.d.ts', 'require.cjs', 'scripts/install.mjs', 'binding.gyp']) {
    assert.ok(paths.includes(p), `${p} is in the package`);
  }
  assert.ok(!paths.some((p) => /\.(o|obj|a|tsbuildinfo)$/.test(p) || p.startsWith('build/') || p.startsWith('dist/test/')), 'no build products but the addon');
  // no `any` type anywhere in the shipped declarations (comments and string literals aside; the
  // ops named any, as torch.any, are declared `any(...)` and listed in import/export braces)
  for (const p of paths.filter((x) => x.endsWith('.d.ts'))) {
    const code = readFileSync(join(work, 'stage', p), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '')
      .replace(/'[^'\n]*'|"[^"\n]*"/g, "''").replace(/\b(?:import|export)(?:\s+type)?\s*\{[^}]*\}/g, '');
    assert.doesNotMatch(code, /\bany\b(?!\s*\()/, `${p} declares something as any`);
  }
  // every source map points at a file the package ships
  for (const p of paths.filter((x) => x.endsWith('.map'))) {
    const map = JSON.parse(readFileSync(join(work, 'stage', p), 'utf8')) as { sources: string[] };
    for (const s of map.sources) assert.ok(paths.includes(relative('.', join(dirname(p), s))), `${p} points at ${s}, which is shipped`);
  }
});

test('npm install without a compiler: the prebuilt addon is used, nothing is compiled, no object files', { skip }, () => {
  const log = readFileSync(join(work, 'install.log'), 'utf8');
  assert.match(log, /node-nccl: using prebuilds\/linux-x64\/node\.napi\.glibc\.node/);
  assert.doesNotMatch(log, /gyp|building from source/);
  const pkg = join(app, 'node_modules', 'node-nccl');
  assert.ok(!existsSync(join(pkg, 'build')), 'no build/ folder');
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
  assert.deepEqual(walk(pkg).filter((f) => /\.(o|a|mk|d)$/.test(f)), []);
});

test('doctor in the app: the prebuilt addon, with the CUDA kernels of the build it came from', { skip }, () => {
  const rep = JSON.parse(ok(inApp(join(app, 'node_modules', '.bin', 'node-nccl'), ['doctor', '--json']), 'doctor')) as {
    addon: { loaded: boolean; prebuilt: boolean; path: string }; build: { cuda: boolean; cudaArchs: string[] };
  };
  assert.equal(rep.addon.loaded, true);
  assert.equal(rep.addon.prebuilt, true);
  assert.match(rep.addon.path, /node_modules\/node-nccl\/prebuilds\/linux-x64\/node\.napi\.glibc\.node$/);
  assert.deepEqual(rep.build.cudaArchs, native.buildInfo().cudaArchs, 'the kernels are in it (they load on CPU-only machines too)');
});

test('types: a strict NodeNext app type-checks without skipLibCheck, ESM and CommonJS, and the API is not any', { skip }, () => {
  const api = `
import { cuda, nccl, native, tensor, zeros, nn, optim, dist, DataLoader, TensorDataset, DistributedDataParallel, NodeNcclError, type Tensor } from 'node-nccl';
type IsAny<T> = 0 extends 1 & T ? true : false;
type NotAny<T> = IsAny<T> extends true ? 'is any' : 'ok';
const checks: NotAny<ReturnType<typeof cuda.getDeviceProperties>>[] = ['ok'];
const more: [NotAny<ReturnType<typeof cuda.memoryStats>>, NotAny<ReturnType<typeof nccl.libraryInfo>>, NotAny<typeof native.kernels>,
  NotAny<ReturnType<typeof zeros>>, NotAny<ReturnType<typeof dist.allReduce>>, NotAny<ReturnType<typeof native.loader.info>>] = ['ok', 'ok', 'ok', 'ok', 'ok', 'ok'];
const ds = new TensorDataset(zeros([4, 2]), zeros([4], { dtype: 'int64' }));
const loader = new DataLoader(ds, { batchSize: 2 });
export async function epoch(model: nn.Module): Promise<number> {
  let n = 0;
  for await (const [x, y] of loader) n += (x as Tensor).shape[0]! + (y satisfies Tensor).ndim;
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-3 });
  opt.zeroGrad();
  return n + checks.length + more.length;
}
export const t: Tensor = tensor([1, 2]).add(1);
export const err: typeof NodeNcclError = NodeNcclError;
export const ddp: typeof DistributedDataParallel = DistributedDataParallel;
`;
  writeFileSync(join(app, 'esm.mts'), api);
  writeFileSync(join(app, 'cjs.cts'), api.replace('function epoch', 'function cjsEpoch'));
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false,
      types: ['node'], typeRoots: [join(root, 'node_modules', '@types')],
    },
    files: ['esm.mts', 'cjs.cts'],
  }, null, 2));
  ok(inApp(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')]), 'tsc in the app');
  // and a mistake is caught there (the types are real, not any)
  writeFileSync(join(app, 'bad.mts'), "import { zeros } from 'node-nccl';\nconst s: string = zeros([2]).shape;\n");
  writeFileSync(join(app, 'tsconfig.bad.json'), JSON.stringify({ extends: './tsconfig.json', files: ['bad.mts'] }));
  const bad = inApp(process.execPath, [tsc, '-p', join(app, 'tsconfig.bad.json')]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /bad\.mts\(2,7\): error TS2322/);
});

test("require('node-nccl') from CommonJS, import from ESM; a Node.js that cannot require ES modules is told what to do", { skip }, () => {
  writeFileSync(join(app, 'use.cjs'), "const nn = require('node-nccl');\nprocess.stdout.write(String(nn.tensor([1, 2, 3]).sum().item()));\n");
  assert.equal(ok(inApp(process.execPath, ['use.cjs']), 'require'), '6');
  writeFileSync(join(app, 'use.mjs'), "import { tensor } from 'node-nccl';\nprocess.stdout.write(String(tensor([1, 2, 3]).sum().item()));\n");
  assert.equal(ok(inApp(process.execPath, ['use.mjs']), 'import'), '6');
  // what Node.js < 20.19 / < 22.12 does: no require(esm), so package.json's "require" condition answers
  const old = inApp(process.execPath, ['--no-experimental-require-module', 'use.cjs']);
  assert.notEqual(old.status, 0);
  assert.match(old.stderr, /node-nccl is an ES module, and this Node\.js \(v[\d.]+\) cannot load ES modules with require\(\)/);
  assert.match(old.stderr, /await import\('node-nccl'\)/);
});

test('a DDP job under the launcher from the app: ESM and CommonJS rank scripts, the ranks end with equal weights', { skip, timeout: 180_000 }, () => {
  const body = (importLine: string): string => `${importLine}
  await dist.initProcessGroup({ backend: 'cpu' });
  const rank = dist.getRank();
  manualSeed(rank + 1); // different initial weights: DDP must broadcast rank 0's
  const model = new nn.Linear(4, 2);
  const ddp = await DistributedDataParallel.create(model);
  const opt = new optim.SGD(ddp.parameters(), { lr: 0.1 });
  for (let step = 0; step < 3; step++) {
    const x = randn([8, 4]);  // each rank its own data
    const loss = ddp.forward(x).square().mean();
    opt.zeroGrad();
    await ddp.backward(loss);
    opt.step();
  }
  const w = model.weight.detach().clone();
  const all = [zeros([2, 4]), zeros([2, 4])];
  await dist.allGather(all, w);
  const same = all[0].sub(all[1]).abs().max().item() === 0;
  if (rank === 0) console.log('weights equal on both ranks: ' + same);
  await dist.destroyProcessGroup();
  if (!same) process.exit(3);`;
  writeFileSync(join(app, 'train.mjs'), body("import { dist, nn, optim, randn, zeros, manualSeed, DistributedDataParallel } from 'node-nccl';"));
  writeFileSync(join(app, 'train.cjs'), `const { dist, nn, optim, randn, zeros, manualSeed, DistributedDataParallel } = require('node-nccl');\n(async () => {${body('')}\n})().catch((e) => { console.error(e); process.exit(1); });\n`);
  const launcher = join(app, 'node_modules', '.bin', 'node-nccl');
  for (const script of ['train.mjs', 'train.cjs']) {
    const out = ok(inApp(launcher, ['run', '--nproc-per-node', '2', script]), `node-nccl run ${script}`);
    assert.match(out, /\[rank0\]: weights equal on both ranks: true/, script);
  }
});

test('without a compiler, a forced source build fails saying what is missing; --ignore-scripts still loads the prebuilt addon', { skip }, () => {
  const other = join(work, 'app2');
  mkdirSync(other);
  writeFileSync(join(other, 'package.json'), JSON.stringify({ name: 'app2', version: '1.0.0', private: true }));
  const inOther = (args: string[], env: Record<string, string | undefined> = {}): SpawnSyncReturns<string> =>
    run(process.execPath, [npmCli, ...args], other, { PATH: bareBin, ...env });
  const forced = inOther(['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts'], { NODE_NCCL_BUILD_FROM_SOURCE: '1' });
  assert.notEqual(forced.status, 0);
  assert.match(forced.stdout + forced.stderr, /node-nccl: cannot build from source: c\+\+, make, python3 not found on PATH\. Install a C\+\+17 compiler/);
  ok(inOther(['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts']), 'npm install --ignore-scripts');
  writeFileSync(join(other, 'use.mjs'), "import { native } from 'node-nccl';\nprocess.stdout.write(String(native.buildInfo().napiVersion));\n");
  assert.equal(ok(run(process.execPath, ['use.mjs'], other, { PATH: bareBin }), 'import after --ignore-scripts'), '8');
});

test('size and install time are reported', { skip }, () => {
  assert.ok(packInfo!.size > 0 && statSync(tarball).size === packInfo!.size);
  assert.ok(installMs > 0);
});
