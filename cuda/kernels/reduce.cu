// CUDA reduction kernels: one device Reducer per op (the twins of the CPU
// reducers in ops/cpu/reduction.cpp: identity, step, merge, finish) run by
// one engine, run_reduce().
//
// Geometry (as on the CPU, ops/cpu/reduce.h): x's dims are split into kept
// and reduced ones, size-1 dims dropped, and neighbours of the same kind that
// x steps through as one are merged. Output o (row-major over the kept dims)
// starts at x + offset(o, kept); its reduced element i (row-major over the
// reduced dims: the index the arg reducers report) is at + offset(i, red).
// Sizes and strides travel by value in the kernel parameters.
//
// Three kernels:
//   rows_kernel     (the innermost dim is reduced, > 32 elements): a block of
//                   32..512 threads per output; thread t folds elements
//                   t, t + B, t + 2B, ... (coalesced when the reduced dim is
//                   contiguous), then a warp-shuffle tree and a tree across
//                   the block's warps through shared memory.
//   columns_kernel  (the innermost dim is kept with unit stride, or the
//                   reduction is short): a (32 x Y) block serves 32
//                   neighbouring outputs; thread (c, y) folds elements
//                   y, y + Y, ... of output c, so a warp reads 32 adjacent
//                   columns of one reduced row (coalesced); the Y partials
//                   are merged in shared memory in a fixed order.
//                   columns_vec_kernel is the same for the common case of
//                   one run of contiguous kept columns and one reduced dim
//                   of 16-byte aligned rows (a bias gradient: [tokens, C]
//                   summed over the tokens): each thread owns V = 16 /
//                   sizeof(T) adjacent outputs, reads them as one 16-byte
//                   vector per row, 4 rows in flight, so a warp reads 512
//                   contiguous bytes of a row per load instead of 32
//                   elements (64 bytes of bfloat16) one load at a time.
//   finalize_kernel when the two above cannot fill the GPU (few outputs,
//                   long reductions: the full sum of a big tensor, a bias
//                   gradient) they split every output's reduced range into S
//                   contiguous chunks (gridDim.y) and write S partial
//                   accumulators per output; one warp per output then merges
//                   them. Two passes, no atomics: the partition and the merge
//                   order depend only on the shapes and the GPU's SM count,
//                   so results are bit-reproducible run to run.
//
// Accumulators: float32/float16/bfloat16 data in float, float64 in double,
// integers and bool in int64 (wrapping like the CPU). The tree order keeps
// float error at O(log n) ulp. var/std use Welford per thread and Chan's
// pairwise merge; logsumexp an online max-shifted sum; argmax/argmin break
// value ties (and NaN vs NaN) by the smaller index, which makes their merge
// order-independent and equal to the CPU's "first index".
//
// Cost: one read of x, memory-bound (sizeof(T) * numel bytes); the partial
// pass adds n_out * S accumulators (a few KB).
#include "cuda/kernels/reduce.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>

#include "cuda/kernels/device_types.cuh"
#include "cuda/runtime.h"
#include "ops/cpu/reduce_plan.h"
#include "ops/copy.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr int kRedMaxDims = 8;

// Sizes and strides of one group of dims (kept or reduced), outermost first.
struct DimGroup {
  int n;
  int64_t size[kRedMaxDims];
  int64_t stride[kRedMaxDims];
};

// Element offset of the row-major index `lin` over g.
__device__ __forceinline__ int64_t offset_of(int64_t lin, const DimGroup& g) {
  if (g.n <= 1) return g.n == 0 ? 0 : lin * g.stride[0];
  int64_t off = 0;
  for (int d = g.n - 1; d > 0; --d) {
    const int64_t q = index_div(lin, g.size[d]);
    off += (lin - q * g.size[d]) * g.stride[d];
    lin = q;
  }
  return off + lin * g.stride[0];
}

// Moves any accumulator (a struct of up to a few words) down the warp.
template <typename A>
__device__ __forceinline__ A shfl_down(const A& v, int delta) {
  constexpr int kWords = (sizeof(A) + 3) / 4;
  int w[kWords] = {};
  memcpy(w, &v, sizeof(A));
#pragma unroll
  for (int k = 0; k < kWords; ++k) w[k] = __shfl_down_sync(0xffffffffu, w[k], delta);
  A r;
  memcpy(&r, w, sizeof(A));
  return r;
}

// Lane 0 ends with the merge of all 32 lanes (every lane must call).
template <typename R, typename A>
__device__ __forceinline__ A warp_reduce(A a, const R& r) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) r.merge(a, shfl_down(a, d));
  return a;
}

// Thread 0 ends with the merge of the block's (1-d, multiple of 32) threads.
template <typename R, typename A>
__device__ __forceinline__ A block_reduce(A a, const R& r) {
  __shared__ __align__(16) unsigned char raw[32 * sizeof(A)];
  A* sm = reinterpret_cast<A*>(raw);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  a = warp_reduce(a, r);
  __syncthreads();  // the previous call's readers are done with sm
  if (lane == 0) sm[warp] = a;
  __syncthreads();
  if (warp == 0) {
    a = lane < nwarps ? sm[lane] : r.identity();
    a = warp_reduce(a, r);
  }
  return a;
}

template <typename T, typename R>
__global__ void rows_kernel(const T* x, DimGroup kept, DimGroup red, int64_t n_out, int64_t n_red, int64_t chunk,
                            R r, typename R::Acc* partial) {
  using A = typename R::Acc;
  const int64_t S = gridDim.y, s = blockIdx.y;
  const int64_t rb = s * chunk, re = min(n_red, rb + chunk);
  for (int64_t o = blockIdx.x; o < n_out; o += gridDim.x) {  // uniform across the block
    const T* p = x + offset_of(o, kept);
    A a = r.identity();
    for (int64_t i = rb + threadIdx.x; i < re; i += blockDim.x) r.step(a, p[offset_of(i, red)], i);
    a = block_reduce(a, r);
    if (threadIdx.x == 0) {
      if (S == 1) r.finish(o, a);
      else partial[o * S + s] = a;
    }
  }
}

template <typename T, typename R>
__global__ void columns_kernel(const T* x, DimGroup kept, DimGroup red, int64_t n_out, int64_t n_red, int64_t chunk,
                               R r, typename R::Acc* partial) {
  using A = typename R::Acc;
  extern __shared__ __align__(16) unsigned char raw[];
  A* sm = reinterpret_cast<A*>(raw);  // blockDim.x * blockDim.y accumulators (when blockDim.y > 1)
  const int64_t S = gridDim.y, s = blockIdx.y;
  const int64_t rb = s * chunk, re = min(n_red, rb + chunk);
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x; base < n_out; base += step) {
    const int64_t o = base + threadIdx.x;
    A a = r.identity();
    if (o < n_out) {
      const T* p = x + offset_of(o, kept);
      for (int64_t i = rb + threadIdx.y; i < re; i += blockDim.y) r.step(a, p[offset_of(i, red)], i);
    }
    if (blockDim.y > 1) {
      sm[threadIdx.y * blockDim.x + threadIdx.x] = a;
      __syncthreads();
      if (threadIdx.y == 0)
        for (unsigned y = 1; y < blockDim.y; ++y) r.merge(a, sm[y * blockDim.x + threadIdx.x]);
      __syncthreads();  // sm is reused by the next iteration
    }
    if (threadIdx.y == 0 && o < n_out) {
      if (S == 1) r.finish(o, a);
      else partial[o * S + s] = a;
    }
  }
}

// The columns kernel with V = 16 / sizeof(T) outputs per thread (see the file
// comment): x + o is output o's first element, reduced element i of it at
// x + o + i * red_stride; n_out % V == 0, x and red_stride * sizeof(T) 16-byte
// aligned (run_reduce checks). Thread (c, y) folds rows y, y + Y, ... of its
// V outputs in increasing order, as columns_kernel does for one.
template <typename T, typename R, int V>
__global__ void columns_vec_kernel(const T* x, int64_t red_stride, int64_t n_out, int64_t n_red, int64_t chunk, R r,
                                   typename R::Acc* partial) {
  using A = typename R::Acc;
  static_assert(V * sizeof(T) == 16, "one 16-byte vector per row");
  constexpr int kUnroll = 4;
  extern __shared__ __align__(16) unsigned char raw[];
  A* sm = reinterpret_cast<A*>(raw);  // blockDim.x * blockDim.y * V accumulators (when blockDim.y > 1)
  const int64_t S = gridDim.y, s = blockIdx.y;
  const int64_t rb = s * chunk, re = min(n_red, rb + chunk), ys = blockDim.y;
  const int64_t per_block = static_cast<int64_t>(blockDim.x) * V;
  const int64_t step = static_cast<int64_t>(gridDim.x) * per_block;
  auto fold = [&](A (&a)[V], const uint4& u, int64_t i) {
    alignas(16) T v[V];
    *reinterpret_cast<uint4*>(v) = u;
#pragma unroll
    for (int e = 0; e < V; ++e) r.step(a[e], v[e], i);
  };
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < n_out; base += step) {
    const int64_t o0 = base + static_cast<int64_t>(threadIdx.x) * V;
    A a[V];
#pragma unroll
    for (int e = 0; e < V; ++e) a[e] = r.identity();
    if (o0 < n_out) {
      const T* p = x + o0;
      int64_t i = rb + threadIdx.y;
      for (; i + (kUnroll - 1) * ys < re; i += kUnroll * ys) {
        uint4 u[kUnroll];
#pragma unroll
        for (int k = 0; k < kUnroll; ++k) u[k] = *reinterpret_cast<const uint4*>(p + (i + k * ys) * red_stride);
#pragma unroll
        for (int k = 0; k < kUnroll; ++k) fold(a, u[k], i + k * ys);
      }
      for (; i < re; i += ys) fold(a, *reinterpret_cast<const uint4*>(p + i * red_stride), i);
    }
    if (blockDim.y > 1) {
      A* mine = sm + (static_cast<int64_t>(threadIdx.y) * blockDim.x + threadIdx.x) * V;
#pragma unroll
      for (int e = 0; e < V; ++e) mine[e] = a[e];
      __syncthreads();
      if (threadIdx.y == 0)
        for (unsigned y = 1; y < blockDim.y; ++y) {
          const A* theirs = sm + (static_cast<int64_t>(y) * blockDim.x + threadIdx.x) * V;
#pragma unroll
          for (int e = 0; e < V; ++e) r.merge(a[e], theirs[e]);
        }
      __syncthreads();  // sm is reused by the next iteration
    }
    if (threadIdx.y == 0 && o0 < n_out) {
#pragma unroll
      for (int e = 0; e < V; ++e) {
        if (S == 1) r.finish(o0 + e, a[e]);
        else partial[(o0 + e) * S + s] = a[e];
      }
    }
  }
}

// blockDim (32, Y): warp y of the block merges the S partials of one output.
template <typename R>
__global__ void finalize_kernel(const typename R::Acc* partial, int64_t n_out, int64_t S, R r) {
  using A = typename R::Acc;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.y;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.y + threadIdx.y; o < n_out; o += step) {
    A a = r.identity();
    for (int64_t s = threadIdx.x; s < S; s += 32) r.merge(a, partial[o * S + s]);
    a = warp_reduce(a, r);
    if (threadIdx.x == 0) r.finish(o, a);
  }
}

// ---- host: geometry and launch ----------------------------------------------

struct Geometry {
  DimGroup kept{}, red{};
  int64_t n_out = 1, n_red = 1;
  bool columns = false;  // innermost dim kept with unit stride
  bool too_many_dims = false;
};

// Kernel-argument form of the shared reduction plan (ops/cpu/reduce_plan.h).
Geometry make_geometry(const Tensor& x, const ReduceDims& dims) {
  const cpu::ReducePlan p = cpu::make_reduce_plan(x, dims);
  Geometry g;
  g.n_out = p.n_out;
  g.n_red = p.n_red;
  g.columns = p.columns;
  auto fill = [&](DimGroup& grp, const Shape& sizes, const Shape& strides) {
    if (sizes.size() > static_cast<size_t>(kRedMaxDims)) {
      g.too_many_dims = true;
      return;
    }
    grp.n = static_cast<int>(sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) {
      grp.size[i] = sizes[i];
      grp.stride[i] = strides[i];
    }
  };
  fill(g.kept, p.kept_sizes, p.kept_strides);
  fill(g.red, p.red_sizes, p.red_strides);
  return g;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// On since CudaReduction.VectorizedColumns passed on an H100 and with every opt-in path on an H200
// (2026-11-28); WICK_CUDA_REDUCE_VEC=0 for the scalar column kernel.
OptInSwitch& columns_vec_switch() {
  static OptInSwitch s("WICK_CUDA_REDUCE_VEC", /*default_on=*/true);
  return s;
}

template <typename T, typename R>
void run_reduce(const Tensor& x_in, const ReduceDims& dims, const R& r) {
  using A = typename R::Acc;
  WICK_CHECK(x_in.is_cuda(), "cuda reduction: expected a CUDA tensor, got ", x_in.device());
  Tensor x = x_in;
  Geometry g = make_geometry(x, dims);
  if (g.too_many_dims) {
    // More than kRedMaxDims unmergeable dims of one kind (rare): a copy with
    // the reduced dims last is one kept and one reduced dim.
    std::vector<int64_t> perm;
    std::vector<bool> is_red(x.dim(), false);
    for (int64_t d : dims) is_red[d] = true;
    for (int64_t d = 0; d < x.dim(); ++d)
      if (!is_red[d]) perm.push_back(d);
    for (int64_t d : dims) perm.push_back(d);
    x = contiguous(x.permute(perm));
    ReduceDims last(dims.size());
    std::iota(last.begin(), last.end(), x.dim() - static_cast<int64_t>(dims.size()));
    g = make_geometry(x, last);
  }
  if (g.n_out == 0) return;
  const T* base = g.n_red ? static_cast<const T*>(x.data_ptr_raw()) : nullptr;
  cudaStream_t stream = current_stream();
  int device = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&device));
  const int64_t target_blocks = 4 * static_cast<int64_t>(device_properties(device).multiProcessorCount);
  constexpr int64_t kMinPerThread = 64;  // below this a split does not pay for its partial pass

  const bool use_rows = !g.columns && g.n_red > 32;
  // The vectorized columns kernel: one run of contiguous outputs, one reduced dim, 16-byte aligned rows.
  constexpr int kVec = 16 / static_cast<int>(sizeof(T));
  const bool use_vec = kVec > 1 && 16 % sizeof(T) == 0 && g.columns && g.kept.n == 1 && g.kept.stride[0] == 1 &&
                       g.red.n == 1 && g.n_red > 0 && g.n_out % kVec == 0 &&
                       reinterpret_cast<uintptr_t>(base) % 16 == 0 &&
                       (g.red.stride[0] * static_cast<int64_t>(sizeof(T))) % 16 == 0 && columns_vec_switch().on();
  int64_t S = 1;
  dim3 block, grid;
  size_t smem = 0;
  if (use_vec) {
    // Y rows at once per block, fewer where the merge's shared memory (Y x 32 x V accumulators) passes 48 KiB.
    int64_t by = 8;
    while (by > 1 && by * 32 * kVec * static_cast<int64_t>(sizeof(A)) > 48 * 1024) by /= 2;
    by = std::min<int64_t>(by, g.n_red);
    block = dim3(32, static_cast<unsigned>(by));
    const int64_t tiles = ceil_div(g.n_out, 32 * kVec);
    constexpr int64_t kMinRowsPerThread = 16;
    if (tiles < target_blocks)
      S = std::clamp<int64_t>(std::min(ceil_div(target_blocks, tiles), ceil_div(g.n_red, by * kMinRowsPerThread)), 1,
                              1024);
    grid = dim3(static_cast<unsigned>(std::min<int64_t>(tiles, 1 << 20)), 1);
    smem = by > 1 ? static_cast<size_t>(32 * by * kVec) * sizeof(A) : 0;
  } else if (use_rows) {
    int64_t bx = 32;
    while (bx < 512 && bx * 8 < g.n_red) bx *= 2;  // ~8+ elements per thread
    block = dim3(static_cast<unsigned>(bx));
    if (g.n_out < target_blocks)
      S = std::clamp<int64_t>(std::min(ceil_div(target_blocks, g.n_out), ceil_div(g.n_red, bx * kMinPerThread)), 1,
                              1024);
    grid = dim3(static_cast<unsigned>(std::min<int64_t>(g.n_out, 1 << 20)), 1);
  } else {
    // Short rows with a kept innermost dim that is not unit-stride: one
    // thread per output, 256 outputs per block. Columns: 32 x Y.
    const int64_t by = g.columns ? (g.n_red >= 16 ? 16 : std::max<int64_t>(1, g.n_red)) : 1;
    const int64_t bx = g.columns ? 32 : 256 / by;
    block = dim3(static_cast<unsigned>(bx), static_cast<unsigned>(by));
    const int64_t tiles = ceil_div(g.n_out, bx);
    if (tiles < target_blocks && g.n_red > 0)
      S = std::clamp<int64_t>(std::min(ceil_div(target_blocks, tiles), ceil_div(g.n_red, by * kMinPerThread)), 1,
                              1024);
    grid = dim3(static_cast<unsigned>(std::min<int64_t>(tiles, 1 << 20)), 1);
    smem = by > 1 ? static_cast<size_t>(bx * by) * sizeof(A) : 0;
  }
  int64_t chunk = std::max<int64_t>(1, ceil_div(g.n_red, S));
  S = std::max<int64_t>(1, ceil_div(g.n_red, chunk));  // no empty chunk
  grid.y = static_cast<unsigned>(S);

  Tensor workspace;
  A* partial = nullptr;
  if (S > 1) {
    workspace = empty({g.n_out * S * static_cast<int64_t>(sizeof(A))}, TensorOptions(kUInt8).device(x.device()));
    partial = static_cast<A*>(workspace.data_ptr_raw());
  }
  if (use_vec) {
    if constexpr (kVec > 1 && 16 % sizeof(T) == 0)
      columns_vec_kernel<T, R, kVec><<<grid, block, smem, stream>>>(base, g.red.stride[0], g.n_out, g.n_red, chunk, r,
                                                                    partial);
  } else if (use_rows)
    rows_kernel<T, R><<<grid, block, 0, stream>>>(base, g.kept, g.red, g.n_out, g.n_red, chunk, r, partial);
  else
    columns_kernel<T, R><<<grid, block, smem, stream>>>(base, g.kept, g.red, g.n_out, g.n_red, chunk, r, partial);
  WICK_CUDA_CHECK_LAUNCH();
  if (S > 1) {
    const dim3 fblock(32, 8);
    const unsigned fgrid = static_cast<unsigned>(std::min<int64_t>(ceil_div(g.n_out, 8), 1 << 20));
    finalize_kernel<R><<<fgrid, fblock, 0, stream>>>(partial, g.n_out, S, r);
    WICK_CUDA_CHECK_LAUNCH();
  }
  // `workspace` goes back to the caching allocator here; the allocator's
  // stream ordering keeps it alive for the kernels queued on this stream.
}

// ---- reducers ------------------------------------------------------------------

// The accumulation type on the GPU: float for float32 and the 16-bit floats,
// double for float64, int64 for integers and bool.
template <typename T>
using gpu_acc_t = std::conditional_t<is_float_v<T>, std::conditional_t<std::is_same_v<T, double>, double, float>,
                                     int64_t>;

template <typename A>
__host__ __device__ __forceinline__ A acc_add(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    using U = std::make_unsigned_t<A>;
    return static_cast<A>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename A>
__host__ __device__ __forceinline__ A acc_mul(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    using U = std::make_unsigned_t<A>;
    return static_cast<A>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

template <typename T>
__device__ __forceinline__ gpu_acc_t<T> load_acc(T v) {
  return to_compute<gpu_acc_t<T>>(v);
}

template <typename T, typename O, bool IsProd>
struct SumReducer {
  using Acc = gpu_acc_t<O>;
  O* out;
  __device__ Acc identity() const { return Acc(IsProd ? 1 : 0); }
  __device__ void step(Acc& a, T v, int64_t) const {
    const Acc x = to_compute<Acc>(v);
    a = IsProd ? acc_mul(a, x) : acc_add(a, x);
  }
  __device__ void merge(Acc& a, const Acc& b) const { a = IsProd ? acc_mul(a, b) : acc_add(a, b); }
  __device__ void finish(int64_t o, const Acc& a) const { out[o] = from_compute<O>(a); }
};

template <typename T>
struct MeanReducer {
  using Acc = gpu_acc_t<T>;
  T* out;
  Acc n;
  __device__ Acc identity() const { return Acc(0); }
  __device__ void step(Acc& a, T v, int64_t) const { a += load_acc(v); }
  __device__ void merge(Acc& a, const Acc& b) const { a += b; }
  __device__ void finish(int64_t o, const Acc& a) const { out[o] = from_compute<T>(a / n); }  // 0/0 = nan
};

template <typename T>
struct VarReducer {
  using F = gpu_acc_t<T>;
  struct Acc {
    int64_t n;
    F mean, m2;
  };
  T* out;
  int64_t correction;
  bool take_sqrt;
  __device__ Acc identity() const { return {0, F(0), F(0)}; }
  __device__ void step(Acc& a, T v, int64_t) const {
    const F x = load_acc(v);
    a.n += 1;
    const F d = x - a.mean;
    a.mean += d / static_cast<F>(a.n);
    a.m2 += d * (x - a.mean);
  }
  __device__ void merge(Acc& a, const Acc& b) const {  // Chan et al.
    if (b.n == 0) return;
    if (a.n == 0) {
      a = b;
      return;
    }
    const F n = static_cast<F>(a.n + b.n);
    const F d = b.mean - a.mean;
    a.mean += d * (static_cast<F>(b.n) / n);
    a.m2 += b.m2 + d * d * (static_cast<F>(a.n) * static_cast<F>(b.n) / n);
    a.n += b.n;
  }
  __device__ void finish(int64_t o, const Acc& a) const {
    // Like the CPU (and PyTorch): N - correction <= 0 divides by 0.
    const F div = max(F(0), static_cast<F>(a.n) - static_cast<F>(correction));
    const F v = a.m2 / div;
    out[o] = from_compute<T>(take_sqrt ? sqrt(v) : v);
  }
};

template <typename T>
struct LogSumExpReducer {
  using F = gpu_acc_t<T>;
  struct Acc {
    F m;  // running max
    F s;  // sum of exp(x - m)
  };
  T* out;
  __device__ Acc identity() const { return {-std::numeric_limits<F>::infinity(), F(0)}; }
  __device__ void step(Acc& a, T v_, int64_t) const {
    const F v = load_acc(v_);
    if (v > a.m) {
      a.s = a.s * exp(a.m - v) + F(1);
      a.m = v;
    } else if (v == a.m) {
      a.s += F(1);  // also +-inf == +-inf, where v - m would be nan
    } else {
      a.s += exp(v - a.m);  // a nan v makes s nan
    }
  }
  __device__ void merge(Acc& a, const Acc& b) const {
    if (b.m > a.m) {
      a.s = b.s + a.s * exp(a.m - b.m);
      a.m = b.m;
    } else if (b.m == a.m) {
      a.s += b.s;
    } else {
      a.s += b.s * exp(b.m - a.m);
    }
  }
  // An all -inf (or empty) row: -inf + log(s) = -inf.
  __device__ void finish(int64_t o, const Acc& a) const { out[o] = from_compute<T>(a.m + log(a.s)); }
};

enum class NormKind { One, Two, Inf, General };

template <typename T, NormKind K>
struct NormReducer {
  using Acc = gpu_acc_t<T>;
  T* out;
  Acc p;
  __device__ Acc identity() const { return Acc(0); }
  __device__ void step(Acc& a, T v, int64_t) const {
    const Acc x = fabs(load_acc(v));
    if constexpr (K == NormKind::One) a += x;
    else if constexpr (K == NormKind::Two) a += x * x;
    else if constexpr (K == NormKind::Inf) a = (x > a || x != x) ? x : a;
    else a += pow(x, p);
  }
  __device__ void merge(Acc& a, const Acc& b) const {
    if constexpr (K == NormKind::Inf) a = (b > a || b != b) ? b : a;
    else a += b;
  }
  __device__ void finish(int64_t o, const Acc& a) const {
    if constexpr (K == NormKind::Two) out[o] = from_compute<T>(sqrt(a));
    else if constexpr (K == NormKind::General) out[o] = from_compute<T>(pow(a, Acc(1) / p));
    else out[o] = from_compute<T>(a);
  }
};

// max/min in the compute type; NaN wins (PyTorch).
template <typename T, bool IsMax>
struct ExtremumReducer {
  using Acc = compute_t<T>;
  T* out;
  __device__ Acc identity() const {
    if constexpr (std::is_floating_point_v<Acc>)
      return IsMax ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::infinity();
    else return IsMax ? std::numeric_limits<Acc>::lowest() : std::numeric_limits<Acc>::max();
  }
  __device__ void step(Acc& a, T v_, int64_t) const { merge(a, to_compute<Acc>(v_)); }
  __device__ void merge(Acc& a, const Acc& v) const {
    if constexpr (std::is_floating_point_v<Acc>) a = ((IsMax ? v > a : v < a) || v != v) ? v : a;
    else a = (IsMax ? v > a : v < a) ? v : a;
  }
  __device__ void finish(int64_t o, const Acc& a) const { out[o] = from_compute<T>(a); }
};

// `v` beats `cur` as the running max (IsMax) or min; NaN beats every number.
template <typename C, bool IsMax>
__device__ __forceinline__ bool better(C v, C cur) {
  if constexpr (std::is_floating_point_v<C>) {
    if (v != v) return cur == cur;
  }
  return IsMax ? v > cur : v < cur;
}

template <typename T, bool IsMax>
struct ArgReducer {
  using C = compute_t<T>;
  struct Acc {
    C v;
    int64_t i;  // -1: nothing seen yet
  };
  T* values;  // may be null
  int64_t* indices;
  __device__ Acc identity() const { return {C(0), -1}; }
  __device__ void step(Acc& a, T v, int64_t i) const { merge(a, Acc{to_compute<C>(v), i}); }
  // Order-independent: the better value, or on a tie (equal, or both NaN) the smaller index.
  __device__ void merge(Acc& a, const Acc& b) const {
    if (b.i < 0) return;
    if (a.i < 0 || better<C, IsMax>(b.v, a.v) || (!better<C, IsMax>(a.v, b.v) && b.i < a.i)) a = b;
  }
  __device__ void finish(int64_t o, const Acc& a) const {
    if (values) values[o] = from_compute<T>(a.v);
    indices[o] = a.i;
  }
};

template <typename T, bool IsAll>
struct LogicalReducer {
  using Acc = int;  // one word: cheaper to shuffle than a bool
  bool* out;
  __device__ Acc identity() const { return IsAll ? 1 : 0; }
  __device__ void step(Acc& a, T v, int64_t) const {
    const int nz = to_compute<compute_t<T>>(v) != compute_t<T>(0);
    a = IsAll ? (a & nz) : (a | nz);
  }
  __device__ void merge(Acc& a, const Acc& b) const { a = IsAll ? (a & b) : (a | b); }
  __device__ void finish(int64_t o, const Acc& a) const { out[o] = a != 0; }
};

template <bool IsProd>
void sum_like(const Tensor& x, const ReduceDims& dims, const Tensor& out, const char* op) {
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), op, [&]<typename T>() {
    if (out.dtype() == x.dtype()) {
      if constexpr (std::is_same_v<T, bool>) {
        WICK_FAIL(op, ": bool output is not supported");
      } else {
        run_reduce<T>(x, dims, SumReducer<T, T, IsProd>{static_cast<T*>(out.data_ptr_raw())});
      }
    } else {
      WICK_CHECK(!is_float_v<T> && out.dtype() == kInt64, op, ": cannot reduce ", x.dtype(), " into ", out.dtype());
      if constexpr (!is_float_v<T>) run_reduce<T>(x, dims, SumReducer<T, int64_t, IsProd>{out.data_ptr<int64_t>()});
    }
  });
}

// ---- cumsum ---------------------------------------------------------------------

// x, out contiguous, viewed as [outer, n, inner]: thread (o, j) scans its
// column sequentially (coalesced across j when inner > 1). A sequential scan
// accumulates in double for float32 (acc_t, like the CPU).
template <typename T, typename A>
__global__ void cumsum_kernel(const T* x, T* out, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  const int64_t cols = outer * inner;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += step) {
    const int64_t o = c / inner, j = c - o * inner;
    const T* s = x + o * n * inner + j;
    T* d = out + o * n * inner + j;
    A acc = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t r = reverse ? n - 1 - k : k;
      acc = acc_add(acc, to_compute<A>(s[r * inner]));
      d[r * inner] = from_compute<T>(acc);
    }
  }
}

// inner == 1: one block per row; the row is scanned in tiles of blockDim
// elements (warp-shuffle inclusive scans, then a scan of the warp totals),
// carrying the running total from tile to tile.
template <typename T, typename A>
__global__ void cumsum_rows_kernel(const T* x, T* out, int64_t rows, int64_t n, bool reverse) {
  __shared__ A warp_tot[32];
  __shared__ A carry;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* s = x + row * n;
    T* d = out + row * n;
    if (threadIdx.x == 0) carry = A(0);
    __syncthreads();
    for (int64_t t0 = 0; t0 < n; t0 += blockDim.x) {
      const int64_t k = t0 + threadIdx.x;
      const int64_t r = reverse ? n - 1 - k : k;
      A v = k < n ? to_compute<A>(s[r]) : A(0);
#pragma unroll
      for (int off = 1; off < 32; off <<= 1) {
        const A u = __shfl_up_sync(0xffffffffu, v, off);
        if (lane >= off) v = acc_add(v, u);
      }
      if (lane == 31) warp_tot[warp] = v;
      __syncthreads();
      if (warp == 0) {
        A w = lane < nwarps ? warp_tot[lane] : A(0);
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) {
          const A u = __shfl_up_sync(0xffffffffu, w, off);
          if (lane >= off) w = acc_add(w, u);
        }
        if (lane < nwarps) warp_tot[lane] = w;  // inclusive scan of the warp totals
      }
      __syncthreads();
      const A before = acc_add(carry, warp > 0 ? warp_tot[warp - 1] : A(0));
      if (k < n) d[r] = from_compute<T>(acc_add(before, v));
      __syncthreads();  // everyone has read carry and warp_tot
      if (threadIdx.x == 0) carry = acc_add(carry, warp_tot[nwarps - 1]);
      __syncthreads();
    }
  }
}

}  // namespace

void sum(const Tensor& x, const ReduceDims& dims, const Tensor& out) { sum_like<false>(x, dims, out, "sum"); }
void prod(const Tensor& x, const ReduceDims& dims, const Tensor& out) { sum_like<true>(x, dims, out, "prod"); }

void mean(const Tensor& x, const ReduceDims& dims, const Tensor& out) {
  int64_t n = 1;
  for (int64_t d : dims) n *= x.size(d);
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), "mean", [&]<typename T>() {
    run_reduce<T>(x, dims, MeanReducer<T>{static_cast<T*>(out.data_ptr_raw()), static_cast<gpu_acc_t<T>>(n)});
  });
}

void var(const Tensor& x, const ReduceDims& dims, int64_t correction, bool take_sqrt, const Tensor& out) {
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), take_sqrt ? "std" : "var", [&]<typename T>() {
    run_reduce<T>(x, dims, VarReducer<T>{static_cast<T*>(out.data_ptr_raw()), correction, take_sqrt});
  });
}

void logsumexp(const Tensor& x, const ReduceDims& dims, const Tensor& out) {
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), "logsumexp", [&]<typename T>() {
    run_reduce<T>(x, dims, LogSumExpReducer<T>{static_cast<T*>(out.data_ptr_raw())});
  });
}

void norm(const Tensor& x, double p, const ReduceDims& dims, const Tensor& out) {
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), "norm", [&]<typename T>() {
    T* o = static_cast<T*>(out.data_ptr_raw());
    const auto pa = static_cast<gpu_acc_t<T>>(p);
    if (p == 1) run_reduce<T>(x, dims, NormReducer<T, NormKind::One>{o, pa});
    else if (p == 2) run_reduce<T>(x, dims, NormReducer<T, NormKind::Two>{o, pa});
    else if (std::isinf(p)) run_reduce<T>(x, dims, NormReducer<T, NormKind::Inf>{o, pa});
    else run_reduce<T>(x, dims, NormReducer<T, NormKind::General>{o, pa});
  });
}

void extremum(const Tensor& x, const ReduceDims& dims, bool is_max, const Tensor& out) {
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), is_max ? "amax" : "amin", [&]<typename T>() {
    T* o = static_cast<T*>(out.data_ptr_raw());
    if (is_max) run_reduce<T>(x, dims, ExtremumReducer<T, true>{o});
    else run_reduce<T>(x, dims, ExtremumReducer<T, false>{o});
  });
}

void arg_extremum(const Tensor& x, const ReduceDims& dims, bool is_max, const Tensor& values, const Tensor& indices) {
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), is_max ? "argmax" : "argmin", [&]<typename T>() {
    T* v = values.defined() ? static_cast<T*>(values.data_ptr_raw()) : nullptr;
    int64_t* i = indices.data_ptr<int64_t>();
    if (is_max) run_reduce<T>(x, dims, ArgReducer<T, true>{v, i});
    else run_reduce<T>(x, dims, ArgReducer<T, false>{v, i});
  });
}

void all(const Tensor& x, const ReduceDims& dims, const Tensor& out) {
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), "all", [&]<typename T>() {
    run_reduce<T>(x, dims, LogicalReducer<T, true>{out.data_ptr<bool>()});
  });
}

void any(const Tensor& x, const ReduceDims& dims, const Tensor& out) {
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), "any", [&]<typename T>() {
    run_reduce<T>(x, dims, LogicalReducer<T, false>{out.data_ptr<bool>()});
  });
}

void cumsum(const Tensor& x_in, int64_t dim, bool reverse, const Tensor& out) {
  if (out.numel() == 0) return;
  WICK_CHECK(out.is_contiguous(), "cumsum: expected a contiguous output");
  const Tensor x = contiguous(x_in);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t n = x.dim() ? x.size(dim) : 1;
  WICK_DEVICE_DISPATCH_NUMERIC(x.dtype(), "cumsum", [&]<typename T>() {
    // acc_t of the CPU: double for float32 (and the 16-bit floats), int64 for integers.
    using A = std::conditional_t<is_float_v<T>, double, int64_t>;
    const T* src = static_cast<const T*>(x.data_ptr_raw());
    T* dst = static_cast<T*>(out.data_ptr_raw());
    cudaStream_t stream = current_stream();
    if (inner == 1 && n >= 256) {
      const unsigned grid = static_cast<unsigned>(std::min<int64_t>(outer, 1 << 20));
      cumsum_rows_kernel<T, A><<<grid, 256, 0, stream>>>(src, dst, outer, n, reverse);
    } else {
      cumsum_kernel<T, A><<<grid_for(outer * inner, 256), 256, 0, stream>>>(src, dst, outer, n, inner, reverse);
    }
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void set_reduce_columns_vectorized(bool on) { columns_vec_switch().set(on); }
bool reduce_columns_vectorized() { return columns_vec_switch().on(); }

}  // namespace wick::cuda
