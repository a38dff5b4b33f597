// The random streams of tensor/random.h on the GPU, bit for bit.
//
// One thread computes one Philox4x32-10 block (10 rounds of two 32x32->64
// multiplies: ~20 integer multiply-adds per 4 words) and writes the elements
// whose words the block holds: 4 float32 uniforms, or 2 elements of the
// two-word streams. Element i of the draw reads words i*w .. i*w+w-1 of the
// stream starting at block `base`, exactly as the CPU's WordCursor does, so
// the output does not depend on the launch geometry either.
//
// Parity with the CPU (tensor/random.cpp, compiled with -ffp-contract=off):
//   uniform, uniform_, randint, bernoulli: integer arithmetic and single
//     IEEE-rounded double operations (__dmul_rn/__dadd_rn keep nvcc from
//     fusing them into an fma): bit-identical.
//   randn, normal: sqrt is correctly rounded on both, but CUDA's double log
//     (max 1 ulp) and cos (max 2 ulp) are not glibc's, so a double sample
//     can differ in its last bits (relative error ~1e-15); a float32 sample
//     is the double rounded to float, so it is identical except when the
//     double lies within those few ulps of a float rounding boundary (then
//     1 float ulp apart). tests/cuda/test_random.cpp measures both.
#include "cuda/kernels/random.h"

#include <cmath>

#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;

// The CPU's philox4x32 (tensor/random.cpp) with key = seed, counter = (block, 0, 0).
__device__ __forceinline__ uint4 philox_block(uint64_t seed, uint64_t block) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = __umulhi(kM0, c0), lo0 = kM0 * c0;
    const uint32_t hi1 = __umulhi(kM1, c2), lo1 = kM1 * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += kW0;
    k1 += kW1;
  }
  return make_uint4(c0, c1, c2, c3);
}

__device__ __forceinline__ uint64_t word64(uint32_t hi, uint32_t lo) {
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
__device__ __forceinline__ double uniform_f64(uint32_t hi, uint32_t lo) {
  return static_cast<double>(word64(hi, lo) >> 11) * 0x1.0p-53;
}

// Element i of a stream of W words per element (W = 1 or 2): f(i, w0, w1).
template <typename T, int W, typename F>
__global__ void philox_kernel(T* __restrict__ out, int64_t n, uint64_t seed, uint64_t base, F f) {
  constexpr int kPerBlock = 4 / W;
  const int64_t nblocks = (n + kPerBlock - 1) / kPerBlock;
  for (int64_t b = global_thread(); b < nblocks; b += grid_threads()) {
    const uint4 r = philox_block(seed, base + static_cast<uint64_t>(b));
    const uint32_t w[4] = {r.x, r.y, r.z, r.w};
    const int64_t i0 = b * kPerBlock;
#pragma unroll
    for (int j = 0; j < kPerBlock; ++j) {
      const int64_t i = i0 + j;
      if (i < n) out[i] = f(i, w[j * W], W == 2 ? w[j * W + 1] : 0u);
    }
  }
}

template <typename T, int W, typename F>
void launch(const Tensor& out, uint64_t seed, uint64_t base, F f) {
  const int64_t n = out.numel();
  if (n == 0) return;
  WICK_CHECK(out.is_contiguous(), "cuda random: expected a contiguous output");
  DeviceGuard guard(out.device().index);
  const int64_t nblocks = (n + (4 / W) - 1) / (4 / W);
  philox_kernel<T, W, F><<<grid_for(nblocks, kThreads), kThreads, 0, current_stream()>>>(
      static_cast<T*>(out.data_ptr_raw()), n, seed, base, f);
  WICK_CUDA_CHECK_LAUNCH();
}

// ---- the element formulas (tensor/random.h), as functors ----
struct UniformF32 {
  __device__ float operator()(int64_t, uint32_t w, uint32_t) const { return static_cast<float>(w >> 8) * 0x1.0p-24f; }
};
struct UniformF64 {
  __device__ double operator()(int64_t, uint32_t hi, uint32_t lo) const { return uniform_f64(hi, lo); }
};
template <typename T>
struct UniformRange {
  double lo, range;  // range = hi - lo, computed on the host as the CPU does
  T top;             // the largest T below hi
  __device__ T operator()(int64_t, uint32_t w0, uint32_t w1) const {
    double u;
    if constexpr (std::is_same_v<T, float>)
      u = static_cast<double>(static_cast<float>(w0 >> 8) * 0x1.0p-24f);
    else
      u = uniform_f64(w0, w1);
    const T v = static_cast<T>(__dadd_rn(lo, __dmul_rn(range, u)));
    return v < top ? v : top;
  }
};
template <typename T>
struct Normal {
  double mean, std;
  bool affine;
  __device__ T operator()(int64_t, uint32_t w0, uint32_t w1) const {
    constexpr double kTwoPi = 6.28318530717958647692;
    const double u1 = static_cast<double>(w0) * 0x1.0p-32;
    const double u2 = static_cast<double>(w1) * 0x1.0p-32;
    // 1 - u1 is in (0, 1]: the log is finite. Each step rounded alone, as on the CPU.
    const double radius = __dsqrt_rn(__dmul_rn(-2.0, log(__dsub_rn(1.0, u1))));
    const double z = __dmul_rn(radius, cos(__dmul_rn(kTwoPi, u2)));
    return static_cast<T>(affine ? __dadd_rn(mean, __dmul_rn(std, z)) : z);
  }
};
template <typename T>
struct RandInt {
  int64_t low;
  uint64_t range;
  __device__ T operator()(int64_t, uint32_t hi, uint32_t lo) const {
    const int64_t v = static_cast<int64_t>(static_cast<uint64_t>(low) + word64(hi, lo) % range);
    return static_cast<T>(v);
  }
};
template <typename T>
struct Bernoulli {
  double p;
  __device__ T operator()(int64_t, uint32_t hi, uint32_t lo) const { return uniform_f64(hi, lo) < p ? T(1) : T(0); }
};
template <typename T>
struct BernoulliTensor {
  const T* p;
  __device__ T operator()(int64_t i, uint32_t hi, uint32_t lo) const {
    return uniform_f64(hi, lo) < static_cast<double>(p[i]) ? T(1) : T(0);
  }
};

template <typename T>
__global__ void unit_interval_kernel(const T* __restrict__ p, int64_t n, StridedIndexer<1> ix, int* bad) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[1];
    ix.offsets(i, off);
    const double v = static_cast<double>(p[off[0]]);
    if (!(v >= 0.0 && v <= 1.0)) atomicOr(bad, 1);  // NaN fails too
  }
}

}  // namespace

void random_uniform(const Tensor& out, uint64_t seed, uint64_t base) {
  WICK_DISPATCH_FLOAT(out.dtype(), "rand", [&]<typename T>() {
    if constexpr (std::is_same_v<T, float>)
      launch<float, 1>(out, seed, base, UniformF32{});
    else
      launch<double, 2>(out, seed, base, UniformF64{});
  });
}

void random_uniform_range(const Tensor& out, uint64_t seed, uint64_t base, double lo, double hi) {
  WICK_DISPATCH_FLOAT(out.dtype(), "uniform_", [&]<typename T>() {
    const T top = lo < hi ? std::nextafter(static_cast<T>(hi), static_cast<T>(lo)) : static_cast<T>(hi);
    launch<T, std::is_same_v<T, float> ? 1 : 2>(out, seed, base, UniformRange<T>{lo, hi - lo, top});
  });
}

void random_normal(const Tensor& out, uint64_t seed, uint64_t base, double mean, double std, bool affine) {
  WICK_DISPATCH_FLOAT(out.dtype(), "randn", [&]<typename T>() {
    launch<T, 2>(out, seed, base, Normal<T>{mean, std, affine});
  });
}

void random_int(const Tensor& out, uint64_t seed, uint64_t base, int64_t low, uint64_t range) {
  WICK_DISPATCH_ALL(out.dtype(), "randint", [&]<typename T>() {
    launch<T, 2>(out, seed, base, RandInt<T>{low, range});
  });
}

void random_bernoulli(const Tensor& out, uint64_t seed, uint64_t base, double p) {
  WICK_DISPATCH_ALL(out.dtype(), "bernoulli", [&]<typename T>() {
    launch<T, 2>(out, seed, base, Bernoulli<T>{p});
  });
}

void random_bernoulli(const Tensor& out, const Tensor& p, uint64_t seed, uint64_t base) {
  WICK_CHECK(p.is_contiguous() && p.dtype() == out.dtype() && p.device() == out.device() && p.numel() == out.numel(),
             "cuda::random_bernoulli: p must be contiguous with out's dtype, device and size");
  WICK_DISPATCH_FLOAT(out.dtype(), "bernoulli", [&]<typename T>() {
    launch<T, 2>(out, seed, base, BernoulliTensor<T>{static_cast<const T*>(p.data_ptr_raw())});
  });
}

bool all_in_unit_interval(const Tensor& p) {
  const int64_t n = p.numel();
  if (n == 0) return true;
  DeviceGuard guard(p.device().index);
  cudaStream_t stream = current_stream();
  Tensor flag = empty({1}, TensorOptions(kInt32).device(p.device()));
  WICK_CUDA_CHECK(cudaMemsetAsync(flag.data_ptr_raw(), 0, sizeof(int), stream));
  auto ix = make_indexer<1>(p.sizes(), {p.strides()}, "bernoulli");
  WICK_DEVICE_DISPATCH_ALL(p.dtype(), "bernoulli", [&]<typename T>() {
    if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
      WICK_FAIL("bernoulli: dtype ", p.dtype(), " is not supported");
    } else {
      unit_interval_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
          static_cast<const T*>(p.data_ptr_raw()), n, ix, static_cast<int*>(flag.data_ptr_raw()));
      WICK_CUDA_CHECK_LAUNCH();
    }
  });
  int bad = 0;
  WICK_CUDA_CHECK(cudaMemcpyAsync(&bad, flag.data_ptr_raw(), sizeof(int), cudaMemcpyDeviceToHost, stream));
  WICK_CUDA_CHECK(cudaStreamSynchronize(stream));
  return bad == 0;
}

}  // namespace wick::cuda
