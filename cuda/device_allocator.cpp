// The per-device caching allocators (cuda/allocator.h) on top of cudaMalloc,
// and the memory API of cuda/cuda.h (memory_stats, empty_cache, limits).
//
// One CachingAllocator per device, created on first use and never destroyed:
// tensors in static storage may die after any static allocator would, and
// the driver reclaims all device memory at process exit anyway.
#include <array>
#include <memory>
#include <mutex>

#include "cuda/allocator.h"
#include "cuda/cuda.h"
#include "cuda/pinned.h"
#include "cuda/runtime.h"

namespace wick::cuda {

namespace {
constexpr int kMaxDevices = 64;

RawMemory cuda_raw_memory(int dev) {
  RawMemory raw;
  raw.alloc = [dev](size_t n) -> void* {
    DeviceGuard guard(dev);
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, n);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // not sticky: clear it so later calls do not report it
      return nullptr;
    }
    WICK_CUDA_CHECK(err);
    return p;
  };
  raw.free = [dev](void* p) {
    DeviceGuard guard(dev);
    WICK_CUDA_CHECK(cudaFree(p));
  };
  raw.mem_info = [dev]() -> std::pair<size_t, size_t> {
    DeviceGuard guard(dev);
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) cudaGetLastError();
    return {free_b, total_b};
  };
  // record_stream's events: created on the block's device, without timing.
  raw.record_event = [dev](StreamId stream) -> EventId {
    DeviceGuard guard(dev);
    cudaEvent_t e = nullptr;
    WICK_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    const cudaError_t err = cudaEventRecord(e, reinterpret_cast<cudaStream_t>(stream));
    if (err != cudaSuccess) {
      cudaEventDestroy(e);
      throw_cuda_error(err, "cudaEventRecord", __FILE__, __LINE__);
    }
    return reinterpret_cast<EventId>(e);
  };
  raw.event_done = [](EventId e) {
    const cudaError_t err = cudaEventQuery(reinterpret_cast<cudaEvent_t>(e));
    if (err == cudaErrorNotReady) return false;  // not an error state: nothing to clear
    WICK_CUDA_CHECK(err);
    return true;
  };
  raw.event_sync = [](EventId e) { WICK_CUDA_CHECK(cudaEventSynchronize(reinterpret_cast<cudaEvent_t>(e))); };
  raw.event_destroy = [](EventId e) { cudaEventDestroy(reinterpret_cast<cudaEvent_t>(e)); };
  return raw;
}

CachingAllocator& allocator(int dev) {
  static std::array<std::once_flag, kMaxDevices> once;
  static std::array<CachingAllocator*, kMaxDevices> allocs{};
  WICK_CHECK(dev >= 0 && dev < device_count() && dev < kMaxDevices, "CUDA allocator: device index ", dev,
             " out of range (", device_count(), " device(s) visible)");
  std::call_once(once[dev], [&] { allocs[dev] = new CachingAllocator(cuda_raw_memory(dev), "cuda:" + std::to_string(dev)); });
  return *allocs[dev];
}

int resolve(int device) { return device < 0 ? current_device() : device; }
}  // namespace

void* device_alloc(size_t bytes, int device) {
  WICK_CHECK(is_available(), "cannot allocate ", bytes, " bytes on cuda:", device,
             ": no CUDA device is available on this machine (no GPU, or the driver is missing or too old)");
  DeviceGuard guard(device);
  return allocator(device).allocate(bytes, reinterpret_cast<StreamId>(current_stream()));
}

void device_free(void* p, int device) {
  if (p == nullptr) return;
  allocator(device).deallocate(p);
}

bool device_record_stream(void* p, int device, StreamId stream) {
  if (p == nullptr) return false;
  return allocator(device).record_stream(p, stream);
}

MemoryStats memory_stats(int device) {
  if (!is_available()) return {};
  return allocator(resolve(device)).stats();
}

void reset_peak_memory_stats(int device) {
  if (!is_available()) return;
  allocator(resolve(device)).reset_peak();
}

void empty_cache() {
  if (!is_available()) return;
  // Safe with kernels still queued: a cached block belongs to no tensor, and
  // cudaFree waits for the device before releasing a segment.
  for (int d = 0; d < device_count() && d < kMaxDevices; ++d) allocator(d).empty_cache();
  pinned_empty_cache();
}

void set_memory_limit(int64_t bytes, int device) {
  WICK_CHECK(is_available(), "cuda::set_memory_limit: no CUDA device is available on this machine");
  allocator(resolve(device)).set_limit(bytes);
}

int64_t memory_limit(int device) {
  if (!is_available()) return 0;
  return allocator(resolve(device)).limit();
}

}  // namespace wick::cuda
