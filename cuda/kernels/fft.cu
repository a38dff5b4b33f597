// CUDA FFT kernels (contracts, layouts and selection: cuda/kernels/fft.h).
//
// Every transform is one pipeline per row, in double (double2 = complex):
//   load     the row's n complex inputs z_k: (x_k re, x_k im) for c2c, (x_k, 0)
//            for r2c, the Hermitian completion of bins 0..n/2 for c2r
//   core     an unscaled DFT of length n, forward or inverse
//   store    scale * Z_k, cast to T: all n values (c2c), bins 0..n/2 (r2c),
//            the real parts (c2r)
//
// The core, with a working array a of length m (a power of two):
//  - n a power of two (m = n): a = z, then radix-2 decimation in frequency
//    (Gentleman-Sande): stages len = m, m/2, .., 2, each butterfly
//        u = a[i], v = a[i + len/2]:  a[i] = u + v,  a[i + len/2] = (u - v) w^j,
//    w = exp(-+2 pi i / len), j = i mod len/2. Natural order in, bit-reversed
//    order out, so Z_k = a[bitrev(k)] is read at the store. No permutation pass.
//  - any other n, Bluestein: 2jk = j^2 + k^2 - (k - j)^2, so with the chirp
//    c_k = exp(-i pi k^2 / n)
//        X_k = c_k sum_j (z_j c_j) conj(c_{k-j}),
//    a convolution, done circularly at length m >= 2n - 1 (no wrap-around
//    reaches k < n): a_j = z_j c_j zero-padded to m; DIF forward (-> bit-
//    reversed spectrum); multiply by the filter B = FFT_m(conj c_|d|) / m,
//    stored in bit-reversed order on the host so the product needs no
//    permutation; then radix-2 decimation in time (Cooley-Tukey) with the
//    inverse twiddles, which takes bit-reversed input to natural output:
//        u = a[i], v = a[i + len/2] w^j:  a[i] = u + v,  a[i + len/2] = u - v,
//    len = 2, 4, .., m. X_k = c_k a_k. The inverse transform is
//    conj(forward(conj z)), folded into the load and the store.
// The real transforms are the complex ones of the full length n (see the
// header): 2x the work of the CPU's half-length packing, one code path.
//
// Work: 5 m log2 m real FLOPs for radix-2, about 2 * 5 m log2 m + 6 m for
// Bluestein (m < 4n), all in FP64. Traffic: the shared-memory path reads each
// input and writes each output once (8-16 bytes per complex value); the
// global path adds 32 bytes per complex value per stage. Not yet timed: the
// kernels were written and checked without a GPU (the index math against a
// host emulation of these very kernels), so no fraction of peak is claimed.
//
// Two executions of the same butterflies (__device__ functions shared by both):
//  - m <= kSmemMax (2048 complex doubles = 32 KiB): fft_rows_smem_kernel, one
//    block per row (blocks loop over rows), the row in shared memory for the
//    whole pipeline; global traffic is one read of the input and one write of
//    the output. Each stage is one loop of m/2 butterflies over the block's
//    threads followed by __syncthreads (every butterfly of a stage touches
//    its own two elements, so a stage has no races).
//  - larger m: the rows are processed in chunks whose working arrays (a
//    float64 scratch tensor from the wick allocator, at most kScratchMax
//    complex values) live in global memory: a load kernel, one kernel per
//    radix-2 stage over all butterflies of the chunk, the filter multiply, a
//    store kernel. log2 m (Bluestein: 2 log2 m + 1) extra passes over the
//    scratch: simple, memory bound, not tuned.
// Not done (yet): several short rows per block (n_fft = 16 stft frames use
// one block of 32 threads per row), radix-4/8 stages, the half-length real
// packing, shared-memory tiles for the large-m stages.
#include "cuda/kernels/fft.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <utility>
#include <vector>

#include "cuda/runtime.h"
#include "ops/cpu/fft.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr int64_t kSmemMax = 2048;                 // complex doubles of one row held in shared memory
constexpr int kThreads = 256;                      // threads per block, every kernel
constexpr int64_t kScratchMax = int64_t{1} << 24;  // complex doubles of global scratch per chunk (256 MiB)

OptInSwitch& fft_switch() {
  static OptInSwitch s("WICK_CUDA_FFT", /*default_on=*/true);
  return s;
}

// Which pipeline: the input and output layouts of a row (see the top comment).
enum class Mode { C2C, R2C, C2R };

// ---------------------------------------------------------------------------
// Complex arithmetic on double2 (x = real, y = imaginary).

__device__ __forceinline__ double2 cadd(double2 a, double2 b) { return make_double2(a.x + b.x, a.y + b.y); }
__device__ __forceinline__ double2 csub(double2 a, double2 b) { return make_double2(a.x - b.x, a.y - b.y); }
__device__ __forceinline__ double2 cmul(double2 a, double2 b) {
  return make_double2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
}
__device__ __forceinline__ double2 conj2(double2 a) { return make_double2(a.x, -a.y); }

// The bit reversal of k in `bits` bits (k < 2^bits).
__device__ __forceinline__ int64_t bitrev(int64_t k, int bits) {
  if (bits == 0) return 0;  // m = 1 (a shift by 64 would be undefined)
  return static_cast<int64_t>(__brevll(static_cast<unsigned long long>(k)) >> (64 - bits));
}

// w^j for a stage of length len: tw[k] = exp(-2 pi i k / m), so
// exp(-2 pi i j / len) = tw[j m / len]; the inverse conjugates it.
__device__ __forceinline__ double2 stage_twiddle(const double2* tw, int64_t j, int64_t len, int64_t m, bool inverse) {
  const double2 w = tw[j * (m / len)];
  return inverse ? conj2(w) : w;
}

// Butterfly b (0 <= b < m/2) of the stage of length len, for the row a[0..m).
// Butterfly b pairs i = (b / half) len + j and i + half, j = b mod half.
__device__ __forceinline__ void dif_butterfly(double2* a, int64_t b, int64_t len, int64_t m, const double2* tw,
                                              bool inverse) {
  const int64_t half = len >> 1, j = b & (half - 1), i = 2 * (b - j) + j;
  const double2 u = a[i], v = a[i + half];
  a[i] = cadd(u, v);
  a[i + half] = cmul(csub(u, v), stage_twiddle(tw, j, len, m, inverse));
}

__device__ __forceinline__ void dit_butterfly(double2* a, int64_t b, int64_t len, int64_t m, const double2* tw,
                                              bool inverse) {
  const int64_t half = len >> 1, j = b & (half - 1), i = 2 * (b - j) + j;
  const double2 u = a[i], v = cmul(a[i + half], stage_twiddle(tw, j, len, m, inverse));
  a[i] = cadd(u, v);
  a[i + half] = csub(u, v);
}

// z_k of a row (k < n): the complex input of the core (see the top comment).
template <typename T, Mode M>
__device__ __forceinline__ double2 load_z(const T* x, int64_t k, int64_t n) {
  if constexpr (M == Mode::C2C) {
    return make_double2(static_cast<double>(x[2 * k]), static_cast<double>(x[2 * k + 1]));
  } else if constexpr (M == Mode::R2C) {
    return make_double2(static_cast<double>(x[k]), 0.0);
  } else {
    // Bins 0..n/2 are given; the imaginary parts of DC and Nyquist cannot
    // belong to a real signal's spectrum and are dropped. Bins above n/2 are
    // the mirror X_{n-k} = conj X_k, with 0 < n - k < n/2 (never DC/Nyquist).
    if (2 * k <= n) {
      const bool edge = k == 0 || 2 * k == n;
      return make_double2(static_cast<double>(x[2 * k]), edge ? 0.0 : static_cast<double>(x[2 * k + 1]));
    }
    const int64_t q = n - k;
    return make_double2(static_cast<double>(x[2 * q]), -static_cast<double>(x[2 * q + 1]));
  }
}

// How many values of a row the store writes: n, or bins 0..n/2 for r2c.
template <Mode M>
__host__ __device__ __forceinline__ int64_t out_count(int64_t n) {
  return M == Mode::R2C ? n / 2 + 1 : n;
}

// Writes scale * Z_k (k < out_count(n)) to the output row y.
template <typename T, Mode M>
__device__ __forceinline__ void store_z(T* y, int64_t k, double2 v, double scale) {
  if constexpr (M == Mode::C2R) {
    y[k] = static_cast<T>(v.x * scale);
  } else {
    y[2 * k] = static_cast<T>(v.x * scale);
    y[2 * k + 1] = static_cast<T>(v.y * scale);
  }
}

// Row r's load for Bluestein: a_k = z_k c_k (z conjugated for the inverse), zero for n <= k < m.
template <typename T, Mode M>
__device__ __forceinline__ double2 bluestein_load(const T* x, int64_t k, int64_t n, bool inverse,
                                                  const double2* chirp) {
  if (k >= n) return make_double2(0.0, 0.0);
  const double2 z = load_z<T, M>(x, k, n);
  return cmul(inverse ? conj2(z) : z, chirp[k]);
}

// X_k = c_k a_k (conjugated back for the inverse).
__device__ __forceinline__ double2 bluestein_result(double2 a, int64_t k, bool inverse, const double2* chirp) {
  const double2 v = cmul(a, chirp[k]);
  return inverse ? conj2(v) : v;
}

// The device-side tables of one transform length (see Plan below).
struct PlanView {
  int64_t n = 0, m = 0;
  int bits = 0;  // m = 2^bits
  bool bluestein = false;
  const double2* twiddle = nullptr;  // exp(-2 pi i k / m), k < m/2
  const double2* chirp = nullptr;    // Bluestein: c_k, k < n
  const double2* filter = nullptr;   // Bluestein: FFT_m(conj c_|d|) / m in bit-reversed order, m values
};

// ---------------------------------------------------------------------------
// Shared-memory path: one block per row, the whole pipeline in shared memory.

template <typename T, Mode M>
__global__ void __launch_bounds__(kThreads)
    fft_rows_smem_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t rows, int64_t in_stride,
                         int64_t out_stride, PlanView p, bool inverse, double scale) {
  extern __shared__ double2 a[];  // p.m values
  const int64_t n = p.n, m = p.m, half_m = m / 2, nout = out_count<M>(n);
  // blockIdx.x and gridDim.x are uniform in the block, so every thread runs
  // the same iterations and reaches every __syncthreads.
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = in + r * in_stride;
    T* y = out + r * out_stride;
    if (!p.bluestein) {
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) a[k] = load_z<T, M>(x, k, n);
      __syncthreads();
      for (int64_t len = m; len >= 2; len >>= 1) {
        for (int64_t b = threadIdx.x; b < half_m; b += blockDim.x) dif_butterfly(a, b, len, m, p.twiddle, inverse);
        __syncthreads();
      }
      for (int64_t k = threadIdx.x; k < nout; k += blockDim.x) store_z<T, M>(y, k, a[bitrev(k, p.bits)], scale);
    } else {
      for (int64_t k = threadIdx.x; k < m; k += blockDim.x) a[k] = bluestein_load<T, M>(x, k, n, inverse, p.chirp);
      __syncthreads();
      for (int64_t len = m; len >= 2; len >>= 1) {
        for (int64_t b = threadIdx.x; b < half_m; b += blockDim.x) dif_butterfly(a, b, len, m, p.twiddle, false);
        __syncthreads();
      }
      for (int64_t k = threadIdx.x; k < m; k += blockDim.x) a[k] = cmul(a[k], p.filter[k]);
      __syncthreads();
      for (int64_t len = 2; len <= m; len <<= 1) {
        for (int64_t b = threadIdx.x; b < half_m; b += blockDim.x) dit_butterfly(a, b, len, m, p.twiddle, true);
        __syncthreads();
      }
      for (int64_t k = threadIdx.x; k < nout; k += blockDim.x)
        store_z<T, M>(y, k, bluestein_result(a[k], k, inverse, p.chirp), scale);
    }
    __syncthreads();  // the next row overwrites a
  }
}

// ---------------------------------------------------------------------------
// Global-memory path: a chunk of `rows` rows, working arrays w [rows, m].

template <typename T, Mode M>
__global__ void load_kernel(const T* __restrict__ in, int64_t in_stride, double2* __restrict__ w, int64_t rows,
                            PlanView p, bool inverse) {
  const int64_t total = rows * p.m;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < total; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = t / p.m, k = t - r * p.m;
    const T* x = in + r * in_stride;
    w[t] = p.bluestein ? bluestein_load<T, M>(x, k, p.n, inverse, p.chirp) : load_z<T, M>(x, k, p.n);
  }
}

// One radix-2 stage of length len over every butterfly of the chunk.
template <bool kDif>
__global__ void stage_kernel(double2* __restrict__ w, int64_t rows, int64_t m, int64_t len,
                             const double2* __restrict__ tw, bool inverse) {
  const int64_t half_m = m / 2, total = rows * half_m;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < total; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = t / half_m, b = t - r * half_m;
    if constexpr (kDif)
      dif_butterfly(w + r * m, b, len, m, tw, inverse);
    else
      dit_butterfly(w + r * m, b, len, m, tw, inverse);
  }
}

// Bluestein: the bit-reversed spectrum times the (bit-reversed) filter.
__global__ void filter_kernel(double2* __restrict__ w, int64_t rows, int64_t m, const double2* __restrict__ filter) {
  const int64_t total = rows * m;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < total; t += int64_t{gridDim.x} * blockDim.x)
    w[t] = cmul(w[t], filter[t % m]);
}

template <typename T, Mode M>
__global__ void store_kernel(const double2* __restrict__ w, T* __restrict__ out, int64_t out_stride, int64_t rows,
                             PlanView p, bool inverse, double scale) {
  const int64_t nout = out_count<M>(p.n), total = rows * nout;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < total; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = t / nout, k = t - r * nout;
    const double2* a = w + r * p.m;
    const double2 v = p.bluestein ? bluestein_result(a[k], k, inverse, p.chirp) : a[bitrev(k, p.bits)];
    store_z<T, M>(out + r * out_stride, k, v, scale);
  }
}

// ---------------------------------------------------------------------------
// The readable O(n^2) definition: one thread per output value.

template <typename T>
__global__ void dft_reference_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t rows, int64_t n,
                                     bool inverse, double scale) {
  const int64_t total = rows * n;
  const double sign = inverse ? 2.0 : -2.0;
  for (int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; t < total; t += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = t / n, k = t - r * n;
    const T* x = in + r * 2 * n;
    double sr = 0.0, si = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      // exp(-+2 pi i jk / n) with jk reduced mod n first, so the angle stays in (-2 pi, 2 pi).
      const int64_t q = (j * k) % n;
      double s, c;
      sincospi(sign * static_cast<double>(q) / static_cast<double>(n), &s, &c);
      const double xr = static_cast<double>(x[2 * j]), xi = static_cast<double>(x[2 * j + 1]);
      sr += xr * c - xi * s;
      si += xr * s + xi * c;
    }
    out[r * 2 * n + 2 * k] = static_cast<T>(sr * scale);
    out[r * 2 * n + 2 * k + 1] = static_cast<T>(si * scale);
  }
}

// ---------------------------------------------------------------------------
// Plans: the tables of one length n on one device, computed on the host in
// double and copied over once, cached. The cache holds them in float64
// tensors from the wick allocator; it is never destroyed (freeing device
// memory during process teardown would race the CUDA runtime's own), and
// it is emptied when it reaches kMaxPlans (plans in use stay alive through
// their shared_ptr).

constexpr size_t kMaxPlans = 64;

struct Plan {
  PlanView view;
  Tensor twiddle, chirp, filter;  // the storage behind view's pointers
};

bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

// exp(-2 pi i num / den), num reduced mod den first so the angle stays small
// (as cpu::FftPlan computes its tables).
cpu::cdouble unit_root(int64_t num, int64_t den) {
  const double a = -2.0 * std::numbers::pi * static_cast<double>(num % den) / static_cast<double>(den);
  return {std::cos(a), std::sin(a)};
}

// values -> a float64 tensor [max(1, size), 2] on dev (never empty, so the pointer is always valid).
Tensor to_device(const std::vector<cpu::cdouble>& v, Device dev) {
  std::vector<double> flat(2 * std::max<size_t>(1, v.size()), 0.0);
  for (size_t i = 0; i < v.size(); ++i) {
    flat[2 * i] = v[i].real();
    flat[2 * i + 1] = v[i].imag();
  }
  const int64_t rows = static_cast<int64_t>(flat.size() / 2);
  return from_vector(flat, Shape{rows, 2}, TensorOptions(kFloat64).device(dev));
}

const double2* as_complex(const Tensor& t) { return static_cast<const double2*>(t.data_ptr_raw()); }

std::shared_ptr<const Plan> make_plan(int64_t n, Device dev) {
  auto plan = std::make_shared<Plan>();
  PlanView& p = plan->view;
  p.n = n;
  p.bluestein = !is_pow2(n);
  p.m = 1;
  while (p.m < (p.bluestein ? 2 * n - 1 : n)) p.m <<= 1;
  while ((int64_t{1} << p.bits) < p.m) ++p.bits;
  const int64_t m = p.m;
  std::vector<cpu::cdouble> tw(static_cast<size_t>(m / 2));
  for (int64_t k = 0; k < m / 2; ++k) tw[k] = unit_root(k, m);
  plan->twiddle = to_device(tw, dev);
  p.twiddle = as_complex(plan->twiddle);
  if (p.bluestein) {
    // c_k = exp(-i pi k^2 / n) = exp(-2 pi i (k^2 mod 2n) / 2n).
    std::vector<cpu::cdouble> chirp(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) chirp[k] = unit_root((k * k) % (2 * n), 2 * n);
    // The filter b_d = conj(c_|d|) placed circularly (d and m - d), its FFT
    // (the CPU's radix-2 plan, m a power of two) divided by m, then stored
    // at the bit-reversed positions the DIF output uses.
    std::vector<cpu::cdouble> b(static_cast<size_t>(m), cpu::cdouble(0));
    b[0] = std::conj(chirp[0]);
    for (int64_t k = 1; k < n; ++k) b[k] = b[m - k] = std::conj(chirp[k]);
    cpu::FftPlan radix2(m);
    radix2.execute(b.data(), false, nullptr);  // work_size() is 0 for a power of two
    std::vector<cpu::cdouble> filter(static_cast<size_t>(m));
    for (int64_t q = 0; q < m; ++q) {
      int64_t r = 0;
      for (int bit = 0; bit < p.bits; ++bit) r |= ((q >> bit) & 1) << (p.bits - 1 - bit);
      filter[q] = b[r] / static_cast<double>(m);
    }
    plan->chirp = to_device(chirp, dev);
    plan->filter = to_device(filter, dev);
    p.chirp = as_complex(plan->chirp);
    p.filter = as_complex(plan->filter);
  }
  return plan;
}

std::shared_ptr<const Plan> get_plan(int64_t n, Device dev) {
  struct Cache {
    std::mutex mu;
    std::map<std::pair<int, int64_t>, std::shared_ptr<const Plan>> plans;
  };
  static Cache* cache = new Cache();  // never destroyed (see above)
  const std::pair<int, int64_t> key{dev.index, n};
  {
    std::lock_guard<std::mutex> lock(cache->mu);
    const auto it = cache->plans.find(key);
    if (it != cache->plans.end()) return it->second;
  }
  // Built outside the lock (host FFTs, copies); two threads may both build one.
  std::shared_ptr<const Plan> plan = make_plan(n, dev);
  std::lock_guard<std::mutex> lock(cache->mu);
  if (cache->plans.size() >= kMaxPlans) cache->plans.clear();
  cache->plans.emplace(key, plan);
  return plan;
}

// ---------------------------------------------------------------------------
// Launch.

// Runs the pipeline of mode M over `rows` rows of x into out.
template <typename T, Mode M>
void run(const Tensor& out, const Tensor& x, int64_t n, int64_t rows, int64_t in_stride, int64_t out_stride,
         bool inverse, double scale) {
  const std::shared_ptr<const Plan> plan = get_plan(n, x.device());
  const PlanView& p = plan->view;
  const T* in = static_cast<const T*>(x.data_ptr_raw());
  T* o = static_cast<T*>(out.data_ptr_raw());
  cudaStream_t stream = current_stream();
  if (p.m <= kSmemMax) {
    // m/2 butterflies per stage; at least one warp, at most kThreads.
    const int threads = static_cast<int>(std::min<int64_t>(kThreads, std::max<int64_t>(32, p.m / 2)));
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(rows, int64_t{1} << 20));
    const size_t smem = static_cast<size_t>(p.m) * sizeof(double2);
    fft_rows_smem_kernel<T, M><<<blocks, threads, smem, stream>>>(in, o, rows, in_stride, out_stride, p, inverse,
                                                                   scale);
    WICK_CUDA_CHECK_LAUNCH();
    return;
  }
  const int64_t chunk = std::max<int64_t>(1, kScratchMax / p.m);
  Tensor scratch = empty({std::min(chunk, rows) * p.m * 2}, TensorOptions(kFloat64).device(x.device()));
  double2* w = static_cast<double2*>(scratch.data_ptr_raw());
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t R = std::min(chunk, rows - r0);
    const unsigned full = grid_for(R * p.m, kThreads), half = grid_for(R * (p.m / 2), kThreads);
    load_kernel<T, M><<<full, kThreads, 0, stream>>>(in + r0 * in_stride, in_stride, w, R, p, inverse);
    WICK_CUDA_CHECK_LAUNCH();
    if (!p.bluestein) {
      for (int64_t len = p.m; len >= 2; len >>= 1) {
        stage_kernel<true><<<half, kThreads, 0, stream>>>(w, R, p.m, len, p.twiddle, inverse);
        WICK_CUDA_CHECK_LAUNCH();
      }
    } else {
      for (int64_t len = p.m; len >= 2; len >>= 1) {
        stage_kernel<true><<<half, kThreads, 0, stream>>>(w, R, p.m, len, p.twiddle, false);
        WICK_CUDA_CHECK_LAUNCH();
      }
      filter_kernel<<<full, kThreads, 0, stream>>>(w, R, p.m, p.filter);
      WICK_CUDA_CHECK_LAUNCH();
      for (int64_t len = 2; len <= p.m; len <<= 1) {
        stage_kernel<false><<<half, kThreads, 0, stream>>>(w, R, p.m, len, p.twiddle, true);
        WICK_CUDA_CHECK_LAUNCH();
      }
    }
    const unsigned store = grid_for(R * out_count<M>(n), kThreads);
    store_kernel<T, M><<<store, kThreads, 0, stream>>>(w, o + r0 * out_stride, out_stride, R, p, inverse, scale);
    WICK_CUDA_CHECK_LAUNCH();
  }
}

// Checks the common contract, then runs mode M on float32 or float64.
template <Mode M>
void transform(const char* op, const Tensor& out, const Tensor& x, int64_t n, int64_t in_row, int64_t out_row,
               bool inverse, double scale) {
  WICK_CHECK(x.is_cuda() && out.device() == x.device() && out.dtype() == x.dtype() && x.is_contiguous() &&
                 out.is_contiguous(),
             op, ": expected contiguous input and output of one dtype on one CUDA device");
  WICK_CHECK(x.dtype() == kFloat32 || x.dtype() == kFloat64, op, ": expected float32 or float64, got ", x.dtype());
  WICK_CHECK(n >= 1, op, ": invalid transform length ", n);
  const int64_t rows = x.numel() / in_row;
  WICK_CHECK(x.numel() == rows * in_row && out.numel() == rows * out_row, op, ": input of shape ",
             shape_str(x.sizes()), " and output of shape ", shape_str(out.sizes()), " do not hold the same rows");
  if (rows == 0) return;
  DeviceGuard guard(x.device().index);
  if (x.dtype() == kFloat32)
    run<float, M>(out, x, n, rows, in_row, out_row, inverse, scale);
  else
    run<double, M>(out, x, n, rows, in_row, out_row, inverse, scale);
}

}  // namespace

void set_fft_kernels(bool on) { fft_switch().set(on); }

bool fft_kernels() { return fft_switch().on(); }

void fft_c2c(const Tensor& out, const Tensor& x, bool inverse, double scale) {
  const char* op = inverse ? "ifft" : "fft";
  WICK_CHECK(x.dim() >= 2 && x.size(-1) == 2 && out.sizes() == x.sizes(), op,
             ": expected x and out of one shape [..., n, 2], got ", shape_str(x.sizes()), " and ",
             shape_str(out.sizes()));
  const int64_t n = x.size(-2);
  transform<Mode::C2C>(op, out, x, n, 2 * n, 2 * n, inverse, scale);
}

void fft_r2c(const Tensor& out, const Tensor& x, double scale) {
  WICK_CHECK(x.dim() >= 1 && out.dim() == x.dim() + 1, "rfft: expected x [..., n] and out [..., n/2 + 1, 2], got ",
             shape_str(x.sizes()), " and ", shape_str(out.sizes()));
  const int64_t n = x.size(-1);
  WICK_CHECK(out.size(-2) == n / 2 + 1 && out.size(-1) == 2, "rfft: expected out [..., ", n / 2 + 1, ", 2], got ",
             shape_str(out.sizes()));
  transform<Mode::R2C>("rfft", out, x, n, n, 2 * (n / 2 + 1), false, scale);
}

void fft_c2r(const Tensor& out, const Tensor& x, int64_t n, double scale) {
  WICK_CHECK(x.dim() >= 2 && x.size(-1) == 2 && x.size(-2) == n / 2 + 1 && out.dim() == x.dim() - 1 &&
                 out.size(-1) == n,
             "irfft: expected x [..., ", n / 2 + 1, ", 2] and out [..., ", n, "], got ", shape_str(x.sizes()), " and ",
             shape_str(out.sizes()));
  transform<Mode::C2R>("irfft", out, x, n, 2 * (n / 2 + 1), n, true, scale);
}

void dft_reference(const Tensor& out, const Tensor& x, bool inverse, double scale) {
  WICK_CHECK(x.is_cuda() && out.device() == x.device() && out.dtype() == x.dtype() && x.is_contiguous() &&
                 out.is_contiguous() && x.dim() >= 2 && x.size(-1) == 2 && out.sizes() == x.sizes(),
             "dft_reference: expected contiguous x and out [..., n, 2] of one dtype on one CUDA device");
  WICK_CHECK(x.data_ptr_raw() != out.data_ptr_raw() || x.numel() == 0, "dft_reference: out must not alias x");
  const int64_t n = x.size(-2);
  const int64_t rows = n ? x.numel() / (2 * n) : 0;
  if (rows == 0) return;
  DeviceGuard guard(x.device().index);
  cudaStream_t stream = current_stream();
  const unsigned blocks = grid_for(rows * n, kThreads);
  if (x.dtype() == kFloat32) {
    dft_reference_kernel<float><<<blocks, kThreads, 0, stream>>>(
        static_cast<const float*>(x.data_ptr_raw()), static_cast<float*>(out.data_ptr_raw()), rows, n, inverse, scale);
  } else {
    WICK_CHECK(x.dtype() == kFloat64, "dft_reference: expected float32 or float64, got ", x.dtype());
    dft_reference_kernel<double><<<blocks, kThreads, 0, stream>>>(
        static_cast<const double*>(x.data_ptr_raw()), static_cast<double*>(out.data_ptr_raw()), rows, n, inverse,
        scale);
  }
  WICK_CUDA_CHECK_LAUNCH();
}

}  // namespace wick::cuda
