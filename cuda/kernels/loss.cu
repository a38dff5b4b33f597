// CUDA class-index cross entropy (contracts: cuda/kernels/loss.h and
// ops/cpu/loss.h). Per position p (a row of C logits, classes at stride
// `inner`), one block:
//   forward:  m = max x, s = sum exp(x - m), lse = m + log s,
//             loss = (1-eps) wt (lse - x_t) + eps/C (W lse - sum_c w_c x_c)
//   backward: gx_c = s' ((1-eps) wt + eps W / C) exp(x_c - lse) - s' eps w_c / C
//                    - s' (1-eps) wt [c == t],   s' = g * scale
// with W = sum_c w_c (C without weights), zero loss/gradient where the
// target is ignore_index. Reads x once per sweep, writes only lse and the
// loss (forward) or gx (backward): no log-softmax tensor.
#include "cuda/kernels/loss.h"

#include <cstdint>
#include <type_traits>

#include "cuda/kernels/block.cuh"
#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/rounding.cuh"
#include "cuda/kernels/nn.h"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;

// The first out-of-range position (as an unsigned min; n when none).
template <typename I, typename W>
__global__ void class_target_kernel(int64_t* __restrict__ t_safe, W* __restrict__ wt, const I* __restrict__ target,
                                    const W* __restrict__ weight, int64_t n, int64_t C, int64_t ignore_index,
                                    unsigned long long* __restrict__ first_bad) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t t = static_cast<int64_t>(target[i]);
    if (t == ignore_index) {
      t_safe[i] = 0;
      wt[i] = from_compute<W>(0.0f);
    } else if (t < 0 || t >= C) {
      t_safe[i] = 0;
      wt[i] = from_compute<W>(0.0f);
      atomicMin(first_bad, static_cast<unsigned long long>(i));
    } else {
      t_safe[i] = t;
      wt[i] = weight ? weight[t] : from_compute<W>(1.0f);
    }
  }
}

// Sum of the class weights (C without weights), needed with label smoothing.
template <typename A, typename W>
__device__ A weight_total(const W* w, int64_t C) {
  if (!w) return static_cast<A>(C);
  A s = 0;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += to_compute<A>(w[c]);
  return block_sum(s);
}

// T: the logits (and their gradient); O: the loss, lse, class weight and
// incoming gradient, T itself or float32 beside a 16-bit T (the mixed form).
// The math is in compute_t<T>, which is compute_t<O> in both forms.
// kChunks (inner == 1 only): the row sweeps by row_chunks (block.cuh; set_row_chunks).
template <typename T, typename O, bool kChunks>
__global__ void ce_forward_kernel(O* __restrict__ loss, O* __restrict__ lse_out, const T* __restrict__ x,
                                  const int64_t* __restrict__ target, const O* __restrict__ w, int64_t P, int64_t C,
                                  int64_t inner, int64_t ignore_index, double eps) {
  using A = compute_t<T>;
  static_assert(std::is_same_v<A, compute_t<O>>, "the mixed form pairs 16-bit logits with float32");
  for (int64_t p = blockIdx.x; p < P; p += gridDim.x) {  // uniform across the block
    const int64_t t = target[p];
    if (t == ignore_index) {
      if (threadIdx.x == 0) loss[p] = lse_out[p] = from_compute<O>(A(0));
      continue;
    }
    const T* xr = x + (p / inner) * C * inner + p % inner;
    A m = -INFINITY;
    if constexpr (kChunks)
      row_chunks(xr, C, [&](int64_t, T v) { m = max_keep(m, to_compute<A>(v)); });
    else
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) m = max_keep(m, to_compute<A>(xr[c * inner]));
    m = block_max(m);
    A s = 0;
    if constexpr (kChunks)
      row_chunks(xr, C, [&](int64_t, T v) { s += dexp(to_compute<A>(v) - m); });
    else
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) s += dexp(to_compute<A>(xr[c * inner]) - m);
    const A lse = m + dlog(block_sum(s));
    const A wt = w ? to_compute<A>(w[t]) : A(1);
    A l = static_cast<A>(1.0 - eps) * wt * (lse - to_compute<A>(xr[t * inner]));
    if (eps > 0) {
      A sw = 0;
      if constexpr (kChunks)
        row_chunks(xr, C, [&](int64_t c, T v) { sw += (w ? to_compute<A>(w[c]) : A(1)) * to_compute<A>(v); });
      else
        for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
          sw += (w ? to_compute<A>(w[c]) : A(1)) * to_compute<A>(xr[c * inner]);
      sw = block_sum(sw);
      l += static_cast<A>(eps) / static_cast<A>(C) * (weight_total<A>(w, C) * lse - sw);
    }
    if (threadIdx.x == 0) {
      loss[p] = from_compute<O>(l);
      lse_out[p] = from_compute<O>(lse);
    }
  }
}

// gx's outer rows are gx_rows elements apart (C * inner when contiguous;
// more for padded [outer, C] rows).
template <typename T, typename O, bool kChunks>
__global__ void ce_backward_kernel(T* __restrict__ gx, int64_t gx_rows, const O* __restrict__ g, bool per_pos,
                                   double scale, const T* __restrict__ x, const O* __restrict__ lse,
                                   const int64_t* __restrict__ target, const O* __restrict__ w, int64_t P, int64_t C,
                                   int64_t inner, int64_t ignore_index, double eps) {
  using A = compute_t<T>;
  static_assert(std::is_same_v<A, compute_t<O>>, "the mixed form pairs 16-bit logits with float32");
  for (int64_t p = blockIdx.x; p < P; p += gridDim.x) {
    const int64_t base = (p / inner) * C * inner + p % inner;
    T* const gr = gx + (p / inner) * gx_rows + p % inner;
    const int64_t t = target[p];
    if (t == ignore_index) {
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) gr[c * inner] = from_compute<T>(A(0));
      continue;
    }
    const A s = to_compute<A>(g[per_pos ? p : 0]) * static_cast<A>(scale);
    const A wt = w ? to_compute<A>(w[t]) : A(1);
    const A one_m = static_cast<A>(1.0 - eps), e_c = static_cast<A>(eps) / static_cast<A>(C);
    const A W = eps > 0 ? weight_total<A>(w, C) : A(0);
    const A cp = s * (one_m * wt + e_c * W), ce = s * e_c;
    const A l = to_compute<A>(lse[p]);
    // Every rounding spelled out: written as p * cp - ce * w, the compiler may fuse either product into
    // the subtraction, and chose differently in the 16-bit and the float32 chunked kernels (one ulp
    // apart on an H200), which must round alike (CudaLoss.CrossEntropy16BitEqualsTheFloat32Cast).
    auto grad = [&](int64_t c, A xc) {
      A v = mul_rn(dexp(xc - l), cp);
      if (eps > 0) v = fma_rn(-ce, w ? to_compute<A>(w[c]) : A(1), v);
      if (c == t) v = fma_rn(-mul_rn(s, one_m), wt, v);
      return from_compute<T>(v);
    };
    if constexpr (kChunks) {
      // Each thread reads a chunk of x and writes the same chunk of gx (its
      // stores need not wait on other threads' loads).
      const T* xr = x + base;
      for (int64_t i0 = int64_t(threadIdx.x) * kRowChunk; i0 < C; i0 += int64_t(blockDim.x) * kRowChunk) {
        A xv[kRowChunk];
        row_chunk_load(xr, C, i0, xv);
        row_chunk_store(gr, C, i0, [&](int64_t c) { return grad(c, xv[c - i0]); });
      }
    } else {
      for (int64_t c = threadIdx.x; c < C; c += blockDim.x) gr[c * inner] = grad(c, to_compute<A>(x[base + c * inner]));
    }
  }
}

// The loss-side dtype beside logits of dtype x: x's, or float32 beside 16-bit logits.
bool loss_dtype_ok(DType x, DType o) { return o == x || (o == kFloat32 && (x == kFloat16 || x == kBFloat16)); }

void check_layout(const char* op, const Tensor& x, const Tensor& target, const Tensor& weight, int64_t outer,
                  int64_t C, int64_t inner, DType o) {
  WICK_CHECK(x.is_cuda() && x.is_contiguous() && x.numel() == outer * C * inner, "cuda::", op,
             ": expected contiguous CUDA logits of outer x C x inner elements");
  WICK_CHECK(loss_dtype_ok(x.dtype(), o), "cuda::", op, ": ", o, " loss beside ", x.dtype(),
             " logits (expected the logits' dtype, or float32 beside 16-bit logits)");
  WICK_CHECK(target.device() == x.device() && target.dtype() == kInt64 && target.is_contiguous() &&
                 target.numel() == outer * inner,
             "cuda::", op, ": expected a contiguous int64 target of outer x inner elements on ", x.device());
  WICK_CHECK(!weight.defined() || (weight.device() == x.device() && weight.dtype() == o && weight.is_contiguous() &&
                                   weight.numel() == C),
             "cuda::", op, ": expected a contiguous ", o, " class weight of ", C, " values on ", x.device());
}

// Runs f.template operator()<T, O>() for logits x and loss-side dtype o.
template <typename F>
void dispatch_mixed(DType x, DType o, const char* op, F&& f) {
  if (o == x) {
    WICK_DEVICE_DISPATCH_FLOAT(x, op, [&]<typename T>() { f.template operator()<T, T>(); });
  } else if (x == kBFloat16) {
    f.template operator()<__nv_bfloat16, float>();
  } else if (x == kFloat16) {
    f.template operator()<__half, float>();
  } else {
    WICK_FAIL("cuda::", op, ": ", o, " loss beside ", x, " logits");
  }
}

// On since CudaLoss.CrossEntropy16Bit* passed on an H200 (2026-11-28); WICK_CUDA_CE_16BIT=0 casts the
// logits to float32 first.
OptInSwitch& ce_16bit_switch() {
  static OptInSwitch s("WICK_CUDA_CE_16BIT", /*default_on=*/true);
  return s;
}

}  // namespace

void class_target_weights(const Tensor& t_safe, const Tensor& wt, const Tensor& target, const Tensor& weight,
                          int64_t C, int64_t ignore_index, const char* op) {
  const int64_t n = target.numel();
  if (n == 0) return;
  WICK_CHECK(target.is_cuda() && t_safe.device() == target.device() && wt.device() == target.device() &&
                 t_safe.dtype() == kInt64 && t_safe.is_contiguous() && wt.is_contiguous() && t_safe.numel() == n &&
                 wt.numel() == n,
             op, ": class_target_weights expects contiguous outputs of the target's size on ", target.device());
  WICK_CHECK(!weight.defined() || (weight.device() == target.device() && weight.dtype() == wt.dtype()), op,
             ": the class weight must be a ", wt.dtype(), " tensor on ", target.device());
  const Tensor tc = target.contiguous();
  const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
  DeviceGuard guard(target.device().index);
  cudaStream_t stream = current_stream();
  Tensor flag = full({1}, -1, TensorOptions(kInt64).device(target.device()));  // all bits set: no bad position
  auto* first_bad = static_cast<unsigned long long*>(flag.data_ptr_raw());
  WICK_DEVICE_DISPATCH_FLOAT(wt.dtype(), op, [&]<typename W>() {
    auto run = [&]<typename I>() {
      class_target_kernel<I, W><<<grid_for(n, kThreads), kThreads, 0, stream>>>(
          static_cast<int64_t*>(t_safe.data_ptr_raw()), static_cast<W*>(wt.data_ptr_raw()),
          static_cast<const I*>(tc.data_ptr_raw()), ptr_or_null<W>(wc), n, C, ignore_index, first_bad);
      WICK_CUDA_CHECK_LAUNCH();
    };
    if (tc.dtype() == kInt64) run.template operator()<int64_t>();
    else if (tc.dtype() == kInt32) run.template operator()<int32_t>();
    else WICK_FAIL(op, ": expected an int64 or int32 class-index target, got ", tc.dtype());
  });
  const int64_t bad = flag.item<int64_t>();  // synchronizes
  if (bad != -1) {
    const int64_t t = tc.reshape({-1}).narrow(0, bad, 1).to(kInt64).cpu().item<int64_t>();
    WICK_FAIL(op, ": target ", t, " is out of bounds for ", C, " classes");
  }
}

void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& x, const Tensor& target,
                           const Tensor& weight, int64_t outer, int64_t C, int64_t inner, int64_t ignore_index,
                           double label_smoothing) {
  const int64_t P = outer * inner;
  if (P == 0) return;
  check_layout("cross_entropy", x, target, weight, outer, C, inner, loss.dtype());
  WICK_CHECK(loss.device() == x.device() && lse.device() == x.device() && lse.dtype() == loss.dtype() &&
                 loss.is_contiguous() && lse.is_contiguous() && loss.numel() == P && lse.numel() == P,
             "cuda::cross_entropy: expected contiguous loss and lse of outer x inner values, one dtype, on ",
             x.device());
  DeviceGuard guard(x.device().index);
  dispatch_mixed(x.dtype(), loss.dtype(), "cross_entropy", [&]<typename T, typename O>() {
    const bool chunks = inner == 1 && row_kernels_chunked();
    auto kernel = chunks ? ce_forward_kernel<T, O, true> : ce_forward_kernel<T, O, false>;
    kernel<<<row_grid(P), chunks ? row_threads_chunked(C) : row_threads(C), 0, current_stream()>>>(
        static_cast<O*>(loss.data_ptr_raw()), static_cast<O*>(lse.data_ptr_raw()), ptr_or_null<T>(x),
        ptr_or_null<int64_t>(target), ptr_or_null<O>(weight), P, C, inner, ignore_index, label_smoothing);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void cross_entropy_backward(const Tensor& gx, const Tensor& g, double scale, const Tensor& x, const Tensor& lse,
                            const Tensor& target, const Tensor& weight, int64_t outer, int64_t C, int64_t inner,
                            int64_t ignore_index, double label_smoothing) {
  const int64_t P = outer * inner;
  if (P == 0 || C == 0) return;
  check_layout("cross_entropy_backward", x, target, weight, outer, C, inner, lse.dtype());
  // gx: contiguous, or [outer, C] rows (inner == 1) at a stride of at least C.
  const bool padded_rows = inner == 1 && gx.dim() == 2 && gx.size(0) == outer && gx.size(1) == C &&
                           gx.stride(1) == 1 && gx.stride(0) >= C;
  WICK_CHECK(gx.device() == x.device() && gx.dtype() == x.dtype() && gx.numel() == x.numel() &&
                 (gx.is_contiguous() || padded_rows) && g.device() == x.device() && g.dtype() == lse.dtype() &&
                 g.is_contiguous() && (g.numel() == 1 || g.numel() == P) && lse.is_contiguous() && lse.numel() == P,
             "cuda::cross_entropy_backward: expected gx like x (contiguous, or [outer, C] rows apart), g of lse's "
             "dtype with 1 or outer x inner values");
  const int64_t gx_rows = gx.is_contiguous() ? C * inner : gx.stride(0);
  DeviceGuard guard(x.device().index);
  dispatch_mixed(x.dtype(), lse.dtype(), "cross_entropy_backward", [&]<typename T, typename O>() {
    const bool chunks = inner == 1 && row_kernels_chunked();
    auto kernel = chunks ? ce_backward_kernel<T, O, true> : ce_backward_kernel<T, O, false>;
    kernel<<<row_grid(P), chunks ? row_threads_chunked(C) : row_threads(C), 0, current_stream()>>>(
        static_cast<T*>(gx.data_ptr_raw()), gx_rows, ptr_or_null<O>(g), g.numel() != 1, scale, ptr_or_null<T>(x),
        ptr_or_null<O>(lse), ptr_or_null<int64_t>(target), ptr_or_null<O>(weight), P, C, inner, ignore_index,
        label_smoothing);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void set_cross_entropy_16bit(bool on) { ce_16bit_switch().set(on); }
bool cross_entropy_16bit() { return ce_16bit_switch().on(); }

}  // namespace wick::cuda
