// Fused CPU kernels of batch_norm (see batch_norm.h for the contract).
//
// Layout: x is [N, C, S], i.e. R = N * C rows of S contiguous values, row r
// belonging to channel r % C. Both kernels stream the tensor in memory order
// (never channel by channel: for a small S such as ResNet's last stage,
// 64 x 256 x 4 x 4, a channel is 64 runs of 64 bytes 16 KiB apart, which
// thrashes cache sets and TLB), in two passes:
//   pass 1  per-channel sums over the rows, split into blocks of rows; each
//           block accumulates into its own [C] partials (acc_t<T>: double for
//           float32), and the partials are added in block order. Blocks
//           depend only on the shape, so the result does not depend on the
//           thread count.
//   per-channel coefficients from the sums ([C] work)
//   pass 2  the elementwise output, row by row, parallel over rows.
//
// Forward, training (M = N * S values per channel). Pass 1 accumulates the
// shifted sums s1 = sum(x - K), s2 = sum((x - K)^2) with K = the channel's
// first value, so mean = K + s1 / M, var = s2 / M - (s1 / M)^2: one pass
// instead of two, and with K within a few standard deviations of the mean
// the subtraction loses about one digit (not the E[x^2] - E[x]^2
// catastrophe; accumulated in double for float32 the error stays far below
// float rounding).
// Then rstd = 1 / sqrt(var + eps), the running statistics are updated,
// scale = w * rstd, shift = b - mean * scale, and pass 2 writes
// out = x * scale + shift. 2 reads + 1 write per element. Eval skips pass 1.
// The composed version it replaces ran a per-channel moments kernel, six
// [C]-sized ops (rsqrt, add, mul_, add_, mul, sub) and an affine kernel.
//
// Backward (xhat = (x - mean) * rstd): pass 1 sums sg = sum(gy) and
// sgx = sum(gy * (x - mean)), so gb = sg, gw = sgx * rstd; pass 2 writes
//   gx = a * gy + k * (x - mean) + c0,  a = w * rstd, k = -a * rstd^2 * sgx / M,
//   c0 = -a * sg / M                    (training; eval: gx = a * gy)
// 4 reads + 1 write per element (pass 2 re-reads x and gy). The composed
// formula (ops/nn.cpp, still used under create_graph) makes ~12 full-size
// passes with 6 temporaries.
//
// Measured with bench/kernels/bench_nn.cpp (batch_norm_*, float32, one
// thread, CPU time, median of 3; Zen 3 shared with other jobs at load ~12, so
// wall times were 3x the CPU times and only ratios mean anything):
//                         fused     composed (ops)   speed-up
//   fwd [64, 32, 28, 28]  2.17 ms    9.09 ms          4.2x   (5.9 GB/s of the 8 B/element minimum)
//   bwd [64, 32, 28, 28]  2.80 ms   18.8 ms           6.7x   (6.9 GB/s of 12 B/element)
//   fwd [64, 256, 4, 4]   0.38 ms    1.63 ms          4.3x
//   bwd [64, 256, 4, 4]   0.37 ms    2.27 ms          6.2x
// A first version that walked channel by channel (three passes, the last two
// from L2) took 2.07 / 2.85 ms on the first shape but 0.63 / 1.17 ms on the
// second (64-byte runs 16 KiB apart), hence the memory-order streaming. The
// STREAM triad on the loaded machine read 3.1 GB/s, so no fraction of peak
// is quoted; a [64, 32, 28, 28] tensor (6.4 MB) lives in L3. "composed"
// forward is the formula written with reduce / broadcast ops; the forward
// this kernel replaced (moments kernel + six [C] ops + affine kernel) was not
// benchmarked on its own; its effect is in the whole-step numbers.
#include "ops/cpu/batch_norm.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/cpu/loops.h"

namespace wick::cpu {

namespace {

template <typename T>
T* opt_ptr(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Blocks of rows for pass 1: about kParallelGrain values each, at most 64;
// fixed by the shape alone.
struct RowBlocks {
  int64_t per, count;
};
RowBlocks row_blocks(int64_t rows, int64_t S) {
  const int64_t want = std::clamp<int64_t>(rows * S / kParallelGrain, 1, 64);
  const int64_t per = (rows + want - 1) / want;
  return {per, (rows + per - 1) / per};
}

// Pass 1 of both kernels: for every channel c, p1[c] = sum f1(r, i) and
// p2[c] = sum f2(r, i) over the values (row r, position i) of c; f(r, i)
// returns the pair of terms. Partials per block, summed in block order.
template <typename A, typename Terms>
void channel_sums(int64_t N, int64_t C, int64_t S, std::vector<A>& s1, std::vector<A>& s2, const Terms& terms) {
  const int64_t rows = N * C;
  const RowBlocks rb = row_blocks(rows, S);
  std::vector<A> part(static_cast<size_t>(2 * rb.count * C), A(0));
  parallel_for(0, rb.count, 1, [&](int64_t bb, int64_t be) {
    for (int64_t blk = bb; blk < be; ++blk) {
      A* p1 = part.data() + 2 * blk * C;
      A* p2 = p1 + C;
      const int64_t r1 = std::min(rows, (blk + 1) * rb.per);
      for (int64_t r = blk * rb.per; r < r1; ++r) terms(r, r % C, p1, p2);
    }
  });
  s1.assign(static_cast<size_t>(C), A(0));
  s2.assign(static_cast<size_t>(C), A(0));
  for (int64_t blk = 0; blk < rb.count; ++blk)
    for (int64_t c = 0; c < C; ++c) {
      s1[c] += part[2 * blk * C + c];
      s2[c] += part[2 * blk * C + C + c];
    }
}

// Pass 2 of both kernels: body(r, c) for every row, parallel over rows.
template <typename Body>
void for_rows(int64_t N, int64_t C, int64_t S, const Body& body) {
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(S, 1));
  parallel_for(0, N * C, grain, [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) body(r, r % C);
  });
}

template <typename T>
struct FwdArgs {
  T* out;
  T* save_mean;
  T* save_rstd;
  T* running_mean;
  T* running_var;
  const T* x;
  const T* w;
  const T* b;
  const T* residual;  // added to the output before the relu (may be null)
  bool relu;
};

template <typename T>
void bn_forward(const FwdArgs<T>& a, int64_t N, int64_t C, int64_t S, bool training, double momentum,
                double eps) {
  using A = acc_t<T>;
  const int64_t M = N * S;
  std::vector<A> mean(static_cast<size_t>(C)), var(static_cast<size_t>(C));
  if (!training) {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = static_cast<A>(a.running_mean[c]);
      var[c] = static_cast<A>(a.running_var[c]);
    }
  } else if (M == 0) {
    std::fill(mean.begin(), mean.end(), std::numeric_limits<A>::quiet_NaN());
    std::fill(var.begin(), var.end(), std::numeric_limits<A>::quiet_NaN());
  } else {
    std::vector<A> shift(static_cast<size_t>(C)), s1, s2;
    for (int64_t c = 0; c < C; ++c) shift[c] = static_cast<A>(a.x[c * S]);
    channel_sums<A>(N, C, S, s1, s2, [&](int64_t r, int64_t c, A* p1, A* p2) {
      const T* xr = a.x + r * S;
      const A k = shift[c];
      A t1 = 0, t2 = 0;
#pragma omp simd reduction(+ : t1, t2)
      for (int64_t i = 0; i < S; ++i) {
        const A d = static_cast<A>(xr[i]) - k;
        t1 += d;
        t2 += d * d;
      }
      p1[c] += t1;
      p2[c] += t2;
    });
    const A inv_m = A(1) / static_cast<A>(M);
    const T mom = static_cast<T>(momentum), keep = static_cast<T>(1.0 - momentum);
    // The running estimate uses the unbiased variance (the op checks M > 1).
    const T mom_bessel =
        M > 1 ? static_cast<T>(momentum * (static_cast<double>(M) / static_cast<double>(M - 1))) : T(0);
    for (int64_t c = 0; c < C; ++c) {
      const A d = s1[c] * inv_m;
      mean[c] = shift[c] + d;
      var[c] = std::max(A(0), s2[c] * inv_m - d * d);
      // Buffers, not autograd state. Rounded in T in the order of
      // running_mean.mul_(1 - momentum).add_(mean, momentum), as torch.
      if (a.running_mean) {
        const T decayed = a.running_mean[c] * keep;
        a.running_mean[c] = decayed + static_cast<T>(mean[c]) * mom;
      }
      if (a.running_var) {
        const T decayed = a.running_var[c] * keep;
        a.running_var[c] = decayed + static_cast<T>(var[c]) * mom_bessel;
      }
    }
  }
  // out = (x - mean) * rstd * w + b = x * scale + shift
  std::vector<T> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const A rstd = A(1) / std::sqrt(var[c] + static_cast<A>(eps));
    if (a.save_mean) a.save_mean[c] = static_cast<T>(mean[c]);
    if (a.save_rstd) a.save_rstd[c] = static_cast<T>(rstd);
    const A sc = rstd * (a.w ? static_cast<A>(a.w[c]) : A(1));
    scale[c] = static_cast<T>(sc);
    shift[c] = static_cast<T>((a.b ? static_cast<A>(a.b[c]) : A(0)) - mean[c] * sc);
  }
  if (M == 0) return;
  for_rows(N, C, S, [&](int64_t r, int64_t c) {
    const T* xr = a.x + r * S;
    T* o = a.out + r * S;
    const T sc = scale[c], sh = shift[c];
    if (!a.residual && !a.relu) {
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) o[i] = xr[i] * sc + sh;
      return;
    }
    // The epilogue in T, operation by operation as the composed ops round:
    // y = x * scale + shift, y + residual, then relu (NaN propagates).
    const T* rr = a.residual ? a.residual + r * S : nullptr;
#pragma omp simd
    for (int64_t i = 0; i < S; ++i) {
      T v = xr[i] * sc + sh;
      if (rr) v = v + rr[i];
      if (a.relu) v = v < T(0) ? T(0) : v;
      o[i] = v;
    }
  });
}

template <typename T>
struct BwdArgs {
  T* gx;
  T* gw;
  T* gb;
  const T* gy;
  const T* x;
  const T* mean;
  const T* rstd;
  const T* w;
};

template <typename T>
void bn_backward(const BwdArgs<T>& a, int64_t N, int64_t C, int64_t S, bool training) {
  using A = acc_t<T>;
  const int64_t M = N * S;
  // sum(gy), sum(gy * (x - mean)): for gw, gb, and for gx in training mode.
  std::vector<A> sg(static_cast<size_t>(C), A(0)), sgx(static_cast<size_t>(C), A(0));
  if (M > 0 && (a.gw || a.gb || (a.gx && training))) {
    channel_sums<A>(N, C, S, sg, sgx, [&](int64_t r, int64_t c, A* p1, A* p2) {
      const T* xr = a.x + r * S;
      const T* gr = a.gy + r * S;
      const T m = a.mean[c];
      A t1 = 0, t2 = 0;
#pragma omp simd reduction(+ : t1, t2)
      for (int64_t i = 0; i < S; ++i) {
        const A g = static_cast<A>(gr[i]);
        t1 += g;
        t2 += g * static_cast<A>(xr[i] - m);
      }
      p1[c] += t1;
      p2[c] += t2;
    });
  }
  for (int64_t c = 0; c < C; ++c) {
    if (a.gb) a.gb[c] = static_cast<T>(sg[c]);
    if (a.gw) a.gw[c] = M ? static_cast<T>(sgx[c] * static_cast<A>(a.rstd[c])) : T(0);  // empty: r is NaN
  }
  if (!a.gx || M == 0) return;
  // gx = ka * gy + kx * (x - mean) + k0 (see the file comment).
  std::vector<T> ka(static_cast<size_t>(C)), kx(static_cast<size_t>(C)), k0(static_cast<size_t>(C));
  const A inv_m = A(1) / static_cast<A>(M);
  for (int64_t c = 0; c < C; ++c) {
    const A r = static_cast<A>(a.rstd[c]);
    const A coef = r * (a.w ? static_cast<A>(a.w[c]) : A(1));
    ka[c] = static_cast<T>(coef);
    kx[c] = training ? static_cast<T>(-coef * r * r * sgx[c] * inv_m) : T(0);
    k0[c] = training ? static_cast<T>(-coef * sg[c] * inv_m) : T(0);
  }
  if (!training) {
    for_rows(N, C, S, [&](int64_t r, int64_t c) {
      const T* gr = a.gy + r * S;
      T* o = a.gx + r * S;
      const T k = ka[c];
#pragma omp simd
      for (int64_t i = 0; i < S; ++i) o[i] = gr[i] * k;
    });
    return;
  }
  for_rows(N, C, S, [&](int64_t r, int64_t c) {
    const T* xr = a.x + r * S;
    const T* gr = a.gy + r * S;
    T* o = a.gx + r * S;
    const T m = a.mean[c], ca = ka[c], cx = kx[c], c0 = k0[c];
#pragma omp simd
    for (int64_t i = 0; i < S; ++i) o[i] = ca * gr[i] + cx * (xr[i] - m) + c0;
  });
}

}  // namespace

void batch_norm_forward(const Tensor& out, const Tensor& save_mean, const Tensor& save_rstd,
                        const Tensor& running_mean, const Tensor& running_var, const Tensor& x, const Tensor& w,
                        const Tensor& b, int64_t N, int64_t C, int64_t S, bool training, double momentum,
                        double eps, const Tensor& residual, bool relu) {
  if (C == 0) return;
  WICK_DISPATCH_FLOAT(x.dtype(), "batch_norm", [&]<typename T>() {
    const FwdArgs<T> a{out.numel() ? out.data_ptr<T>() : nullptr,
                       opt_ptr<T>(save_mean),
                       opt_ptr<T>(save_rstd),
                       opt_ptr<T>(running_mean),
                       opt_ptr<T>(running_var),
                       x.numel() ? x.data_ptr<T>() : nullptr,
                       opt_ptr<T>(w),
                       opt_ptr<T>(b),
                       residual.defined() && residual.numel() ? residual.data_ptr<T>() : nullptr,
                       relu};
    bn_forward<T>(a, N, C, S, training, momentum, eps);
  });
}

void batch_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t N, int64_t C, int64_t S,
                         bool training) {
  if (C == 0) return;
  WICK_DISPATCH_FLOAT(x.dtype(), "batch_norm_backward", [&]<typename T>() {
    const bool empty = N * S == 0;
    const BwdArgs<T> a{empty ? nullptr : opt_ptr<T>(gx),
                       opt_ptr<T>(gw),
                       opt_ptr<T>(gb),
                       empty ? nullptr : gy.data_ptr<T>(),
                       empty ? nullptr : x.data_ptr<T>(),
                       mean.data_ptr<T>(),
                       rstd.data_ptr<T>(),
                       opt_ptr<T>(w)};
    bn_backward<T>(a, N, C, S, training);
  });
}

}  // namespace wick::cpu
