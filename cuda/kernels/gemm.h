// General matrix multiply on CUDA devices, the kernel under matmul, mm, bmm,
// addmm and linear for CUDA tensors:
//   C[b][m, n] = alpha * sum_k A[b][m, k] * B[b][k, n] + beta * C[b][m, n]
// for b in [0, batch), row-major like every wick tensor. beta = 0 ignores C's
// contents (NaN included), as in BLAS; K = 0 gives C = beta * C.
//
// Two layers:
//  * the raw-pointer API (GemmArgs, gemm, gemm_reference): device pointers,
//    leading dimensions, transpose flags and strided batches, as BLAS takes
//    them. Used by the op layer below, by the benchmark and by the tests.
//  * batched_gemm(out, a, b, alpha, beta): mirrors cpu::batched_gemm for
//    tensors (any strides, broadcast batch dims), mapping each operand's
//    strides to a transpose flag and leading dimension without a copy where
//    BLAS layouts allow it, else reading a contiguous copy.
//
// dtypes (A and B always share one):
//   float32 -> float32            SIMT kernel, fp32 accumulation
//   float64 -> float64            the same SIMT kernel templated on double
//   float16/bfloat16 -> same or float32   tensor cores (mma.sync m16n8k16),
//                                 fp32 accumulation, sm_80+
// Backends: wick's own kernels (gemm.cu), wick's Hopper kernel for 16-bit
// inputs (wgmma, gemm_sm90.cu; compute capability 9.0 only; float32/float64
// take the SIMT kernel under it), cuBLAS or cuBLASLt (cuda/vendor/cublas.cpp),
// per call or by the environment variable WICK_CUDA_GEMM=wick|wgmma|cublas|
// cublaslt. Unset, the
// default is wick's own choice: wgmma for 16-bit inputs on compute capability
// 9.0, the kernels of gemm.cu otherwise (WICK_CUDA_GEMM=wick forces those). The header holds no CUDA types, so ops/ and tests include it
// from plain C++.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// Which implementation runs a product. Default reads WICK_CUDA_GEMM once per
// process (unset: wgmma for 16-bit inputs on sm_90, else wick; any other value
// than wick/wgmma/cublas/cublaslt is an error).
enum class GemmBackend : uint8_t { Default, Wick, Wgmma, Cublas, CublasLt };

// The backend WICK_CUDA_GEMM names in this process; Default when unset (then
// each call picks wgmma or wick by dtype and device).
GemmBackend default_gemm_backend();
const char* gemm_backend_name(GemmBackend b);

// One (strided batched) product; all pointers are device pointers on the
// current device. Element (m, k) of A is at
//   A + b * stride_a + (trans_a ? k * lda + m : m * lda + k)
// (trans_a: A is stored as its transpose, [K, M] row-major), element (k, n) of
// B at B + b * stride_b + (trans_b ? n * ldb + k : k * ldb + n), and element
// (m, n) of C at C + b * stride_c + m * ldc + n. A stride of 0 broadcasts an
// operand over the batch; C's stride must keep the products disjoint.
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  int64_t batch = 1;
  bool trans_a = false, trans_b = false;
  const void* A = nullptr;
  int64_t lda = 0, stride_a = 0;
  const void* B = nullptr;
  int64_t ldb = 0, stride_b = 0;
  void* C = nullptr;
  int64_t ldc = 0, stride_c = 0;
  double alpha = 1.0, beta = 0.0;
  DType ab_dtype = kFloat32;  // dtype of A and B
  DType c_dtype = kFloat32;   // dtype of C: ab_dtype, or float32 for float16/bfloat16 inputs
  // Optional: a vector bias[N] of c_dtype that takes C's place in the sum,
  //   C[b][m, n] = alpha * sum_k A B + beta * bias[n],
  // C's prior contents unread (addmm with a 1-D bias: linear layers). The
  // wgmma TMA kernel adds it in its epilogue; every other path first
  // broadcasts it into C's rows.
  const void* bias = nullptr;
};

// Throws wick::Error (naming the values) when the arguments are inconsistent:
// unsupported dtypes, negative sizes, leading dimensions smaller than a row.
void check_gemm_args(const GemmArgs& g);

// Runs the product on cuda::current_stream() with the chosen backend
// (asynchronous, like any kernel launch).
void gemm(const GemmArgs& g, GemmBackend backend = GemmBackend::Default);

// The readable definition: one thread per output element, accumulating in
// double. Slow; the tests check the fast kernels against it.
void gemm_reference(const GemmArgs& g);

// out[i] = alpha * a[i] @ b[i] + beta * out[i] for every batch index i of the
// contiguous CUDA tensor out = [batch..., M, N]; a = [..., M, K] and
// b = [..., K, N] have batch dims broadcastable to out's and any strides.
// All three share out's device and dtype (float32, float64, float16,
// bfloat16); checked by ops/linalg.cpp.
// The float32 SIMT kernel with 4 warps per 128 x 128 tile, 8 x 16 outputs
// per thread and two CTAs per SM (gemm.cu, simt_wide_switch):
// an SGEMM experiment (WICK_CUDA_SIMT_WIDE=1): faster than the default only
// at 4096^3 on an H100, so OFF by default; tested by CudaGemm.SimtWideTiles.
void set_gemm_simt_wide(bool on);
bool gemm_simt_wide();

// The float32 SIMT kernel after cuBLAS's Hopper SGEMM tiles (gemm.cu,
// section 4): 4 warps per 128 x 128 tile, 16 x 8 outputs per lane, operand
// tiles copied by cp.async 4 stages deep, and split-K where the tiles alone
// would leave SMs idle (sm_80+; elsewhere the default kernel runs).
// ON by default since CudaGemm.SimtAsyncTiles passed on an H200 (2026-11-28;
// bench_cuda_gemm --compare: 0.77-0.90x cuBLAS on the GPT-2 shapes and 4096^3,
// against 0.20-0.78x); WICK_CUDA_SIMT_ASYNC=0 or the setter turns it off.
void set_gemm_simt_async(bool on);
bool gemm_simt_async();
// Forces its K chunks (tests); 0 (the default) lets the cost model choose.
void set_gemm_simt_async_splits(int splits);
// Products it has run, and those of them that ran split-K (tests).
int64_t gemm_simt_async_products();
int64_t gemm_simt_async_split_products();
// Its 64 x 256 tiles (4 warps along n) for products of at most 64 rows, where
// the 128 x 128 tiles compute half zeros (the 64 x 200704 x 576 ResNet layer
// measured 0.46x cuBLAS on an H200); not for a B copied 4 bytes at a time
// along n (unaligned). On by default since CudaGemm.SimtRows64Tiles passed on
// an H200 (2026-11-28: that layer 0.96x cuBLAS, from 0.48x;
// WICK_CUDA_SIMT_ROWS64=0 for the 128 x 128 tiles); the counter: its products.
void set_gemm_simt_rows64(bool on);
bool gemm_simt_rows64();
int64_t gemm_simt_rows64_products();

// The cp.async kernel's k-contiguous operands (A not transposed, B transposed)
// copied m/n-contiguous first, so that its stage copies are 16 bytes along m/n
// instead of 4 along k, where the other dimension is at least 512 (the copy
// then costs little beside the product). On since CudaGemm.SimtTransposedKMajor
// passed on an H200 (2026-11-28), where bench_cuda_gemm's tk column, the
// copies timed too, was faster than the kernel on k-major operands or level
// in every row it applies to (the GPT-2 forwards and 4096^3: 0.74-0.90x
// cuBLAS against 0.67-0.83x; =0: the k-major tiles); the counter: operands
// copied.
void set_gemm_simt_transpose_k(bool on);
bool gemm_simt_transpose_k();
int64_t gemm_simt_transposed_operands();

// The cp.async kernel's hybrid stream-K (gemm_simt_plan.h): where the plain
// grid's last round of tiles would run mostly empty (GPT-2's 8192 x 768
// products: 384 tiles on an H200's 264 slots, 0.735x cuBLAS, the lowest
// float32 row), one CTA per slot runs the whole waves' tiles, then all of
// them share the rest's k steps, partial tiles summed by a fixup kernel in
// CTA order (the same bits every run). Batch 1, no split-K, 128 x 128 tiles.
// Written without a GPU: off until one has run CudaGemm.SimtStreamK and
// timed it (WICK_CUDA_SIMT_STREAMK=1). set_gemm_simt_stream_k_ctas forces a
// grid of that many CTAs wherever it applies (tests; 0: the plan's); the
// counter: its products.
void set_gemm_simt_stream_k(bool on);
bool gemm_simt_stream_k();
void set_gemm_simt_stream_k_ctas(int ctas);
int64_t gemm_simt_stream_k_products();

// The cp.async kernel's k-contiguous operands (A not transposed, B
// transposed) with 16-byte aligned rows copied 16 bytes (4 k of one row) at a
// time into shared memory as they are and moved there into the m/n-contiguous
// stage tiles the k loop reads, by the thread that copied them: instead of
// the copies first (set_gemm_simt_transpose_k: the operand read and written
// once more, about 5% of GPT-2's 8192 x 768 forwards) or 4-byte copies along
// k. The same sums in the same order: the same bits as both. 128 x 128 tiles
// (not where the 64-row ones run), the other operand also copied 16 bytes at
// a time (else the copies first, as before). Written without a GPU: off until
// one has run CudaGemm.SimtKVec and timed it (WICK_CUDA_SIMT_KVEC=1); the
// counter: its products.
void set_gemm_simt_kvec(bool on);
bool gemm_simt_kvec();
int64_t gemm_simt_kvec_products();

// Whether addmm (ops/linalg.cpp) hands a row-vector c (a linear layer's
// bias) to the GEMM as GemmArgs::bias instead of copying it into the output
// first. CudaGemm.BiasEpilogue passed on an H100 (2026-11-27); OFF by default
// until a model run times it (the GPU check's wick-opt runs);
// WICK_CUDA_GEMM_BIAS=1 turns it on for the process, the setter
// (process-wide) lets tests run both.
void set_gemm_bias_epilogue(bool on);
bool gemm_bias_epilogue();

// bias (optional): a contiguous [N] tensor of out's dtype and device, added
// as beta * bias[n] in place of beta * out (GemmArgs::bias).
void batched_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Scalar& alpha, const Scalar& beta,
                  GemmBackend backend = GemmBackend::Default, const Tensor& bias = Tensor());

}  // namespace wick::cuda
