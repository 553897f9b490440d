// dlopen of NCCL, cuBLAS and a host BLAS (see loader.h for the search order). Each library is
// looked for once per process; the result (path and version, or every place tried and why it
// failed) is kept and reported by doctor. An env override is exclusive: when it is set, only the
// file or folder it names is tried, so a user who points at a library never silently gets another.
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "addon.h"
#include "common.h"
#include "device/device.h"
#include "errors.h"

extern char** environ;

namespace nn {
namespace {

// Decides whether a loaded library is one we want (fills info's vendor/version), or says why not.
using AcceptFn = bool (*)(void* handle, LibraryInfo& info, std::string& why);
bool AcceptBlas(void* h, LibraryInfo& info, std::string& why);

struct Spec {
  const char* name;                 // "nccl"
  const char* display;              // "NCCL"
  const char* env;                  // override variable
  std::vector<const char*> files;   // sonames, most preferred first
  bool cudaDirs;                    // also look in $CUDA_HOME/lib64 and pip nvidia/*/lib
  const char* requiredSymbol;       // a library without it is skipped
  AcceptFn accept;                  // nullptr: any library with requiredSymbol
};

const Spec& SpecOf(Lib lib) {
  static const Spec specs[] = {
      {"nccl", "NCCL", "NODE_NCCL_NCCL_PATH", {"libnccl.so.2", "libnccl.so"}, true, "ncclGetVersion", nullptr},
      {"cublas", "cuBLAS", "NODE_NCCL_CUBLAS_PATH", {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}, true,
       "cublasCreate_v2", nullptr},
      // The generic names last: Debian's libblas.so.3 / libcblas.so.3 are whatever the alternatives
      // system points at (OpenBLAS, BLIS or netlib's reference); AcceptBlas tells them apart.
      {"blas", "BLAS", "NODE_NCCL_BLAS_PATH",
       {"libopenblas.so.0", "libopenblas.so", "libblis.so.4", "libblis.so.3", "libblis.so", "libmkl_rt.so.2",
        "libmkl_rt.so", "libflexiblas.so.3", "libblas.so.3", "libcblas.so.3", "libcblas.so"},
       false, "cblas_sgemm", AcceptBlas},
  };
  return specs[static_cast<int>(lib)];
}

// ---- host BLAS identification ------------------------------------------------------------------
template <class F>
F Sym(void* h, const char* name) {
  return reinterpret_cast<F>(dlsym(h, name));
}

// The first word after `key` in `text` ("OpenBLAS 0.3.21 DYNAMIC_ARCH" → "0.3.21").
std::string WordAfter(const std::string& text, const std::string& key) {
  size_t p = text.find(key);
  if (p == std::string::npos) return "";
  p += key.size();
  while (p < text.size() && text[p] == ' ') p++;
  size_t e = p;
  while (e < text.size() && text[e] != ' ' && text[e] != ',' && text[e] != ')') e++;
  return text.substr(p, e - p);
}

bool EnvSet(const char* name) {
  const char* v = getenv(name);
  return v && *v;
}

// Threads to give the library: NODE_NCCL_CPU_THREADS (the launcher's cores / local world size)
// wins; without it the library's own variable, when the user set one (0: leave it alone); else
// every core, as the built-in kernel uses.
int ThreadsFor(const char* ownEnv) {
  if (EnvSet("NODE_NCCL_CPU_THREADS") || !EnvSet(ownEnv)) return IntraOpThreads();
  return 0;
}

bool AcceptBlas(void* h, LibraryInfo& info, std::string& why) {
  using CStr = const char* (*)();
  using IntVoid = int (*)();
  using SetInt = void (*)(int);
  if (auto cfg = Sym<CStr>(h, "openblas_get_config")) {
    const char* c = cfg();
    info.vendor = "OpenBLAS";
    info.detail = c ? c : "";
    info.versionString = WordAfter(info.detail, "OpenBLAS");
    if (auto core = Sym<CStr>(h, "openblas_get_corename")) {
      const char* k = core();
      if (k && *k && info.detail.find(k) == std::string::npos) info.detail += std::string(" (core ") + k + ")";
    }
    int n = ThreadsFor(EnvSet("OPENBLAS_NUM_THREADS") ? "OPENBLAS_NUM_THREADS" : "OMP_NUM_THREADS");
    if (auto set = Sym<SetInt>(h, "openblas_set_num_threads"); set && n > 0) set(n);
    if (auto get = Sym<IntVoid>(h, "openblas_get_num_threads")) info.threads = get();
    return true;
  }
  if (auto ver = Sym<CStr>(h, "bli_info_get_version_str")) {
    const char* v = ver();
    info.vendor = "BLIS";
    info.versionString = v ? v : "";
    info.detail = "BLIS " + info.versionString;
    using SetLong = void (*)(long);
    using GetLong = long (*)();
    int n = ThreadsFor("BLIS_NUM_THREADS");
    if (auto set = Sym<SetLong>(h, "bli_thread_set_num_threads"); set && n > 0) set(n);
    if (auto get = Sym<GetLong>(h, "bli_thread_get_num_threads")) info.threads = static_cast<int>(get());
    return true;
  }
  using MklVersion = void (*)(char*, int);
  MklVersion mkl = Sym<MklVersion>(h, "MKL_Get_Version_String");
  if (!mkl) mkl = Sym<MklVersion>(h, "mkl_get_version_string");
  if (mkl) {
    char buf[512] = {0};
    mkl(buf, static_cast<int>(sizeof buf - 1));
    info.vendor = "MKL";
    info.detail = buf;
    info.versionString = WordAfter(info.detail, "Version");
    int n = ThreadsFor("MKL_NUM_THREADS");
    if (auto set = Sym<SetInt>(h, "MKL_Set_Num_Threads"); set && n > 0) set(n);
    if (auto get = Sym<IntVoid>(h, "MKL_Get_Max_Threads")) info.threads = get();
    return true;
  }
  using FlexVersion = int (*)(int*, int*, int*);
  using FlexBackend = int (*)(char*, size_t);
  if (auto fv = Sym<FlexVersion>(h, "flexiblas_get_version")) {
    char backend[128] = {0};
    if (auto fb = Sym<FlexBackend>(h, "flexiblas_current_backend")) fb(backend, sizeof backend - 1);
    std::string b = backend;
    std::string upper = b;
    for (char& ch : upper) ch = static_cast<char>(toupper(static_cast<unsigned char>(ch)));
    if (upper.empty() || upper.find("NETLIB") != std::string::npos) {
      why = "FlexiBLAS over " + (b.empty() ? std::string("an unknown backend") : b) +
            ", not an optimized BLAS: skipped (select OpenBLAS, BLIS or MKL in FlexiBLAS to use it)";
      return false;
    }
    int ma = 0, mi = 0, pa = 0;
    fv(&ma, &mi, &pa);
    info.vendor = "FlexiBLAS";
    info.versionString = std::to_string(ma) + "." + std::to_string(mi) + "." + std::to_string(pa);
    info.detail = "FlexiBLAS " + info.versionString + " over " + b;
    int n = ThreadsFor("OMP_NUM_THREADS");
    if (auto set = Sym<SetInt>(h, "flexiblas_set_num_threads"); set && n > 0) set(n);
    if (auto get = Sym<IntVoid>(h, "flexiblas_get_num_threads")) info.threads = get();
    return true;
  }
  // Debian's BLIS alternative for libblas.so.3 hides the bli_ symbols but keeps BLIS's BLAS-level
  // extensions (gemm_batch, gemmt), which netlib's reference BLAS does not have.
  if (Sym<void*>(h, "cblas_sgemm_batch") && Sym<void*>(h, "sgemmt_")) {
    info.vendor = "BLIS";
    info.detail = "the BLAS interface of BLIS (recognized by its cblas_sgemm_batch and sgemmt_ extensions; its version is not exported)";
    return true;
  }
  why = "not an optimized BLAS (it has none of OpenBLAS's, BLIS's or MKL's own symbols): most likely netlib's "
        "reference BLAS, several times slower than the built-in kernel, so it is skipped";
  return false;
}

struct Slot {
  std::once_flag once;
  LibraryInfo info;
  void* handle = nullptr;
  const dev::SymbolTable* sim = nullptr;  // the device implementation's stand-in for the library
};
Slot gSlots[3];

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

// Runs `python3 -c ...` once (with a deadline) and returns its site-packages folders.
std::vector<std::string> RunPythonSitePackages(std::string& note) {
  std::vector<std::string> out;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    note = "could not create a pipe to run python3";
    return out;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  const char* script =
      "import site,sys\n"
      "p=[]\n"
      "try: p+=site.getsitepackages()\n"
      "except Exception: pass\n"
      "try: p.append(site.getusersitepackages())\n"
      "except Exception: pass\n"
      "p+=[x for x in sys.path if x.endswith('-packages')]\n"
      "print('\\n'.join(p))\n";
  char* argv[] = {const_cast<char*>("python3"), const_cast<char*>("-c"), const_cast<char*>(script), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "python3", &fa, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    note = "python3 is not on PATH";
    return out;
  }
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char buf[4096];
  bool timedOut = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int pr = poll(&p, 1, static_cast<int>(left));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) {
      timedOut = pr == 0;
      break;
    }
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1 << 20)) break;
  }
  close(fds[0]);
  if (timedOut) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timedOut) {
    note = "python3 did not answer within 10 s";
    return out;
  }
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    if (!line.empty() && std::find(out.begin(), out.end(), line) == out.end()) out.push_back(line);
    start = nl + 1;
  }
  if (out.empty()) note = "python3 listed no site-packages folders";
  return out;
}

// The pip `nvidia/*/lib` folders of the python3 on PATH (computed once per process).
const std::vector<std::string>& PipNvidiaDirs(std::string& note) {
  static std::vector<std::string> dirs;
  static std::string why;
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> sites = RunPythonSitePackages(why);
    for (const std::string& site : sites) {
      std::string base = site + "/nvidia";
      DIR* d = opendir(base.c_str());
      if (!d) continue;
      std::vector<std::string> found;
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        std::string lib = base + "/" + n + "/lib";
        if (IsDir(lib)) found.push_back(lib);
      }
      closedir(d);
      std::sort(found.begin(), found.end());
      dirs.insert(dirs.end(), found.begin(), found.end());
    }
    if (dirs.empty() && why.empty()) {
      why = "no nvidia/*/lib folder in the site-packages of python3 (";
      for (size_t i = 0; i < sites.size(); i++) why += (i ? ", " : "") + sites[i];
      why += ")";
    }
  });
  note = why;
  return dirs;
}

std::string DlError() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

// Tries to open `target` (a path, or a bare soname for the system loader). Records the attempt.
bool TryOpen(Slot& s, const Spec& spec, const std::string& target, const std::string& label) {
  dlerror();
  void* h = dlopen(target.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::string why = DlError();
    // dlopen's message repeats the path; keep the reason readable.
    if (target.find('/') != std::string::npos && !Exists(target)) why = "no such file";
    else if (target.find('/') == std::string::npos && why.find("cannot open shared object file") != std::string::npos)
      why = "not found by the system loader (LD_LIBRARY_PATH, ldconfig cache)";
    s.info.tried.push_back(label + ": " + why);
    return false;
  }
  if (!dlsym(h, spec.requiredSymbol)) {
    s.info.tried.push_back(label + ": loaded but has no " + spec.requiredSymbol + " (not a usable " + spec.display + ")");
    dlclose(h);
    return false;
  }
  std::string why;
  if (spec.accept && !spec.accept(h, s.info, why)) {
    s.info.tried.push_back(label + ": " + why);
    s.info.vendor.clear();
    s.info.versionString.clear();
    s.info.detail.clear();
    s.info.threads = 0;
    dlclose(h);
    return false;
  }
  Dl_info di;
  s.info.path = dladdr(dlsym(h, spec.requiredSymbol), &di) && di.dli_fname ? di.dli_fname : target;
  s.handle = h;
  s.info.loaded = true;
  return true;
}

bool TryDir(Slot& s, const Spec& spec, const std::string& dir, const std::string& where) {
  if (!IsDir(dir)) {
    s.info.tried.push_back(where + " " + dir + ": no such folder");
    return false;
  }
  bool any = false;
  for (const char* f : spec.files) {
    std::string p = dir + "/" + f;
    if (!Exists(p)) continue;
    any = true;
    if (TryOpen(s, spec, p, where + " " + p)) return true;
  }
  if (!any) {
    std::string names;
    for (const char* f : spec.files) names += (names.empty() ? "" : ", ") + std::string(f);
    s.info.tried.push_back(where + " " + dir + ": none of " + names + " there");
  }
  return false;
}

void ReadVersion(Lib lib, Slot& s) {
  if (lib == Lib::Nccl) {
    using Fn = int (*)(int*);
    auto f = reinterpret_cast<Fn>(dlsym(s.handle, "ncclGetVersion"));
    int v = 0;
    if (f && f(&v) == 0 && v > 0) {
      s.info.version = v;
      // NCCL >= 2.9 encodes major*10000 + minor*100 + patch; older ones major*1000 + minor*100 + patch.
      int major = v >= 10000 ? v / 10000 : v / 1000;
      int minor = v >= 10000 ? (v % 10000) / 100 : (v % 1000) / 100;
      int patch = v % 100;
      s.info.versionString = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
    }
  } else if (lib == Lib::Cublas) {
    using Fn = int (*)(int, int*);  // cublasGetProperty(libraryPropertyType, int*): handle-free
    auto f = reinterpret_cast<Fn>(dlsym(s.handle, "cublasGetProperty"));
    int major = 0, minor = 0, patch = 0;
    if (f && f(0, &major) == 0 && f(1, &minor) == 0 && f(2, &patch) == 0) {
      s.info.version = major * 10000 + minor * 100 + patch;
      s.info.versionString = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
    }
  }
  // BLAS: AcceptBlas has filled vendor, version and threads.
}

// cuBLAS sonames, the one of the driver's CUDA major first: a CUDA-12 driver cannot run the kernels
// of a CUDA-13 cuBLAS, so libcublas.so.13 must not win just because it is installed too.
std::vector<const char*> CublasFiles() {
  int drv = 0;
  if (dev::Get().DriverGetVersion(&drv) != dev::kSuccess) drv = 0;
  if (drv >= 12000 && drv < 13000) return {"libcublas.so.12", "libcublas.so.13", "libcublas.so"};
  return {"libcublas.so.13", "libcublas.so.12", "libcublas.so"};
}

void Load(Lib lib, Slot& s) {
  if (const dev::SymbolTable* t = dev::Get().Library(lib)) {
    s.sim = t;
    s.info.loaded = true;
    s.info.path = t->path;
    s.info.version = t->version;
    s.info.versionString = t->versionString;
    return;
  }
  Spec spec = SpecOf(lib);
  if (lib == Lib::Cublas) spec.files = CublasFiles();
  const char* override = getenv(spec.env);
  bool ok = false;
  if (lib == Lib::Blas) {
    const char* off = getenv("NODE_NCCL_BLAS");
    if (off && std::string(off) == "0") {
      s.info.tried.push_back("not searched: NODE_NCCL_BLAS=0");
      s.info.error = "the host BLAS is turned off by NODE_NCCL_BLAS=0: CPU matrix products use the built-in kernel";
      return;
    }
  }
  if (override && *override) {
    std::string o = override;
    std::string where = std::string("$") + spec.env + " =";
    if (IsDir(o)) ok = TryDir(s, spec, o, where);
    else ok = TryOpen(s, spec, o, where + " " + o);
    if (!ok) s.info.tried.push_back(std::string("(the other places are not searched while $") + spec.env + " is set)");
  } else {
    for (const char* f : spec.files) {
      if ((ok = TryOpen(s, spec, f, std::string("system loader ") + f))) break;
    }
    if (!ok && spec.cudaDirs) {
      const char* ch = getenv("CUDA_HOME");
      if (!ch || !*ch) ch = getenv("CUDA_PATH");
      std::string home = ch && *ch ? ch : "/usr/local/cuda";
      std::string where = ch && *ch ? "CUDA toolkit ($CUDA_HOME)" : "CUDA toolkit ($CUDA_HOME unset, default)";
      ok = TryDir(s, spec, home + "/lib64", where);
    }
    if (!ok && spec.cudaDirs) {
      std::string note;
      const std::vector<std::string>& dirs = PipNvidiaDirs(note);
      if (dirs.empty()) s.info.tried.push_back("pip nvidia/*/lib: " + note);
      // Libraries in a folder named after them first (nvidia/nccl/lib for NCCL), then the others.
      std::vector<std::string> order;
      for (const std::string& d : dirs)
        if (d.find(std::string("/nvidia/") + spec.name + "/") != std::string::npos) order.push_back(d);
      for (const std::string& d : dirs)
        if (std::find(order.begin(), order.end(), d) == order.end()) order.push_back(d);
      for (const std::string& d : order)
        if ((ok = TryDir(s, spec, d, "pip"))) break;
    }
  }
  if (ok) {
    ReadVersion(lib, s);
    return;
  }
  s.info.error = lib == Lib::Blas
                     ? std::string("No optimized BLAS (OpenBLAS, BLIS, MKL) was found: CPU matrix products use the built-in kernel. Places tried:")
                     : std::string(spec.display) + " was not found. Places tried:";
  for (const std::string& t : s.info.tried) s.info.error += "\n  - " + t;
  s.info.error += std::string("\nSet ") + spec.env + " to the library file or its folder to choose one.";
}

Slot& Get(Lib lib) {
  Slot& s = gSlots[static_cast<int>(lib)];
  std::call_once(s.once, [&] { Load(lib, s); });
  return s;
}

bool ParseLib(const std::string& n, Lib& out) {
  if (n == "nccl") out = Lib::Nccl;
  else if (n == "cublas") out = Lib::Cublas;
  else if (n == "blas") out = Lib::Blas;
  else return false;
  return true;
}

Lib ReadLib(const Args& a, size_t i) {
  Lib lib;
  if (i >= a.size() || !a[i].IsString() || !ParseLib(a[i].As<Napi::String>().Utf8Value(), lib))
    a.Fail(i, "name", "one of 'nccl', 'cublas', 'blas'");
  return lib;
}

Napi::Object InfoToJs(Napi::Env env, const LibraryInfo& li, const char* name) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("name", Napi::String::New(env, name));
  o.Set("loaded", Napi::Boolean::New(env, li.loaded));
  o.Set("path", li.loaded ? Napi::Value(Napi::String::New(env, li.path)) : env.Null());
  o.Set("version", li.version ? Napi::Value(Napi::Number::New(env, li.version)) : env.Null());
  o.Set("versionString", li.versionString.empty() ? env.Null() : Napi::Value(Napi::String::New(env, li.versionString)));
  o.Set("error", li.loaded ? env.Null() : Napi::Value(Napi::String::New(env, li.error)));
  if (std::string(name) == "blas") {
    o.Set("vendor", li.vendor.empty() ? env.Null() : Napi::Value(Napi::String::New(env, li.vendor)));
    o.Set("detail", li.detail.empty() ? env.Null() : Napi::Value(Napi::String::New(env, li.detail)));
    o.Set("threads", li.threads > 0 ? Napi::Value(Napi::Number::New(env, li.threads)) : env.Null());
  }
  Napi::Array tried = Napi::Array::New(env, li.tried.size());
  for (size_t i = 0; i < li.tried.size(); i++) tried.Set(static_cast<uint32_t>(i), Napi::String::New(env, li.tried[i]));
  o.Set("tried", tried);
  return o;
}

// loader.info(name): what happened when looking for the library (never throws for a missing one).
Napi::Value JsInfo(const Napi::CallbackInfo& info) {
  Args a(info, "loader.info");
  a.Count(1, 1);
  Lib lib = ReadLib(a, 0);
  return InfoToJs(info.Env(), LibInfo(lib), SpecOf(lib).name);
}

// loader.load(name): like info() but throws ERR_LIB_NOT_FOUND (listing every place tried).
Napi::Value JsLoad(const Napi::CallbackInfo& info) {
  Args a(info, "loader.load");
  a.Count(1, 1);
  Lib lib = ReadLib(a, 0);
  const LibraryInfo& li = LibInfo(lib);
  if (!li.loaded) throw NativeError(code::kLibNotFound, li.error);
  return InfoToJs(info.Env(), li, SpecOf(lib).name);
}

}  // namespace

const LibraryInfo& LibInfo(Lib lib) { return Get(lib).info; }

int IntraOpThreads() {
  static const int n = [] {
    int hw = static_cast<int>(std::thread::hardware_concurrency());
    if (hw <= 0) hw = 1;
    const char* e = getenv("NODE_NCCL_CPU_THREADS");
    if (e && *e) {
      char* end = nullptr;
      long v = strtol(e, &end, 10);
      if (end && *end == '\0' && v >= 1) return static_cast<int>(std::min<long>(v, 4096));
    }
    return hw;
  }();
  return n;
}

void* LibSym(Lib lib, const char* symbol) {
  Slot& s = Get(lib);
  if (!s.info.loaded) throw NativeError(code::kLibNotFound, s.info.error);
  void* p = s.sim ? s.sim->lookup(symbol) : dlsym(s.handle, symbol);
  if (!p)
    throw NativeError(code::kSymbolNotFound, std::string(SpecOf(lib).display) + " at " + s.info.path + " has no symbol " +
                                                 symbol + (s.info.versionString.empty() ? "" : " (version " + s.info.versionString + ")"));
  return p;
}

void* LibSymOrNull(Lib lib, const char* symbol) {
  Slot& s = Get(lib);
  if (!s.info.loaded) return nullptr;
  return s.sim ? s.sim->lookup(symbol) : dlsym(s.handle, symbol);
}

void RegisterLoader(Napi::Env env, Napi::Object exports) {
  Napi::Object loader = Namespace(exports, "loader");
  loader.Set("info", Napi::Function::New(env, NN_FN(JsInfo), "info"));
  loader.Set("load", Napi::Function::New(env, NN_FN(JsLoad), "load"));
}

}  // namespace nn
