// CPU pooling and resampling kernels over contiguous planes: a tensor
// [..., H, W] is P = numel / (H W) independent planes of H x W.
//
// Every op here is linear in its float input except max pooling, and each
// linear op comes with its adjoint (the backward), so the autograd formulas
// in ops/pool.cpp are these kernels calling each other:
//   max pool        -> argmax indices;  scatter_add(g, idx)  <->  gather(g, idx)
//   window_avg      (avg_pool2d, adaptive_avg_pool2d)  <->  window_avg_adjoint
//   resample        (interpolate nearest / bilinear)   <->  resample_adjoint
#pragma once

#include <cstdint>
#include <vector>

namespace wick::cpu {

struct MaxPoolGeometry {
  int64_t P = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// out[p, oh, ow] = max over the (dilated, -inf padded) window; idx = flat
// h * W + w of the first maximum (a NaN counts as the maximum, the last NaN
// wins, like PyTorch). A window with no element inside the input gives -inf
// and index -1.
template <typename T>
void max_pool2d(const MaxPoolGeometry& g, const T* x, T* out, int64_t* idx);

// out[p, idx[p, l]] += src[p, l] for idx >= 0 (out [P, HW] is overwritten).
template <typename T>
void plane_scatter_add(int64_t P, int64_t L, int64_t HW, const T* src, const int64_t* idx, T* out);
// out[p, l] = x[p, idx[p, l]] (0 where idx < 0).
template <typename T>
void plane_gather(int64_t P, int64_t L, int64_t HW, const T* x, const int64_t* idx, T* out);

// Separable rectangular windows: output (oh, ow) averages input rows
// [r0[oh], r1[oh]) x cols [c0[ow], c1[ow]) and divides the sum by
// rdiv[oh] * cdiv[ow]. An empty window gives 0.
struct AvgWindows {
  int64_t H = 0, W = 0, OH = 0, OW = 0;
  std::vector<int64_t> r0, r1, rdiv, c0, c1, cdiv;
};

template <typename T>
void window_avg(int64_t P, const AvgWindows& w, const T* x, T* out);
// gx[p, i, j] = sum over the windows containing (i, j) of g / divisor.
template <typename T>
void window_avg_adjoint(int64_t P, const AvgWindows& w, const T* g, T* gx);

// Separable two-tap resampling: output row oh reads input rows r0[oh], r1[oh]
// with weights rw0[oh], rw1[oh] (likewise columns), and
//   out = rw0 (cw0 x[r0,c0] + cw1 x[r0,c1]) + rw1 (cw0 x[r1,c0] + cw1 x[r1,c1])
// (PyTorch's evaluation order). nearest: out = x[r0, c0].
struct Resample {
  int64_t H = 0, W = 0, OH = 0, OW = 0;
  bool linear = false;
  std::vector<int64_t> r0, r1, c0, c1;
  std::vector<double> rw0, rw1, cw0, cw1;  // exact values of the weights in the tensor's dtype
};

template <typename T>
void resample(int64_t P, const Resample& r, const T* x, T* out);
template <typename T>
void resample_adjoint(int64_t P, const Resample& r, const T* g, T* gx);

}  // namespace wick::cpu
