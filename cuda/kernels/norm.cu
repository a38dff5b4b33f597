// CUDA batch_norm and group_norm, forward and backward (contracts:
// cuda/kernels/norm.h). Every kernel is memory-bound; the designs aim at a
// minimum of passes over the data, and at determinism (no atomics).
//
// batch_norm, x viewed as [N, C, S]: a channel's M = N * S values are N runs
// of S contiguous values, C * S apart. Three kernels per direction:
//   partial   grid (C channels) x (G chunks of the channel's M values), one
//             block per (channel, chunk); threads stride the chunk in flat
//             order, so a warp reads consecutive addresses within each run
//             (coalesced for S >= 32; small S, e.g. BatchNorm1d's S = 1,
//             still works, just with short runs). Per-thread sums in the
//             compute type, then a block tree sum in float64 to partials[C, G].
//             G is chosen to give about 4 blocks per SM for small C.
//   finalize  one thread per channel: sums its G partials in order (fixed
//             by the shape: deterministic), computes the statistics, updates
//             the running ones, and the per-channel affine coefficients.
//   apply     elementwise: out = x * scale[c] + shift[c] (backward:
//             gx = ka[c] gy + kx[c] (x - mean[c]) + k0[c]).
// Forward: 1 read (partial) + 1 read + 1 write (apply) per element;
// backward: 2 reads + 3 reads + 1 write. With set_batch_norm_vectorized
// each thread moves a pack of V adjacent values of one channel (16 bytes
// where S and the alignment allow; bn_vector_width), the index math then
// counting packs. Every element's channel (apply)
// or offset (partial) takes a division by S (and C): multiply-shifts
// (FastDiv, NcsIndex) for tensors of fewer than 2^31 elements, since 64-bit
// division would leave these kernels compute-bound. The variance is the CPU's shifted
// one-pass formula: s1 = sum(x - K), s2 = sum((x - K)^2) with K the
// channel's first value, mean = K + s1 / M, var = s2 / M - (s1 / M)^2; with
// K within a few standard deviations of the mean this loses about one digit,
// not the E[x^2] - E[x]^2 catastrophe.
//
// group_norm, x viewed as [N * groups rows, L = C / groups * S contiguous
// values]: one block per row, like layer_norm (mean, then centred squares,
// then the write: 3 reads + 1 write, the row served from L1/L2 after the
// first). Backward: gx per row (sums of gh and gh * xhat, then the write);
// gw, gb one block per channel over its N runs of S values.
// Bandwidth and the fraction of peak are not measured yet: these kernels were
// written and compiled without a GPU (tests/cuda/test_norm.cpp checks them
// against the CPU kernels on a lent one).
#include "cuda/kernels/norm.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <initializer_list>
#include <limits>

#include "cuda/kernels/block.cuh"
#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/fast_div.h"
#include "cuda/kernels/loops.cuh"
#include "cuda/kernels/nn.h"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;

// The running-statistics update in T's rounding, operation by operation, as
// the CPU writes it (no FMA contraction): decayed = r * keep; r = decayed + v * mom.
// 16-bit storage computes in float and rounds once.
template <typename T>
__device__ __forceinline__ T running_update(T r, double v, double keep_d, double mom_d) {
  if constexpr (std::is_same_v<T, float>) {
    const float keep = static_cast<float>(keep_d), mom = static_cast<float>(mom_d);
    return __fadd_rn(__fmul_rn(r, keep), __fmul_rn(static_cast<float>(v), mom));
  } else if constexpr (std::is_same_v<T, double>) {
    return __dadd_rn(__dmul_rn(r, keep_d), __dmul_rn(v, mom_d));
  } else {
    return from_compute<T>(to_compute<float>(r) * static_cast<float>(keep_d) +
                           static_cast<float>(v) * static_cast<float>(mom_d));
  }
}

// (n, s) of a channel's i-th value, and its offset in x: ((n C + c) S + s).
__device__ __forceinline__ int64_t channel_offset(int64_t i, int64_t c, int64_t C, int64_t S) {
  const int64_t n = i / S;
  return (n * C + c) * S + (i - n * S);
}

// batch_norm's index decoding for x viewed as [N, C, S]: the channel of
// element t, (t / S) % C, and the offset of channel c's i-th value
// (channel_offset). Each element takes a division by S (and by C); 64-bit
// division is a long emulated sequence on the GPU, enough to make these
// memory-bound kernels compute-bound, so when every index fits 31 bits
// (all but tensors of 2^31 elements or more) the divisions are FastDiv's
// multiply-shifts, with the 64-bit division kept for the rest.
struct NcsIndex {
  int64_t C = 0, S = 0;
  bool fast = false;  // every index < 2^31
  FastDiv div_S, div_C;

  NcsIndex(int64_t C_, int64_t S_, int64_t total) : C(C_), S(S_), fast(total <= INT_MAX) {
    if (fast) div_S = FastDiv(static_cast<int>(S)), div_C = FastDiv(static_cast<int>(C));
  }
  __device__ __forceinline__ int64_t channel(int64_t t) const {
    if (!fast) return (t / S) % C;
    const int q = div_S.div(static_cast<int>(t));
    return q - div_C.div(q) * div_C.d;
  }
  __device__ __forceinline__ int64_t offset(int64_t i, int64_t c) const {
    if (!fast) return channel_offset(i, c, C, S);
    int s;
    const int64_t n = div_S.divmod(static_cast<int>(i), s);
    return (n * C + c) * S + s;
  }
};

// ---- batch_norm forward -------------------------------------------------------

// The kernels below move V adjacent values of one channel per thread and
// step (one 16-byte load for V = 16 / sizeof(T)) when S is a multiple of V
// and the tensors are aligned to V values (bn_vector_width; V = 1: one value
// at a time). Their NcsIndex, M, per and total then count packs of V values:
// pack t holds values V t .. V t + V - 1, all of channel idx.channel(t).
template <typename T, int V>
using BnPack = loops::Pack<T, V>;

// part[c * G + g] = sum(x - K), part[(C + c) * G + g] = sum((x - K)^2) over
// chunk g of channel c (K = the channel's first value).
template <typename T, int V>
__global__ void bn_stats_partial_kernel(double* __restrict__ part, const T* __restrict__ x, NcsIndex idx,
                                        int64_t M, int64_t per) {
  using A = compute_t<T>;
  const int64_t c = blockIdx.x, G = gridDim.y, g = blockIdx.y, C = idx.C;
  const A k = to_compute<A>(x[c * idx.S * V]);
  const int64_t i1 = min(M, (g + 1) * per);
  const BnPack<T, V>* xv = reinterpret_cast<const BnPack<T, V>*>(x);
  A s1 = 0, s2 = 0;
  for (int64_t i = g * per + threadIdx.x; i < i1; i += blockDim.x) {
    const BnPack<T, V> p = xv[idx.offset(i, c)];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const A d = to_compute<A>(p.v[j]) - k;
      s1 += d;
      s2 += d * d;
    }
  }
  const double t1 = block_sum(static_cast<double>(s1));
  const double t2 = block_sum(static_cast<double>(s2));
  if (threadIdx.x == 0) {
    part[c * G + g] = t1;
    part[(C + c) * G + g] = t2;
  }
}

// One thread per channel: statistics (eval: read from rm, rv), the running
// update (training only), coef[c] = scale, coef[C + c] = shift
// (out = x * scale + shift). P: the dtype of the affine parameters and the
// running statistics: T, or float32 for 16-bit x (the mixed kernels).
template <typename T, typename P>
__global__ void bn_finalize_kernel(compute_t<T>* __restrict__ coef, compute_t<T>* __restrict__ save_mean,
                                   compute_t<T>* __restrict__ save_rstd, P* __restrict__ rm, P* __restrict__ rv,
                                   const double* __restrict__ part, const T* __restrict__ x,
                                   const P* __restrict__ w, const P* __restrict__ b, int64_t C, int64_t S,
                                   int64_t M, int64_t G, bool training, double momentum, double eps) {
  using A = compute_t<T>;
  using AP = compute_t<P>;
  for (int64_t c = global_thread(); c < C; c += grid_threads()) {
    double mean, var;
    if (!training) {
      mean = static_cast<double>(to_compute<AP>(rm[c]));
      var = static_cast<double>(to_compute<AP>(rv[c]));
    } else if (M == 0) {
      mean = var = NAN;  // the running statistics stay as they are
    } else {
      double s1 = 0, s2 = 0;
      for (int64_t g = 0; g < G; ++g) {  // a fixed order: deterministic
        s1 += part[c * G + g];
        s2 += part[(C + c) * G + g];
      }
      const double d = s1 / static_cast<double>(M);
      mean = static_cast<double>(to_compute<A>(x[c * S])) + d;
      var = fmax(0.0, s2 / static_cast<double>(M) - d * d);
      // The CPU's constants: momentum and 1 - momentum rounded to P, and
      // momentum * M / (M - 1) for the unbiased running variance.
      const double mom_bessel = M > 1 ? momentum * (static_cast<double>(M) / static_cast<double>(M - 1)) : 0.0;
      // Values rounded as the update's operands: to P (16-bit storage: to float).
      auto in_t = [](double v) {
        if constexpr (is_reduced_float_v<P>) return static_cast<double>(static_cast<float>(v));
        else return static_cast<double>(static_cast<P>(v));
      };
      if (rm) rm[c] = running_update(rm[c], in_t(mean), in_t(1.0 - momentum), in_t(momentum));
      if (rv) rv[c] = running_update(rv[c], in_t(var), in_t(1.0 - momentum), in_t(mom_bessel));
    }
    const double rstd = 1.0 / sqrt(var + eps);
    if (save_mean) save_mean[c] = static_cast<A>(mean);
    if (save_rstd) save_rstd[c] = static_cast<A>(rstd);
    const double scale = rstd * (w ? static_cast<double>(to_compute<AP>(w[c])) : 1.0);
    coef[c] = static_cast<A>(scale);
    coef[C + c] = static_cast<A>((b ? static_cast<double>(to_compute<AP>(b[c])) : 0.0) - mean * scale);
  }
}

// out = x * scale + shift; with a residual and/or relu (batch_norm_relu's
// epilogue), relu(that + residual), computed in A and rounded once.
template <typename T, int V>
__global__ void bn_apply_kernel(T* __restrict__ out, const T* __restrict__ x, const compute_t<T>* __restrict__ coef,
                                NcsIndex idx, int64_t total, const T* __restrict__ residual, bool relu) {
  using A = compute_t<T>;
  const int64_t C = idx.C;
  const BnPack<T, V>* xv = reinterpret_cast<const BnPack<T, V>*>(x);
  const BnPack<T, V>* rv = reinterpret_cast<const BnPack<T, V>*>(residual);
  BnPack<T, V>* ov = reinterpret_cast<BnPack<T, V>*>(out);
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t c = idx.channel(t);
    const A scale = coef[c], shift = coef[C + c];
    const BnPack<T, V> p = xv[t];
    BnPack<T, V> r;
    if (rv) r = rv[t];
    BnPack<T, V> o;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      A v = to_compute<A>(p.v[j]) * scale + shift;
      if (rv) v += to_compute<A>(r.v[j]);
      if (relu) v = v < A(0) ? A(0) : v;  // NaN propagates, as relu
      o.v[j] = from_compute<T>(v);
    }
    ov[t] = o;
  }
}

// ---- batch_norm backward ------------------------------------------------------

// part[c * G + g] = sum(gy), part[(C + c) * G + g] = sum(gy * (x - mean)).
template <typename T, int V>
__global__ void bn_bwd_partial_kernel(double* __restrict__ part, const T* __restrict__ gy, const T* __restrict__ x,
                                      const compute_t<T>* __restrict__ mean, NcsIndex idx, int64_t M, int64_t per) {
  using A = compute_t<T>;
  const int64_t c = blockIdx.x, G = gridDim.y, g = blockIdx.y, C = idx.C;
  const A m = mean[c];
  const int64_t i1 = min(M, (g + 1) * per);
  const BnPack<T, V>* gv_ = reinterpret_cast<const BnPack<T, V>*>(gy);
  const BnPack<T, V>* xv = reinterpret_cast<const BnPack<T, V>*>(x);
  A s1 = 0, s2 = 0;
  for (int64_t i = g * per + threadIdx.x; i < i1; i += blockDim.x) {
    const int64_t o = idx.offset(i, c);
    const BnPack<T, V> pg = gv_[o], px = xv[o];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const A gv = to_compute<A>(pg.v[j]);
      s1 += gv;
      s2 += gv * (to_compute<A>(px.v[j]) - m);
    }
  }
  const double t1 = block_sum(static_cast<double>(s1));
  const double t2 = block_sum(static_cast<double>(s2));
  if (threadIdx.x == 0) {
    part[c * G + g] = t1;
    part[(C + c) * G + g] = t2;
  }
}

// gb = sg, gw = sgx * rstd; coef [3, C] = ka, kx, k0 for gx (see the CPU file).
// P: the dtype of w, gw and gb (see bn_finalize_kernel).
template <typename T, typename P>
__global__ void bn_bwd_finalize_kernel(compute_t<T>* __restrict__ coef, P* __restrict__ gw, P* __restrict__ gb,
                                       const double* __restrict__ part, const compute_t<T>* __restrict__ rstd,
                                       const P* __restrict__ w, int64_t C, int64_t M, int64_t G, bool training) {
  using A = compute_t<T>;
  using AP = compute_t<P>;
  for (int64_t c = global_thread(); c < C; c += grid_threads()) {
    double sg = 0, sgx = 0;
    for (int64_t g = 0; g < G; ++g) {  // G = 0 for an empty batch: zero sums
      sg += part[c * G + g];
      sgx += part[(C + c) * G + g];
    }
    const double r = static_cast<double>(rstd[c]);
    if (gb) gb[c] = from_compute<P>(sg);
    if (gw) gw[c] = from_compute<P>(M ? sgx * r : 0.0);  // empty: rstd is NaN
    if (coef) {
      const double ka = r * (w ? static_cast<double>(to_compute<AP>(w[c])) : 1.0);
      const double inv_m = M ? 1.0 / static_cast<double>(M) : 0.0;
      coef[c] = static_cast<A>(ka);
      coef[C + c] = training ? static_cast<A>(-ka * r * r * sgx * inv_m) : A(0);
      coef[2 * C + c] = training ? static_cast<A>(-ka * sg * inv_m) : A(0);
    }
  }
}

template <typename T, int V>
__global__ void bn_bwd_apply_kernel(T* __restrict__ gx, const T* __restrict__ gy, const T* __restrict__ x,
                                    const compute_t<T>* __restrict__ mean, const compute_t<T>* __restrict__ coef,
                                    NcsIndex idx, int64_t total, bool training) {
  using A = compute_t<T>;
  const int64_t C = idx.C;
  const BnPack<T, V>* gv = reinterpret_cast<const BnPack<T, V>*>(gy);
  const BnPack<T, V>* xv = reinterpret_cast<const BnPack<T, V>*>(x);
  BnPack<T, V>* ov = reinterpret_cast<BnPack<T, V>*>(gx);
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t c = idx.channel(t);
    const A ka = coef[c], kx = coef[C + c], k0 = coef[2 * C + c], mc = mean[c];
    const BnPack<T, V> pg = gv[t];
    const BnPack<T, V> px = training ? xv[t] : pg;
    BnPack<T, V> o;
#pragma unroll
    for (int j = 0; j < V; ++j) {
      A v = ka * to_compute<A>(pg.v[j]);
      if (training) v += kx * (to_compute<A>(px.v[j]) - mc) + k0;
      o.v[j] = from_compute<T>(v);
    }
    ov[t] = o;
  }
}

// Chunks per channel for the partial kernels: about 4 blocks per SM in all,
// at least 2048 values per chunk, at most 65535 (the grid's y limit).
int64_t channel_chunks(int64_t C, int64_t M, int device) {
  const int64_t sms = device_properties(device).multiProcessorCount;
  const int64_t want = std::max<int64_t>(1, (4 * sms + C - 1) / C);
  return std::clamp<int64_t>(std::min(want, (M + 2047) / 2048), 1, 65535);
}

// ---- group_norm ---------------------------------------------------------------

// Threads for a block-per-row kernel over long rows (group_norm's rows are
// whole channel groups): up to 1024.
unsigned long_row_threads(int64_t n) {
  return n >= 8 * 1024 ? 1024u : row_threads(n);
}

// (__launch_bounds__: up to 1024 threads per block, so at most 64 registers each.)
template <typename T>
__global__ void __launch_bounds__(1024) group_norm_kernel(T* __restrict__ out, compute_t<T>* __restrict__ mean_out,
                                  compute_t<T>* __restrict__ rstd_out, const T* __restrict__ x,
                                  const T* __restrict__ w, const T* __restrict__ b, int64_t rows, int64_t groups,
                                  int64_t cpg, int64_t S, double eps) {
  using A = compute_t<T>;
  const int64_t len = cpg * S;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {  // uniform across the block
    const T* xr = x + r * len;
    A s = 0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) s += to_compute<A>(xr[i]);
    const A mean = len ? block_sum(s) / static_cast<A>(len) : A(0);
    A q = 0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const A d = to_compute<A>(xr[i]) - mean;
      q += d * d;
    }
    const A rstd = len ? A(1) / dsqrt(block_sum(q) / static_cast<A>(len) + static_cast<A>(eps)) : A(NAN);
    if (threadIdx.x == 0) {
      mean_out[r] = mean;
      rstd_out[r] = rstd;
    }
    const int64_t c0 = (r % groups) * cpg;
    T* o = out + r * len;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const int64_t c = c0 + i / S;
      const A scale = rstd * (w ? to_compute<A>(w[c]) : A(1));
      const A shift = (b ? to_compute<A>(b[c]) : A(0)) - mean * scale;
      o[i] = from_compute<T>(to_compute<A>(xr[i]) * scale + shift);
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(1024) group_norm_bwd_x_kernel(T* __restrict__ gx, const T* __restrict__ gy, const T* __restrict__ x,
                                        const compute_t<T>* __restrict__ mean, const compute_t<T>* __restrict__ rstd,
                                        const T* __restrict__ w, int64_t rows, int64_t groups, int64_t cpg,
                                        int64_t S) {
  using A = compute_t<T>;
  const int64_t len = cpg * S;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t off = r * len, c0 = (r % groups) * cpg;
    const A mu = mean[r], rs = rstd[r];
    A s1 = 0, s2 = 0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const A xh = (to_compute<A>(x[off + i]) - mu) * rs;
      const A gh = w ? to_compute<A>(gy[off + i]) * to_compute<A>(w[c0 + i / S]) : to_compute<A>(gy[off + i]);
      s1 += gh;
      s2 += gh * xh;
    }
    const A m1 = block_sum(s1) / static_cast<A>(len);
    const A m2 = block_sum(s2) / static_cast<A>(len);
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x) {
      const A xh = (to_compute<A>(x[off + i]) - mu) * rs;
      const A gh = w ? to_compute<A>(gy[off + i]) * to_compute<A>(w[c0 + i / S]) : to_compute<A>(gy[off + i]);
      gx[off + i] = from_compute<T>(rs * (gh - m1 - xh * m2));
    }
  }
}

// One block per channel c: gw[c] = sum(gy * xhat), gb[c] = sum(gy) over its
// N runs of S values.
template <typename T>
__global__ void group_norm_bwd_wb_kernel(T* __restrict__ gw, T* __restrict__ gb, const T* __restrict__ gy,
                                         const T* __restrict__ x, const compute_t<T>* __restrict__ mean,
                                         const compute_t<T>* __restrict__ rstd, int64_t N, int64_t C, int64_t S,
                                         int64_t groups) {
  using A = compute_t<T>;
  const int64_t cpg = C / groups;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    A sw = 0, sb = 0;
    for (int64_t i = threadIdx.x; i < N * S; i += blockDim.x) {
      const int64_t n = i / S, o = channel_offset(i, c, C, S), r = n * groups + c / cpg;
      const A g = to_compute<A>(gy[o]);
      sw += g * (to_compute<A>(x[o]) - mean[r]) * rstd[r];
      sb += g;
    }
    const double tw = block_sum(static_cast<double>(sw));
    const double tb = block_sum(static_cast<double>(sb));
    if (threadIdx.x == 0) {
      if (gw) gw[c] = from_compute<T>(tw);
      if (gb) gb[c] = from_compute<T>(tb);
    }
  }
}

// ---- checks -------------------------------------------------------------------

void check_tensor(const char* op, const char* name, const Tensor& t, const Tensor& x, int64_t n, DType dt,
                  bool required) {
  if (!t.defined()) {
    WICK_CHECK(!required, "cuda::", op, ": ", name, " is required");
    return;
  }
  WICK_CHECK(t.device() == x.device() && t.dtype() == dt && t.numel() == n && t.is_contiguous(), "cuda::", op, ": ",
             name, " must be a contiguous ", dt, " tensor of ", n, " values on ", x.device(), ", got ", t.dtype(),
             " ", shape_str(t.sizes()), " on ", t.device());
}

template <typename P>
P* ptr(const Tensor& t) {
  return ptr_or_null<P>(t);
}

// run.template operator()<P>() with P the parameters' storage type: float
// for a 16-bit T whose parameters are float32 (pd), else T.
template <typename T, typename F>
void with_param_type(DType pd, F& run) {
  if constexpr (is_reduced_float_v<T>) {
    if (pd == kFloat32) {
      run.template operator()<float>();
      return;
    }
  }
  run.template operator()<T>();
}

}  // namespace

DType batch_norm_param_dtype(const Tensor& x, std::initializer_list<Tensor> params) {
  if (x.dtype() != kFloat16 && x.dtype() != kBFloat16) return x.dtype();
  for (const Tensor& p : params)
    if (p.defined()) return p.dtype() == kFloat32 ? kFloat32 : x.dtype();
  return x.dtype();
}

namespace {
OptInSwitch& mixed_switch() {
  static OptInSwitch s("WICK_CUDA_BN_MIXED", /*default_on=*/true);
  return s;
}

// On since CudaNorm.BatchNormVectorized passed on an H200 (2026-11-28; set_batch_norm_vectorized,
// WICK_CUDA_BN_VEC=0 to turn off).
OptInSwitch& vec_switch() {
  static OptInSwitch s("WICK_CUDA_BN_VEC", /*default_on=*/true);
  return s;
}

// The values per pack of the batch_norm kernels for x viewed as [N, C, S]
// (loops::pack_width: 16 bytes' worth, halved until S is a multiple of it
// and every tensor the kernels move starts aligned to a pack) when the
// switch is on; 1 when it is off.
template <typename T>
int bn_vector_width(int64_t S, const Tensor& a, const Tensor& b, const Tensor& c) {
  if (!vec_switch().on()) return 1;
  auto base = [](const Tensor& t) { return t.defined() ? t.data_ptr_raw() : nullptr; };  // null: not moved
  return loops::pack_width(sizeof(T), {S}, {{base(a), sizeof(T)}, {base(b), sizeof(T)}, {base(c), sizeof(T)}});
}
}  // namespace

void set_batch_norm_vectorized(bool on) { vec_switch().set(on); }

namespace {
// On since CudaNorm.BatchNormRelu passed on an H200 (2026-11-28; set_batch_norm_relu_fused,
// WICK_CUDA_BN_RELU=0 to run the composed ops).
OptInSwitch& relu_switch() {
  static OptInSwitch s("WICK_CUDA_BN_RELU", /*default_on=*/true);
  return s;
}
}  // namespace
void set_batch_norm_relu_fused(bool on) { relu_switch().set(on); }
bool batch_norm_relu_fused() { return relu_switch().on(); }
bool batch_norm_vectorized() { return vec_switch().on(); }

void set_batch_norm_mixed(bool on) { mixed_switch().set(on); }
bool batch_norm_mixed() { return mixed_switch().on(); }

void batch_norm_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_rstd,
                        const Tensor& running_mean, const Tensor& running_var, const Tensor& x, const Tensor& w,
                        const Tensor& b, int64_t N, int64_t C, int64_t S, bool training, double momentum,
                        double eps, const Tensor& residual, bool relu) {
  const char* op = "batch_norm";
  const DType sd = layer_norm_stats_dtype(x.dtype());
  const DType pd = batch_norm_param_dtype(x, {w, b, running_mean, running_var});
  WICK_CHECK(x.is_cuda() && x.is_contiguous() && x.numel() == N * C * S, "cuda::batch_norm: x must be a contiguous CUDA tensor of N * C * S values");
  check_tensor(op, "out", out, x, x.numel(), x.dtype(), true);
  check_tensor(op, "save_mean", save_mean, x, C, sd, false);
  check_tensor(op, "save_rstd", save_rstd, x, C, sd, false);
  check_tensor(op, "running_mean", running_mean, x, C, pd, !training);
  check_tensor(op, "running_var", running_var, x, C, pd, !training);
  check_tensor(op, "weight", w, x, C, pd, false);
  check_tensor(op, "bias", b, x, C, pd, false);
  check_tensor(op, "residual", residual, x, x.numel(), x.dtype(), false);
  if (C == 0) return;
  const int64_t M = N * S;
  DeviceGuard guard(x.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), op, [&]<typename T>() {
    using A = compute_t<T>;
    auto run = [&]<typename P>() {
      const TensorOptions o = TensorOptions(kFloat64).device(x.device());
      int64_t G = 0;
      Tensor part;
      const int vw = bn_vector_width<T>(S, x, out, residual);
      if (training && M > 0) {
        const int64_t Mv = M / vw;  // packs per channel
        G = channel_chunks(C, M, x.device().index);
        const int64_t per = (Mv + G - 1) / G;
        G = (Mv + per - 1) / per;  // no empty chunk
        part = empty({2, C, G}, o);
        loops::with_pack<T>(vw, [&]<int V>() {
          bn_stats_partial_kernel<T, V>
              <<<dim3(static_cast<unsigned>(C), static_cast<unsigned>(G)), kThreads, 0, stream>>>(
                  ptr<double>(part), ptr<const T>(x), NcsIndex(C, S / V, x.numel() / V), Mv, per);
        });
        WICK_CUDA_CHECK_LAUNCH();
      }
      Tensor coef = empty({2, C}, TensorOptions(dtype_of_storage<A>()).device(x.device()));
      bn_finalize_kernel<T, P><<<grid_for(C, kThreads), kThreads, 0, stream>>>(
          ptr<A>(coef), ptr<A>(save_mean), ptr<A>(save_rstd), ptr<P>(running_mean), ptr<P>(running_var),
          ptr<const double>(part), ptr<const T>(x), ptr<const P>(w), ptr<const P>(b), C, S, M, G, training, momentum,
          eps);
      WICK_CUDA_CHECK_LAUNCH();
      if (M > 0) {
        loops::with_pack<T>(vw, [&]<int V>() {
          const int64_t packs = x.numel() / V;
          bn_apply_kernel<T, V><<<grid_for(packs, kThreads), kThreads, 0, stream>>>(
              ptr<T>(out), ptr<const T>(x), ptr<const A>(coef), NcsIndex(C, S / V, packs), packs,
              ptr<const T>(residual), relu);
        });
        WICK_CUDA_CHECK_LAUNCH();
      }
    };
    with_param_type<T>(pd, run);
  });
}

void batch_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t N, int64_t C, int64_t S,
                         bool training) {
  const char* op = "batch_norm_backward";
  const DType sd = layer_norm_stats_dtype(x.dtype());
  const DType pd = batch_norm_param_dtype(x, {w, gw, gb});
  WICK_CHECK(x.is_cuda() && x.is_contiguous() && x.numel() == N * C * S,
             "cuda::batch_norm_backward: x must be a contiguous CUDA tensor of N * C * S values");
  check_tensor(op, "grad_output", gy, x, x.numel(), x.dtype(), true);
  check_tensor(op, "grad_input", gx, x, x.numel(), x.dtype(), false);
  check_tensor(op, "grad_weight", gw, x, C, pd, false);
  check_tensor(op, "grad_bias", gb, x, C, pd, false);
  check_tensor(op, "mean", mean, x, C, sd, true);
  check_tensor(op, "rstd", rstd, x, C, sd, true);
  check_tensor(op, "weight", w, x, C, pd, false);
  if (C == 0) return;
  const int64_t M = N * S;
  const bool want_gx = gx.defined() && M > 0;
  DeviceGuard guard(x.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), op, [&]<typename T>() {
    using A = compute_t<T>;
    auto run = [&]<typename P>() {
      int64_t G = 0;
      Tensor part;
      const int vw = bn_vector_width<T>(S, x, gy, gx);
      if (M > 0 && (gw.defined() || gb.defined() || (want_gx && training))) {
        const int64_t Mv = M / vw;  // packs per channel
        G = channel_chunks(C, M, x.device().index);
        const int64_t per = (Mv + G - 1) / G;
        G = (Mv + per - 1) / per;
        part = empty({2, C, G}, TensorOptions(kFloat64).device(x.device()));
        loops::with_pack<T>(vw, [&]<int V>() {
          bn_bwd_partial_kernel<T, V>
              <<<dim3(static_cast<unsigned>(C), static_cast<unsigned>(G)), kThreads, 0, stream>>>(
                  ptr<double>(part), ptr<const T>(gy), ptr<const T>(x), ptr<const A>(mean),
                  NcsIndex(C, S / V, x.numel() / V), Mv, per);
        });
        WICK_CUDA_CHECK_LAUNCH();
      }
      Tensor coef = want_gx ? empty({3, C}, TensorOptions(dtype_of_storage<A>()).device(x.device())) : Tensor();
      if (want_gx || gw.defined() || gb.defined()) {
        bn_bwd_finalize_kernel<T, P><<<grid_for(C, kThreads), kThreads, 0, stream>>>(
            ptr<A>(coef), ptr<P>(gw), ptr<P>(gb), ptr<const double>(part), ptr<const A>(rstd), ptr<const P>(w), C, M,
            G, training);
        WICK_CUDA_CHECK_LAUNCH();
      }
      if (want_gx) {
        loops::with_pack<T>(vw, [&]<int V>() {
          const int64_t packs = x.numel() / V;
          bn_bwd_apply_kernel<T, V><<<grid_for(packs, kThreads), kThreads, 0, stream>>>(
              ptr<T>(gx), ptr<const T>(gy), ptr<const T>(x), ptr<const A>(mean), ptr<const A>(coef),
              NcsIndex(C, S / V, packs), packs, training);
        });
        WICK_CUDA_CHECK_LAUNCH();
      }
    };
    with_param_type<T>(pd, run);
  });
}

void group_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t N, int64_t C, int64_t S, int64_t groups, double eps) {
  const char* op = "group_norm";
  const DType sd = layer_norm_stats_dtype(x.dtype());
  WICK_CHECK(x.is_cuda() && x.is_contiguous() && x.numel() == N * C * S && groups > 0 && C % groups == 0,
             "cuda::group_norm: x must be a contiguous CUDA tensor of N * C * S values, C divisible by groups");
  check_tensor(op, "out", out, x, x.numel(), x.dtype(), true);
  check_tensor(op, "mean", mean, x, N * groups, sd, true);
  check_tensor(op, "rstd", rstd, x, N * groups, sd, true);
  check_tensor(op, "weight", w, x, C, x.dtype(), false);
  check_tensor(op, "bias", b, x, C, x.dtype(), false);
  const int64_t rows = N * groups, cpg = C / groups;
  if (rows == 0) return;
  DeviceGuard guard(x.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), op, [&]<typename T>() {
    using A = compute_t<T>;
    group_norm_kernel<T><<<row_grid(rows), long_row_threads(cpg * S), 0, current_stream()>>>(
        ptr<T>(out), ptr<A>(mean), ptr<A>(rstd), ptr<const T>(x), ptr<const T>(w), ptr<const T>(b), rows, groups, cpg,
        S, eps);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void group_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t N, int64_t C, int64_t S,
                         int64_t groups) {
  const char* op = "group_norm_backward";
  const DType sd = layer_norm_stats_dtype(x.dtype());
  WICK_CHECK(x.is_cuda() && x.is_contiguous() && x.numel() == N * C * S && groups > 0 && C % groups == 0,
             "cuda::group_norm_backward: x must be a contiguous CUDA tensor of N * C * S values, C divisible by groups");
  check_tensor(op, "grad_output", gy, x, x.numel(), x.dtype(), true);
  check_tensor(op, "grad_input", gx, x, x.numel(), x.dtype(), false);
  check_tensor(op, "grad_weight", gw, x, C, x.dtype(), false);
  check_tensor(op, "grad_bias", gb, x, C, x.dtype(), false);
  check_tensor(op, "mean", mean, x, N * groups, sd, true);
  check_tensor(op, "rstd", rstd, x, N * groups, sd, true);
  check_tensor(op, "weight", w, x, C, x.dtype(), false);
  const int64_t rows = N * groups, cpg = C / groups;
  DeviceGuard guard(x.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), op, [&]<typename T>() {
    using A = compute_t<T>;
    if (gx.defined() && rows > 0 && cpg * S > 0) {
      group_norm_bwd_x_kernel<T><<<row_grid(rows), long_row_threads(cpg * S), 0, stream>>>(
          ptr<T>(gx), ptr<const T>(gy), ptr<const T>(x), ptr<const A>(mean), ptr<const A>(rstd), ptr<const T>(w), rows,
          groups, cpg, S);
      WICK_CUDA_CHECK_LAUNCH();
    }
    if ((gw.defined() || gb.defined()) && C > 0) {
      group_norm_bwd_wb_kernel<T><<<row_grid(C), row_threads(N * S), 0, stream>>>(
          ptr<T>(gw), ptr<T>(gb), ptr<const T>(gy), ptr<const T>(x), ptr<const A>(mean), ptr<const A>(rstd), N, C, S,
          groups);
      WICK_CUDA_CHECK_LAUNCH();
    }
  });
}

}  // namespace wick::cuda
