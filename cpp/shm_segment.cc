#include "shm_segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace nn {
namespace {
// Closes the descriptor on every path; the mapping outlives it.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};
}  // namespace

ShmSegment& ShmSegment::operator=(ShmSegment&& o) noexcept {
  if (this != &o) {
    Reset();
    base_ = o.base_;
    size_ = o.size_;
    o.base_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

void ShmSegment::Reset() {
  if (base_) munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

ShmSegment ShmSegment::Create(const std::string& name, size_t bytes) {
  Fd f{shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600)};
  if (f.fd < 0) ThrowErrno("shm_open(" + name + ", O_CREAT|O_EXCL)", errno);
  if (ftruncate(f.fd, static_cast<off_t>(bytes)) != 0) {
    int e = errno;
    shm_unlink(name.c_str());
    ThrowErrno("ftruncate(" + name + ", " + std::to_string(bytes) + ")", e);
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    shm_unlink(name.c_str());
    ThrowErrno("mmap(" + name + ")", e);
  }
  ShmSegment s;
  s.base_ = p;
  s.size_ = bytes;
  return s;
}

ShmSegment ShmSegment::TryOpen(const std::string& name, size_t bytes) {
  ShmSegment s;
  Fd f{shm_open(name.c_str(), O_RDWR, 0600)};
  if (f.fd < 0) {
    if (errno == ENOENT) return s;
    ThrowErrno("shm_open(" + name + ")", errno);
  }
  struct stat st;
  if (fstat(f.fd, &st) != 0) ThrowErrno("fstat(" + name + ")", errno);
  if (static_cast<size_t>(st.st_size) < bytes) return s;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
  if (p == MAP_FAILED) ThrowErrno("mmap(" + name + ")", errno);
  s.base_ = p;
  s.size_ = bytes;
  return s;
}

void ShmSegment::Unlink(const std::string& name) { shm_unlink(name.c_str()); }

}  // namespace nn
