/** Runs a snippet of ESM code in a fresh node process (own env, own once-per-process state). */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/lib/index.js, for `import(...)` inside child snippets. */
export const libIndex = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib', 'index.js');

export interface ChildResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `code` (an ES module body; `lib` is the package's index module) with extra env vars. */
export function runChild(code: string, env: Record<string, string | undefined> = {}, timeoutMs = 60_000): ChildResult {
  const body = `const lib = await import(${JSON.stringify(libIndex)});\n${code}`;
  const merged: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) merged[k] = v;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', body], { env: merged, encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
