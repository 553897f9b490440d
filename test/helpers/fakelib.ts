/**
 * Builds tiny shared libraries that stand in for NCCL / cuBLAS in loader tests (only the symbols
 * the loader reads at load time): they prove the success path (path and version reporting)
 * without the real libraries, which this machine does not have.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function compilerAvailable(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Compiles C source into <fresh dir>/<soname> and returns the directory. */
export function buildSharedLib(soname: string, source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'nn-fakelib-'));
  const src = join(dir, 'lib.c');
  writeFileSync(src, source);
  execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, soname), src], { stdio: 'pipe' });
  return dir;
}

export const fakeNcclSource = (version: number): string => `
int ncclGetVersion(int* v) { *v = ${version}; return 0; }
`;

export const fakeCublasSource = (major: number, minor: number, patch: number): string => `
int cublasCreate_v2(void** h) { return 1; }
int cublasGetProperty(int type, int* v) { *v = type == 0 ? ${major} : type == 1 ? ${minor} : ${patch}; return 0; }
`;
