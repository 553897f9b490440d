/** Starts N real node processes running test/helpers/dist-worker.js as ranks 0..N-1. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const workerPath = join(dirname(fileURLToPath(import.meta.url)), 'dist-worker.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface RankResult {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Ranks {
  procs: ChildProcess[];
  done: Promise<RankResult[]>;
  /** Resolves when rank r prints a line containing `text`. */
  waitFor(r: number, text: string): Promise<void>;
}

export interface StartOptions {
  /** The script each rank runs (default: test/helpers/dist-worker.js). */
  script?: string;
  /** Options for node before the script (e.g. --expose-gc). */
  nodeArgs?: string[];
}

export async function startRanks(
  n: number,
  args: string[],
  env: Record<string, string> = {},
  limitMs = 90_000,
  opts: StartOptions = {},
): Promise<Ranks> {
  const port = await freePort();
  const procs: ChildProcess[] = [];
  const outs: string[] = [];
  const waiters: { r: number; text: string; resolve: () => void }[] = [];
  const results = Array.from({ length: n }, (_, rank) => {
    const p = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script ?? workerPath, ...args], {
      env: {
        ...process.env,
        RANK: String(rank),
        WORLD_SIZE: String(n),
        LOCAL_RANK: String(rank),
        LOCAL_WORLD_SIZE: String(n),
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(p);
    outs[rank] = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => {
      outs[rank] += d.toString();
      for (const w of waiters) if (w.r === rank && outs[rank]!.includes(w.text)) w.resolve();
    });
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), limitMs);
    return new Promise<RankResult>((resolve) => {
      p.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ rank, code, signal, stdout: outs[rank]!, stderr: err });
      });
    });
  });
  return {
    procs,
    done: Promise.all(results),
    waitFor: (r, text) =>
      new Promise<void>((resolve) => {
        if (outs[r]!.includes(text)) return resolve();
        waiters.push({ r, text, resolve });
      }),
  };
}

export async function runRanks(
  n: number,
  args: string[],
  env: Record<string, string> = {},
  limitMs?: number,
  opts: StartOptions = {},
): Promise<RankResult[]> {
  return (await startRanks(n, args, env, limitMs, opts)).done;
}

/** The RESULT {...} line a fault-scenario rank printed. */
export function resultOf(r: RankResult): { code?: string; message?: string; elapsedMs?: number; [k: string]: unknown } {
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`rank ${r.rank} printed no RESULT (exit ${r.code}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line.slice(7)) as { code?: string; message?: string; elapsedMs?: number };
}
