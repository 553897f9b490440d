// Device memory (caching allocator per device) and the pinned host pool. Implemented in
// allocator.cc; the policy is stated at the top of that file.
#pragma once
#include <cstddef>
#include <cstdint>

#include "runtime.h"

namespace nn {

// One device allocation handed out by the allocator. `block` is the allocator's bookkeeping.
struct DeviceAllocation {
  void* ptr = nullptr;
  size_t size = 0;             // bytes requested
  int device = -1;
  dev::Stream stream = nullptr;  // the stream it was allocated on (reuse is ordered on it)
  void* block = nullptr;
};

// Allocates `bytes` (0 allowed: a valid, empty allocation) on `device` for use on `stream`.
// Out of memory: frees the cache once, retries, then throws ERR_CUDA_OOM stating the sizes.
DeviceAllocation DeviceMalloc(int device, size_t bytes, dev::Stream stream);
// Returns the memory to the cache. Safe to call from any thread.
void DeviceFree(const DeviceAllocation& a);
// Marks the allocation as used on another stream: it is not reused before that work is done.
void RecordStream(const DeviceAllocation& a, dev::Stream stream);

struct MemoryStats {
  int64_t allocated = 0, reserved = 0, peakAllocated = 0, peakReserved = 0;
  int64_t activeBlocks = 0, segments = 0, allocs = 0, frees = 0, cacheHits = 0, cudaMallocs = 0, cudaFrees = 0,
          ooms = 0, splits = 0, merges = 0;
  int64_t pinnedReserved = 0, pinnedAllocated = 0;
};
MemoryStats GetMemoryStats(int device);
void ResetPeakStats(int device);
// Frees every cached block that is not in use (device memory of all devices and the pinned pool).
void EmptyCache();

// The pinned (page-locked) host pool. PinnedAlloc throws ERR_HOST_OOM / ERR_NO_GPU.
void* PinnedAlloc(size_t bytes);
void PinnedFree(void* ptr);
// True when [ptr, ptr+bytes) lies in one pinned block of the pool.
bool IsPinned(const void* ptr, size_t bytes);
// Work queued on `stream` now reads or writes the pinned block holding ptr: once freed, the block
// is not handed out again before that work is done (as PyTorch's CachingHostAllocator records
// events). `device` is the stream's device.
void PinnedRecordUse(const void* ptr, int device, dev::Stream stream);

}  // namespace nn
