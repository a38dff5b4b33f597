// Internal runtime helpers for the CUDA backend's own .cu/.cpp files (never
// included by CPU-only code): error checking, the current stream, device
// properties, and launch-geometry helpers.
#pragma once

#include <cuda_runtime.h>

#include <atomic>

#include "tensor/error.h"

namespace wick::cuda {

// Throws wick::Error naming the failed call, the CUDA error name and message,
// and the source location.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

// The stream wick launches work on for the current device: the calling
// thread's cuda::StreamGuard stream if one is active, else wick's own stream
// of the device (created on first use; non-blocking w.r.t. the legacy
// default stream). cuda/stream.cpp.
cudaStream_t current_stream();
// Properties of device `index` (cached after the first query).
const cudaDeviceProp& device_properties(int index);

// Makes `index` the current device for a scope and restores the previous
// one after (kernels, cudaMalloc and the stream follow the current device).
class DeviceGuard {
 public:
  explicit DeviceGuard(int index);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = 0;
  bool changed_ = false;
};

// A process-wide on/off switch for a code path with a fallback beside it. A
// path written without a GPU at hand starts off (default_on = false) until a
// GPU has run its tests; a verified one starts on. The environment variable
// `env` overrides the default: "1" turns it on, "0" off. set() flips it for
// the process (tests run both settings). Reads and writes are relaxed atomics.
class OptInSwitch {
 public:
  explicit OptInSwitch(const char* env, bool default_on = false);
  bool on() const { return on_.load(std::memory_order_relaxed); }
  void set(bool on) { on_.store(on, std::memory_order_relaxed); }

 private:
  std::atomic<bool> on_;
};

// Blocks of `threads` covering n items, capped at a grid-stride-friendly limit.
inline unsigned grid_for(int64_t n, unsigned threads, unsigned cap = 65535u * 4u) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  return static_cast<unsigned>(b > cap ? cap : b);
}

}  // namespace wick::cuda

#define WICK_CUDA_CHECK(expr)                                                              \
  do {                                                                                     \
    cudaError_t _wick_err = (expr);                                                        \
    if (_wick_err != cudaSuccess) ::wick::cuda::throw_cuda_error(_wick_err, #expr, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports launch-configuration errors at once.
#define WICK_CUDA_CHECK_LAUNCH() WICK_CUDA_CHECK(cudaGetLastError())
