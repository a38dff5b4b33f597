// wick's own CUDA convolution kernels (see conv.h for the API and
// ops/cpu/conv.h for the geometry). FLOPs: 2 * N * C_out * OH * OW *
// (C_in/groups) * kh * kw for each of the three maps.
//
// 1. Reference kernels (conv2d_*_reference_kernel): one thread per output
//    element, the definition as nested loops accumulated in double:
//      map[n, co, oy, ox]   = bias[co] + sum_{ci, ki, kj} W[co, ci, ki, kj] *
//                             image[n, g*Cg + ci, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw]
//      image[n, c, y, x]    = bias[c] + sum over (co in c's group, ki, kj) with
//                             oy = (y + ph - ki*dh) / sh, ox = (x + pw - kj*dw) / sw exact
//                             and in range of W[co, c - g*Cg, ki, kj] * map[n, co, oy, ox]
//      W'[co, ci, ki, kj]   = sum_{n, oy, ox} map[n, co, oy, ox] * image[n, g*Cg + ci, iy, ix]
//    (g = the group, Cg = C_in/groups, Mg = C_out/groups, pixels outside
//    the image are zero).
//
// 2. Implicit GEMM (igemm_kernel): each map, for each group g, is a product
//    C[M, N] = A[M, K] B[K, N] whose operands are gathered from the tensors
//    on the fly, while a tile is loaded into shared memory; no column matrix
//    is ever stored:
//      forward     M = Mg  (co)      N = N*OH*OW (n, oy, ox)  K = Cg*kh*kw (ci, ki, kj)
//                  A = weight[g]     B = col(image)     C -> map (+ bias)
//      transpose   M = Cg  (c)       N = N*H*W   (n, y, x)    K = Mg*kh*kw (co, ki, kj)
//                  A = weight[g]^T   B = the map pixel that tap (ki, kj) of
//                  image pixel (y, x) receives
//                  C -> image (+ bias): a gather per image pixel, so no
//                  atomics and a fixed summation order (deterministic).
//                  Run as sh*sw products, one per stride phase (the image
//                  pixels that receive the same taps, see TransposeProblem),
//                  so the taps a stride skips cost nothing.
//      weight grad M = Mg  (co)      N = Cg*kh*kw (ci, ki, kj) K = N*OH*OW (n, oy, ox)
//                  A = map[:, g]     B = col(image)^T    C -> weight_grad
//    The weight gradient's K (every output pixel of the batch) is long and
//    its M x N small, so K is split over blocks when the tiles alone cannot
//    fill the device: each split writes its partial tile to a workspace and a
//    second kernel sums the splits in split order (deterministic; the split
//    count depends only on the shapes and the device's SM count).
//    The kernel is the classic SIMT tiling: 256 threads compute a 64 x 64
//    tile of C, walking K in steps of 16; each step's A and B tiles are
//    gathered from global memory into registers (the next step's loads are
//    in flight while the block computes on the current one), converted to
//    the accumulation type and stored k-major in shared memory (As[k][m],
//    Bs[k][n], padded by one against bank conflicts on the store). A thread
//    owns a 4 x 4 micro-tile strided by 16 in m and n, so a warp's shared
//    reads are broadcasts (A) or 16 consecutive words (B), and its stores of
//    C are runs of 16 consecutive pixels. A thread's load slots keep their
//    row m / column n for the whole K loop, so the m and n sides of the
//    gathers (pixel, sample, tap offsets) are decoded once per tile and only
//    k is decoded per load, with multiply-shift divisions (FastDiv). Index
//    math is 32-bit (the host checks that every extent fits); element
//    offsets are 64-bit.
//    Costs: each block reads (64 + 64) * 16 gathered elements per 64 * 64 *
//    16 FMAs; per K step a thread spends ~100 instructions on its 8 gathers
//    (decode, bounds, address) against 256 FMAs and 128 shared loads, so the
//    shared-memory traffic of the 4 x 4 micro-tile and the gathers, not the
//    FMA pipes, bound it. Depthwise convolutions (M = 1) use 1/64 of each
//    tile. Fraction of peak: not measured yet (bench_cuda_conv --compare);
//    cuDNN is the fast alternate.
//    Dtypes: float32 accumulates in float32, float64 in float64.
//
// 3. Tensor cores (igemm_tc_kernel, float16/bfloat16 on sm_80+): the same
//    gathers and 64 x 64 x 16 tiles, kept in the 16-bit type in shared
//    memory and multiplied with WMMA 16 x 16 x 16 fragments into float32
//    accumulators (so the results match the SIMT kernel's float32
//    accumulation up to summation order). Older devices run the SIMT kernel
//    on the converted values.
//
// 4. Plain 1x1 convolutions through cuda::gemm (gemm_1x1_*). With a 1x1
//    kernel, stride 1, no padding and one group, output pixel p reads input
//    pixel p only (dilation has no gap to space out), so per image of the
//    NCHW batch, with P = H*W and every [C, H, W] image a row-major [C, P]
//    matrix, each map is a plain matrix product over the channels:
//      forward     Y[n] (C_out x P) = W (C_out x C_in) . X[n] (C_in x P)
//      transpose   X[n] (C_in x P)  = W^T . Y[n]               (input gradient)
//      weight grad W (C_out x C_in) = sum_n Y[n] . X[n]^T
//    2 * N * C_out * C_in * P FLOPs each, and no gather: the operands are the
//    tensors themselves (leading dimension P or C_in), so wick's dense GEMM
//    (cuda/kernels/gemm.h: tensor cores, vectorized loads, larger tiles, or
//    the Hopper / cuBLAS backend WICK_CUDA_GEMM picks) runs them instead of
//    the implicit GEMM's gathers. These are most of ResNet-50's FLOPs: on
//    an H100 its 1x1 layers (batch 32) ran at ~14 TFLOP/s on the implicit
//    GEMM in float32 and bfloat16, where wick's GEMM reaches ~33 (float32)
//    and 120-350 (bfloat16) TFLOP/s.
//    The forward and transpose, for images of >= 256 pixels whose rows are
//    16-byte aligned, are one strided-batched product over the images, the
//    weight operand broadcast (batch stride 0); a bias is written into the
//    output first and the product adds to it (beta = 1), so 16-bit outputs
//    are still rounded once. Smaller or odd images (P = 49 would leave 62%
//    of each 128-wide tile empty; an odd P sends the GEMM to scalar loads)
//    are copied channels-first to [C, N*P] (channels_first_kernel, rows
//    padded to 8 elements), multiplied once over all N*P pixels into a
//    [C', N*P] product (float32 for 16-bit inputs) and copied back to NCHW
//    with the bias added, rounded once (batch_major_kernel): two extra
//    passes over the activations for full tiles and aligned loads.
//    The weight gradient sums over the images, which are not one K
//    dimension as stored (image n+1 does not follow image n's pixels in a
//    row), and its tile count does not grow with the batch's pixels
//    (ceil(C_out/128) * ceil(C_in/128) tiles), so it takes one of two forms:
//     (a) per-image partials: one product batched over the images writes
//         N partial C_out x C_in matrices in the accumulation type (float32
//         for 16-bit inputs) into a workspace, and a second kernel sums them
//         in image order and rounds once (deterministic). Chosen when that
//         traffic (N * C_out * C_in * 4 bytes, twice) is at most (b)'s
//         copies (N * (C_in + C_out) * P elements, twice),
//         i.e. large images with few channels (ResNet-50's first stages),
//         the partials fit 256 MiB and the batch has enough tiles.
//     (b) K over the batch: the map and image are copied to [C, N*P]
//         (channels_first_kernel; a single image needs no copy), then one
//         product with K = N*P, split into chunks batched over blockIdx.z
//         (stride Kc along K) so that the few tiles still fill the device;
//         the chunk partials are summed in order as in (a) (one chunk
//         writes the gradient directly). Small images
//         with many channels (the last stages) copy far less than (a)
//         would write.
//    Thresholds in gemm_1x1_weight_grad, estimated, not measured. The
//    implicit GEMM above stays reachable (set_conv1x1_path, or
//    WICK_CUDA_CONV_1X1=gemm|igemm for all three maps) to test and measure.
//
// 5. The other convolutions of one group through column matrices
//    (im2col_*; on by default since CudaConvIm2col.* passed on an H100,
//    set_conv_im2col / WICK_CUDA_CONV_IM2COL=0 to turn off). The implicit
//    GEMM's gathers keep it near 20 TFLOP/s in every dtype (H100,
//    ResNet-50's 3x3 layers: 0.13-0.42x cuDNN), where cuda::gemm runs
//    16-bit products at 300-700. So the
//    gather becomes a pass of its own that writes the column matrix
//    col(image) [K = C_in*kh*kw, pixels] (im2col_kernel: row (ci, ki, kj),
//    column (n, oy, ox), zero outside the image), and the maps become the
//    products of section 4 with the columns in the image's place:
//      forward     Y = W [C_out, K] . col            (then NCHW, + bias)
//      transpose   dcol = W^T . dY [C_out, pixels]   (float32 for 16-bit),
//                  then col2im_kernel: each image pixel sums the taps that
//                  read it, in order, + bias, rounded once (a gather: no
//                  atomics, deterministic)
//      weight grad dW = dY' . col^T, K = the pixels: split_k_weight_product
//    By default (set_conv_transpose_as_forward): a stride-1 transpose over the
//    full map runs as the forward of conv_transpose_as_forward_geometry
//    instead (image = conv(map, W with channels swapped and taps reversed),
//    padding d (k - 1) - p): columns of the map in the 16-bit type rather
//    than float32 column gradients, and no col2im.
//    The column layouts are section 4's: per image ([n][K][OP] rows OP
//    apart, the product batched over the images and writing the NCHW
//    output in place) for maps of >= 256 pixels whose rows stay 16-byte
//    aligned, else one [K, pixels] matrix over all the chunk's pixels
//    (rows padded to 8 elements) and a copy back to NCHW. K is padded with
//    zero rows to 16 bytes' worth of elements (the weight copied to match
//    when it is not already), so the weight's rows stay aligned for the
//    GEMM's vector / TMA loads (ResNet's 7x7 stem: 147 -> 152). The
//    columns are K/C_in times the image (9x for a 3x3 at stride 1): the
//    batch runs in chunks of images whose scratch matrices fit a workspace
//    (256 MiB; set_conv_im2col_workspace), the weight gradient summing the
//    chunks' float32 partials in order. Costs (ResNet-50 layer1 3x3 64->64,
//    batch 64, bf16): the forward writes and reads 231 MB of columns for a
//    15 GFLOP product, ~0.15 ms of memory traffic at 3 TB/s against the
//    implicit GEMM's ~0.7 ms; the transpose's float32 column gradients
//    twice that. Estimates; bench_cuda_conv measures them against cuDNN.
#include "cuda/kernels/conv.h"

#include <cuda_runtime.h>
#include <mma.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/conv_columns.h"
#include "cuda/kernels/fast_div.h"
#include "cuda/kernels/loops.cuh"
#include "cuda/kernels/gemm.h"
#include "cuda/runtime.h"
#include "cuda/vendor/cudnn.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

// The geometry with 32-bit extents (checked to fit on the host), the
// derived per-group sizes and the divisors the gathers decode indices with.
struct Geo {
  int N, C_in, H, W, C_out, kh, kw, OH, OW, sh, sw, ph, pw, dh, dw, G, Cg, Mg;
  FastDiv div_kw, div_kh, div_OW, div_OH, div_ohw;
};

template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// ---------------------------------------------------------------------------
// 1. reference kernels

template <typename T>
__global__ void conv2d_forward_reference_kernel(Geo g, const T* image, const T* weight, const T* bias, T* map) {
  const int64_t total = static_cast<int64_t>(g.N) * g.C_out * g.OH * g.OW;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ox = i % g.OW, oy = (i / g.OW) % g.OH, co = (i / (static_cast<int64_t>(g.OW) * g.OH)) % g.C_out;
    const int64_t n = i / (static_cast<int64_t>(g.OW) * g.OH * g.C_out);
    const int64_t grp = co / g.Mg;
    double acc = bias ? to_compute<double>(bias[co]) : 0.0;
    for (int64_t ci = 0; ci < g.Cg; ++ci)
      for (int64_t ki = 0; ki < g.kh; ++ki)
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const int64_t iy = oy * g.sh - g.ph + ki * g.dh, ix = ox * g.sw - g.pw + kj * g.dw;
          if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
          const double x = to_compute<double>(image[((n * g.C_in + grp * g.Cg + ci) * g.H + iy) * g.W + ix]);
          const double w = to_compute<double>(weight[((co * g.Cg + ci) * g.kh + ki) * g.kw + kj]);
          acc += x * w;
        }
    map[i] = from_compute<T>(acc);
  }
}

template <typename T>
__global__ void conv2d_transpose_reference_kernel(Geo g, const T* map, const T* weight, const T* bias, T* image) {
  const int64_t total = static_cast<int64_t>(g.N) * g.C_in * g.H * g.W;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t x = i % g.W, y = (i / g.W) % g.H, c = (i / (static_cast<int64_t>(g.W) * g.H)) % g.C_in;
    const int64_t n = i / (static_cast<int64_t>(g.W) * g.H * g.C_in);
    const int64_t grp = c / g.Cg, cl = c - grp * g.Cg;
    double acc = bias ? to_compute<double>(bias[c]) : 0.0;
    for (int64_t co = grp * g.Mg; co < (grp + 1) * g.Mg; ++co)
      for (int64_t ki = 0; ki < g.kh; ++ki)
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          // Output (oy, ox) reads this pixel through tap (ki, kj) iff
          // oy*sh - ph + ki*dh == y (and likewise for x).
          const int64_t ty = y + g.ph - ki * g.dh, tx = x + g.pw - kj * g.dw;
          if (ty < 0 || tx < 0 || ty % g.sh != 0 || tx % g.sw != 0) continue;
          const int64_t oy = ty / g.sh, ox = tx / g.sw;
          if (oy >= g.OH || ox >= g.OW) continue;
          const double m = to_compute<double>(map[((n * g.C_out + co) * g.OH + oy) * g.OW + ox]);
          const double w = to_compute<double>(weight[((co * g.Cg + cl) * g.kh + ki) * g.kw + kj]);
          acc += m * w;
        }
    image[i] = from_compute<T>(acc);
  }
}

template <typename T>
__global__ void conv2d_weight_grad_reference_kernel(Geo g, const T* image, const T* map, T* weight_grad) {
  const int64_t total = static_cast<int64_t>(g.C_out) * g.Cg * g.kh * g.kw;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t kj = i % g.kw, ki = (i / g.kw) % g.kh, ci = (i / (static_cast<int64_t>(g.kw) * g.kh)) % g.Cg;
    const int64_t co = i / (static_cast<int64_t>(g.kw) * g.kh * g.Cg);
    const int64_t grp = co / g.Mg;
    double acc = 0.0;
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t oy = 0; oy < g.OH; ++oy)
        for (int64_t ox = 0; ox < g.OW; ++ox) {
          const int64_t iy = oy * g.sh - g.ph + ki * g.dh, ix = ox * g.sw - g.pw + kj * g.dw;
          if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
          const double x = to_compute<double>(image[((n * g.C_in + grp * g.Cg + ci) * g.H + iy) * g.W + ix]);
          const double m = to_compute<double>(map[((n * g.C_out + co) * g.OH + oy) * g.OW + ox]);
          acc += x * m;
        }
    weight_grad[i] = from_compute<T>(acc);
  }
}

// ---------------------------------------------------------------------------
// 2. implicit GEMM

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;
constexpr int kLoads = kBM * kBK / kThreads;  // elements of each operand a thread loads per K step
static_assert(kBM * kBK % kThreads == 0 && kBN * kBK == kBM * kBK, "tiles must split evenly into threads");
static_assert(kThreads % kBK == 0 && kThreads % kBM == 0 && kThreads % kBN == 0, "load slots (igemm_kernel)");

// The three products. Each says which operand dimension is contiguous in
// memory (kAKFast: consecutive k of A are neighbours; kBKFast likewise for
// B), so that consecutive threads load along it, and splits each operand
// access into the part that depends on the row m (of A) or the column n (of
// B) and the part that depends on k. A thread's load slots keep their m and
// n for the whole K loop (see igemm_kernel), so
//   a_row(g, m) / b_col(g, n)   decode m / n once per tile (a Row / Col)
//   a(row, k) / b(col, k)       decode k for each load (as Acc)
//   store(g, m, n, v)           C(m, n) = v into the output tensor
// and only the k side of the index math runs every K step.

template <typename T, typename Acc>
struct ForwardProblem {
  static constexpr bool kAKFast = true, kBKFast = false;
  Geo g;
  const T *image, *weight, *bias;
  T* map;

  struct Row {
    int64_t w;  // weight row of output channel grp*Mg + m
  };
  struct Col {
    int64_t img;   // image[nb, grp*Cg, 0, 0]
    int iy0, ix0;  // top-left tap of output pixel (oy, ox)
  };
  __device__ __forceinline__ Row a_row(int grp, int m) const {
    return {static_cast<int64_t>(grp * g.Mg + m) * (static_cast<int64_t>(g.Cg) * g.kh * g.kw)};
  }
  __device__ __forceinline__ Acc a(const Row& r, int k) const { return to_compute<Acc>(weight[r.w + k]); }
  __device__ __forceinline__ Col b_col(int grp, int n) const {
    int ox, oy;
    const int nb = g.div_OH.divmod(g.div_OW.divmod(n, ox), oy);
    return {(static_cast<int64_t>(nb) * g.C_in + grp * g.Cg) * g.H * g.W, oy * g.sh - g.ph, ox * g.sw - g.pw};
  }
  __device__ __forceinline__ Acc b(const Col& c, int k) const {  // k = (ci, ki, kj)
    int kj, ki;
    const int ci = g.div_kh.divmod(g.div_kw.divmod(k, kj), ki);
    const int iy = c.iy0 + ki * g.dh, ix = c.ix0 + kj * g.dw;
    if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) return Acc(0);
    return to_compute<Acc>(image[c.img + (static_cast<int64_t>(ci) * g.H + iy) * g.W + ix]);
  }
  __device__ __forceinline__ void store(int grp, int m, int n, Acc v) const {
    const int co = grp * g.Mg + m;
    int r;
    const int nb = g.div_ohw.divmod(n, r);
    if (bias) v += to_compute<Acc>(bias[co]);
    map[(static_cast<int64_t>(nb) * g.C_out + co) * g.div_ohw.d + r] = from_compute<T>(v);
  }
};

// The transpose as a gather, split into stride phases. Output (oy, ox)
// reads image row y through tap ki iff y + ph - ki*dh = oy*sh, so an image
// row y receives only the taps with ki*dh = y + ph (mod sh). Rows with the
// same residue ry = (y + ph) mod sh ("phase") share that tap set, an
// arithmetic progression ki = k1 + a*step (step = sh / gcd(dh, sh)), and
// then oy = (y + ph - k1*dh) / sh - a * (step*dh / sh) exactly. Each of the
// sh*sw phases is its own product over its pixels and taps only, so a
// strided transpose does no work on the taps the stride skips, and no
// division by the stride remains in the gather. (Stride 1: one phase, every
// tap.)
struct Phase {  // along one spatial dim (rows shown)
  int first, count;  // image rows first, first + sh, ... (count of them)
  int k1, step, nk;  // taps k1, k1 + step, ... (nk of them)
  int dout;          // output rows between consecutive taps: step*dh / sh
  FastDiv div_count, div_nk;
};

template <typename T, typename Acc>
struct TransposeProblem {
  static constexpr bool kAKFast = true, kBKFast = false;
  Geo g;
  Phase py, px;
  const T *map, *weight, *bias;
  T* image;

  struct Row {
    int64_t w;  // weight[grp*Mg, m, 0, 0]
  };
  struct Col {
    int64_t map;   // map[nb, grp*Mg, 0, 0]
    int oy0, ox0;  // the output pixel the phase's first tap reads
  };
  __device__ __forceinline__ Row a_row(int grp, int m) const {
    return {(static_cast<int64_t>(grp) * g.Mg * g.Cg + m) * g.kh * g.kw};
  }
  __device__ __forceinline__ Acc a(const Row& r, int k) const {  // W[grp*Mg + co, m, ki, kj], k = (co, a, b)
    int b, a;
    const int co = py.div_nk.divmod(px.div_nk.divmod(k, b), a);
    const int ki = py.k1 + a * py.step, kj = px.k1 + b * px.step;
    return to_compute<Acc>(weight[r.w + static_cast<int64_t>(co) * g.Cg * g.kh * g.kw + ki * g.kw + kj]);
  }
  __device__ __forceinline__ Col b_col(int grp, int n) const {  // n = (nb, j, i): pixel (first + j*sh, first + i*sw)
    int i, j;
    const int nb = py.div_count.divmod(px.div_count.divmod(n, i), j);
    const int y = py.first + j * g.sh, x = px.first + i * g.sw;
    // Exact: y + ph - k1*dh is a multiple of sh by the choice of k1 (and may be negative).
    return {(static_cast<int64_t>(nb) * g.C_out + grp * g.Mg) * g.OH * g.OW, (y + g.ph - py.k1 * g.dh) / g.sh,
            (x + g.pw - px.k1 * g.dw) / g.sw};
  }
  __device__ __forceinline__ Acc b(const Col& c, int k) const {  // k = (co, a, b)
    int b, a;
    const int co = py.div_nk.divmod(px.div_nk.divmod(k, b), a);
    const int oy = c.oy0 - a * py.dout, ox = c.ox0 - b * px.dout;
    if (oy < 0 || oy >= g.OH || ox < 0 || ox >= g.OW) return Acc(0);
    return to_compute<Acc>(map[c.map + (static_cast<int64_t>(co) * g.OH + oy) * g.OW + ox]);
  }
  __device__ __forceinline__ void store(int grp, int m, int n, Acc v) const {
    int i, j;
    const int nb = py.div_count.divmod(px.div_count.divmod(n, i), j);
    const int c = grp * g.Cg + m, y = py.first + j * g.sh, x = px.first + i * g.sw;
    if (bias) v += to_compute<Acc>(bias[c]);
    image[((static_cast<int64_t>(nb) * g.C_in + c) * g.H + y) * g.W + x] = from_compute<T>(v);
  }
};

template <typename T, typename Acc>
struct WeightGradProblem {
  static constexpr bool kAKFast = true, kBKFast = true;
  Geo g;
  const T *image, *map;
  T* weight_grad;

  struct Row {
    int64_t map;  // map[0, grp*Mg + m, 0, 0]
  };
  struct Col {
    int64_t img;     // image[0, grp*Cg + ci, 0, 0]
    int offy, offx;  // tap (ki, kj) of output pixel (oy, ox) reads (oy*sh + offy, ox*sw + offx)
  };
  __device__ __forceinline__ Row a_row(int grp, int m) const {
    return {static_cast<int64_t>(grp * g.Mg + m) * g.OH * g.OW};
  }
  __device__ __forceinline__ Acc a(const Row& r, int k) const {  // k = (nb, oy, ox)
    int rest;
    const int nb = g.div_ohw.divmod(k, rest);
    return to_compute<Acc>(map[r.map + static_cast<int64_t>(nb) * g.C_out * g.div_ohw.d + rest]);
  }
  __device__ __forceinline__ Col b_col(int grp, int n) const {  // n = (ci, ki, kj)
    int kj, ki;
    const int ci = g.div_kh.divmod(g.div_kw.divmod(n, kj), ki);
    return {static_cast<int64_t>(grp * g.Cg + ci) * g.H * g.W, ki * g.dh - g.ph, kj * g.dw - g.pw};
  }
  __device__ __forceinline__ Acc b(const Col& c, int k) const {  // k = (nb, oy, ox)
    int ox, oy;
    const int nb = g.div_OH.divmod(g.div_OW.divmod(k, ox), oy);
    const int iy = oy * g.sh + c.offy, ix = ox * g.sw + c.offx;
    if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) return Acc(0);
    return to_compute<Acc>(image[static_cast<int64_t>(nb) * g.C_in * g.H * g.W + c.img +
                                 static_cast<int64_t>(iy) * g.W + ix]);
  }
  __device__ __forceinline__ void store(int grp, int m, int n, Acc v) const {
    const int64_t N = static_cast<int64_t>(g.Cg) * g.kh * g.kw;
    weight_grad[static_cast<int64_t>(grp * g.Mg + m) * N + n] = from_compute<T>(v);
  }
};

// The per-thread part of gathering the operand tiles of one K step: this
// thread's load slots (element e = tid + i * kThreads of each 64 x 16 tile,
// the operand's contiguous dimension fastest, the same every K step; along
// k (kAKFast) a thread's slots share one k, so a step decodes k once for all
// of them), their rows of A and columns of B decoded once (slots past the
// edge decode row/column 0 and never load), and the registers holding the
// next step's elements while the block computes on the current one.
template <typename Acc, class P>
struct TileLoader {
  int am[kLoads], ak[kLoads], bn[kLoads], bk[kLoads];
  typename P::Row rows[kLoads];
  typename P::Col cols[kLoads];
  bool row_ok[kLoads], col_ok[kLoads];
  Acc ra[kLoads], rb[kLoads];

  __device__ __forceinline__ TileLoader(const P& p, int tid, int grp, int m0, int n0, int M, int N) {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      if constexpr (P::kAKFast) ak[i] = tid % kBK, am[i] = tid / kBK + i * (kThreads / kBK);
      else am[i] = tid % kBM, ak[i] = tid / kBM + i * (kThreads / kBM);
      if constexpr (P::kBKFast) bk[i] = tid % kBK, bn[i] = tid / kBK + i * (kThreads / kBK);
      else bn[i] = tid % kBN, bk[i] = tid / kBN + i * (kThreads / kBN);
      row_ok[i] = m0 + am[i] < M;
      col_ok[i] = n0 + bn[i] < N;
      rows[i] = p.a_row(grp, row_ok[i] ? m0 + am[i] : 0);
      cols[i] = p.b_col(grp, col_ok[i] ? n0 + bn[i] : 0);
    }
  }
  // Gathers the elements of the step starting at k0 (zeros past kend).
  __device__ __forceinline__ void load(const P& p, int k0, int kend) {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int k = k0 + ak[i];
      ra[i] = (row_ok[i] && k < kend) ? p.a(rows[i], k) : Acc(0);
    }
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int k = k0 + bk[i];
      rb[i] = (col_ok[i] && k < kend) ? p.b(cols[i], k) : Acc(0);
    }
  }
  // Stores them k-major into shared memory (As[k][m], Bs[k][n]) as S.
  template <typename S, int LA, int LB>
  __device__ __forceinline__ void store(S (*As)[LA], S (*Bs)[LB]) const {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      As[ak[i]][am[i]] = from_compute<S>(ra[i]);
      Bs[bk[i]][bn[i]] = from_compute<S>(rb[i]);
    }
  }
};

// The k range of split s: [s * k_chunk, min(K, (s + 1) * k_chunk)).
__device__ __forceinline__ int split_end(int K, int kbeg, int k_chunk) {
  return static_cast<int>(min(static_cast<int64_t>(K), static_cast<int64_t>(kbeg) + k_chunk));
}

// C(m, n) of the tile, to the output (one split) or the split's partials.
template <typename Acc, class P>
__device__ __forceinline__ void emit(const P& p, int grp, int m, int n, Acc v, int M, int N, int G, int split,
                                     int splits, Acc* partial) {
  if (splits == 1) p.store(grp, m, n, v);
  else partial[(static_cast<int64_t>(split * G + grp) * M + m) * N + n] = v;
}

// SIMT. blockIdx = (n tile, m tile, group * splits + split); with
// splits > 1 the tile goes to partial[split][group][m][n] instead of the
// output.
template <typename Acc, class P>
__global__ void __launch_bounds__(kThreads)
    igemm_kernel(P p, int M, int N, int K, int G, int splits, int k_chunk, Acc* partial) {
  __shared__ Acc As[kBK][kBM + 1];
  __shared__ Acc Bs[kBK][kBN + 1];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int grp = blockIdx.z / splits, split = blockIdx.z % splits;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int kbeg = split * k_chunk, kend = split_end(K, kbeg, k_chunk);
  TileLoader<Acc, P> ld(p, tid, grp, m0, n0, M, N);

  Acc acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = Acc(0);

  if (kbeg < kend) ld.load(p, kbeg, kend);
  for (int k0 = kbeg; k0 < kend; k0 += kBK) {
    ld.store(As, Bs);
    __syncthreads();
    if (k0 + kBK < kend) ld.load(p, k0 + kBK, kend);  // in flight while the block computes
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      Acc a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();  // the next step overwrites the tiles
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx + 16 * j;
      if (n < N) emit(p, grp, m, n, acc[i][j], M, N, G, split, splits, partial);
    }
  }
}

// Tensor cores (float16/bfloat16 in, float32 accumulation; sm_80+): the
// same gathers and block tile, with the tiles stored in T and multiplied by
// WMMA 16 x 16 x 16 fragments. The 8 warps form a 4 (m) x 2 (n) grid, each
// owning a 16 x 32 piece of the tile (two accumulator fragments). As[k][m]
// is A in column-major order and Bs[k][n] is B in row-major order, with
// rows padded to 72 elements (144 bytes, a multiple of the 16 bytes WMMA
// needs, and fragment pointers at 32-byte multiples). The accumulators go
// through shared memory (Cs) to the same scattered epilogue as the SIMT
// kernel.
template <typename T, class P>
__global__ void __launch_bounds__(kThreads)
    igemm_tc_kernel(P p, int M, int N, int K, int G, int splits, int k_chunk, float* partial) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  constexpr int LA = kBM + 8, LB = kBN + 8, LC = kBN + 4;
  __shared__ __align__(32) T As[kBK][LA];
  __shared__ __align__(32) T Bs[kBK][LB];
  __shared__ __align__(32) float Cs[kBM][LC];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int warp = tid / 32, wm = warp / 2, wn = warp % 2;
  const int grp = blockIdx.z / splits, split = blockIdx.z % splits;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int kbeg = split * k_chunk, kend = split_end(K, kbeg, k_chunk);
  TileLoader<float, P> ld(p, tid, grp, m0, n0, M, N);

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
  wmma::fill_fragment(acc[0], 0.f);
  wmma::fill_fragment(acc[1], 0.f);

  if (kbeg < kend) ld.load(p, kbeg, kend);
  for (int k0 = kbeg; k0 < kend; k0 += kBK) {
    ld.store(As, Bs);
    __syncthreads();
    if (k0 + kBK < kend) ld.load(p, k0 + kBK, kend);  // in flight while the tensor cores run
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::col_major> af;
    wmma::load_matrix_sync(af, &As[0][wm * 16], LA);
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> bf;
      wmma::load_matrix_sync(bf, &Bs[0][wn * 32 + j * 16], LB);
      wmma::mma_sync(acc[j], af, bf, acc[j]);
    }
    __syncthreads();  // the next step overwrites the tiles
  }
#pragma unroll
  for (int j = 0; j < 2; ++j)
    wmma::store_matrix_sync(&Cs[wm * 16][wn * 32 + j * 16], acc[j], LC, wmma::mem_row_major);
  __syncthreads();

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = m0 + ty + 16 * i;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int n = n0 + tx + 16 * j;
      if (n < N) emit(p, grp, m, n, Cs[ty + 16 * i][tx + 16 * j], M, N, G, split, splits, partial);
    }
  }
#else
  __trap();  // the host launches this kernel only on sm_80+
#endif
}

// out(g, m, n) = sum over splits s, in order, of partial[s][g][m][n].
template <typename Acc, class P>
__global__ void splitk_reduce_kernel(P p, const Acc* partial, int M, int N, int G, int splits) {
  const int64_t total = static_cast<int64_t>(G) * M * N;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Acc s = Acc(0);
    for (int sp = 0; sp < splits; ++sp) s += partial[sp * total + i];
    const int n = static_cast<int>(i % N);
    const int64_t t = i / N;
    p.store(static_cast<int>(t / M), static_cast<int>(t % M), n, s);
  }
}

// ---------------------------------------------------------------------------
// host side

int ceil_div(int64_t a, int64_t b) { return static_cast<int>((a + b - 1) / b); }

// Launches the SIMT kernel, or for 16-bit T on sm_80+ the tensor-core one.
template <typename T, typename Acc, class P>
void launch_igemm(const P& p, dim3 grid, int M, int N, int K, int G, int splits, int k_chunk, Acc* partial,
                  bool tensor_cores) {
  if constexpr (is_reduced_float_v<T>) {
    if (tensor_cores) {
      igemm_tc_kernel<T, P><<<grid, kThreads, 0, current_stream()>>>(p, M, N, K, G, splits, k_chunk, partial);
      WICK_CUDA_CHECK_LAUNCH();
      return;
    }
  }
  igemm_kernel<Acc, P><<<grid, kThreads, 0, current_stream()>>>(p, M, N, K, G, splits, k_chunk, partial);
  WICK_CUDA_CHECK_LAUNCH();
}

// Runs C = A B for every group; kSplitK allows K to be split over blocks
// when the tiles cannot fill the device.
template <typename T, bool kSplitK, class P>
void run_igemm(const P& p, const Tensor& like, int G, int64_t M, int64_t N, int64_t K) {
  using Acc = acc_t<T>;
  if (M == 0 || N == 0) return;
  const int m_tiles = ceil_div(M, kBM), n_tiles = ceil_div(N, kBN);
  WICK_CHECK(m_tiles <= 65535, "cuda conv: M = ", M, " needs more than 65535 tiles of ", kBM);
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  const cudaDeviceProp& prop = device_properties(dev);
  const bool tensor_cores = is_reduced_float_v<T> && prop.major >= 8;
  int splits = 1, k_chunk = static_cast<int>(std::max<int64_t>(K, 1));
  if (kSplitK && K > 0) {
    const int64_t target = 4LL * prop.multiProcessorCount;  // blocks that fill the device
    const int64_t tiles = static_cast<int64_t>(G) * m_tiles * n_tiles;
    if (tiles < target) {
      // At least 256 k per split (below that the reduction costs more than it gains).
      int64_t want = std::min<int64_t>((target + tiles - 1) / tiles, (K + 255) / 256);
      want = std::max<int64_t>(1, std::min<int64_t>(want, 65535 / G));
      const int64_t chunk = ((K + want - 1) / want + kBK - 1) / kBK * kBK;
      k_chunk = static_cast<int>(chunk);
      splits = ceil_div(K, chunk);
    }
  }
  WICK_CHECK(static_cast<int64_t>(G) * splits <= 65535, "cuda conv: ", G, " groups exceed the grid's 65535 limit");
  const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(m_tiles), static_cast<unsigned>(G * splits));
  const int Mi = static_cast<int>(M), Ni = static_cast<int>(N), Ki = static_cast<int>(K);
  if (splits == 1) {
    launch_igemm<T, Acc>(p, grid, Mi, Ni, Ki, G, 1, k_chunk, static_cast<Acc*>(nullptr), tensor_cores);
    return;
  }
  if constexpr (kSplitK) {
    // Partial tiles: [splits, G, M, N] in the accumulation type, from wick's
    // allocator (freed after the launches; the stream orders its reuse).
    const Tensor ws = empty({static_cast<int64_t>(splits) * G * M * N},
                            TensorOptions(std::is_same_v<Acc, double> ? kFloat64 : kFloat32).device(like.device()));
    Acc* partial = static_cast<Acc*>(ws.data_ptr_raw());
    launch_igemm<T, Acc>(p, grid, Mi, Ni, Ki, G, splits, k_chunk, partial, tensor_cores);
    splitk_reduce_kernel<Acc, P><<<grid_for(static_cast<int64_t>(G) * M * N, 256), 256, 0, current_stream()>>>(
        p, partial, Mi, Ni, G, splits);
    WICK_CUDA_CHECK_LAUNCH();
  }
}

// The stride phase of the image rows with (y + pad) mod s == r along one
// dim (extent `in`, kernel k, dilation d); see TransposeProblem.
Phase make_phase(int r, int in, int s, int pad, int k, int d) {
  Phase p{};
  p.first = ((r - pad) % s + s) % s;
  p.count = p.first < in ? (in - 1 - p.first) / s + 1 : 0;
  p.step = s / std::gcd(d, s);  // ki*d = r (mod s) repeats every s / gcd(d, s) taps
  p.k1 = -1;
  for (int ki = 0; ki < std::min(k, p.step); ++ki)
    if (ki * d % s == r) {
      p.k1 = ki;
      break;
    }
  p.nk = p.k1 < 0 ? 0 : (k - 1 - p.k1) / p.step + 1;
  p.k1 = std::max(p.k1, 0);
  p.dout = p.step * d / s;
  p.div_count = FastDiv(p.count);
  p.div_nk = FastDiv(p.nk);
  return p;
}

ConvBackend parse_backend_env() {
  const char* v = std::getenv("WICK_CUDA_CONV");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "wick") == 0) return ConvBackend::Wick;
  if (std::strcmp(v, "cudnn") == 0) return ConvBackend::Cudnn;
  WICK_FAIL("WICK_CUDA_CONV must be 'wick' or 'cudnn', got '", v, "'");
}

constexpr int64_t kIntLimit = INT_MAX - 2 * kBN;  // headroom for tile coordinates past the edge

// Checks the geometry and the tensors, and returns the 32-bit geometry.
Geo make_geo(const ConvGeometry& cg);

Geo check(const char* op, const ConvGeometry& cg, const Tensor& image, const Tensor& weight, const Tensor& map,
          const Tensor& bias, int64_t bias_size) {
  WICK_CHECK(cg.N >= 0 && cg.C_in > 0 && cg.H > 0 && cg.W > 0 && cg.C_out > 0 && cg.kh > 0 && cg.kw > 0 &&
                 cg.OH > 0 && cg.OW > 0 && cg.sh > 0 && cg.sw > 0 && cg.ph >= 0 && cg.pw >= 0 && cg.dh > 0 &&
                 cg.dw > 0 && cg.groups > 0 && cg.C_in % cg.groups == 0 && cg.C_out % cg.groups == 0,
             op, ": invalid geometry N=", cg.N, " C_in=", cg.C_in, " H=", cg.H, " W=", cg.W, " C_out=", cg.C_out,
             " kernel ", cg.kh, "x", cg.kw, " map ", cg.OH, "x", cg.OW, " groups=", cg.groups);
  const int64_t full_oh = (cg.H + 2 * cg.ph - cg.dh * (cg.kh - 1) - 1) / cg.sh + 1;
  const int64_t full_ow = (cg.W + 2 * cg.pw - cg.dw * (cg.kw - 1) - 1) / cg.sw + 1;
  WICK_CHECK(cg.OH <= full_oh && cg.OW <= full_ow, op, ": map ", cg.OH, "x", cg.OW,
             " is larger than the geometry allows (", full_oh, "x", full_ow, ")");
  const int64_t Cg = cg.C_in / cg.groups, Mg = cg.C_out / cg.groups;
  for (int64_t v : {cg.N * cg.OH * cg.OW, cg.N * cg.H * cg.W, cg.OH * cg.OW, cg.H * cg.W, Cg * cg.kh * cg.kw,
                    Mg * cg.kh * cg.kw,
                    cg.H + 2 * cg.ph + cg.dh * cg.kh, cg.W + 2 * cg.pw + cg.dw * cg.kw,
                    cg.OH * cg.sh + cg.dh * cg.kh, cg.OW * cg.sw + cg.dw * cg.kw, cg.C_in, cg.C_out})
    WICK_CHECK(v <= kIntLimit, op, ": extents too large for the 32-bit index math (N=", cg.N, " C_in=", cg.C_in,
               " ", cg.H, "x", cg.W, " C_out=", cg.C_out, " map ", cg.OH, "x", cg.OW, ")");

  const DType dt = image.dtype();
  const Device dev = image.device();
  WICK_CHECK(dt == kFloat32 || dt == kFloat64 || dt == kFloat16 || dt == kBFloat16, op,
             ": expected float32, float64, float16 or bfloat16, got ", dt);
  auto check_t = [&](const char* what, const Tensor& t, const Shape& want) {
    WICK_CHECK(t.defined(), op, ": ", what, " is undefined");
    WICK_CHECK(t.is_cuda() && t.device() == dev, op, ": ", what, " is on ", t.device(), ", expected ", dev);
    WICK_CHECK(t.dtype() == dt, op, ": ", what, " has dtype ", t.dtype(), ", expected ", dt);
    WICK_CHECK(t.sizes() == want, op, ": ", what, " has shape ", shape_str(t.sizes()), ", expected ",
               shape_str(want));
    WICK_CHECK(t.is_contiguous(), op, ": ", what, " must be contiguous");
  };
  WICK_CHECK(image.is_cuda(), op, ": image is on ", image.device(), ", expected a CUDA tensor");
  check_t("image", image, {cg.N, cg.C_in, cg.H, cg.W});
  check_t("weight", weight, {cg.C_out, Cg, cg.kh, cg.kw});
  check_t("map", map, {cg.N, cg.C_out, cg.OH, cg.OW});
  if (bias.defined()) check_t("bias", bias, {bias_size});
  return make_geo(cg);
}

// The kernels' geometry of a checked cg.
Geo make_geo(const ConvGeometry& cg) {
  const int64_t Cg = cg.C_in / cg.groups, Mg = cg.C_out / cg.groups;
  Geo g;
  g.N = static_cast<int>(cg.N), g.C_in = static_cast<int>(cg.C_in), g.H = static_cast<int>(cg.H);
  g.W = static_cast<int>(cg.W), g.C_out = static_cast<int>(cg.C_out), g.kh = static_cast<int>(cg.kh);
  g.kw = static_cast<int>(cg.kw), g.OH = static_cast<int>(cg.OH), g.OW = static_cast<int>(cg.OW);
  g.sh = static_cast<int>(cg.sh), g.sw = static_cast<int>(cg.sw), g.ph = static_cast<int>(cg.ph);
  g.pw = static_cast<int>(cg.pw), g.dh = static_cast<int>(cg.dh), g.dw = static_cast<int>(cg.dw);
  g.G = static_cast<int>(cg.groups), g.Cg = static_cast<int>(Cg), g.Mg = static_cast<int>(Mg);
  g.div_kw = FastDiv(g.kw), g.div_kh = FastDiv(g.kh), g.div_OW = FastDiv(g.OW), g.div_OH = FastDiv(g.OH);
  g.div_ohw = FastDiv(g.OH * g.OW);
  return g;
}

// Resolves Default, and checks that a requested cuDNN is there.
ConvBackend resolve(ConvBackend b) {
  if (b == ConvBackend::Default) b = default_conv_backend();
  if (b == ConvBackend::Cudnn)
    WICK_CHECK(vendor::cudnn_built(), "cuda conv: the cuDNN backend was requested (ConvBackend::Cudnn or "
                                      "WICK_CUDA_CONV=cudnn) but this build of wick has no cuDNN");
  return b;
}

template <typename T>
const T* ptr(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.data_ptr_raw()) : nullptr;
}
template <typename T>
T* mut_ptr(const Tensor& t) {
  return static_cast<T*>(t.data_ptr_raw());
}

template <typename Kernel, typename... Args>
void launch_reference(Kernel kernel, int64_t total, Args... args) {
  if (total == 0) return;
  kernel<<<grid_for(total, 256), 256, 0, current_stream()>>>(args...);
  WICK_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------------------
// 4. plain 1x1 convolutions through cuda::gemm

Conv1x1Path parse_1x1_env() {
  const char* v = std::getenv("WICK_CUDA_CONV_1X1");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "auto") == 0) return Conv1x1Path::Auto;
  if (std::strcmp(v, "gemm") == 0) return Conv1x1Path::Gemm;
  if (std::strcmp(v, "igemm") == 0) return Conv1x1Path::Igemm;
  WICK_FAIL("WICK_CUDA_CONV_1X1 must be 'auto', 'gemm' or 'igemm', got '", v, "'");
}

// The process-wide 1x1 path: WICK_CUDA_CONV_1X1 on first use, then set_conv1x1_path.
std::atomic<Conv1x1Path>& path_1x1() {
  static std::atomic<Conv1x1Path> p{parse_1x1_env()};
  return p;
}

// The accumulation dtype of products and partial sums over dt: float64 for
// float64, float32 for the rest.
DType acc_dtype(DType dt) { return dt == kFloat64 ? kFloat64 : kFloat32; }

// out[n, c, p] = bias[c] for out = [N, C, P] contiguous: the C operand of a
// beta = 1 product that adds the convolution to its bias.
template <typename T>
__global__ void fill_channels_kernel(const T* bias, T* out, int64_t C, int64_t P, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = bias[(i / P) % C];
}

// out[i] = sum_s slices[s * len + i] for s in [0, count), in order, rounded
// once into T.
template <typename T, typename Acc>
__global__ void sum_slices_kernel(const Acc* slices, int64_t count, int64_t len, T* out) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < len;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Acc s = Acc(0);
    for (int64_t k = 0; k < count; ++k) s += slices[k * len + i];
    out[i] = from_compute<T>(s);
  }
}

// A 1x1 kernel at stride 1 without padding over one group, with the map as
// large as the image (a smaller one, from conv_transpose2d's
// output_padding, cannot happen at stride 1 but is excluded all the same).
bool plain_1x1(const ConvGeometry& cg) {
  return cg.kh == 1 && cg.kw == 1 && cg.sh == 1 && cg.sw == 1 && cg.ph == 0 && cg.pw == 0 && cg.groups == 1 &&
         cg.OH == cg.H && cg.OW == cg.W;
}

constexpr int64_t kGemmTile = 128;               // block tile of wick's float32 and tensor-core GEMMs (gemm.cu)
constexpr int64_t kGemmMaxExtent = 65535LL * 64;  // rows/columns every GEMM backend's grid takes (tiles >= 64)
constexpr int64_t kWgradWorkspaceBytes = 256LL << 20;

// Whether the GEMM path takes this convolution: a plain 1x1 with extents
// every GEMM grid takes, not forced onto the implicit GEMM, and for 16-bit
// dtypes a device with tensor cores (the GEMM has no SIMT path for them;
// the implicit GEMM does).
bool gemm_1x1_eligible(const ConvGeometry& cg, DType dt) {
  if (path_1x1().load(std::memory_order_relaxed) == Conv1x1Path::Igemm || !plain_1x1(cg)) return false;
  if (cg.H * cg.W > kGemmMaxExtent || cg.C_in > kGemmMaxExtent || cg.C_out > kGemmMaxExtent) return false;
  if (dt == kFloat16 || dt == kBFloat16) {
    int dev = 0;
    WICK_CUDA_CHECK(cudaGetDevice(&dev));
    if (device_properties(dev).major < 8) return false;
  }
  return true;
}

// out = bias broadcast over [N, C, P] (bias defined, out contiguous).
void fill_channels(const Tensor& bias, const Tensor& out, int64_t C, int64_t P) {
  const int64_t total = out.numel();
  if (total == 0) return;
  WICK_DEVICE_DISPATCH_FLOAT(out.dtype(), "cuda conv (1x1 bias)", [&]<typename T>() {
    fill_channels_kernel<T><<<grid_for(total, 256), 256, 0, current_stream()>>>(ptr<T>(bias), mut_ptr<T>(out), C,
                                                                                  P, total);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

const char* byte_ptr(const Tensor& t) { return static_cast<const char*>(t.data_ptr_raw()); }

// out[c, n*P + p] = in[n, c, p] (out rows ld apart): an NCHW batch
// [N, C, P] as one [C, N*P] matrix, so that a product can run over every
// pixel of the batch at once. Rows of P elements are contiguous on both
// sides (coalesced reads and writes).
template <typename T, int V>
__global__ void channels_first_kernel(const T* in, T* out, int64_t rows, int64_t C, int64_t P, int64_t ld) {
  using Pk = loops::Pack<T, V>;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {  // r = n*C + c
    const int64_t n = r / C, c = r - n * C;
    const Pk* src = reinterpret_cast<const Pk*>(in + r * P);
    Pk* dst = reinterpret_cast<Pk*>(out + c * ld + n * P);
    for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < P / V;
         p += static_cast<int64_t>(gridDim.x) * blockDim.x)
      dst[p] = src[p];
  }
}

// The inverse, with a bias: out[n, c, p] = in[c * ld + n*P + p] + bias[c]
// (bias may be null), added in the accumulation type and rounded once into
// T (In is float32 for 16-bit T: the product's unrounded output).
template <typename T, typename In, int V>
__global__ void batch_major_kernel(const In* in, const T* bias, T* out, int64_t rows, int64_t C, int64_t P,
                                   int64_t ld) {
  using Acc = acc_t<T>;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {  // r = n*C + c
    const int64_t n = r / C, c = r - n * C;
    const auto* src = reinterpret_cast<const loops::Pack<In, V>*>(in + c * ld + n * P);
    auto* dst = reinterpret_cast<loops::Pack<T, V>*>(out + r * P);
    const Acc b = bias ? to_compute<Acc>(bias[c]) : Acc(0);
    for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < P / V;
         p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const loops::Pack<In, V> x = src[p];
      loops::Pack<T, V> y;
#pragma unroll
      for (int j = 0; j < V; ++j) y.v[j] = from_compute<T>(to_compute<Acc>(x.v[j]) + b);
      dst[p] = y;
    }
  }
}

// Launch shape of the two kernels above: a block row per (n, c), threads along p.
struct RowGrid {
  dim3 grid;
  int threads;
};
RowGrid row_grid(int64_t rows, int64_t P) {
  const int threads = static_cast<int>(std::min<int64_t>(256, (P + 31) / 32 * 32));
  return {dim3(static_cast<unsigned>(std::min<int64_t>((P + threads - 1) / threads, 64)),
               static_cast<unsigned>(std::min<int64_t>(rows, 65535))),
          threads};
}

// Row length of the [C, N*P] operands: a multiple of 8 elements, so that
// every row starts 16-byte aligned and the GEMM's vector / cp.async loads
// apply whatever P is.
int64_t channels_first_ld(int64_t NP) { return (NP + 7) / 8 * 8; }

// On since CudaConvIm2col.Packs passed on an H200 (2026-11-28; set_conv_copy_packs, WICK_CUDA_CONV_PACKS=0).
OptInSwitch& copy_packs_switch() {
  static OptInSwitch s("WICK_CUDA_CONV_PACKS", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> copy_packed_launches{0};  // copies launched on packs wider than one value (tests)

// Elements per thread and step of the column path's copies (channels_first,
// batch_major, im2col): loops::pack_width with the switch on, else 1.
int copy_pack(int64_t max_elem, std::initializer_list<int64_t> multiples,
              std::initializer_list<loops::PackOperand> operands) {
  const int v = copy_packs_switch().on() ? loops::pack_width(max_elem, multiples, operands) : 1;
  if (v > 1) copy_packed_launches.fetch_add(1, std::memory_order_relaxed);
  return v;
}
using loops::with_pack;

// The [C, ld] copy of the contiguous [N, C, H, W] tensor at `in` (dtype dt,
// on `like`'s device; channels_first_kernel).
Tensor channels_first(const void* in, DType dt, const Tensor& like, int64_t N, int64_t C, int64_t P, int64_t ld) {
  const Tensor out = empty({C, ld}, TensorOptions(dt).device(like.device()));
  WICK_DEVICE_DISPATCH_FLOAT(dt, "cuda conv (channels-first copy)", [&]<typename T>() {
    const int v = copy_pack(sizeof(T), {P, ld}, {{in, sizeof(T)}, {out.data_ptr_raw(), sizeof(T)}});
    with_pack<T>(v, [&]<int V>() {
      const RowGrid rg = row_grid(N * C, P / V);
      channels_first_kernel<T, V><<<rg.grid, rg.threads, 0, current_stream()>>>(static_cast<const T*>(in),
                                                                               mut_ptr<T>(out), N * C, C, P, ld);
    });
    WICK_CUDA_CHECK_LAUNCH();
  });
  return out;
}
Tensor channels_first(const Tensor& t, int64_t N, int64_t C, int64_t P, int64_t ld) {
  return channels_first(t.data_ptr_raw(), t.dtype(), t, N, C, P, ld);
}

// The [N, C, H, W] tensor at `out` (dtype out_dt) = the [C, ld] product
// `in` (out_dt, or float32 for 16-bit out_dt) + bias[c] (bias may be
// undefined).
void batch_major(const Tensor& in, const Tensor& bias, void* out, DType out_dt, int64_t N, int64_t C, int64_t P,
                 int64_t ld) {
  WICK_DEVICE_DISPATCH_FLOAT(out_dt, "cuda conv (copy back to NCHW)", [&]<typename T>() {
    auto launch = [&]<typename In>() {
      const int v = copy_pack(sizeof(In), {P, ld}, {{in.data_ptr_raw(), sizeof(In)}, {out, sizeof(T)}});
      with_pack<In>(v, [&]<int V>() {
        const RowGrid rg = row_grid(N * C, P / V);
        batch_major_kernel<T, In, V><<<rg.grid, rg.threads, 0, current_stream()>>>(
            static_cast<const In*>(in.data_ptr_raw()), ptr<T>(bias), static_cast<T*>(out), N * C, C, P, ld);
      });
    };
    if (in.dtype() == out_dt)
      launch.template operator()<T>();
    else
      launch.template operator()<acc_t<T>>();
    WICK_CUDA_CHECK_LAUNCH();
  });
}

// The dtype of a channels-first product that batch_major copies back into
// dt: dt itself without a bias (the product's one rounding is then the
// result's, and the copy moves half the bytes of float32 for 16-bit dt),
// else the accumulation type (the bias is added before the one rounding).
DType product_dtype(DType dt, const Tensor& bias) { return bias.defined() ? acc_dtype(dt) : dt; }

// Whether the forward and transpose run directly on the NCHW tensors (one
// product batched over the images, operand rows P apart), or on
// channels-first copies (one product over all N*P pixels): small images
// waste most of a 128-wide tile per image (P = 49: 62%), and a P that is not
// a multiple of 16 bytes' worth of elements takes the GEMM's scalar-load
// path; the copies cost a pass over the input and the output. (A batch of
// more pixels than a GEMM grid takes in N stays direct.)
bool direct_1x1(int64_t N, int64_t P, DType dt) {
  return (P >= 256 && P % (16 / static_cast<int64_t>(dtype_size(dt))) == 0) || N * P > kGemmMaxExtent;
}

// map[n] = weight . image[n] (+ bias): one product batched over the images.
void gemm_1x1_forward(const ConvGeometry& cg, const Tensor& image, const Tensor& weight, const Tensor& bias,
                      const Tensor& map) {
  const int64_t P = cg.H * cg.W;
  const DType dt = image.dtype();
  if (!direct_1x1(cg.N, P, dt)) {  // Y' [C_out, N*P] = W . X' [C_in, N*P], then back to NCHW (+ bias)
    const int64_t NP = cg.N * P, ld = channels_first_ld(NP);
    const DType out_dt = product_dtype(dt, bias);
    const Tensor x = channels_first(image, cg.N, cg.C_in, P, ld);
    const Tensor y = empty({cg.C_out, ld}, TensorOptions(out_dt).device(image.device()));
    GemmArgs a;
    a.M = cg.C_out, a.N = NP, a.K = cg.C_in, a.batch = 1;
    a.trans_a = false, a.A = weight.data_ptr_raw(), a.lda = cg.C_in;  // W [C_out, C_in]
    a.trans_b = false, a.B = x.data_ptr_raw(), a.ldb = ld;            // X' [C_in, N*P]
    a.C = y.data_ptr_raw(), a.ldc = ld;                               // Y' [C_out, N*P]
    a.alpha = 1.0, a.beta = 0.0, a.ab_dtype = dt, a.c_dtype = out_dt;
    gemm(a);
    batch_major(y, bias, map.data_ptr_raw(), dt, cg.N, cg.C_out, P, ld);
    return;
  }
  if (bias.defined()) fill_channels(bias, map, cg.C_out, P);
  GemmArgs a;
  a.M = cg.C_out, a.N = P, a.K = cg.C_in, a.batch = cg.N;
  a.trans_a = false, a.A = weight.data_ptr_raw(), a.lda = cg.C_in, a.stride_a = 0;  // W [C_out, C_in], shared
  a.trans_b = false, a.B = image.data_ptr_raw(), a.ldb = P, a.stride_b = cg.C_in * P;  // X[n] [C_in, P]
  a.C = map.data_ptr_raw(), a.ldc = P, a.stride_c = cg.C_out * P;                     // Y[n] [C_out, P]
  a.alpha = 1.0, a.beta = bias.defined() ? 1.0 : 0.0;
  a.ab_dtype = a.c_dtype = image.dtype();
  gemm(a);
}

// image[n] = weight^T . map[n] (+ bias): one product batched over the images.
void gemm_1x1_transpose(const ConvGeometry& cg, const Tensor& map, const Tensor& weight, const Tensor& bias,
                        const Tensor& image) {
  const int64_t P = cg.H * cg.W;
  const DType dt = image.dtype();
  if (!direct_1x1(cg.N, P, dt)) {  // X' [C_in, N*P] = W^T . Y' [C_out, N*P], then back to NCHW (+ bias)
    const int64_t NP = cg.N * P, ld = channels_first_ld(NP);
    const DType out_dt = product_dtype(dt, bias);
    const Tensor y = channels_first(map, cg.N, cg.C_out, P, ld);
    const Tensor x = empty({cg.C_in, ld}, TensorOptions(out_dt).device(image.device()));
    GemmArgs a;
    a.M = cg.C_in, a.N = NP, a.K = cg.C_out, a.batch = 1;
    a.trans_a = true, a.A = weight.data_ptr_raw(), a.lda = cg.C_in;  // W^T: W stored [K, M]
    a.trans_b = false, a.B = y.data_ptr_raw(), a.ldb = ld;          // Y' [C_out, N*P]
    a.C = x.data_ptr_raw(), a.ldc = ld;                             // X' [C_in, N*P]
    a.alpha = 1.0, a.beta = 0.0, a.ab_dtype = dt, a.c_dtype = out_dt;
    gemm(a);
    batch_major(x, bias, image.data_ptr_raw(), dt, cg.N, cg.C_in, P, ld);
    return;
  }
  if (bias.defined()) fill_channels(bias, image, cg.C_in, P);
  GemmArgs a;
  a.M = cg.C_in, a.N = P, a.K = cg.C_out, a.batch = cg.N;
  a.trans_a = true, a.A = weight.data_ptr_raw(), a.lda = cg.C_in, a.stride_a = 0;  // W^T: W stored [K, M]
  a.trans_b = false, a.B = map.data_ptr_raw(), a.ldb = P, a.stride_b = cg.C_out * P;  // Y[n] [C_out, P]
  a.C = image.data_ptr_raw(), a.ldc = P, a.stride_c = cg.C_in * P;                     // X[n] [C_in, P]
  a.alpha = 1.0, a.beta = bias.defined() ? 1.0 : 0.0;
  a.ab_dtype = a.c_dtype = image.dtype();
  gemm(a);
}

// out[i] = the sum of `count` partials [count, MN] (accumulation type of
// out_dt), in order, rounded once into out_dt.
void sum_partials(const Tensor& partials, int64_t count, int64_t MN, void* out, DType out_dt) {
  WICK_DEVICE_DISPATCH_FLOAT(out_dt, "cuda conv2d_weight_grad (partial sums)", [&]<typename T>() {
    using Acc = acc_t<T>;
    sum_slices_kernel<T, Acc><<<grid_for(MN, 256), 256, 0, current_stream()>>>(
        static_cast<const Acc*>(partials.data_ptr_raw()), count, MN, static_cast<T*>(out));
    WICK_CUDA_CHECK_LAUNCH();
  });
}

// out [M, Nw] (dtype out_dt: dt, or its accumulation type) =
// dy [M, NP] . x [Nw, NP]^T, both operands of dtype dt with rows ld apart:
// the weight gradient once the batch's pixels are one K = NP. Its
// ceil(M/128) * ceil(Nw/128) tiles do not grow with the batch, so K is
// split into S chunks of Kc (a multiple of 64), batched over blockIdx.z
// (stride Kc along K), so that the tiles become about two blocks per SM,
// each chunk at least 512 long and the S partials within the workspace;
// the partials are summed in order and rounded once (deterministic: S
// depends only on the shapes and the SM count).
void split_k_weight_product(const void* dy, const void* x, int64_t NP, int64_t ld, int64_t M, int64_t Nw, DType dt,
                            void* out, DType out_dt, const Tensor& like) {
  const DType acc = acc_dtype(dt);
  const int64_t MN = M * Nw;
  const int64_t acc_size = static_cast<int64_t>(dtype_size(acc)), esz = static_cast<int64_t>(dtype_size(dt));
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  const int64_t sms = device_properties(dev).multiProcessorCount;
  const int64_t tiles = ((M + kGemmTile - 1) / kGemmTile) * ((Nw + kGemmTile - 1) / kGemmTile);
  int64_t S = (2 * sms + tiles - 1) / tiles;
  S = std::min(S, std::max<int64_t>(1, NP / 512));
  S = std::min(S, std::max<int64_t>(1, kWgradWorkspaceBytes / (MN * acc_size)));
  const int64_t Kc = ((NP + S - 1) / S + 63) / 64 * 64;
  S = (NP + Kc - 1) / Kc;  // rounding Kc up may leave fewer chunks
  GemmArgs a;
  a.M = M, a.N = Nw;
  a.trans_a = false, a.lda = ld;  // dY' [M, NP]
  a.trans_b = true, a.ldb = ld;   // X'^T, X' [Nw, NP]
  a.ldc = Nw, a.alpha = 1.0, a.beta = 0.0, a.ab_dtype = dt;
  if (S <= 1) {  // one product straight into the output, rounded once
    a.K = NP, a.batch = 1, a.A = dy, a.B = x, a.C = out, a.c_dtype = out_dt;
    gemm(a);
    return;
  }
  const Tensor ws = empty({S, MN}, TensorOptions(acc).device(like.device()));
  a.c_dtype = acc, a.stride_c = MN;
  // Chunks 0 .. S-2 (Kc each) in one batched launch, then the last (shorter or equal) one.
  a.K = Kc, a.batch = S - 1;
  a.A = dy, a.stride_a = Kc, a.B = x, a.stride_b = Kc, a.C = ws.data_ptr_raw();
  gemm(a);
  a.K = NP - (S - 1) * Kc, a.batch = 1, a.stride_a = a.stride_b = a.stride_c = 0;
  a.A = static_cast<const char*>(dy) + (S - 1) * Kc * esz, a.B = static_cast<const char*>(x) + (S - 1) * Kc * esz;
  a.C = static_cast<char*>(ws.data_ptr_raw()) + (S - 1) * MN * acc_size;
  gemm(a);
  sum_partials(ws, S, MN, out, out_dt);
}

// weight_grad = sum_n map[n] . image[n]^T, by one of two products (conv.cu,
// section 4): per-image partials, or K over the whole batch after a copy.
void gemm_1x1_weight_grad(const ConvGeometry& cg, const Tensor& image, const Tensor& map, const Tensor& weight_grad) {
  const DType dt = image.dtype();
  const DType acc = acc_dtype(dt);
  const int64_t N = cg.N, P = cg.H * cg.W, MN = cg.C_out * cg.C_in;
  const int64_t acc_size = static_cast<int64_t>(dtype_size(acc)), esz = static_cast<int64_t>(dtype_size(dt));
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  const int64_t sms = device_properties(dev).multiProcessorCount;

  // (a) Per-image partials: when writing and re-reading them costs less
  // memory traffic than copying both operands (N * MN * acc vs
  // N * (C_in + C_out) * P * esz: large images, few channels), they fit the
  // workspace, and (Auto) the batched product has enough useful tiles to
  // beat the split-K alternative, one block per tile and no split of K:
  // a float32 SIMT block does about 1/132 of the GEMM's 33 TFLOP/s on H100,
  // so it needs about half the SMs' worth of tiles; a tensor-core block
  // ~1.3 TFLOP/s, an eighth. (Estimates, not measurements: compare
  // WICK_CUDA_CONV_1X1=auto, gemm and igemm in bench_cuda_conv.)
  const bool tc = dt == kFloat16 || dt == kBFloat16;
  const double useful_tiles = static_cast<double>(N) * MN / (kGemmTile * kGemmTile);
  const bool fills = path_1x1().load(std::memory_order_relaxed) == Conv1x1Path::Gemm ||
                     useful_tiles >= static_cast<double>(sms) * (tc ? 0.125 : 0.5);
  // (Also: rows P apart must be 16-byte aligned, as in direct_1x1.)
  if (N > 1 && MN * acc_size <= (cg.C_in + cg.C_out) * P * esz && N * MN * acc_size <= kWgradWorkspaceBytes &&
      fills && P % (16 / esz) == 0) {
    const Tensor ws = empty({N, MN}, TensorOptions(acc).device(image.device()));
    GemmArgs a;
    a.M = cg.C_out, a.N = cg.C_in, a.K = P, a.batch = N;
    a.trans_a = false, a.A = map.data_ptr_raw(), a.lda = P, a.stride_a = cg.C_out * P;  // dY[n] [C_out, P]
    a.trans_b = true, a.B = image.data_ptr_raw(), a.ldb = P, a.stride_b = cg.C_in * P;  // X[n]^T, X[n] [C_in, P]
    a.C = ws.data_ptr_raw(), a.ldc = cg.C_in, a.stride_c = MN;                          // partial n [C_out, C_in]
    a.alpha = 1.0, a.beta = 0.0, a.ab_dtype = dt, a.c_dtype = acc;
    gemm(a);
    sum_partials(ws, N, MN, weight_grad.data_ptr_raw(), dt);
    return;
  }

  // (b) K = N*P: the batch as [C, N*P] matrices (one image needs no copy),
  // then one product split along K.
  const int64_t NP = N * P, ld = N == 1 ? P : channels_first_ld(NP);
  const Tensor dy = N == 1 ? map : channels_first(map, N, cg.C_out, P, ld);
  const Tensor x = N == 1 ? image : channels_first(image, N, cg.C_in, P, ld);
  split_k_weight_product(dy.data_ptr_raw(), x.data_ptr_raw(), NP, ld, cg.C_out, cg.C_in, dt,
                         weight_grad.data_ptr_raw(), dt, image);
}

// ---------------------------------------------------------------------------
// 5. the other convolutions of one group through column matrices and cuda::gemm

// On since CudaConvIm2col.* passed on an H100 (set_conv_im2col, WICK_CUDA_CONV_IM2COL=0 to turn off).
OptInSwitch& im2col_switch() {
  static OptInSwitch s("WICK_CUDA_CONV_IM2COL", /*default_on=*/true);
  return s;
}
// On since CudaConvTransposeAsForward.* passed on an H200 (2026-11-28; set_conv_transpose_as_forward,
// WICK_CUDA_CONV_TRANSPOSE_FWD=0).
OptInSwitch& transpose_as_forward_switch() {
  static OptInSwitch s("WICK_CUDA_CONV_TRANSPOSE_FWD", /*default_on=*/true);
  return s;
}
std::atomic<int64_t> transpose_as_forward_products{0};  // input gradients run as forwards (tests)
std::atomic<int64_t>& im2col_workspace() {
  static std::atomic<int64_t> bytes{256LL << 20};
  return bytes;
}

// cols[n * image_stride + k * row_stride + p] = col(image)[k, (n, p)] for
// the rows r = n * Kp + k of a chunk of images (image points at its first;
// the index math is conv_columns.h's); rows K .. Kp-1 are zero (the padding
// that keeps the product's rows 16-byte aligned). A block row per r decodes
// (n, ci, ki, kj) once; threads run along p, so the writes are coalesced
// and the reads are too at stride 1.
// V: consecutive pixels per thread and step, written as one pack (OP,
// image_stride, row_stride and cols multiples of V); V = 1 is the per-pixel
// definition (column_source), V > 1 takes the V sources by column_sources.
template <typename T, int V>
__global__ void im2col_kernel(ColumnGeometry g, const T* image, T* cols, int64_t rows, int64_t K, int64_t Kp,
                              int64_t image_stride, int64_t row_stride) {
  using Pk = loops::Pack<T, V>;
  const int OP = g.OH * g.OW;
  const T zero = from_compute<T>(acc_t<T>(0));
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t n = r / Kp, k = r - n * Kp;
    Pk* dst = reinterpret_cast<Pk*>(cols + n * image_stride + k * row_stride);
    if (k >= K) {
      Pk z;
#pragma unroll
      for (int j = 0; j < V; ++j) z.v[j] = zero;
      for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < OP / V; p += gridDim.x * blockDim.x) dst[p] = z;
      continue;
    }
    const ColumnRow row = column_row(g, k);
    const T* src = image + (n * g.C_in + row.ci) * g.H * g.W;
    for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < OP / V; p += gridDim.x * blockDim.x) {
      Pk o;
      if constexpr (V == 1) {
        const int s = column_source(g, row, p);
        o.v[0] = s >= 0 ? src[s] : zero;
      } else {
        int at[V];
        column_sources<V>(g, row, p * V, at);
#pragma unroll
        for (int j = 0; j < V; ++j) o.v[j] = at[j] >= 0 ? src[at[j]] : zero;
      }
      dst[p] = o;
    }
  }
}

// The transpose's gather back from the column gradients, for the rows
// r = n * C_in + c of a chunk of images: image[n, c, y, x] = bias[c] + the
// taps that read (y, x) (column_gather), summed in In (the product's
// float32, or float64) in a fixed order and rounded once into T; no atomics.
template <typename T, typename In>
__global__ void col2im_kernel(ColumnGeometry g, const In* dcol, const T* bias, T* image, int64_t rows,
                              int64_t image_stride, int64_t row_stride) {
  const int P = g.H * g.W;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t n = r / g.C_in, c = r - n * g.C_in;
    const In* src = dcol + n * image_stride + c * g.kh * g.kw * row_stride;
    T* dst = image + r * P;
    const In b = bias ? to_compute<In>(bias[c]) : In(0);
    for (int q = blockIdx.x * blockDim.x + threadIdx.x; q < P; q += gridDim.x * blockDim.x)
      dst[q] = from_compute<T>(column_gather(g, src, row_stride, q, b));
  }
}

// out [R, Kp] = w [R, K] with zero columns K .. Kp-1.
template <typename T>
__global__ void pad_columns_kernel(const T* w, T* out, int64_t R, int64_t K, int64_t Kp) {
  const int64_t total = R * Kp;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / Kp, j = i - r * Kp;
    out[i] = j < K ? w[r * K + j] : from_compute<T>(acc_t<T>(0));
  }
}

// out [C_in, C_out, taps] = w [C_out, C_in, taps] with the channels swapped
// and the taps (ki kw + kj, both axes) reversed: the weight of the forward
// convolution that computes the transpose (conv_transpose_as_forward_geometry).
template <typename T>
__global__ void flip_transpose_weight_kernel(const T* w, T* out, int64_t C_out, int64_t C_in, int64_t taps) {
  const int64_t total = C_out * C_in * taps;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i % taps, co = (i / taps) % C_out, c = i / (taps * C_out);
    out[i] = w[(co * C_in + c) * taps + (taps - 1 - t)];
  }
}

Tensor flip_transpose_weight(const Tensor& weight, const ConvGeometry& cg) {
  const Tensor out = empty({cg.C_in, cg.C_out, cg.kh, cg.kw}, TensorOptions(weight.dtype()).device(weight.device()));
  const int64_t taps = cg.kh * cg.kw;
  WICK_DEVICE_DISPATCH_FLOAT(weight.dtype(), "cuda conv (flipped weight)", [&]<typename T>() {
    flip_transpose_weight_kernel<T><<<grid_for(weight.numel(), 256), 256, 0, current_stream()>>>(
        ptr<T>(weight), mut_ptr<T>(out), cg.C_out, cg.C_in, taps);
    WICK_CUDA_CHECK_LAUNCH();
  });
  return out;
}

// Whether the GEMM runs products of dt on this device: 16-bit inputs need
// tensor cores (sm_80+; the GEMM has no SIMT path for them).
bool gemm_runs(DType dt) {
  if (dt != kFloat16 && dt != kBFloat16) return true;
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  return device_properties(dev).major >= 8;
}

// Whether the column path takes this convolution: switched on, one group,
// not a plain 1x1 (section 4 decides those, Conv1x1Path::Igemm included),
// extents every GEMM grid takes (C_out and C_in*kh*kw rows, one image's
// pixels as columns).
bool im2col_eligible(const ConvGeometry& cg, DType dt) {
  if (!im2col_switch().on() || cg.groups != 1 || plain_1x1(cg)) return false;
  const int64_t K = cg.C_in * cg.kh * cg.kw;
  return K + 8 <= kGemmMaxExtent && cg.C_out <= kGemmMaxExtent && cg.OH * cg.OW <= kGemmMaxExtent && gemm_runs(dt);
}

// The column matrices' row count: K rounded up to 16 bytes' worth of
// elements, so that the weight's rows (the product's A, lda = Kp) start
// 16-byte aligned and the GEMM's vector / TMA loads apply (ResNet's 7x7
// stem: K = 147 -> 152). Rows past K are zero.
int64_t padded_k(int64_t K, DType dt) {
  const int64_t align = 16 / static_cast<int64_t>(dtype_size(dt));
  return (K + align - 1) / align * align;
}

// The weight [C_out, K] as [C_out, Kp] (itself when K == Kp).
Tensor padded_weight(const Tensor& weight, int64_t C_out, int64_t K, int64_t Kp) {
  if (K == Kp) return weight;
  const Tensor out = empty({C_out, Kp}, TensorOptions(weight.dtype()).device(weight.device()));
  WICK_DEVICE_DISPATCH_FLOAT(weight.dtype(), "cuda conv (padded weight)", [&]<typename T>() {
    pad_columns_kernel<T><<<grid_for(C_out * Kp, 256), 256, 0, current_stream()>>>(ptr<T>(weight), mut_ptr<T>(out),
                                                                                    C_out, K, Kp);
    WICK_CUDA_CHECK_LAUNCH();
  });
  return out;
}

// Whether a product runs per image on [K, OP] column matrices laid out
// image after image (one launch batched over the images, writing the NCHW
// map in place), or once over the chunk's pixels on a [K, nb*OP] matrix
// (then copied back to NCHW): as direct_1x1, images of >= 256 pixels whose
// rows stay 16-byte aligned go per image; smaller ones would leave most of
// each 128-wide tile empty.
bool im2col_direct(int64_t OP, DType dt) { return OP >= 256 && OP % (16 / static_cast<int64_t>(dtype_size(dt))) == 0; }

// Images per chunk: as many as keep the chunk's scratch matrices
// (per_image bytes each) within the workspace, one at least, and when the
// chunk's pixels are one grid dimension of the product (the forward and
// transpose over all of them: pixels_on_grid) no more than a GEMM grid
// takes. (The weight gradient's pixels are its K: no grid limit.)
int64_t images_per_chunk(int64_t N, int64_t per_image, int64_t OP, bool pixels_on_grid) {
  const int64_t budget = im2col_workspace().load(std::memory_order_relaxed);
  int64_t nb = std::max<int64_t>(1, budget / std::max<int64_t>(per_image, 1));
  if (pixels_on_grid) nb = std::min(nb, std::max<int64_t>(1, kGemmMaxExtent / OP));
  return std::min(nb, N);
}

ColumnGeometry column_geometry(const Geo& g) {
  return ColumnGeometry(g.C_in, g.H, g.W, g.kh, g.kw, g.OH, g.OW, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw);
}

// The columns of images [n0, n0 + nb) into cols (rows Kp, layout as in im2col_kernel).
void im2col(const Geo& g, const Tensor& image, int64_t n0, int64_t nb, int64_t K, int64_t Kp, const Tensor& cols,
            int64_t image_stride, int64_t row_stride) {
  const int64_t OP = static_cast<int64_t>(g.OH) * g.OW;
  WICK_DEVICE_DISPATCH_FLOAT(image.dtype(), "cuda conv (im2col)", [&]<typename T>() {
    const int v = copy_pack(sizeof(T), {OP, image_stride, row_stride}, {{cols.data_ptr_raw(), sizeof(T)}});
    with_pack<T>(v, [&]<int V>() {
      const RowGrid rg = row_grid(nb * Kp, OP / V);
      im2col_kernel<T, V><<<rg.grid, rg.threads, 0, current_stream()>>>(
          column_geometry(g), ptr<T>(image) + n0 * g.C_in * g.H * g.W, mut_ptr<T>(cols), nb * Kp, K, Kp,
          image_stride, row_stride);
    });
    WICK_CUDA_CHECK_LAUNCH();
  });
}

// Images [n0, n0 + nb) of `image` from the column gradients dcol (the
// accumulation type; layout as in col2im_kernel), + bias.
void col2im(const Geo& g, const Tensor& dcol, const Tensor& bias, const Tensor& image, int64_t n0, int64_t nb,
            int64_t image_stride, int64_t row_stride) {
  const int64_t P = static_cast<int64_t>(g.H) * g.W;
  const RowGrid rg = row_grid(nb * g.C_in, P);
  WICK_DEVICE_DISPATCH_FLOAT(image.dtype(), "cuda conv (col2im)", [&]<typename T>() {
    using In = acc_t<T>;
    col2im_kernel<T, In><<<rg.grid, rg.threads, 0, current_stream()>>>(
        column_geometry(g), static_cast<const In*>(dcol.data_ptr_raw()), ptr<T>(bias),
        mut_ptr<T>(image) + n0 * g.C_in * P, nb * g.C_in, image_stride, row_stride);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

// map = weight . col(image) (+ bias), chunk by chunk of images.
void im2col_forward(const ConvGeometry& cg, const Geo& g, const Tensor& image, const Tensor& weight,
                    const Tensor& bias, const Tensor& map) {
  const DType dt = image.dtype();
  const int64_t esz = static_cast<int64_t>(dtype_size(dt));
  const int64_t K = cg.C_in * cg.kh * cg.kw, Kp = padded_k(K, dt), OP = cg.OH * cg.OW, C_out = cg.C_out;
  const Tensor w = padded_weight(weight, C_out, K, Kp);
  const bool direct = im2col_direct(OP, dt);
  const DType y_dt = direct ? dt : product_dtype(dt, bias);  // the product before the copy back
  const int64_t per_image = Kp * OP * esz + (direct ? 0 : C_out * OP * static_cast<int64_t>(dtype_size(y_dt)));
  const int64_t nb = images_per_chunk(cg.N, per_image, OP, !direct);
  if (direct && bias.defined()) fill_channels(bias, map, C_out, OP);
  for (int64_t n0 = 0; n0 < cg.N; n0 += nb) {
    const int64_t cnt = std::min(nb, cg.N - n0);
    GemmArgs a;
    a.M = C_out, a.K = Kp, a.ab_dtype = dt;
    a.trans_a = false, a.A = w.data_ptr_raw(), a.lda = Kp, a.stride_a = 0;  // W [C_out, Kp], shared
    if (direct) {  // Y[n] [C_out, OP] (+)= W . cols[n] [Kp, OP], batched over the chunk's images
      const Tensor cols = empty({cnt, Kp, OP}, TensorOptions(dt).device(image.device()));
      im2col(g, image, n0, cnt, K, Kp, cols, Kp * OP, OP);
      a.N = OP, a.batch = cnt;
      a.trans_b = false, a.B = cols.data_ptr_raw(), a.ldb = OP, a.stride_b = Kp * OP;
      a.C = static_cast<char*>(map.data_ptr_raw()) + n0 * C_out * OP * esz, a.ldc = OP, a.stride_c = C_out * OP;
      a.alpha = 1.0, a.beta = bias.defined() ? 1.0 : 0.0, a.c_dtype = dt;
      gemm(a);
      continue;
    }
    // Y' [C_out, cnt*OP] = W . cols [Kp, cnt*OP], then back to NCHW (+ bias)
    const int64_t ld = channels_first_ld(cnt * OP);
    const Tensor cols = empty({Kp, ld}, TensorOptions(dt).device(image.device()));
    im2col(g, image, n0, cnt, K, Kp, cols, OP, ld);
    const Tensor y = empty({C_out, ld}, TensorOptions(y_dt).device(image.device()));
    a.N = cnt * OP, a.batch = 1;
    a.trans_b = false, a.B = cols.data_ptr_raw(), a.ldb = ld;
    a.C = y.data_ptr_raw(), a.ldc = ld, a.alpha = 1.0, a.beta = 0.0, a.c_dtype = y_dt;
    gemm(a);
    batch_major(y, bias, static_cast<char*>(map.data_ptr_raw()) + n0 * C_out * OP * esz, dt, cnt, C_out, OP, ld);
  }
}

// image = col2im(weight^T . map) (+ bias), chunk by chunk of images: the
// column gradients [K, pixels] are products in the accumulation type, and
// col2im sums each image pixel's taps from them, rounding once.
void im2col_transpose(const ConvGeometry& cg, const Geo& g, const Tensor& map, const Tensor& weight,
                      const Tensor& bias, const Tensor& image) {
  const DType dt = image.dtype(), acc = acc_dtype(dt);
  const int64_t esz = static_cast<int64_t>(dtype_size(dt)), acc_size = static_cast<int64_t>(dtype_size(acc));
  const int64_t K = cg.C_in * cg.kh * cg.kw, Kp = padded_k(K, dt), OP = cg.OH * cg.OW, C_out = cg.C_out;
  const Tensor w = padded_weight(weight, C_out, K, Kp);  // W^T rows Kp apart: aligned
  const bool direct = im2col_direct(OP, dt);
  const int64_t per_image = K * OP * acc_size + (direct ? 0 : C_out * OP * esz);
  const int64_t nb = images_per_chunk(cg.N, per_image, OP, !direct);
  for (int64_t n0 = 0; n0 < cg.N; n0 += nb) {
    const int64_t cnt = std::min(nb, cg.N - n0);
    const char* map_chunk = byte_ptr(map) + n0 * C_out * OP * esz;
    GemmArgs a;
    a.M = K, a.K = C_out, a.ab_dtype = dt, a.c_dtype = acc, a.alpha = 1.0, a.beta = 0.0;
    a.trans_a = true, a.A = w.data_ptr_raw(), a.lda = Kp, a.stride_a = 0;  // W^T: W stored [C_out, Kp]
    if (direct) {  // dcols[n] [K, OP] = W^T . dY[n] [C_out, OP], batched over the chunk's images
      const Tensor dcol = empty({cnt, K, OP}, TensorOptions(acc).device(image.device()));
      a.N = OP, a.batch = cnt;
      a.trans_b = false, a.B = map_chunk, a.ldb = OP, a.stride_b = C_out * OP;
      a.C = dcol.data_ptr_raw(), a.ldc = OP, a.stride_c = K * OP;
      gemm(a);
      col2im(g, dcol, bias, image, n0, cnt, K * OP, OP);
      continue;
    }
    // dcols [K, cnt*OP] = W^T . dY' [C_out, cnt*OP]
    const int64_t ld = channels_first_ld(cnt * OP);
    const Tensor dy = channels_first(map_chunk, dt, map, cnt, C_out, OP, ld);
    const Tensor dcol = empty({K, ld}, TensorOptions(acc).device(image.device()));
    a.N = cnt * OP, a.batch = 1;
    a.trans_b = false, a.B = dy.data_ptr_raw(), a.ldb = ld;
    a.C = dcol.data_ptr_raw(), a.ldc = ld;
    gemm(a);
    col2im(g, dcol, bias, image, n0, cnt, OP, ld);
  }
}

// weight_grad [C_out, K] = sum over the batch's pixels of dY' . cols^T, K
// = the pixels, chunk by chunk of images; a chunk's product is split along
// its pixels (split_k_weight_product), and several chunks' partials (the
// accumulation type) are summed in order and rounded once.
void im2col_weight_grad(const ConvGeometry& cg, const Geo& g, const Tensor& image, const Tensor& map,
                        const Tensor& weight_grad) {
  const DType dt = image.dtype(), acc = acc_dtype(dt);
  const int64_t esz = static_cast<int64_t>(dtype_size(dt)), acc_size = static_cast<int64_t>(dtype_size(acc));
  const int64_t K = cg.C_in * cg.kh * cg.kw, OP = cg.OH * cg.OW, C_out = cg.C_out, MN = C_out * K;
  const int64_t nb = images_per_chunk(cg.N, (K + C_out) * OP * esz, OP, false);
  const int64_t chunks = (cg.N + nb - 1) / nb;
  const Tensor partials = chunks > 1 ? empty({chunks, MN}, TensorOptions(acc).device(image.device())) : Tensor();
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t n0 = c * nb, cnt = std::min(nb, cg.N - n0);
    const int64_t ld = channels_first_ld(cnt * OP);
    const char* map_chunk = byte_ptr(map) + n0 * C_out * OP * esz;
    const Tensor cols = empty({K, ld}, TensorOptions(dt).device(image.device()));
    im2col(g, image, n0, cnt, K, K, cols, OP, ld);
    // One image whose rows are already ld long needs no copy of dY.
    const Tensor dy = cnt == 1 && ld == OP ? Tensor() : channels_first(map_chunk, dt, map, cnt, C_out, OP, ld);
    const void* dy_ptr = dy.defined() ? dy.data_ptr_raw() : static_cast<const void*>(map_chunk);
    if (chunks == 1)
      split_k_weight_product(dy_ptr, cols.data_ptr_raw(), cnt * OP, ld, C_out, K, dt, weight_grad.data_ptr_raw(),
                             dt, image);
    else
      split_k_weight_product(dy_ptr, cols.data_ptr_raw(), cnt * OP, ld, C_out, K, dt,
                             static_cast<char*>(partials.data_ptr_raw()) + c * MN * acc_size, acc, image);
  }
  if (chunks > 1) sum_partials(partials, chunks, MN, weight_grad.data_ptr_raw(), dt);
}

}  // namespace

// ---------------------------------------------------------------------------
// public entry points

void set_conv1x1_path(Conv1x1Path p) { path_1x1().store(p, std::memory_order_relaxed); }
Conv1x1Path conv1x1_path() { return path_1x1().load(std::memory_order_relaxed); }
void set_conv_im2col(bool on) { im2col_switch().set(on); }
bool conv_im2col() { return im2col_switch().on(); }
void set_conv_copy_packs(bool on) { copy_packs_switch().set(on); }
bool conv_copy_packs() { return copy_packs_switch().on(); }

void set_conv_transpose_as_forward(bool on) { transpose_as_forward_switch().set(on); }
bool conv_transpose_as_forward() { return transpose_as_forward_switch().on(); }
int64_t conv_transpose_as_forward_products() { return transpose_as_forward_products.load(); }
int64_t conv_copy_packed_launches() { return copy_packed_launches.load(); }

std::optional<ConvGeometry> conv_transpose_as_forward_geometry(const ConvGeometry& cg) {
  if (cg.sh != 1 || cg.sw != 1 || cg.groups != 1) return std::nullopt;
  const int64_t ph = cg.dh * (cg.kh - 1) - cg.ph, pw = cg.dw * (cg.kw - 1) - cg.pw;
  if (ph < 0 || pw < 0) return std::nullopt;
  // The full map only: a shorter one drops output rows, which the forward's
  // symmetric padding cannot express.
  if (cg.OH != cg.H + 2 * cg.ph - cg.dh * (cg.kh - 1) || cg.OW != cg.W + 2 * cg.pw - cg.dw * (cg.kw - 1))
    return std::nullopt;
  ConvGeometry f = cg;
  f.C_in = cg.C_out, f.C_out = cg.C_in;
  f.H = cg.OH, f.W = cg.OW, f.OH = cg.H, f.OW = cg.W;
  f.ph = ph, f.pw = pw;
  return f;
}

int64_t set_conv_im2col_workspace(int64_t bytes) {
  WICK_CHECK(bytes > 0, "cuda::set_conv_im2col_workspace: expected a positive byte count, got ", bytes);
  return im2col_workspace().exchange(bytes, std::memory_order_relaxed);
}

ConvBackend default_conv_backend() {
  static const ConvBackend b = parse_backend_env();
  return b;
}

const char* conv_backend_name(ConvBackend b) {
  switch (b) {
    case ConvBackend::Default: return "default";
    case ConvBackend::Wick: return "wick";
    case ConvBackend::Cudnn: return "cudnn";
  }
  return "?";
}

bool cudnn_available() { return vendor::cudnn_built(); }

void conv2d_forward(const ConvGeometry& cg, const Tensor& image, const Tensor& weight, const Tensor& bias,
                    const Tensor& map, ConvBackend backend) {
  const Geo g = check("cuda conv2d_forward", cg, image, weight, map, bias, cg.C_out);
  backend = resolve(backend);
  if (g.N == 0) return;
  DeviceGuard guard(image.device().index);
  if (backend == ConvBackend::Cudnn && vendor::cudnn_supports(cg)) {
    vendor::cudnn_conv2d_forward(cg, image, weight, bias, map);
    return;
  }
  if (gemm_1x1_eligible(cg, image.dtype())) {
    gemm_1x1_forward(cg, image, weight, bias, map);
    return;
  }
  if (im2col_eligible(cg, image.dtype())) {
    im2col_forward(cg, g, image, weight, bias, map);
    return;
  }
  WICK_DEVICE_DISPATCH_FLOAT(image.dtype(), "cuda conv2d_forward", [&]<typename T>() {
    const ForwardProblem<T, acc_t<T>> p{g, ptr<T>(image), ptr<T>(weight), ptr<T>(bias), mut_ptr<T>(map)};
    run_igemm<T, false>(p, image, g.G, g.Mg, static_cast<int64_t>(g.N) * g.OH * g.OW,
                        static_cast<int64_t>(g.Cg) * g.kh * g.kw);
  });
}

void conv2d_transpose(const ConvGeometry& cg, const Tensor& map, const Tensor& weight, const Tensor& bias,
                      const Tensor& image, ConvBackend backend) {
  const Geo g = check("cuda conv2d_transpose", cg, image, weight, map, bias, cg.C_in);
  backend = resolve(backend);
  if (g.N == 0) return;
  DeviceGuard guard(image.device().index);
  if (backend == ConvBackend::Cudnn && vendor::cudnn_supports(cg)) {
    vendor::cudnn_conv2d_transpose(cg, map, weight, bias, image);
    return;
  }
  if (gemm_1x1_eligible(cg, image.dtype())) {
    gemm_1x1_transpose(cg, map, weight, bias, image);
    return;
  }
  if (im2col_eligible(cg, image.dtype())) {
    const std::optional<ConvGeometry> f =
        transpose_as_forward_switch().on() ? conv_transpose_as_forward_geometry(cg) : std::nullopt;
    if (f && im2col_eligible(*f, image.dtype())) {  // image = conv(map, W flipped), section 5's forward
      transpose_as_forward_products.fetch_add(1, std::memory_order_relaxed);
      im2col_forward(*f, make_geo(*f), map, flip_transpose_weight(weight, cg), bias, image);
      return;
    }
    im2col_transpose(cg, g, map, weight, bias, image);
    return;
  }
  WICK_DEVICE_DISPATCH_FLOAT(image.dtype(), "cuda conv2d_transpose", [&]<typename T>() {
    for (int ry = 0; ry < g.sh; ++ry)
      for (int rx = 0; rx < g.sw; ++rx) {
        const Phase py = make_phase(ry, g.H, g.sh, g.ph, g.kh, g.dh), px = make_phase(rx, g.W, g.sw, g.pw, g.kw, g.dw);
        if (py.count == 0 || px.count == 0) continue;  // no image pixel in this phase
        // nk = 0 (no tap reaches the phase) is a K = 0 product: bias or zeros.
        const TransposeProblem<T, acc_t<T>> p{g, py, px, ptr<T>(map), ptr<T>(weight), ptr<T>(bias), mut_ptr<T>(image)};
        run_igemm<T, false>(p, image, g.G, g.Cg, static_cast<int64_t>(g.N) * py.count * px.count,
                            static_cast<int64_t>(g.Mg) * py.nk * px.nk);
      }
  });
}

void conv2d_weight_grad(const ConvGeometry& cg, const Tensor& image, const Tensor& map, const Tensor& weight_grad,
                        ConvBackend backend) {
  const Geo g = check("cuda conv2d_weight_grad", cg, image, weight_grad, map, Tensor(), 0);
  backend = resolve(backend);
  DeviceGuard guard(image.device().index);
  if (g.N == 0) {  // an empty batch contributes nothing: zero gradient
    const size_t bytes = static_cast<size_t>(weight_grad.numel()) * dtype_size(weight_grad.dtype());
    WICK_CUDA_CHECK(cudaMemsetAsync(weight_grad.data_ptr_raw(), 0, bytes, current_stream()));
    return;
  }
  if (backend == ConvBackend::Cudnn && vendor::cudnn_supports(cg)) {
    vendor::cudnn_conv2d_weight_grad(cg, image, map, weight_grad);
    return;
  }
  if (gemm_1x1_eligible(cg, image.dtype())) {
    gemm_1x1_weight_grad(cg, image, map, weight_grad);
    return;
  }
  if (im2col_eligible(cg, image.dtype())) {
    im2col_weight_grad(cg, g, image, map, weight_grad);
    return;
  }
  WICK_DEVICE_DISPATCH_FLOAT(image.dtype(), "cuda conv2d_weight_grad", [&]<typename T>() {
    const WeightGradProblem<T, acc_t<T>> p{g, ptr<T>(image), ptr<T>(map), mut_ptr<T>(weight_grad)};
    run_igemm<T, true>(p, image, g.G, g.Mg, static_cast<int64_t>(g.Cg) * g.kh * g.kw,
                       static_cast<int64_t>(g.N) * g.OH * g.OW);
  });
}

void conv2d_forward_reference(const ConvGeometry& cg, const Tensor& image, const Tensor& weight, const Tensor& bias,
                              const Tensor& map) {
  const Geo g = check("cuda conv2d_forward_reference", cg, image, weight, map, bias, cg.C_out);
  DeviceGuard guard(image.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(image.dtype(), "cuda conv2d_forward_reference", [&]<typename T>() {
    launch_reference(conv2d_forward_reference_kernel<T>, map.numel(), g, ptr<T>(image), ptr<T>(weight),
                     ptr<T>(bias), mut_ptr<T>(map));
  });
}

void conv2d_transpose_reference(const ConvGeometry& cg, const Tensor& map, const Tensor& weight, const Tensor& bias,
                                const Tensor& image) {
  const Geo g = check("cuda conv2d_transpose_reference", cg, image, weight, map, bias, cg.C_in);
  DeviceGuard guard(image.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(image.dtype(), "cuda conv2d_transpose_reference", [&]<typename T>() {
    launch_reference(conv2d_transpose_reference_kernel<T>, image.numel(), g, ptr<T>(map), ptr<T>(weight),
                     ptr<T>(bias), mut_ptr<T>(image));
  });
}

void conv2d_weight_grad_reference(const ConvGeometry& cg, const Tensor& image, const Tensor& map,
                                  const Tensor& weight_grad) {
  const Geo g = check("cuda conv2d_weight_grad_reference", cg, image, weight_grad, map, Tensor(), 0);
  DeviceGuard guard(image.device().index);
  WICK_DEVICE_DISPATCH_FLOAT(image.dtype(), "cuda conv2d_weight_grad_reference", [&]<typename T>() {
    launch_reference(conv2d_weight_grad_reference_kernel<T>, weight_grad.numel(), g, ptr<T>(image), ptr<T>(map),
                     mut_ptr<T>(weight_grad));
  });
}

}  // namespace wick::cuda
