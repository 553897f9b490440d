/**
 * Starts N real processes as the ranks of one job (torchrun's environment, a free port) and
 * collects each one's exit code, output and the JSON it printed on a line starting with RESULT.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/spawn-ranks.js';

export const workersDir = join(dirname(fileURLToPath(import.meta.url)), 'workers');

export interface RankResult {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  result: unknown;
  /** Milliseconds from start to exit. */
  ms: number;
}

export async function runRanks(
  script: string,
  worldSize: number,
  args: string[] = [],
  { timeoutMs = 60_000, env = {} as Record<string, string> } = {},
): Promise<RankResult[]> {
  const port = await freePort();
  const started = Date.now();
  return Promise.all(
    Array.from({ length: worldSize }, (_, rank) =>
      new Promise<RankResult>((res) => {
        const child = spawn(process.execPath, [join(workersDir, script), ...args], {
          env: {
            ...process.env,
            RANK: String(rank),
            LOCAL_RANK: String(rank),
            WORLD_SIZE: String(worldSize),
            LOCAL_WORLD_SIZE: String(worldSize),
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
            ...env,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('exit', (code, signal) => {
          clearTimeout(timer);
          const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
          res({ rank, code, signal, stdout, stderr, result: line ? JSON.parse(line.slice(7)) : null, ms: Date.now() - started });
        });
      }),
    ),
  );
}

/** Describes a failed rank for assertion messages. */
export function explain(r: RankResult): string {
  return `rank ${r.rank} exited ${r.code ?? r.signal}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}
