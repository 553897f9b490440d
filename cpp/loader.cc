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
#include <chrono>
#include <cstdlib>
#include <mutex>

#include "addon.h"
#include "common.h"
#include "errors.h"

extern char** environ;

namespace nn {
namespace {

struct Spec {
  const char* name;                 // "nccl"
  const char* display;              // "NCCL"
  const char* env;                  // override variable
  std::vector<const char*> files;   // sonames, most preferred first
  bool cudaDirs;                    // also look in $CUDA_HOME/lib64 and pip nvidia/*/lib
  const char* requiredSymbol;       // a library without it is skipped
};

const Spec& SpecOf(Lib lib) {
  static const Spec specs[] = {
      {"nccl", "NCCL", "NODE_NCCL_NCCL_PATH", {"libnccl.so.2", "libnccl.so"}, true, "ncclGetVersion"},
      {"cublas", "cuBLAS", "NODE_NCCL_CUBLAS_PATH", {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}, true,
       "cublasCreate_v2"},
      {"blas", "BLAS", "NODE_NCCL_BLAS_PATH",
       {"libopenblas.so.0", "libopenblas.so", "libblis.so.4", "libblas.so.3", "libcblas.so.3", "libcblas.so"}, false,
       "cblas_sgemm"},
  };
  return specs[static_cast<int>(lib)];
}

struct Slot {
  std::once_flag once;
  LibraryInfo info;
  void* handle = nullptr;
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
  } else {
    using Fn = const char* (*)();
    auto cfg = reinterpret_cast<Fn>(dlsym(s.handle, "openblas_get_config"));
    if (cfg && cfg()) s.info.versionString = cfg();
  }
}

void Load(Lib lib, Slot& s) {
  const Spec& spec = SpecOf(lib);
  const char* override = getenv(spec.env);
  bool ok = false;
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
  s.info.error = std::string(spec.display) + " was not found. Places tried:";
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

void* LibSym(Lib lib, const char* symbol) {
  Slot& s = Get(lib);
  if (!s.info.loaded) throw NativeError(code::kLibNotFound, s.info.error);
  void* p = dlsym(s.handle, symbol);
  if (!p)
    throw NativeError(code::kSymbolNotFound, std::string(SpecOf(lib).display) + " at " + s.info.path + " has no symbol " +
                                                 symbol + (s.info.versionString.empty() ? "" : " (version " + s.info.versionString + ")"));
  return p;
}

void* LibSymOrNull(Lib lib, const char* symbol) {
  Slot& s = Get(lib);
  if (!s.info.loaded) return nullptr;
  return dlsym(s.handle, symbol);
}

void RegisterLoader(Napi::Env env, Napi::Object exports) {
  Napi::Object loader = Namespace(exports, "loader");
  loader.Set("info", Napi::Function::New(env, NN_FN(JsInfo), "info"));
  loader.Set("load", Napi::Function::New(env, NN_FN(JsLoad), "load"));
}

}  // namespace nn
