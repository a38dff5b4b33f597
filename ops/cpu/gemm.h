// General matrix multiply on the CPU, the kernel under matmul, linear and conv:
//   C[m, n] = alpha * sum_k A[m, k] * B[k, n] + beta * C[m, n]
// A and B are read through arbitrary (row, column) element strides (0 is
// allowed: broadcast operands), so transposed operands need no copy by the
// caller; C has unit column stride and row stride ldc. beta = 0 ignores C's
// contents (NaN included), as in BLAS.
//
// gemm_reference is the readable triple loop. gemm packs A and B into
// contiguous slivers and runs a register-tiled micro-kernel (the BLIS loop
// structure; see gemm.cpp): AVX-512 or AVX2+FMA intrinsics chosen at run time,
// a portable C++ kernel otherwise; direct paths for matrix-vector shapes.
// Threads each take a row or column panel of C (one fork per product);
// called inside a parallel region (one product per thread, as batched matmul
// does) it runs serially.
//
// gemm_ex adds a fused epilogue (bias per column or per row, then an
// activation), applied to each tile of C while it is still in cache:
//   C = act(alpha * A B + beta * C + bias)
// gemm_batched runs `batch` products whose operands lie at fixed element
// strides from one another (threads over the batch when the products are
// small, inside each product otherwise).
// FLOPs: 2 M N K per product.
#pragma once

#include <cstdint>

namespace wick::cpu {

template <typename T>
struct MatRef {
  T* data;
  int64_t rs;  // row stride (elements)
  int64_t cs;  // column stride (elements)
  T at(int64_t i, int64_t j) const { return data[i * rs + j * cs]; }
};

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C, int64_t ldc);

template <typename T>
void gemm_reference(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C,
                    int64_t ldc);

// Activation applied by the epilogue. gelu: x * Phi(x) (erf form);
// gelu_tanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Integer types compute gelu in double and truncate.
enum class Activation : uint8_t { none, relu, gelu, gelu_tanh };

template <typename T>
struct Epilogue {
  const T* bias = nullptr;    // nullptr: no bias
  bool bias_per_row = false;  // false: C[i, j] += bias[j] (linear); true: C[i, j] += bias[i] (conv channels)
  Activation act = Activation::none;
};

// C = act(alpha * A B + beta * C + bias); gemm() is gemm_ex with no epilogue.
template <typename T>
void gemm_ex(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C,
             int64_t ldc, const Epilogue<T>& epilogue);

// The readable definition of gemm_ex (gemm_reference, then the epilogue).
template <typename T>
void gemm_ex_reference(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, MatRef<const T> B, T beta, T* C,
                       int64_t ldc, const Epilogue<T>& epilogue);

// For b in [0, batch): product b reads A.data + b * stride_a, B.data + b * stride_b
// and writes C + b * stride_c (a stride of 0 broadcasts that operand; C's must
// keep the products disjoint).
template <typename T>
void gemm_batched(int64_t batch, int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, int64_t stride_a,
                  MatRef<const T> B, int64_t stride_b, T beta, T* C, int64_t ldc, int64_t stride_c,
                  const Epilogue<T>& epilogue = {});

// An implicit B operand: a routine that packs B instead of a matrix in memory.
// Convolution uses it to read its im2col matrix straight from the image while
// packing (implicit GEMM), so the column matrix is never stored.
//   pack(ctx, k0, kc, j0, nc, nr, dst) writes B[k0:k0+kc, j0:j0+nc] as
//   ceil(nc / nr) slivers of nr columns, sliver s at dst + s*kc*nr, each
//   kc x nr row-major, columns past nc zero.
// It may run on several threads at once (on disjoint column ranges).
template <typename T>
struct BPacker {
  void (*pack)(const void* ctx, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr, T* dst);
  const void* ctx;
};

// gemm_ex with B supplied by a packer (the same blocked driver, threads and
// micro-kernels; no matrix-vector shortcuts).
template <typename T>
void gemm_packer_b(int64_t M, int64_t N, int64_t K, T alpha, MatRef<const T> A, const BPacker<T>& B, T beta, T* C,
                   int64_t ldc, const Epilogue<T>& epilogue = {});

// Which micro-kernel family gemm uses for float and double (integers always
// use the portable one). Testing and benchmarking hook: set_gemm_isa forces
// a family (returns false, changing nothing, if this CPU or build cannot run
// it); GemmIsa::automatic restores the run-time choice (the widest supported).
enum class GemmIsa : uint8_t { automatic, portable, avx2, avx512 };
bool gemm_isa_supported(GemmIsa isa);
bool set_gemm_isa(GemmIsa isa);
GemmIsa gemm_isa();  // the family in use now (never automatic)
const char* gemm_isa_name(GemmIsa isa);

}  // namespace wick::cpu
