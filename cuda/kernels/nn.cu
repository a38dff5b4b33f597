// CUDA softmax / log_softmax and layer_norm / rms_norm, forward and backward
// (contracts: cuda/kernels/nn.h and ops/cpu/nn.h). Every kernel here is
// memory-bound: the goal is the bandwidth, reading each input once or twice.
//
// Softmax along a dim of size n, the tensor viewed as [outer, n, inner]:
//   - inner == 1 (the last dim): one block per row. Three sweeps over the
//     row (max, sum of exp, write); the row stays in L1/L2 between them
//     for the row lengths of a classifier or an attention score row.
//   - inner > 1: one thread per (outer, inner) column, walking the n values
//     with stride inner, so a warp reads 32 adjacent values at each step
//     (coalesced). An online max/sum (rescaling the sum when the max grows)
//     reads x once before the write sweep.
// Layer norm over [rows, cols]: one block per row, the mean and the variance
// from two sweeps (sum, then sum of squared deviations: no cancellation),
// then the write. The backward's weight/bias gradients are column sums over
// the rows: per-chunk partials (a grid of column blocks x row chunks, each
// thread one column of one chunk, coalesced across columns), then a fixed-
// order sum of the chunks: deterministic, no atomics.
#include "cuda/kernels/nn.h"

#include <algorithm>
#include <cmath>

#include "cuda/kernels/block.cuh"
#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;

// ---- softmax ----------------------------------------------------------------

// kChunks: the sweeps by row_chunks (block.cuh; set_row_kernels_chunked).
template <typename T, bool kChunks>
__global__ void softmax_rows_kernel(T* __restrict__ out, const T* __restrict__ x, int64_t rows, int64_t n,
                                    bool log) {
  using A = compute_t<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {  // uniform across the block
    const T* xr = x + r * n;
    T* o = out + r * n;
    A m = -INFINITY;
    if constexpr (kChunks)
      row_chunks(xr, n, [&](int64_t, T v) { m = max_keep(m, to_compute<A>(v)); });
    else
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) m = max_keep(m, to_compute<A>(xr[i]));
    m = block_max(m);
    A s = 0;
    if constexpr (kChunks)
      row_chunks(xr, n, [&](int64_t, T v) { s += dexp(to_compute<A>(v) - m); });
    else
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += dexp(to_compute<A>(xr[i]) - m);
    s = block_sum(s);
    // (x - max) - log(sum), as on the CPU: x - (max + log(sum)) would round max + log(sum) at the
    // magnitude of max (1e4 in float32 loses 3 digits).
    const A ls = log ? dlog(s) : A(0), inv = A(1) / s;
    auto value = [&](A xv) { return from_compute<T>(log ? (xv - m) - ls : dexp(xv - m) * inv); };
    if constexpr (kChunks) {
      for (int64_t i0 = int64_t(threadIdx.x) * kRowChunk; i0 < n; i0 += int64_t(blockDim.x) * kRowChunk) {
        A xv[kRowChunk];
        row_chunk_load(xr, n, i0, xv);
        row_chunk_store(o, n, i0, [&](int64_t i) { return value(xv[i - i0]); });
      }
    } else {
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x) o[i] = value(to_compute<A>(xr[i]));
    }
  }
}

template <typename T>
__global__ void softmax_cols_kernel(T* __restrict__ out, const T* __restrict__ x, int64_t outer, int64_t n,
                                    int64_t inner, bool log) {
  using A = compute_t<T>;
  for (int64_t t = global_thread(); t < outer * inner; t += grid_threads()) {
    const int64_t base = (t / inner) * n * inner + t % inner;
    A m = -INFINITY, s = 0;
    for (int64_t k = 0; k < n; ++k) {
      const A v = to_compute<A>(x[base + k * inner]);
      if (m < v) {  // a new max: rescale the sum (the first value gives s = 1)
        s = s * dexp(m - v) + A(1);
        m = v;
      } else {
        s += dexp(v - m);  // NaN v (or -inf everywhere) gives NaN, as on the CPU
      }
    }
    if (log) {
      const A ls = dlog(s);
      for (int64_t k = 0; k < n; ++k)
        out[base + k * inner] = from_compute<T>((to_compute<A>(x[base + k * inner]) - m) - ls);
    } else {
      const A inv = A(1) / s;
      for (int64_t k = 0; k < n; ++k)
        out[base + k * inner] = from_compute<T>(dexp(to_compute<A>(x[base + k * inner]) - m) * inv);
    }
  }
}

template <typename T, bool kChunks>
__global__ void softmax_bwd_rows_kernel(T* __restrict__ gx, const T* __restrict__ gy, const T* __restrict__ y,
                                        int64_t rows, int64_t n, bool log) {
  using A = compute_t<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t off = r * n;
    A s = 0;
    if constexpr (kChunks) {
      for (int64_t i0 = int64_t(threadIdx.x) * kRowChunk; i0 < n; i0 += int64_t(blockDim.x) * kRowChunk) {
        A g[kRowChunk], yv[kRowChunk];
        row_chunk_load(gy + off, n, i0, g);
        if (!log) row_chunk_load(y + off, n, i0, yv);
#pragma unroll
        for (int j = 0; j < kRowChunk; ++j)
          if (i0 + j < n) s += log ? g[j] : g[j] * yv[j];
      }
    } else {
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        s += log ? to_compute<A>(gy[off + i]) : to_compute<A>(gy[off + i]) * to_compute<A>(y[off + i]);
    }
    s = block_sum(s);
    auto value = [&](A g, A yv) { return from_compute<T>(log ? g - dexp(yv) * s : yv * (g - s)); };
    if constexpr (kChunks) {
      for (int64_t i0 = int64_t(threadIdx.x) * kRowChunk; i0 < n; i0 += int64_t(blockDim.x) * kRowChunk) {
        A g[kRowChunk], yv[kRowChunk];
        row_chunk_load(gy + off, n, i0, g);
        row_chunk_load(y + off, n, i0, yv);
        row_chunk_store(gx + off, n, i0, [&](int64_t i) { return value(g[i - i0], yv[i - i0]); });
      }
    } else {
      for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        gx[off + i] = value(to_compute<A>(gy[off + i]), to_compute<A>(y[off + i]));
    }
  }
}

template <typename T>
__global__ void softmax_bwd_cols_kernel(T* __restrict__ gx, const T* __restrict__ gy, const T* __restrict__ y,
                                        int64_t outer, int64_t n, int64_t inner, bool log) {
  using A = compute_t<T>;
  for (int64_t t = global_thread(); t < outer * inner; t += grid_threads()) {
    const int64_t base = (t / inner) * n * inner + t % inner;
    A s = 0;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = base + k * inner;
      s += log ? to_compute<A>(gy[i]) : to_compute<A>(gy[i]) * to_compute<A>(y[i]);
    }
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = base + k * inner;
      const A g = to_compute<A>(gy[i]), yv = to_compute<A>(y[i]);
      gx[i] = from_compute<T>(log ? g - dexp(yv) * s : yv * (g - s));
    }
  }
}

// On since CudaNn.*RowChunks and CudaLoss.CrossEntropyRowChunks passed on an H200 (2026-11-28);
// WICK_CUDA_ROW_CHUNKS=0 for one value per thread and step.
OptInSwitch& row_chunks_switch() {
  static OptInSwitch s("WICK_CUDA_ROW_CHUNKS", /*default_on=*/true);
  return s;
}

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  WICK_CHECK(a.is_cuda() && b.device() == a.device() && a.sizes() == b.sizes() && a.dtype() == b.dtype() &&
                 a.is_contiguous() && b.is_contiguous(),
             "cuda::", op, ": expected contiguous CUDA tensors of the same shape, dtype and device");
}

// ---- layer norm -------------------------------------------------------------

template <typename T, bool kChunks>
__global__ void layer_norm_kernel(T* __restrict__ out, compute_t<T>* __restrict__ mean_out, compute_t<T>* __restrict__ rstd_out,
                                  const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ b,
                                  int64_t rows, int64_t cols, double eps, bool rms) {
  using A = compute_t<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    A mean = 0;
    if (!rms) {
      A s = 0;
      if constexpr (kChunks)
        row_chunks(xr, cols, [&](int64_t, T v) { s += to_compute<A>(v); });
      else
        for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) s += to_compute<A>(xr[i]);
      mean = block_sum(s) / static_cast<A>(cols);
    }
    A q = 0;
    auto dev2 = [&](A v) {
      const A d = v - mean;
      q += d * d;
    };
    if constexpr (kChunks)
      row_chunks(xr, cols, [&](int64_t, T v) { dev2(to_compute<A>(v)); });
    else
      for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) dev2(to_compute<A>(xr[i]));
    const A rstd = A(1) / dsqrt(block_sum(q) / static_cast<A>(cols) + static_cast<A>(eps));
    if (threadIdx.x == 0) {
      if (mean_out) mean_out[r] = mean;
      rstd_out[r] = rstd;
    }
    T* o = out + r * cols;
    auto value = [&](int64_t i, A xv) {
      A v = (xv - mean) * rstd;
      if (w) v *= to_compute<A>(w[i]);
      if (b) v += to_compute<A>(b[i]);
      return from_compute<T>(v);
    };
    if constexpr (kChunks) {
      for (int64_t i0 = int64_t(threadIdx.x) * kRowChunk; i0 < cols; i0 += int64_t(blockDim.x) * kRowChunk) {
        A xv[kRowChunk];
        row_chunk_load(xr, cols, i0, xv);
        row_chunk_store(o, cols, i0, [&](int64_t i) { return value(i, xv[i - i0]); });
      }
    } else {
      for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) o[i] = value(i, to_compute<A>(xr[i]));
    }
  }
}

// gx per row: rstd * (gh - mean(gh) - xhat * mean(gh * xhat)), gh = gy * w.
template <typename T, bool kChunks>
__global__ void layer_norm_bwd_x_kernel(T* __restrict__ gx, const T* __restrict__ gy, const T* __restrict__ x,
                                        const compute_t<T>* __restrict__ mean, const compute_t<T>* __restrict__ rstd,
                                        const T* __restrict__ w, int64_t rows, int64_t cols, bool rms) {
  using A = compute_t<T>;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t off = r * cols;
    const A mu = rms ? A(0) : mean[r], rs = rstd[r];
    // xhat and gy * w of value i from x and gy.
    auto xhat = [&](A xv) { return (xv - mu) * rs; };
    auto gh_of = [&](int64_t i, A gv) { return w ? gv * to_compute<A>(w[i]) : gv; };
    A s1 = 0, s2 = 0;
    if constexpr (kChunks) {
      for (int64_t i0 = int64_t(threadIdx.x) * kRowChunk; i0 < cols; i0 += int64_t(blockDim.x) * kRowChunk) {
        A xv[kRowChunk], gv[kRowChunk];
        row_chunk_load(x + off, cols, i0, xv);
        row_chunk_load(gy + off, cols, i0, gv);
#pragma unroll
        for (int j = 0; j < kRowChunk; ++j)
          if (i0 + j < cols) {
            const A gh = gh_of(i0 + j, gv[j]);
            s1 += gh;
            s2 += gh * xhat(xv[j]);
          }
      }
    } else {
      for (int64_t i = threadIdx.x; i < cols; i += blockDim.x) {
        const A gh = gh_of(i, to_compute<A>(gy[off + i]));
        s1 += gh;
        s2 += gh * xhat(to_compute<A>(x[off + i]));
      }
    }
    const A m1 = rms ? A(0) : block_sum(s1) / static_cast<A>(cols);
    const A m2 = block_sum(s2) / static_cast<A>(cols);
    auto value = [&](int64_t i, A xv, A gv) { return from_compute<T>(rs * (gh_of(i, gv) - m1 - xhat(xv) * m2)); };
    if constexpr (kChunks) {
      for (int64_t i0 = int64_t(threadIdx.x) * kRowChunk; i0 < cols; i0 += int64_t(blockDim.x) * kRowChunk) {
        A xv[kRowChunk], gv[kRowChunk];
        row_chunk_load(x + off, cols, i0, xv);
        row_chunk_load(gy + off, cols, i0, gv);
        row_chunk_store(gx + off, cols, i0, [&](int64_t i) { return value(i, xv[i - i0], gv[i - i0]); });
      }
    } else {
      for (int64_t i = threadIdx.x; i < cols; i += blockDim.x)
        gx[off + i] = value(i, to_compute<A>(x[off + i]), to_compute<A>(gy[off + i]));
    }
  }
}

// Partials of gw = sum_rows(gy * xhat) and gb = sum_rows(gy): blockIdx.y is a
// chunk of `chunk` rows, each thread one column.
template <typename T>
__global__ void layer_norm_bwd_wb_partial_kernel(compute_t<T>* __restrict__ pw, compute_t<T>* __restrict__ pb,
                                                 const T* __restrict__ gy, const T* __restrict__ x,
                                                 const compute_t<T>* __restrict__ mean,
                                                 const compute_t<T>* __restrict__ rstd,
                                                 int64_t rows, int64_t cols, int64_t chunk, bool rms) {
  using A = compute_t<T>;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk, r1 = min(rows, r0 + chunk);
  A sw = 0, sb = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const A g = to_compute<A>(gy[r * cols + c]);
    const A mu = rms ? A(0) : mean[r];
    sw += g * (to_compute<A>(x[r * cols + c]) - mu) * rstd[r];
    sb += g;
  }
  if (pw) pw[blockIdx.y * cols + c] = sw;
  if (pb) pb[blockIdx.y * cols + c] = sb;
}

template <typename T>
__global__ void layer_norm_bwd_wb_final_kernel(T* __restrict__ gw, T* __restrict__ gb,
                                               const compute_t<T>* __restrict__ pw,
                                               const compute_t<T>* __restrict__ pb, int64_t chunks, int64_t cols) {
  using A = compute_t<T>;
  for (int64_t c = global_thread(); c < cols; c += grid_threads()) {
    A sw = 0, sb = 0;
    for (int64_t k = 0; k < chunks; ++k) {  // a fixed order: deterministic
      if (pw) sw += pw[k * cols + c];
      if (pb) sb += pb[k * cols + c];
    }
    if (gw) gw[c] = from_compute<T>(sw);
    if (gb) gb[c] = from_compute<T>(sb);
  }
}

void check_vector(const char* op, const char* name, const Tensor& v, const Tensor& x, int64_t n, DType dt) {
  if (!v.defined()) return;
  WICK_CHECK(v.device() == x.device() && v.dtype() == dt && v.numel() == n && v.is_contiguous(), "cuda::", op, ": ",
             name, " must be a contiguous ", dt, " tensor of ", n, " values on ", x.device());
}
void check_vector(const char* op, const char* name, const Tensor& v, const Tensor& x, int64_t n) {
  check_vector(op, name, v, x, n, x.dtype());
}

}  // namespace

void set_row_kernels_chunked(bool on) { row_chunks_switch().set(on); }
bool row_kernels_chunked() { return row_chunks_switch().on(); }

DType layer_norm_stats_dtype(DType x) { return x == kFloat16 || x == kBFloat16 ? kFloat32 : x; }

void softmax(const Tensor& out, const Tensor& x, int64_t dim, bool log) {
  check_same("softmax", out, x);
  if (x.numel() == 0) return;
  const Around a = around(x, dim);
  DeviceGuard guard(x.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), log ? "log_softmax" : "softmax", [&]<typename T>() {
    T* o = static_cast<T*>(out.data_ptr_raw());
    const T* p = static_cast<const T*>(x.data_ptr_raw());
    if (a.inner == 1)
      (row_kernels_chunked() ? softmax_rows_kernel<T, true> : softmax_rows_kernel<T, false>)
          <<<row_grid(a.outer), row_kernels_chunked() ? row_threads_chunked(a.n) : row_threads(a.n), 0, stream>>>(
              o, p, a.outer, a.n, log);
    else
      softmax_cols_kernel<T><<<grid_for(a.outer * a.inner, kThreads), kThreads, 0, stream>>>(o, p, a.outer, a.n,
                                                                                              a.inner, log);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void softmax_backward(const Tensor& gx, const Tensor& gy, const Tensor& y, int64_t dim, bool log) {
  check_same("softmax_backward", gx, gy);
  check_same("softmax_backward", gx, y);
  if (y.numel() == 0) return;
  const Around a = around(y, dim);
  DeviceGuard guard(y.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_FLOAT(y.dtype(), "softmax_backward", [&]<typename T>() {
    T* g = static_cast<T*>(gx.data_ptr_raw());
    const T* go = static_cast<const T*>(gy.data_ptr_raw());
    const T* yo = static_cast<const T*>(y.data_ptr_raw());
    if (a.inner == 1)
      (row_kernels_chunked() ? softmax_bwd_rows_kernel<T, true> : softmax_bwd_rows_kernel<T, false>)
          <<<row_grid(a.outer), row_kernels_chunked() ? row_threads_chunked(a.n) : row_threads(a.n), 0, stream>>>(
              g, go, yo, a.outer, a.n, log);
    else
      softmax_bwd_cols_kernel<T><<<grid_for(a.outer * a.inner, kThreads), kThreads, 0, stream>>>(
          g, go, yo, a.outer, a.n, a.inner, log);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& w,
                const Tensor& b, int64_t rows, int64_t cols, double eps, bool rms) {
  check_same("layer_norm", out, x);
  WICK_CHECK(rows * cols == x.numel(), "cuda::layer_norm: rows x cols != numel");
  check_vector("layer_norm", "weight", w, x, cols);
  check_vector("layer_norm", "bias", b, x, cols);
  check_vector("layer_norm", "mean", mean, x, rows, layer_norm_stats_dtype(x.dtype()));
  check_vector("layer_norm", "rstd", rstd, x, rows, layer_norm_stats_dtype(x.dtype()));
  WICK_CHECK(rstd.defined(), "cuda::layer_norm: rstd is required");
  if (rows == 0) return;
  DeviceGuard guard(x.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), rms ? "rms_norm" : "layer_norm", [&]<typename T>() {
    const bool chunks = row_kernels_chunked();
    (chunks ? layer_norm_kernel<T, true> : layer_norm_kernel<T, false>)<<<
        row_grid(rows), chunks ? row_threads_chunked(cols) : row_threads(cols), 0, stream>>>(
        ptr_or_null<T>(out), rms ? nullptr : ptr_or_null<compute_t<T>>(mean), ptr_or_null<compute_t<T>>(rstd), ptr_or_null<T>(x),
        ptr_or_null<T>(w), rms ? nullptr : ptr_or_null<T>(b), rows, cols, eps, rms);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void layer_norm_backward(const Tensor& gx, const Tensor& gw, const Tensor& gb, const Tensor& gy, const Tensor& x,
                         const Tensor& mean, const Tensor& rstd, const Tensor& w, int64_t rows, int64_t cols,
                         bool rms) {
  check_same("layer_norm_backward", gy, x);
  if (gx.defined()) check_same("layer_norm_backward", gx, x);
  check_vector("layer_norm_backward", "weight", w, x, cols);
  check_vector("layer_norm_backward", "grad_weight", gw, x, cols);
  check_vector("layer_norm_backward", "grad_bias", gb, x, cols);
  check_vector("layer_norm_backward", "mean", mean, x, rows, layer_norm_stats_dtype(x.dtype()));
  check_vector("layer_norm_backward", "rstd", rstd, x, rows, layer_norm_stats_dtype(x.dtype()));
  WICK_CHECK(rstd.defined() && (rms || mean.defined()), "cuda::layer_norm_backward: the forward's statistics are required");
  DeviceGuard guard(x.device().index);
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_FLOAT(x.dtype(), rms ? "rms_norm_backward" : "layer_norm_backward", [&]<typename T>() {
    using A = compute_t<T>;
    const A* mu = rms ? nullptr : ptr_or_null<A>(mean);
    const A* rs = ptr_or_null<A>(rstd);
    const bool chunks = row_kernels_chunked();
    if (gx.defined() && rows > 0)
      (chunks ? layer_norm_bwd_x_kernel<T, true> : layer_norm_bwd_x_kernel<T, false>)<<<
          row_grid(rows), chunks ? row_threads_chunked(cols) : row_threads(cols), 0, stream>>>(
          ptr_or_null<T>(gx), ptr_or_null<T>(gy), ptr_or_null<T>(x), mu, rs, ptr_or_null<T>(w), rows,
          cols, rms);
    if ((gw.defined() || gb.defined()) && cols > 0) {
      // About 4 blocks per SM in all; at least 32 rows per chunk.
      const int64_t col_blocks = (cols + kThreads - 1) / kThreads;
      const int64_t sms = device_properties(x.device().index).multiProcessorCount;
      const int64_t want = std::max<int64_t>(1, 4 * sms / col_blocks);
      const int64_t chunk = std::max<int64_t>(32, (rows + want - 1) / want);
      const int64_t chunks = std::max<int64_t>(1, (rows + chunk - 1) / chunk);
      const DType acc = std::is_same_v<A, double> ? kFloat64 : kFloat32;
      Tensor pw = gw.defined() ? empty({chunks, cols}, TensorOptions(acc).device(x.device())) : Tensor();
      Tensor pb = gb.defined() ? empty({chunks, cols}, TensorOptions(acc).device(x.device())) : Tensor();
      if (rows > 0) {
        const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(chunks));
        layer_norm_bwd_wb_partial_kernel<T><<<grid, kThreads, 0, stream>>>(
            ptr_or_null<A>(pw), ptr_or_null<A>(pb), ptr_or_null<T>(gy), ptr_or_null<T>(x), mu, rs,
            rows, cols, chunk, rms);
        WICK_CUDA_CHECK_LAUNCH();
      } else {
        if (pw.defined()) pw.zero_();
        if (pb.defined()) pb.zero_();
      }
      layer_norm_bwd_wb_final_kernel<T><<<grid_for(cols, kThreads), kThreads, 0, stream>>>(
          ptr_or_null<T>(gw), ptr_or_null<T>(gb), ptr_or_null<A>(pw), ptr_or_null<A>(pb), chunks, cols);
    }
    WICK_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace wick::cuda
