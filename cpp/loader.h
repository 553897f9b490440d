// Run-time loading (dlopen) of NCCL, cuBLAS and an optional host BLAS, from our own minimal
// declarations: no vendor headers are needed to build. Implemented in loader.cc.
//
// The host BLAS is used only when it is an optimized one: OpenBLAS, BLIS, MKL (or FlexiBLAS over
// one of them), recognized by their own symbols and versions. A CBLAS without them (netlib's
// reference libblas.so.3, which numpy and R pull in on Debian) is skipped and the search goes on;
// when nothing is left the built-in blocked kernel is used (NODE_NCCL_BLAS=0 forces that).
//
// Search order per library: the env override (NODE_NCCL_NCCL_PATH, NODE_NCCL_CUBLAS_PATH,
// NODE_NCCL_BLAS_PATH: a file or a folder) -> the system loader (LD_LIBRARY_PATH, ldconfig) ->
// $CUDA_HOME/lib64 -> the pip-installed nvidia/*/lib folders of the python3 on PATH.
#pragma once
#include <string>
#include <vector>

namespace nn {

enum class Lib { Nccl = 0, Cublas = 1, Blas = 2 };

struct LibraryInfo {
  bool loaded = false;
  std::string path;                 // the file that was loaded
  int version = 0;                  // ncclGetVersion / cublasGetProperty-based code, 0 if unknown
  std::string versionString;        // e.g. "2.28.3"
  std::string error;                // why it is not loaded ("" when loaded)
  std::vector<std::string> tried;   // every place tried, in order, with the reason each failed
  // Host BLAS only: which implementation it is (identified by its own symbols, never by its file
  // name), its own description (OpenBLAS's config string, MKL's version string) and its threads.
  std::string vendor;               // "OpenBLAS", "BLIS", "MKL", "FlexiBLAS"
  std::string detail;
  int threads = 0;
};

// Threads for host compute (the blocked GEMM and the host BLAS): NODE_NCCL_CPU_THREADS when it is
// set to an integer >= 1 (the launcher sets it to cores / local world size), else the hardware's.
int IntraOpThreads();

// Loads the library on first use (thread-safe) and reports what happened; never throws.
const LibraryInfo& LibInfo(Lib lib);
// The symbol, loading the library if needed. Throws ERR_LIB_NOT_FOUND (listing every place tried)
// or ERR_SYMBOL_NOT_FOUND.
void* LibSym(Lib lib, const char* symbol);
// The symbol, or nullptr when the library or the symbol is missing (for optional features).
void* LibSymOrNull(Lib lib, const char* symbol);

}  // namespace nn
