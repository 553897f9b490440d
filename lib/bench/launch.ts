/**
 * `--np N`: start N ranks of this same benchmark through the launcher (`node-nccl run
 * --nproc-per-node N`), copy rank 0's table to stdout as it is written, pass the ranks' own
 * output (errors, warnings; rank-prefixed by the launcher) to stderr, and return the launcher's
 * exit code: when a rank fails, the launcher stops the others and returns its code, so a failed
 * rank ends the benchmark with its error instead of a hang.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OUTPUT_ENV } from './output.js';

/** bin/node-nccl.js of this package. */
export function cliPath(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'node-nccl.js');
}

/** Removes `--np N` / `--np=N` / `--nproc-per-node ...` from an argv. */
export function stripNp(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--np' || a === '--nproc-per-node') {
      i++;
      continue;
    }
    if (a.startsWith('--np=') || a.startsWith('--nproc-per-node=')) continue;
    out.push(a);
  }
  return out;
}

export interface LaunchOptions {
  np: number;
  /** The bench arguments each rank runs with (`all-reduce -b 8 ...`, without --np). */
  benchArgv: string[];
  /** Extra environment for the ranks. */
  env?: Record<string, string>;
  /** Receives rank 0's output, whole lines at a time (default: copied to process.stdout). */
  out?: (chunk: string) => void;
  /** Where the ranks' own output goes (default: process.stderr). */
  err?: (chunk: string) => void;
}

export async function launchRanks(o: LaunchOptions): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'node-nccl-bench-'));
  const file = join(dir, 'rank0.out');
  writeFileSync(file, '');
  const out = o.out ?? ((s: string) => void process.stdout.write(s));
  const err = o.err ?? ((s: string) => void process.stderr.write(s));
  const cli = cliPath();
  const child = spawn(
    process.execPath,
    [cli, 'run', '--nproc-per-node', String(o.np), cli, 'bench', ...o.benchArgv],
    { env: { ...process.env, ...o.env, [OUTPUT_ENV]: file }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.setEncoding('utf8').on('data', (s: string) => err(s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => err(s));

  // Copy rank 0's file to our stdout as it grows (whole lines only).
  let offset = 0;
  let partial = '';
  const buf = Buffer.alloc(1 << 16);
  const drain = (final: boolean): void => {
    if (!existsSync(file)) return;
    const fd = openSync(file, 'r');
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        partial += buf.toString('utf8', 0, n);
      }
    } finally {
      closeSync(fd);
    }
    const cut = final ? partial.length : partial.lastIndexOf('\n') + 1;
    if (cut > 0) {
      out(partial.slice(0, cut));
      partial = partial.slice(cut);
    }
  };
  const timer = setInterval(() => drain(false), 100);
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    const code = await new Promise<number>((res, rej) => {
      child.on('error', rej);
      child.on('close', (c, sig) => res(c ?? (sig ? 128 + 15 : 1)));
    });
    drain(true);
    return code;
  } finally {
    clearInterval(timer);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    rmSync(dir, { recursive: true, force: true });
  }
}
