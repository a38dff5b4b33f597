// A CUDA emulator for kernel logic: it runs a kernel written for nvcc on the
// CPU, so that its indexing, its barriers and its cp.async pipelines can be
// checked on a machine without a GPU. Include it before a kernel header that
// was written for it (cuda/kernels/gemm_simt_async.cuh) and launch the
// kernel with cuda_emu::launch.
//
// What it models:
//  - a CTA's threads are fibers (ucontext), run one at a time; a fiber runs
//    until __syncthreads() or its end; a barrier opens when every thread of
//    the CTA waits at it. A divergent barrier is reported: threads that end
//    while others wait, or threads waiting at different __syncthreads()
//    call sites (bar.sync is .aligned: all threads, the same barrier);
//  - the order in which the fibers run between two barriers is a launch
//    option (forward, reverse, or shuffled by a seed), and so are the CTAs';
//  - cp.async copies (cp_async16, cp_async4 and their commit and wait) are
//    copied from their source when issued and land in shared memory when
//    the option says: as late as the waits allow (at cp_async_wait, so a
//    read before its wait sees the old data), at once when issued (so a
//    copy into a buffer other threads still read lands in their reads), or
//    at random points between. A kernel that reads a copy before its wait
//    and barrier, or overwrites a buffer another thread is still reading,
//    gives a different result under some of those schedules (a test samples
//    a few; fibers switch only at barriers, so a race between two barriers
//    shows only through the order the fibers run in);
//  - checks: a copy's source range lies in a buffer registered with
//    DeviceMemory (where any is), sizes and alignments are the ones PTX
//    requires, no thread ends with copies in flight (empty groups are fine).
// What it does not model: warps (no shuffles, votes or warp-synchronous
// code), timing, memory other than global and shared, atomics' ordering
// between CTAs running at once (CTAs run one after another). Shared memory
// is `static` storage: a CTA finds the previous CTA's data in it, where a
// GPU leaves it undefined, and a copy's destination is not bounds-checked
// (an AddressSanitizer build catches one outside its array).
//
// The names it defines (threadIdx, __syncthreads, float4, min, the
// qualifiers as macros) are the CUDA ones, in the global namespace, so
// include it only in a test that emulates kernels.
#pragma once

#define WICK_CUDA_EMU 1

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#define __global__ inline
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3() = default;
  constexpr dim3(unsigned x_, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }

// The running fiber's coordinates (set by the scheduler before it resumes one).
extern dim3 threadIdx, blockIdx, blockDim, gridDim;

void __syncthreads();

// Loads through L2 only: on the CPU, plain loads.
template <typename T>
inline T __ldcg(const T* p) {
  return *p;
}

// CUDA's device min, for the integer widths the kernels mix.
template <typename A, typename B>
inline auto min(A a, B b) -> decltype(a + b) {
  return b < a ? b : a;
}
using std::fmaf;

namespace cuda_emu {

// When copies land in shared memory (see the top of this file).
enum class Landing { kLate, kEarly, kRandom };
// The order of the fibers between barriers, and of the CTAs.
enum class Order { kForward, kReverse, kShuffled };

struct LaunchOptions {
  Landing landing = Landing::kLate;
  Order order = Order::kForward;
  uint64_t seed = 0;  // for kShuffled and kRandom
};

// What a launch found wrong; empty when nothing.
struct Report {
  std::vector<std::string> errors;
  int64_t barriers = 0;  // barrier rounds across the grid
  int64_t copies = 0;    // cp.async copies issued
  bool ok() const { return errors.empty(); }
  std::string str() const;
};

// Runs body() once per thread of each CTA of `grid` x `block`, threadIdx and
// blockIdx set for each; body is typically [&] { kernel<...>(params); }.
Report launch(dim3 grid, dim3 block, const std::function<void()>& body, const LaunchOptions& opt = {});

// Global-memory buffers a launch may copy from: while any is registered, a
// cp.async whose source range lies in none of them is an error. Registered
// for the object's lifetime.
class DeviceMemory {
 public:
  DeviceMemory(const void* p, size_t bytes);
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

 private:
  const void* p_;
};

// The emulated cp.async (cp_async.cuh's API, below in wick::cuda).
uint32_t shared_address(const void* p);
void copy_async(uint32_t dst, const void* src, int size, int src_bytes);
void commit_group();
void wait_group(int pending);

}  // namespace cuda_emu

namespace wick::cuda {

inline uint32_t smem_addr(const void* p) { return cuda_emu::shared_address(p); }
inline void cp_async16(uint32_t dst, const void* src, int src_bytes) { cuda_emu::copy_async(dst, src, 16, src_bytes); }
inline void cp_async4(uint32_t dst, const void* src, int src_bytes) { cuda_emu::copy_async(dst, src, 4, src_bytes); }
inline void cp_async_commit() { cuda_emu::commit_group(); }
template <int kPending>
inline void cp_async_wait() {
  cuda_emu::wait_group(kPending);
}

}  // namespace wick::cuda
