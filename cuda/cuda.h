// The CUDA backend's public face: what any wick user (and the CPU-only build)
// may call. No CUDA header is included here, so CPU-only code can ask whether
// a GPU is present. In a build without CUDA (WICK_CUDA=OFF or no nvcc) every
// query answers "no device" and every action that needs a GPU throws
// wick::Error saying that the build has no CUDA backend.
//
// Names follow torch.cuda: is_available, device_count, synchronize,
// memory_stats, empty_cache, set_per_process_memory_fraction -> set_memory_limit.
#pragma once

#include <cstdint>
#include <string>

namespace wick::cuda {

// True when wick was built with CUDA *and* a device can be used. Any error
// from the driver (no driver, "CUDA driver version is insufficient", no
// device) counts as "not available"; it never throws.
bool is_available();
// Devices visible to this process (0 without CUDA or on any driver error).
int device_count();
// True when this build contains the CUDA backend (independent of hardware).
bool is_built();

int current_device();
void set_device(int index);
// "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB"; throws without a device.
std::string device_name(int index = 0);
// Waits for all work queued on the current device.
void synchronize();

// Counters of the caching allocator of one device, in bytes of blocks
// (sizes rounded to the allocator's granularity), like torch.cuda.memory_stats().
struct MemoryStats {
  int64_t allocated = 0;       // bytes in blocks held by live tensors
  int64_t peak_allocated = 0;  // high-water mark of `allocated`
  int64_t reserved = 0;        // bytes obtained from cudaMalloc and not yet released (allocated + cached)
  int64_t cached = 0;          // reserved - allocated: free blocks kept for reuse
  int64_t num_device_allocs = 0;  // cudaMalloc calls so far
  int64_t num_device_frees = 0;   // cudaFree calls so far
  int64_t num_splits = 0;         // times a cached block was split to serve a smaller request
};
MemoryStats memory_stats(int device = -1);  // -1: current device
void reset_peak_memory_stats(int device = -1);
// Returns every cached (unused) block to the driver.
void empty_cache();
// The most bytes the allocator may reserve on a device (0 = no limit). A
// request beyond it first frees the cache, then throws wick::Error reporting
// the request, what is allocated and what is cached.
void set_memory_limit(int64_t bytes, int device = -1);
int64_t memory_limit(int device = -1);

}  // namespace wick::cuda
