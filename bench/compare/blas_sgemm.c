/*
 * 512^3 float32 cblas_sgemm through whatever CBLAS it is linked with: the measurement behind the
 * README's "The host BLAS" (node-nccl refuses netlib's reference BLAS, so it cannot time it itself).
 *
 *   cc -O2 -o /tmp/blas_sgemm bench/compare/blas_sgemm.c /lib/x86_64-linux-gnu/blas/libblas.so.3 && /tmp/blas_sgemm
 *   node dist/bench/cpu-matmul.js --blas /path/to/libopenblas.so.0      # the built-in kernel and OpenBLAS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                 int ldb, float beta, float* c, int ldc);

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 512;
  float* a = malloc((size_t)n * n * sizeof(float));
  float* b = malloc((size_t)n * n * sizeof(float));
  float* c = malloc((size_t)n * n * sizeof(float));
  for (long i = 0; i < (long)n * n; i++) {
    a[i] = (float)(i % 1000) / 1000.f - 0.5f;
    b[i] = (float)(i % 777) / 777.f - 0.5f;
  }
  double best = 1e9;
  for (int r = 0; r < 5; r++) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cblas_sgemm(101, 111, 111, n, n, n, 1.f, a, n, b, n, 0.f, c, n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (s < best) best = s;
  }
  printf("cblas_sgemm %dx%dx%d float32: best of 5 %.1f ms, %.1f GFLOP/s\n", n, n, n, best * 1e3, 2.0 * n * n * n / best / 1e9);
  free(a);
  free(b);
  free(c);
  return 0;
}
