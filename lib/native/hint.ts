/**
 * Where the package is and what to tell a user whose addon is missing (layer: lib/native). Kept
 * apart from index.ts, which throws at import when the addon cannot be loaded: doctor needs the
 * advice exactly then.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: dist/lib/native → ../../.. */
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** A git checkout of node-nccl (it has the TypeScript config), as opposed to an installed package. */
export const isSourceCheckout = existsSync(resolve(packageRoot, 'tsconfig.json'));

/** What to run when the addon is missing: in a checkout the build script, as a dependency a rebuild. */
export function addonFixHint(): string {
  return isSourceCheckout
    ? 'Run `npm run build:native` in the checkout (or `npm ci`) to build it.'
    : 'Run `npm rebuild node-nccl` in your project: it uses the prebuilt addon on linux-x64 with glibc, else builds ' +
      'from source (a C++ compiler, make and Python are needed); an install with --ignore-scripts skips this step.';
}
