// A POSIX shared-memory segment mapped into this process (RAII): created (O_EXCL) by one process,
// opened by the others, unlinked by name as soon as every process has mapped it, so nothing is
// left in /dev/shm once a group is set up (or when its creator fails during setup).
// Implemented in shm_segment.cc.
#pragma once
#include <cstddef>
#include <string>

namespace nn {

class ShmSegment {
 public:
  ShmSegment() = default;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;
  ShmSegment(ShmSegment&& o) noexcept { *this = std::move(o); }
  ShmSegment& operator=(ShmSegment&& o) noexcept;
  ~ShmSegment() { Reset(); }

  // Creates a new zero-filled segment of `bytes` (fails with ERR_OS if the name exists).
  static ShmSegment Create(const std::string& name, size_t bytes);
  // Opens an existing segment; returns an empty segment (ok() false) when it does not exist yet
  // or is still smaller than `bytes` (its creator has not sized it yet). Other errors throw.
  static ShmSegment TryOpen(const std::string& name, size_t bytes);
  // Removes the name (the mapping stays valid). Ignores a name that is already gone.
  static void Unlink(const std::string& name);

  bool ok() const { return base_ != nullptr; }
  void* base() const { return base_; }
  size_t size() const { return size_; }
  void Reset();  // unmaps

 private:
  void* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace nn
