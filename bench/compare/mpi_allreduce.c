/*
 * Open MPI baseline for node-nccl's cpu backend: MPI_Allreduce timed the way nccl-tests (and
 * `node-nccl bench all-reduce`) time it, printing the same table and writing the same JSON schema
 * (node-nccl-bench/1, see BENCHMARKS.md), so `node-nccl bench report` can plot both side by side.
 *
 *   mpicc -O2 -o mpi_allreduce mpi_allreduce.c
 *   mpirun -np 2 ./mpi_allreduce -b 8 -e 16M -f 2 -n 20 -w 5 -c 1 -d float -o sum --json mpi.json
 *
 * Flags (nccl-tests' meanings): -b minbytes, -e maxbytes (K/M/G), -f stepfactor, -i stepbytes,
 * -n iters, -w warmup iters, -c check (0/1), -d float|double|int32, -o sum|prod|min|max,
 * -a 0..3 (time of rank 0 / average / min / max over ranks), --json file.
 * Fill pattern and expected values: the same as lib/bench/pattern.ts.
 */
#include <mpi.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/utsname.h>

typedef enum { T_FLOAT, T_DOUBLE, T_INT32 } dtype_t;
typedef enum { O_SUM, O_PROD, O_MIN, O_MAX } op_t;

static const char *type_names[] = {"float", "double", "int32"};
static const size_t type_sizes[] = {4, 8, 4};
static const char *op_names[] = {"sum", "prod", "min", "max"};

static int rank_, nranks_;

static void die(const char *msg) {
  if (rank_ == 0) fprintf(stderr, "mpi_allreduce: %s\n", msg);
  MPI_Abort(MPI_COMM_WORLD, 2);
  exit(2);
}

static double parse_size(const char *v, const char *flag) {
  char *end;
  double x = strtod(v, &end);
  if (end == v || x < 0) goto bad;
  while (*end == ' ') end++;
  double unit = 1;
  switch (tolower((unsigned char)*end)) {
    case 'k': unit = 1024.0; end++; break;
    case 'm': unit = 1024.0 * 1024; end++; break;
    case 'g': unit = 1024.0 * 1024 * 1024; end++; break;
    case '\0': break;
    default: goto bad;
  }
  if (*end != '\0') goto bad;
  return x * unit;
bad:;
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s: invalid size (expected bytes with an optional K, M or G)", flag, v);
  die(msg);
  return 0;
}

static long parse_int(const char *v, const char *flag, long lo, long hi) {
  char *end;
  long x = strtol(v, &end, 0);
  if (end == v || *end != '\0' || x < lo || x > hi) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s %s: expected an integer in [%ld, %ld]", flag, v, lo, hi);
    die(msg);
  }
  return x;
}

/* lib/bench/pattern.ts: patternValue */
static int pattern(op_t op, int rank, size_t index, int rep) {
  int h = (int)((index * 3 + (size_t)rank * 5 + (size_t)rep * 7) % 13);
  if (op == O_PROD) return h % 4 == 0 ? 2 : 1;
  return h % 4;
}

static double expected(op_t op, dtype_t t, size_t i, int rep) {
  double acc = pattern(op, 0, i, rep);
  for (int r = 1; r < nranks_; r++) {
    double v = pattern(op, r, i, rep);
    switch (op) {
      case O_SUM: acc += v; break;
      case O_PROD: acc *= v; if (t == T_INT32) acc = (double)(int32_t)(int64_t)acc; break;
      case O_MIN: acc = v < acc ? v : acc; break;
      case O_MAX: acc = v > acc ? v : acc; break;
    }
  }
  return t == T_FLOAT ? (double)(float)acc : acc;
}

static void fill(void *buf, dtype_t t, op_t op, size_t count, int rep) {
  for (size_t i = 0; i < count; i++) {
    int v = pattern(op, rank_, i, rep);
    if (t == T_FLOAT) ((float *)buf)[i] = (float)v;
    else if (t == T_DOUBLE) ((double *)buf)[i] = v;
    else ((int32_t *)buf)[i] = v;
  }
}

static long long count_wrong(const void *buf, dtype_t t, op_t op, size_t count, int rep) {
  long long wrong = 0;
  for (size_t i = 0; i < count; i++) {
    double g = t == T_FLOAT ? ((const float *)buf)[i] : t == T_DOUBLE ? ((const double *)buf)[i] : ((const int32_t *)buf)[i];
    if (g != expected(op, t, i, rep)) wrong++;
  }
  return wrong;
}

static void time_str(double us, char *out) {
  if (us >= 10000.0) sprintf(out, "%7.0f", us);
  else if (us >= 100.0) sprintf(out, "%7.1f", us);
  else sprintf(out, "%7.2f", us);
}

typedef struct { double time_us, algbw, busbw; long long wrong; } cell_t;
typedef struct { size_t size, count; cell_t cell[2]; } row_t;

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void cpu_model(char *out, size_t n) {
  snprintf(out, n, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) == 0) {
      char *p = strchr(line, ':');
      if (p) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        p[strcspn(p, "\n")] = 0;
        snprintf(out, n, "%s", p);
      }
      break;
    }
  }
  fclose(f);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks_);

  size_t min_bytes = 32u << 20, max_bytes = 32u << 20, step_bytes = 1u << 20;
  long step_factor = 1, iters = 20, warmup = 5, check = 1, average = 1;
  dtype_t type = T_FLOAT;
  op_t op = O_SUM;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      if (rank_ == 0) printf("usage: mpirun -np N %s [-b min] [-e max] [-f factor] [-i step] [-n iters] [-w warmup] [-c 0/1] [-d float|double|int32] [-o sum|prod|min|max] [-a 0-3] [--json file]\n", argv[0]);
      MPI_Finalize();
      return 0;
    }
    if (i + 1 >= argc) {
      char msg[128];
      snprintf(msg, sizeof msg, "option '%s' needs a value (or is unknown)", a);
      die(msg);
    }
    const char *v = argv[++i];
    if (!strcmp(a, "-b")) min_bytes = (size_t)parse_size(v, a);
    else if (!strcmp(a, "-e")) max_bytes = (size_t)parse_size(v, a);
    else if (!strcmp(a, "-i")) step_bytes = (size_t)parse_size(v, a);
    else if (!strcmp(a, "-f")) step_factor = parse_int(v, a, 1, 1024);
    else if (!strcmp(a, "-n")) iters = parse_int(v, a, 1, 10000000);
    else if (!strcmp(a, "-w")) warmup = parse_int(v, a, 0, 10000000);
    else if (!strcmp(a, "-c")) check = parse_int(v, a, 0, 1);
    else if (!strcmp(a, "-a")) average = parse_int(v, a, 0, 3);
    else if (!strcmp(a, "--json")) json = v;
    else if (!strcmp(a, "-d")) {
      if (!strcmp(v, "float") || !strcmp(v, "float32")) type = T_FLOAT;
      else if (!strcmp(v, "double") || !strcmp(v, "float64")) type = T_DOUBLE;
      else if (!strcmp(v, "int32")) type = T_INT32;
      else die("-d: expected float, double or int32");
    } else if (!strcmp(a, "-o")) {
      int k = -1;
      for (int j = 0; j < 4; j++) if (!strcmp(v, op_names[j])) k = j;
      if (k < 0) die("-o: expected sum, prod, min or max");
      op = (op_t)k;
    } else {
      char msg[128];
      snprintf(msg, sizeof msg, "unknown option '%s'", a);
      die(msg);
    }
  }
  if (min_bytes > max_bytes) die("invalid sizes: -b is larger than -e");
  if (step_factor > 1 && min_bytes == 0) die("-b 0 never grows by a factor");
  if (step_factor == 1 && step_bytes == 0 && min_bytes < max_bytes) die("-i 0: the step must be at least 1 byte");

  MPI_Datatype mtype = type == T_FLOAT ? MPI_FLOAT : type == T_DOUBLE ? MPI_DOUBLE : MPI_INT32_T;
  MPI_Op mop = op == O_SUM ? MPI_SUM : op == O_PROD ? MPI_PROD : op == O_MIN ? MPI_MIN : MPI_MAX;
  size_t esize = type_sizes[type];
  size_t max_count = max_bytes / esize;
  char *sendbuf = malloc(max_count * esize + 64), *recvbuf = malloc(max_count * esize + 64);
  if (!sendbuf || !recvbuf) die("out of host memory for the buffers");
  memset(sendbuf, 0, max_count * esize + 64);
  memset(recvbuf, 0, max_count * esize + 64);

  char host[256] = "unknown", model[256];
  gethostname(host, sizeof host);
  cpu_model(model, sizeof model);
  char lib[MPI_MAX_LIBRARY_VERSION_STRING];
  int liblen;
  MPI_Get_library_version(lib, &liblen);
  lib[strcspn(lib, ",\n")] = 0;

  char devline[512];
  snprintf(devline, sizeof devline, "Rank %2d Group  0 Pid %6d on %10s cpu [%s]", rank_, (int)getpid(), host, model);
  char *devlines = rank_ == 0 ? malloc((size_t)nranks_ * sizeof devline) : NULL;
  MPI_Gather(devline, sizeof devline, MPI_CHAR, devlines, sizeof devline, MPI_CHAR, 0, MPI_COMM_WORLD);

  if (rank_ == 0) {
    printf("# %s\n", lib);
    printf("# nThread 1 nGpus 1 minBytes %zu maxBytes %zu step: %zu(%s) warmup iters: %ld iters: %ld agg iters: 1 validation: %ld graph: 0\n",
           min_bytes, max_bytes, step_factor > 1 ? (size_t)step_factor : step_bytes, step_factor > 1 ? "factor" : "bytes", warmup, iters, check);
    printf("#\n# Using ranks (Open MPI MPI_Allreduce, world size %d)\n", nranks_);
    for (int r = 0; r < nranks_; r++) printf("#  %s\n", devlines + (size_t)r * sizeof devline);
    printf("#\n");
    printf("# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place          \n", "", "", "", "", "");
    printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s %6s  %7s  %6s  %6s %6s\n", "size", "count", "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong");
    printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %5s  %7s  %6s  %6s  %5s\n", "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "");
    fflush(stdout);
  }

  /* warm-up at the largest and the smallest size */
  size_t wsizes[2] = {max_count, min_bytes / esize};
  for (int k = 0; k < 2; k++)
    for (long w = 0; w < warmup; w++) MPI_Allreduce(sendbuf, recvbuf, (int)wsizes[k], mtype, mop, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);

  size_t nrows = 0, cap = 64;
  row_t *rows = malloc(cap * sizeof *rows);
  double bw_sum = 0;
  int bw_count = 0, errors = 0;
  for (size_t size = min_bytes; size <= max_bytes; size = step_factor > 1 ? size * (size_t)step_factor : size + step_bytes) {
    size_t count = size / esize;
    if (nrows == cap) rows = realloc(rows, (cap *= 2) * sizeof *rows);
    row_t *row = &rows[nrows++];
    row->size = count * esize;
    row->count = count;
    for (int inplace = 0; inplace < 2; inplace++) {
      void *sb = inplace ? MPI_IN_PLACE : sendbuf;
      if (check) fill(inplace ? recvbuf : sendbuf, type, op, count, 99);
      MPI_Allreduce(sb, recvbuf, (int)count, mtype, mop, MPI_COMM_WORLD);
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      for (long it = 0; it < iters; it++) MPI_Allreduce(sb, recvbuf, (int)count, mtype, mop, MPI_COMM_WORLD);
      double sec = (MPI_Wtime() - t0) / (double)iters, agg = sec;
      if (average == 0) MPI_Bcast(&agg, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
      else {
        MPI_Allreduce(&sec, &agg, 1, MPI_DOUBLE, average == 1 ? MPI_SUM : average == 2 ? MPI_MIN : MPI_MAX, MPI_COMM_WORLD);
        if (average == 1) agg /= nranks_;
      }
      cell_t *c = &row->cell[inplace];
      c->time_us = agg * 1e6;
      c->algbw = agg > 0 ? (double)(count * esize) / 1e9 / agg : 0;
      c->busbw = c->algbw * (2.0 * (nranks_ - 1) / nranks_);
      c->wrong = -1;
      if (check) {
        fill(inplace ? recvbuf : sendbuf, type, op, count, 1);
        if (!inplace) memset(recvbuf, 0, count * esize);
        MPI_Allreduce(sb, recvbuf, (int)count, mtype, mop, MPI_COMM_WORLD);
        long long w = count_wrong(recvbuf, type, op, count, 1), total = 0;
        MPI_Allreduce(&w, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
        c->wrong = total;
        if (total) errors++;
      }
      bw_sum += c->busbw;
      bw_count++;
    }
    if (rank_ == 0) {
      printf("%12zu  %12zu  %8s  %6s  %6d", row->size, row->count, type_names[type], op_names[op], -1);
      for (int k = 0; k < 2; k++) {
        char ts[32];
        time_str(row->cell[k].time_us, ts);
        if (row->cell[k].wrong < 0) printf("  %7s  %6.2f  %6.2f  %5s", ts, row->cell[k].algbw, row->cell[k].busbw, "N/A");
        else printf("  %7s  %6.2f  %6.2f  %5lld", ts, row->cell[k].algbw, row->cell[k].busbw, row->cell[k].wrong);
      }
      printf("\n");
      fflush(stdout);
    }
    if (step_factor == 1 && step_bytes == 0) break;
  }
  double avg_bw = bw_count ? bw_sum / bw_count : 0;
  if (rank_ == 0) {
    printf("# Out of bounds values : %d %s\n", errors, errors ? "FAILED" : "OK");
    printf("# Avg bus bandwidth    : %g \n#\n", avg_bw);
  }

  if (rank_ == 0 && json) {
    FILE *f = fopen(json, "w");
    if (!f) die("--json: cannot open the file for writing");
    time_t now = time(NULL);
    char iso[64];
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    struct utsname u;
    uname(&u);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
    fprintf(f, "{\n  \"schema\": \"node-nccl-bench/1\",\n  \"kind\": \"collective\",\n  \"tool\": \"openmpi\",\n");
    fprintf(f, "  \"label\": \"Open MPI np=%d\",\n  \"benchmark\": \"all-reduce\",\n  \"createdAt\": \"%s\",\n", nranks_, iso);
    fprintf(f, "  \"command\": {\"argv\": [");
    for (int i = 1; i < argc; i++) { if (i > 1) fputs(", ", f); json_str(f, argv[i]); }
    char line[4096];
    int len = snprintf(line, sizeof line, "mpirun -np %d bench/compare/build/mpi_allreduce", nranks_);
    for (int i = 1; i < argc && len < (int)sizeof line - 2; i++) len += snprintf(line + len, sizeof line - (size_t)len, " %s", argv[i]);
    fputs("], \"line\": ", f);
    json_str(f, line);
    fputs("},\n  \"environment\": {\"device\": ", f);
    char dev[320];
    snprintf(dev, sizeof dev, "%s (%ld CPUs)", model, cpus);
    json_str(f, dev);
    fputs(", \"driver\": null, \"cuda\": null, \"nccl\": null, \"cublas\": null, \"node\": null, \"packages\": {\"openmpi\": ", f);
    json_str(f, lib);
    fputs("}, \"host\": {\"hostname\": ", f);
    json_str(f, host);
    char plat[512];
    snprintf(plat, sizeof plat, "%s %s", "linux", u.release);
    fputs(", \"platform\": ", f);
    json_str(f, plat);
    fputs(", \"arch\": ", f);
    json_str(f, strcmp(u.machine, "x86_64") == 0 ? "x64" : strcmp(u.machine, "aarch64") == 0 ? "arm64" : u.machine);
    fprintf(f, ", \"cpus\": %ld, \"cpuModel\": ", cpus);
    json_str(f, model);
    fprintf(f, ", \"memoryBytes\": %.0f}},\n", mem);
    fprintf(f, "  \"config\": {\"backend\": \"openmpi\", \"worldSize\": %d, \"minBytes\": %zu, \"maxBytes\": %zu, \"stepFactor\": %ld, \"stepBytes\": %zu, "
               "\"iters\": %ld, \"warmupIters\": %ld, \"check\": %ld, \"blocking\": false, \"average\": %ld, \"graphLaunches\": 0},\n",
            nranks_, min_bytes, max_bytes, step_factor, step_bytes, iters, warmup, check, average);
    fputs("  \"devices\": [", f);
    for (int r = 0; r < nranks_; r++) { if (r) fputs(", ", f); json_str(f, devlines + (size_t)r * sizeof devline); }
    fputs("],\n  \"rows\": [\n", f);
    for (size_t i = 0; i < nrows; i++) {
      row_t *r = &rows[i];
      fprintf(f, "    {\"size\": %zu, \"count\": %zu, \"type\": \"%s\", \"redop\": \"%s\", \"root\": -1", r->size, r->count, type_names[type], op_names[op]);
      for (int k = 0; k < 2; k++) {
        cell_t *c = &r->cell[k];
        fprintf(f, ", \"%s\": {\"timeUs\": %.6g, \"algBw\": %.6g, \"busBw\": %.6g, \"wrong\": ", k ? "inPlace" : "outOfPlace", c->time_us, c->algbw, c->busbw);
        if (c->wrong < 0) fputs("null}", f);
        else fprintf(f, "%lld}", c->wrong);
      }
      fprintf(f, "}%s\n", i + 1 < nrows ? "," : "");
    }
    fprintf(f, "  ],\n  \"summary\": {\"outOfBounds\": %d, \"avgBusBw\": %.6g}\n}\n", errors, avg_bw);
    fclose(f);
    printf("# Results written to %s\n", json);
  }
  free(sendbuf);
  free(recvbuf);
  free(rows);
  free(devlines);
  MPI_Finalize();
  return errors ? 1 : 0;
}
