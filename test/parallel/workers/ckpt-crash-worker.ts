/**
 * Crash injection for checkpoint writes (test/parallel/checkpoint-crash.test.ts), with no hook in
 * the library: every file-system call that changes the disk (mkdir, open for writing, write,
 * fsync, close, rename, rm, unlink, writeFile) is counted, through node:fs/promises' functions
 * and FileHandle's methods, patched here and synced into the ESM bindings the library imported.
 * `crashAt = k` SIGKILLs this process just before the k-th such call of the armed save; 0 counts
 * them and prints `OPS <n>`.
 *
 *   node ckpt-crash-worker.js <dir> <new|resave> <crashAt>
 *
 * Before arming: steps 1 and 2 are saved (model seeds 1 and 2). Armed: `new` saves step 3 (seed
 * 3) with keep: 2, which also prunes step 1; `resave` saves step 2 again with seed 4.
 */
import { syncBuiltinESMExports } from 'node:module';
import { createRequire } from 'node:module';
import { saveCheckpoint, optim } from '../../../lib/index.js';
import { makeModel } from './common.js';

const require = createRequire(import.meta.url);
const fsp = require('node:fs/promises') as typeof import('node:fs/promises');

const [dir, mode, crashArg] = process.argv.slice(2) as [string, 'new' | 'resave', string];
const crashAt = Number(crashArg);
let armed = false;
let ops = 0;

function step(what: string): void {
  if (!armed) return;
  ops++;
  if (ops === crashAt) {
    process.stderr.write(`crash before op ${ops}: ${what}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

type AnyFn = (...a: unknown[]) => unknown;
function wrap<T extends object>(obj: T, names: string[], label: string, onResult?: (r: unknown) => void): void {
  const o = obj as Record<string, AnyFn>;
  for (const n of names) {
    const orig = o[n]!;
    o[n] = function (this: unknown, ...args: unknown[]) {
      step(`${label}${n}(${typeof args[0] === 'string' ? args[0] : ''})`);
      const r = orig.apply(this, args);
      if (onResult && r instanceof Promise) r.then(onResult, () => {});
      return r;
    };
  }
}

// FileHandle's prototype, from a handle of our own.
const probe = await fsp.open(process.execPath, 'r');
const fhProto = Object.getPrototypeOf(probe) as object;
await probe.close();
wrap(fhProto, ['write', 'writeFile', 'sync', 'datasync', 'truncate'], 'fh.');
const origClose = (fhProto as { close: AnyFn }).close;
(fhProto as { close: AnyFn }).close = function (this: unknown, ...a: unknown[]) {
  step('fh.close');
  return origClose.apply(this, a);
};
wrap(fsp, ['mkdir', 'rm', 'rmdir', 'rename', 'unlink', 'writeFile', 'appendFile', 'copyFile', 'open'], '');
syncBuiltinESMExports();

const model = makeModel(1);
const opt = new optim.SGD([...model.parameters()], { lr: 0.1, momentum: 0.9 });
await saveCheckpoint(dir, { model, optimizer: opt, step: 1, extra: { seed: 1 } });
const m2 = makeModel(2);
await saveCheckpoint(dir, { model: m2, optimizer: new optim.SGD([...m2.parameters()], { lr: 0.1, momentum: 0.9 }), step: 2, extra: { seed: 2 } });

const seed = mode === 'new' ? 3 : 4;
const m = makeModel(seed);
armed = true;
await saveCheckpoint(dir, {
  model: m,
  optimizer: new optim.SGD([...m.parameters()], { lr: 0.1, momentum: 0.9 }),
  step: mode === 'new' ? 3 : 2,
  extra: { seed },
  ...(mode === 'new' ? { keep: 2 } : {}),
});
armed = false;
process.stdout.write(`OPS ${ops}\n`);
