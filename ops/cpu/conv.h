// CPU convolution kernels (im2col + GEMM, and direct kernels for depthwise
// convolutions), shared by conv1d/conv2d and conv_transpose2d.
//
// Everything is phrased in terms of ONE convolution geometry: an "image"
// [N, C_in, H, W] convolved with a weight [C_out, C_in/groups, kh, kw] gives a
// "map" [N, C_out, OH, OW]. The three linear maps around it are
//   conv2d_forward     map   = conv(image, weight) + bias[C_out]
//   conv2d_transpose   image = conv^T(map, weight) + bias[C_in]  (conv_transpose2d,
//                               and conv2d's input gradient)
//   conv2d_weight_grad weight = sum_n map_n (x) image_n          (the weight gradient)
// conv_transpose2d(x, w) is conv2d_transpose with map = x: its weight
// [C_in', C_out'/groups, kh, kw] is exactly the conv weight of the geometry
// whose image is the transposed convolution's output.
//
// Buffers are contiguous; OH/OW may be smaller than the size the geometry
// implies (conv_transpose2d's output_padding makes the image larger than a
// forward conv would need), never larger.
//
// Each map has four implementations with the same contract:
//   *_reference   the direct 7-loop definition (readable; the tests' oracle)
//   ConvPath::kPerSample  im2col + one GEMM per sample (the first kernel,
//                 kept callable so benchmarks can show what the fast paths gain)
//   ConvPath::kIm2col     several samples' columns folded into one GEMM
//                 (materialized by im2col, folded back by col2im)
//   ConvPath::kAuto       the fast path (see conv.cpp): implicit GEMM (the GEMM
//                 packs the column matrix straight from the image; stride-1
//                 input gradients run as a forward convolution with the
//                 flipped kernel), and direct kernels when C_in/groups == 1
//                 (depthwise convolutions, small channel multipliers); 1x1
//                 kernels, strided or narrow (C_in/groups < 16) input
//                 gradients take the kIm2col route.
#pragma once

#include <cstdint>

namespace wick::cpu {

struct ConvGeometry {
  int64_t N = 0, C_in = 0, H = 0, W = 0;  // image
  int64_t C_out = 0, kh = 1, kw = 1;      // weight [C_out, C_in / groups, kh, kw]
  int64_t OH = 0, OW = 0;                 // map
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t groups = 1;
};

// kAuto: implicit GEMM (the column matrix is packed straight from the image,
// never stored) and the depthwise direct kernels. kIm2col: the previous fast
// path (batched im2col + GEMM, col2im for the transpose). kPerSample: im2col +
// one GEMM per sample. The last two stay callable so the tests check every
// path against the reference and the benchmarks show what each step gained.
enum class ConvPath { kAuto, kIm2col, kPerSample };

// The path the conv ops (ops/conv.cpp) ask for: kAuto unless the environment
// variable WICK_CONV_PATH is "im2col" or "per_sample" (read once; a
// benchmarking hook, like set_gemm_isa, so whole-model timings can compare the
// paths in one binary).
ConvPath default_conv_path();

// map[N, C_out, OH, OW] = conv(image, weight) (+ bias[C_out] when non-null).
template <typename T>
void conv2d_forward(const ConvGeometry& g, const T* image, const T* weight, const T* bias, T* map,
                    ConvPath path = ConvPath::kAuto);

// image[N, C_in, H, W] = conv^T(map, weight) (+ bias[C_in] when non-null).
template <typename T>
void conv2d_transpose(const ConvGeometry& g, const T* map, const T* weight, const T* bias, T* image,
                      ConvPath path = ConvPath::kAuto);

// weight_grad[C_out, C_in/groups, kh, kw] = sum_n map_n @ im2col(image_n)^T (overwritten).
template <typename T>
void conv2d_weight_grad(const ConvGeometry& g, const T* image, const T* map, T* weight_grad,
                        ConvPath path = ConvPath::kAuto);

// The same three maps as direct loops over (n, c_out, oy, ox, c_in, ki, kj).
template <typename T>
void conv2d_forward_reference(const ConvGeometry& g, const T* image, const T* weight, const T* bias, T* map);
template <typename T>
void conv2d_transpose_reference(const ConvGeometry& g, const T* map, const T* weight, const T* bias, T* image);
template <typename T>
void conv2d_weight_grad_reference(const ConvGeometry& g, const T* image, const T* map, T* weight_grad);

}  // namespace wick::cpu
