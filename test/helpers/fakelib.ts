/**
 * Builds tiny shared libraries that stand in for NCCL / cuBLAS in loader tests (only the symbols
 * the loader reads at load time): they prove the success path (path and version reporting)
 * without the real libraries, which this machine does not have.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** Compiles C source into <fresh dir>/<soname> and returns the directory (removed when the process exits). */
export function buildSharedLib(soname: string, source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'nn-fakelib-'));
  made.push(dir);
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

/**
 * A stand-in host BLAS: cblas_sgemm fills C with `marker` (so a test sees whether it was called),
 * plus the identifying symbols of `kind`: 'openblas', 'blis', 'mkl', 'flexiblas' (over `backend`),
 * or 'reference' (none: what netlib's libblas.so.3 looks like to the loader). The thread setters
 * record what they were given; *_get_num_threads return it (or `initialThreads`).
 */
export function fakeBlasSource(kind: 'openblas' | 'blis' | 'mkl' | 'flexiblas' | 'reference', opts: { version?: string; marker?: number; initialThreads?: number; backend?: string } = {}): string {
  const marker = opts.marker ?? 42;
  const version = opts.version ?? '9.9.9';
  const common = `
static int threads = ${opts.initialThreads ?? 1};
void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                 const float* b, int ldb, float beta, float* c, int ldc) {
  for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) c[i * ldc + j] = ${marker}.0f;
}
`;
  switch (kind) {
    case 'openblas':
      return common + `
const char* openblas_get_config(void) { return "OpenBLAS ${version} DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"; }
const char* openblas_get_corename(void) { return "Zen"; }
void openblas_set_num_threads(int n) { threads = n; }
int openblas_get_num_threads(void) { return threads; }
`;
    case 'blis':
      return common + `
const char* bli_info_get_version_str(void) { return "${version}"; }
void bli_thread_set_num_threads(long n) { threads = (int)n; }
long bli_thread_get_num_threads(void) { return threads; }
`;
    case 'mkl':
      return common + `
#include <string.h>
void MKL_Get_Version_String(char* buf, int len) { strncpy(buf, "Intel(R) oneAPI Math Kernel Library Version ${version} Product Build 20240101", len); }
void MKL_Set_Num_Threads(int n) { threads = n; }
int MKL_Get_Max_Threads(void) { return threads; }
`;
    case 'flexiblas':
      return common + `
#include <string.h>
int flexiblas_get_version(int* a, int* b, int* c) { *a = 3; *b = 4; *c = 1; return 0; }
int flexiblas_current_backend(char* name, size_t len) { strncpy(name, "${opts.backend ?? 'OPENBLAS-PTHREAD'}", len); return 0; }
void flexiblas_set_num_threads(int n) { threads = n; }
int flexiblas_get_num_threads(void) { return threads; }
`;
    case 'reference':
      return common;
  }
}
