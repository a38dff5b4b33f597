// Convolution on CUDA devices: the three linear maps of ops/cpu/conv.h for
// contiguous CUDA tensors, with the same geometry (cpu::ConvGeometry: an
// "image" [N, C_in, H, W] convolved with a weight [C_out, C_in/groups, kh, kw]
// gives a "map" [N, C_out, OH, OW]):
//   conv2d_forward      map    = conv(image, weight) + bias[C_out]
//   conv2d_transpose    image  = conv^T(map, weight) + bias[C_in]   (conv_transpose2d,
//                                 and conv2d's input gradient)
//   conv2d_weight_grad  weight = sum_n map_n (x) image_n             (overwritten)
// OH/OW may be smaller than the geometry implies (conv_transpose2d's
// output_padding), never larger, as on the CPU.
//
// dtypes: float32, float64, float16, bfloat16 (16-bit tensors are stored as
// such and accumulated in float32; float64 accumulates in float64).
//
// Backends: wick's kernels (conv.cu: implicit GEMM; plain 1x1s as
// cuda::gemm products, see Conv1x1Path) or cuDNN
// (cuda/vendor/cudnn.cpp), per call or for the process by the environment
// variable WICK_CUDA_CONV=wick|cudnn (default wick). wick's kernels are
// deterministic; cuDNN's algorithm is measured once per geometry
// (cuda/vendor/cudnn.h) and may sum with atomics. The *_reference functions
// are the readable definition (one thread per output element, float64
// accumulation) that the tests hold both to.
//
// Plain C++ header (no CUDA types): ops/conv.cpp and the tests include it.
#pragma once

#include <cstdint>
#include <optional>

#include "ops/cpu/conv.h"
#include "tensor/tensor.h"

namespace wick::cuda {

using cpu::ConvGeometry;

// Which implementation runs a convolution. Default reads WICK_CUDA_CONV once
// per process ("wick" when unset; any value other than wick/cudnn is an error).
enum class ConvBackend : uint8_t { Default, Wick, Cudnn };

ConvBackend default_conv_backend();
const char* conv_backend_name(ConvBackend b);
// Whether this build of wick has the cuDNN backend (ConvBackend::Cudnn throws
// a wick::Error naming the missing library when it does not).
bool cudnn_available();

// How wick's backend runs a "plain" 1x1 convolution (1x1 kernel, stride 1,
// no padding, one group, map as large as the image): as batched products of
// cuda::gemm (cuda/kernels/gemm.h; see conv.cu, section 4), or on the
// implicit-GEMM kernels like any other geometry. Auto (the default) takes
// the GEMM for the forward map and the transpose, and for the weight
// gradient when its batched product has enough tiles to outrun the
// implicit GEMM (small N * C_out * C_in stay there: it splits K).
// Gemm / Igemm force one path, for the tests and benchmarks; process-wide,
// read on every call, initially from the environment variable
// WICK_CUDA_CONV_1X1=auto|gemm|igemm (default auto; any other value is an
// error). cuDNN requests (ConvBackend::Cudnn) ignore it.
enum class Conv1x1Path : uint8_t { Auto, Gemm, Igemm };
void set_conv1x1_path(Conv1x1Path p);
Conv1x1Path conv1x1_path();

// Whether wick's backend runs the other convolutions of one group (any
// kernel size, stride, padding or dilation, and the 1x1s the GEMM path does
// not take) as explicit column matrices ("im2col") multiplied by cuda::gemm
// (conv.cu, section 5), instead of the implicit GEMM. The columns cost a
// pass over a [C_in*kh*kw, pixels] matrix in memory; in exchange the product
// runs on the GEMM's tensor-core / Hopper kernels. Grouped convolutions stay
// on the implicit GEMM. Process-wide, read on every call; ON by default
// since CudaConvIm2col.* and the models' tests passed with it on an H100
// (2026-11-27; with the mixed batch norm, ResNet-50 training went from 668
// to 1,197 images/s); the environment variable WICK_CUDA_CONV_IM2COL=1|0
// overrides that. cuDNN requests ignore it.
void set_conv_im2col(bool on);
bool conv_im2col();
// The most bytes the column path's scratch matrices take at once (default
// 256 MiB): a batch whose columns exceed it runs in chunks of images (one
// image at least). For the tests, which set it small to run the chunked
// path; returns the previous value.
int64_t set_conv_im2col_workspace(int64_t bytes);

// Whether the column path's copies (im2col, and the channels-first copies
// of the 1x1 and column products and their copies back to NCHW) move 16
// bytes per thread and step (8 bf16 values, one vector store) where the row
// lengths, strides and alignment allow (else the widest power of two that
// does, down to one value: ResNet-50's 56x56 and 28x28 maps take 8, 14x14
// 4, 7x7 1), instead of one 2-byte value. On since CudaConvIm2col.Packs
// passed on an H200 (2026-11-28; WICK_CUDA_CONV_PACKS=0 to turn off).
void set_conv_copy_packs(bool on);
bool conv_copy_packs();
// Copies the column path has launched on packs wider than one value (tests).
int64_t conv_copy_packed_launches();

// The column path's input gradient (conv2d_transpose) for stride-1
// convolutions whose map is the full output (OH = H + 2 ph - dh (kh - 1),
// the same along W) and whose padding is at most dh (kh - 1) (dw (kw - 1)):
// that transpose is itself a convolution, image = conv(map, W') with W'[c,
// co] = W[co, c] with its taps reversed, padding d (k - 1) - p and the same
// dilation, so it runs as the column path's forward (the map's columns, in
// the 16-bit type, times W') instead of the float32 column gradients
// W^T . map [C_in kh kw, pixels] summed back by col2im: for a 3x3 layer at
// C_in = C_out about half the bytes, and a product whose reduction runs over
// C_out kh kw instead of C_out. On since CudaConvTransposeAsForward.* passed
// on an H200 (2026-11-28; WICK_CUDA_CONV_TRANSPOSE_FWD=0 to turn off).
void set_conv_transpose_as_forward(bool on);
bool conv_transpose_as_forward();
// Input gradients it has run as forward convolutions (tests).
int64_t conv_transpose_as_forward_products();

// The forward geometry whose output is cg's transpose (the rule above), or
// nullopt where cg is not such a convolution (stride > 1, groups > 1, a map
// smaller than the full output, padding past d (k - 1)). Host-only.
std::optional<ConvGeometry> conv_transpose_as_forward_geometry(const ConvGeometry& cg);

// All tensors: contiguous, on one CUDA device, one dtype, shaped as the
// geometry says (image [N, C_in, H, W], weight [C_out, C_in/groups, kh, kw],
// map [N, C_out, OH, OW], bias [C_out] / [C_in] or undefined). Checked;
// asynchronous on cuda::current_stream() like any kernel launch.
void conv2d_forward(const ConvGeometry& g, const Tensor& image, const Tensor& weight, const Tensor& bias,
                    const Tensor& map, ConvBackend backend = ConvBackend::Default);
void conv2d_transpose(const ConvGeometry& g, const Tensor& map, const Tensor& weight, const Tensor& bias,
                      const Tensor& image, ConvBackend backend = ConvBackend::Default);
void conv2d_weight_grad(const ConvGeometry& g, const Tensor& image, const Tensor& map, const Tensor& weight_grad,
                        ConvBackend backend = ConvBackend::Default);

// The same maps as direct loops, one thread per output element, accumulating
// in double. Slow; the tests' oracle on the device.
void conv2d_forward_reference(const ConvGeometry& g, const Tensor& image, const Tensor& weight, const Tensor& bias,
                              const Tensor& map);
void conv2d_transpose_reference(const ConvGeometry& g, const Tensor& map, const Tensor& weight, const Tensor& bias,
                                const Tensor& image);
void conv2d_weight_grad_reference(const ConvGeometry& g, const Tensor& image, const Tensor& map,
                                  const Tensor& weight_grad);

}  // namespace wick::cuda
