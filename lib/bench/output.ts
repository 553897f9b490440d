/**
 * Where rank 0's lines go and how a result becomes a JSON file. With --np the parent process
 * starts the ranks through the launcher (which prefixes every rank's stdout), so rank 0 writes its
 * table to a file named by NODE_NCCL_BENCH_OUTPUT and the parent copies it to stdout as it grows.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { BenchResult } from './schema.js';
import { validateResult } from './schema.js';

export const OUTPUT_ENV = 'NODE_NCCL_BENCH_OUTPUT';

/** A line sink: stdout, or the file the parent tails. */
export function lineSink(): (line: string) => void {
  const file = process.env[OUTPUT_ENV];
  if (file) return (line) => appendFileSync(file, line + '\n');
  return (line) => process.stdout.write(line + '\n');
}

/** Validates and writes a result (creating the directory); returns the absolute path. */
export function writeResult(path: string, result: BenchResult): string {
  validateResult(result, path);
  const abs = resolve(path);
  mkdirSync(dirname(abs), { recursive: true });
  writeFileSync(abs, JSON.stringify(result, null, 2) + '\n');
  return abs;
}

/** The command line that repeats this run. */
export function commandLine(argv: readonly string[]): string {
  const q = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['npx', 'node-nccl', ...argv.map(q)].join(' ');
}
