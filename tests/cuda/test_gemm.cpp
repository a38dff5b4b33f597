// CUDA GEMM (cuda/kernels/gemm.cu, cuda/vendor/cublas.cpp) and the matrix
// product ops on CUDA tensors.
//
// Raw API: every (dtype in -> dtype out) pair, every transpose combination,
// odd shapes (1, 7, 33, 129, 257, K not a multiple of 8), padded leading
// dimensions and batch strides (misaligned vector paths), strided batches
// with a broadcast operand, alpha/beta (beta = 0 with NaN in C), K = 0 -- for
// wick's kernels, the readable reference kernel, cuBLAS and cuBLASLt, each against a
// float64 product computed here on the host from the very same inputs.
// float16/bfloat16 inputs are multiples of 1/16 in [-2, 2]: exact in both
// formats, with every partial sum exact in fp32, so the fp32-accumulated
// result is exact whatever the summation order and the tolerance is only the
// output's rounding. Random inputs (tolerance ~ eps * sqrt(K)) cover the same
// kernels through the ops.
//
// Ops: matmul/mm/bmm/mv/dot/addmm/linear on CUDA against the CPU result
// (transposed and sliced views, broadcast batches, 1-D operands, empty
// dims), float16/bfloat16 through the casting kernels, gradients by
// gradcheck in float64 with the product on the GPU, device/dtype errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "support/cuda_util.h"
#include "support/test_util.h"
#include "wick.h"

#ifdef WICK_WITH_CUDA
#include "cuda/kernels/gemm.h"
#include "cuda/kernels/gemm_sm90.h"
#include "cuda/kernels/gemm_sm90_plan.h"
#include "cuda/runtime.h"
#endif

namespace wick {
namespace {

const Device kCuda("cuda");

#ifdef WICK_WITH_CUDA

using cuda::GemmArgs;
using cuda::GemmBackend;

// ---- host <-> device buffers of any of the four dtypes ---------------------

uint16_t bf16_bits(float f) {  // round to nearest even (inputs here are exact)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float bf16_value(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// IEEE half from a float that is NaN, 0 or a normal half with at most 10
// mantissa bits (true of every value used here).
uint16_t f16_bits(float f) {
  if (std::isnan(f)) return 0x7E00;
  if (f == 0.f) return std::signbit(f) ? 0x8000 : 0;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const int exp = static_cast<int>((u >> 23) & 0xFF) - 127 + 15;
  EXPECT_TRUE(exp > 0 && exp < 31 && (u & 0x1FFFu) == 0) << "not exactly representable in float16: " << f;
  return static_cast<uint16_t>(sign | (static_cast<uint32_t>(exp) << 10) | ((u >> 13) & 0x3FFu));
}
float f16_value(uint16_t h) {  // any half, subnormals and inf/NaN included
  const uint32_t sign = (h & 0x8000u) << 16;
  const int exp = (h >> 10) & 0x1F;
  const uint32_t man = h & 0x3FFu;
  float f;
  if (exp == 0) {
    f = std::ldexp(static_cast<float>(man), -24);
  } else if (exp == 31) {
    f = man ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    f = std::ldexp(static_cast<float>(man | 0x400u), exp - 25);
  }
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u |= sign;
  std::memcpy(&f, &u, 4);
  return f;
}

// A CUDA tensor of dtype dt holding v (converted; half formats must be exact).
Tensor upload(const std::vector<double>& v, DType dt) {
  Tensor h = empty({static_cast<int64_t>(v.size())}, TensorOptions(dt));
  void* p = h.data_ptr_raw();
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == kFloat64) static_cast<double*>(p)[i] = v[i];
    else if (dt == kFloat32) static_cast<float*>(p)[i] = static_cast<float>(v[i]);
    else if (dt == kBFloat16) static_cast<uint16_t*>(p)[i] = bf16_bits(static_cast<float>(v[i]));
    else static_cast<uint16_t*>(p)[i] = f16_bits(static_cast<float>(v[i]));
  }
  return h.to(kCuda);
}

std::vector<double> download(const Tensor& t) {
  Tensor h = t.to(kCPU);
  std::vector<double> v(h.numel());
  const void* p = h.data_ptr_raw();
  for (size_t i = 0; i < v.size(); ++i) {
    if (h.dtype() == kFloat64) v[i] = static_cast<const double*>(p)[i];
    else if (h.dtype() == kFloat32) v[i] = static_cast<const float*>(p)[i];
    else if (h.dtype() == kBFloat16) v[i] = bf16_value(static_cast<const uint16_t*>(p)[i]);
    else v[i] = f16_value(static_cast<const uint16_t*>(p)[i]);
  }
  return v;
}

// A path of the wgmma TMA kernel (`what`): skips without compute capability 9.0, or where
// WICK_CUDA_WGMMA=cpasync selects the other wgmma kernel.
#define WICK_SKIP_WITHOUT_WGMMA_TMA(what)                                                 \
  do {                                                                                    \
    WICK_SKIP_WITHOUT_CUDA();                                                             \
    if (!cuda::wgmma_supported(cuda::current_device()))                                   \
      GTEST_SKIP() << what << " is the wgmma kernel's (compute capability 9.0)";          \
    if (!cuda::wgmma_tma_kernel())                                                        \
      GTEST_SKIP() << "WICK_CUDA_WGMMA=cpasync: not the TMA kernel, whose path this is"; \
  } while (0)

// Values the input dtype holds exactly (see the file comment) or random ones.
std::vector<double> inputs(size_t n, DType dt, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<double> v(n);
  if (dt == kFloat16 || dt == kBFloat16) {
    std::uniform_int_distribution<int> d(-32, 32);
    for (auto& x : v) x = d(gen) / 16.0;
  } else {
    std::uniform_real_distribution<double> d(-1, 1);
    for (auto& x : v) x = dt == kFloat32 ? static_cast<double>(static_cast<float>(d(gen))) : d(gen);
  }
  return v;
}

struct Case {
  int64_t M, N, K, batch;
  bool ta, tb;
  int64_t pad;         // added to every leading dimension and batch stride (misalignment)
  bool broadcast_b;    // stride_b = 0
  double alpha, beta;  // beta = 0: C starts as NaN, which must not propagate
  bool bias = false;   // GemmArgs::bias: beta * bias[n] in C's place; C starts as NaN, which must not be read
};

// The product of `c` in float64 on the host, from the host copies of A, B, C.
std::vector<double> host_gemm(const GemmArgs& g, const std::vector<double>& A, const std::vector<double>& B,
                              const std::vector<double>& C, std::vector<double>* abs_sum) {
  std::vector<double> out = C;
  abs_sum->assign(C.size(), 0.0);
  // A's rows and B's columns packed k-contiguous first (B once per batch, a broadcast B too), so the
  // inner loop reads both at unit stride: half the time of reading them in place through their
  // strides, the same sums in the same order. (This reference was most of test_cuda_gemm's time.)
  std::vector<double> Ap(static_cast<size_t>(g.batch * g.M * g.K)), Bp(static_cast<size_t>(g.batch * g.N * g.K));
  for (int64_t b = 0; b < g.batch; ++b)
    for (int64_t k = 0; k < g.K; ++k) {
      for (int64_t m = 0; m < g.M; ++m)
        Ap[(b * g.M + m) * g.K + k] = A[b * g.stride_a + (g.trans_a ? k * g.lda + m : m * g.lda + k)];
      for (int64_t n = 0; n < g.N; ++n)
        Bp[(b * g.N + n) * g.K + k] = B[b * g.stride_b + (g.trans_b ? n * g.ldb + k : k * g.ldb + n)];
    }
  // Rows (b, m) on the host's cores: each writes its own elements of out and abs_sum.
  auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.M, m = r % g.M;
      const double* a = Ap.data() + r * g.K;
      for (int64_t n = 0; n < g.N; ++n) {
        const double* w = Bp.data() + (b * g.N + n) * g.K;
        double acc = 0, mag = 0;
        for (int64_t k = 0; k < g.K; ++k) {
          acc += a[k] * w[k];
          mag += std::abs(a[k] * w[k]);
        }
        const int64_t i = b * g.stride_c + m * g.ldc + n;
        out[i] = g.alpha * acc + (g.beta != 0 ? g.beta * C[i] : 0.0);
        (*abs_sum)[i] = std::abs(g.alpha) * mag + (g.beta != 0 ? std::abs(g.beta * C[i]) : 0.0);
      }
    }
  };
  const int64_t total = g.batch * g.M;
  const int64_t threads =
      std::clamp<int64_t>(g.M * g.N * g.K * g.batch / (int64_t{1} << 22), 1,
                          std::max<int64_t>(1, static_cast<int64_t>(std::thread::hardware_concurrency())));
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) pool.emplace_back(rows, total * t / threads, total * (t + 1) / threads);
  rows(0, total / threads);
  for (std::thread& th : pool) th.join();
  return out;
}

// Worst acceptable |error| of an element: accumulation error growing like
// sqrt(K) times the accumulator's epsilon (fp32 for every input but float64),
// plus the output dtype's rounding.
double tolerance(DType ab, DType c, int64_t K, double abs_sum, double ref) {
  const double acc_eps = ab == kFloat64 ? 0x1p-52 : 0x1p-23;
  const double out_eps = c == kBFloat16 ? 0x1p-8 : c == kFloat16 ? 0x1p-11 : c == kFloat32 ? 0x1p-24 : 0x1p-53;
  return 4 * acc_eps * std::sqrt(static_cast<double>(K) + 1) * abs_sum + out_eps * std::abs(ref) + 1e-300;
}

// Runs one case with each backend (and the reference kernel) and compares
// every element of C, padding included (it must be left untouched).
// The SIMT kernel's grids as a test forces them (split-K chunks, stream-K CTAs), back to the plans' at the
// end of the scope.
struct SimtForcedGrids {
  SimtForcedGrids() = default;
  SimtForcedGrids(const SimtForcedGrids&) = delete;
  SimtForcedGrids& operator=(const SimtForcedGrids&) = delete;
  ~SimtForcedGrids() {
    cuda::set_gemm_simt_async_splits(0);
    cuda::set_gemm_simt_stream_k_ctas(0);
  }
};

// Every switch of the cp.async SIMT kernel's paths held for a test (restored at its end, the forced grids
// cleared): the kernel and its 64-row tiles on, stream-K and the k-vectorized copies as asked, so that
// neither the environment (gpu_check's every-opt-in run) nor another test decides which path ran; the
// copies first (transpose_k) as they were, for the test to set.
struct SimtAsyncPaths {
  test::SwitchScope async{cuda::gemm_simt_async, cuda::set_gemm_simt_async};
  test::SwitchScope stream_k{cuda::gemm_simt_stream_k, cuda::set_gemm_simt_stream_k};
  test::SwitchScope kvec{cuda::gemm_simt_kvec, cuda::set_gemm_simt_kvec};
  test::SwitchScope transpose_k{cuda::gemm_simt_transpose_k, cuda::set_gemm_simt_transpose_k};
  test::SwitchScope rows64{cuda::gemm_simt_rows64, cuda::set_gemm_simt_rows64};
  SimtForcedGrids grids;
  SimtAsyncPaths(bool stream_k_on, bool kvec_on) {
    cuda::set_gemm_simt_async(true);
    cuda::set_gemm_simt_rows64(true);
    cuda::set_gemm_simt_stream_k(stream_k_on);
    cuda::set_gemm_simt_kvec(kvec_on);
  }
};

void check_case(const Case& cs, DType ab, DType cdt) {
  GemmArgs g;
  g.M = cs.M, g.N = cs.N, g.K = cs.K, g.batch = cs.batch;
  g.trans_a = cs.ta, g.trans_b = cs.tb;
  g.lda = std::max<int64_t>(1, cs.ta ? cs.M : cs.K) + cs.pad;
  g.ldb = std::max<int64_t>(1, cs.tb ? cs.K : cs.N) + cs.pad;
  g.ldc = std::max<int64_t>(1, cs.N) + cs.pad;
  g.stride_a = (cs.ta ? cs.K : cs.M) * g.lda + cs.pad;
  g.stride_b = cs.broadcast_b ? 0 : (cs.tb ? cs.N : cs.K) * g.ldb + cs.pad;
  g.stride_c = cs.M * g.ldc + cs.pad;
  g.alpha = cs.alpha, g.beta = cs.beta;
  g.ab_dtype = ab, g.c_dtype = cdt;
  const size_t na = static_cast<size_t>(std::max<int64_t>(1, g.stride_a * cs.batch));
  const size_t nb = static_cast<size_t>(std::max<int64_t>(1, cs.broadcast_b ? (cs.tb ? cs.N : cs.K) * g.ldb
                                                                            : g.stride_b * cs.batch));
  const size_t nc = static_cast<size_t>(std::max<int64_t>(1, g.stride_c * cs.batch));
  const std::vector<double> A = inputs(na, ab, 1), B = inputs(nb, ab, 2);
  std::vector<double> C0 = inputs(nc, cdt, 3);
  std::vector<double> abs_sum;
  Tensor d_bias;
  std::vector<double> want;
  if (cs.bias) {  // the reference: C holding bias[n] in every row
    const std::vector<double> bias = inputs(static_cast<size_t>(std::max<int64_t>(cs.N, 1)), cdt, 4);
    std::vector<double> c_bias = C0;
    for (int64_t b = 0; b < cs.batch; ++b)
      for (int64_t m = 0; m < cs.M; ++m)
        for (int64_t n = 0; n < cs.N; ++n) c_bias[b * g.stride_c + m * g.ldc + n] = bias[n];
    want = host_gemm(g, A, B, c_bias, &abs_sum);
    d_bias = upload(bias, cdt);
    g.bias = d_bias.data_ptr_raw();
  } else {
    want = host_gemm(g, A, B, C0, &abs_sum);
  }
  const Tensor dA = upload(A, ab), dB = upload(B, ab);
  g.A = dA.data_ptr_raw(), g.B = dB.data_ptr_raw();

  // 4: the Hopper wgmma kernel, for 16-bit inputs on a compute capability 9.0 device.
  const bool wgmma = (ab == kFloat16 || ab == kBFloat16) && cuda::wgmma_supported(cuda::current_device());
  const char* names[] = {"wick", "cublas", "reference", "cublaslt", "wgmma"};
  for (int which = 0; which < (wgmma ? 5 : 4); ++which) {
    const char* name = names[which];
    std::vector<double> start = C0;
    if (cs.beta == 0 || cs.bias) {  // beta = 0 or a bias: C is not read, NaN included (padding keeps its value)
      for (int64_t b = 0; b < cs.batch; ++b)
        for (int64_t m = 0; m < cs.M; ++m)
          for (int64_t n = 0; n < cs.N; ++n)
            start[b * g.stride_c + m * g.ldc + n] = std::numeric_limits<double>::quiet_NaN();
    }
    Tensor dC = upload(start, cdt);
    g.C = dC.data_ptr_raw();
    if (which == 0) cuda::gemm(g, GemmBackend::Wick);
    else if (which == 1) cuda::gemm(g, GemmBackend::Cublas);
    else if (which == 2) cuda::gemm_reference(g);
    else if (which == 3) cuda::gemm(g, GemmBackend::CublasLt);
    else cuda::gemm(g, GemmBackend::Wgmma);
    cuda::synchronize();
    const std::vector<double> got = download(dC);
    int bad = 0;
    // (cuBLAS and cuBLASLt round alpha A B to a 16-bit C before adding beta C; wick stages such a C in
    // float32 for them, so every backend is held to one rounding: vendor_gemm_rounded_once in gemm.cu.)
    for (size_t i = 0; i < nc && bad < 5; ++i) {
      const double tol = tolerance(ab, cdt, cs.K, abs_sum[i], want[i]);
      const bool ok = std::abs(got[i] - want[i]) <= tol;
      if (!ok) {
        ++bad;
        ADD_FAILURE() << name << " " << ab << "->" << cdt << " M=" << cs.M << " N=" << cs.N << " K=" << cs.K
                      << " batch=" << cs.batch << " ta=" << cs.ta << " tb=" << cs.tb << " pad=" << cs.pad
                      << " bcastB=" << cs.broadcast_b << " alpha=" << cs.alpha << " beta=" << cs.beta
                      << " bias=" << cs.bias
                      << ": C[" << i << "] = " << got[i] << ", want " << want[i] << " (tol " << tol << ")";
      }
    }
  }
}

struct DtypePair {
  DType ab, c;
};
const DtypePair kPairs[] = {{kFloat32, kFloat32}, {kFloat64, kFloat64}, {kFloat16, kFloat16},
                            {kFloat16, kFloat32}, {kBFloat16, kBFloat16}, {kBFloat16, kFloat32}};

struct Dims {
  int64_t M, N, K;
};
// Tile-aligned, odd, thin, and long-K shapes (K = 520: 17 tensor-core k tiles,
// 65 SIMT k tiles, through every pipeline stage several times).
const Dims kDims[] = {{1, 1, 1},     {7, 5, 3},      {33, 17, 9},    {128, 128, 32}, {129, 257, 33},
                      {257, 129, 200}, {64, 300, 7}, {1, 257, 129},  {300, 1, 64},   {300, 260, 520}};

// The host reference itself (it packs the operands and runs its rows on
// several threads), on the CPU: every element of batched, padded cases with
// each transpose, and a broadcast B, against a plain loop over the same
// formula. Runs without a GPU.
TEST(CudaGemm, HostReferenceIsThePlainProduct) {
  for (int t = 0; t < 5; ++t) {  // 0..3: the transposes; 4: B broadcast over the batch (stride 0)
    GemmArgs g;
    g.M = 150, g.N = 37, g.K = 900, g.batch = 3, g.trans_a = (t & 1) != 0, g.trans_b = (t & 2) != 0;
    g.lda = (g.trans_a ? g.M : g.K) + 2, g.ldb = (g.trans_b ? g.K : g.N) + 1, g.ldc = g.N + 3;
    g.stride_a = (g.trans_a ? g.K : g.M) * g.lda + 5, g.stride_b = t == 4 ? 0 : (g.trans_b ? g.N : g.K) * g.ldb;
    g.stride_c = g.M * g.ldc + 1;
    g.alpha = 0.5, g.beta = -1.5;
    SCOPED_TRACE(testing::Message() << "trans_a " << g.trans_a << " trans_b " << g.trans_b << " stride_b "
                                    << g.stride_b);
    const size_t nb = static_cast<size_t>(t == 4 ? g.K * g.ldb : g.stride_b * g.batch);
    const std::vector<double> A = inputs(static_cast<size_t>(g.stride_a * g.batch), kFloat64, 7),
                              B = inputs(nb, kFloat64, 8),
                              C = inputs(static_cast<size_t>(g.stride_c * g.batch), kFloat64, 9);
    std::vector<double> abs_sum;
    const std::vector<double> got = host_gemm(g, A, B, C, &abs_sum);
    int bad = 0;
    for (int64_t b = 0; b < g.batch; ++b)
      for (int64_t m = 0; m < g.M; ++m)
        for (int64_t n = 0; n < g.N; ++n) {
          double acc = 0, mag = 0;
          for (int64_t k = 0; k < g.K; ++k) {
            const double a = A[b * g.stride_a + (g.trans_a ? k * g.lda + m : m * g.lda + k)];
            const double w = B[b * g.stride_b + (g.trans_b ? n * g.ldb + k : k * g.ldb + n)];
            acc += a * w;
            mag += std::abs(a * w);
          }
          const int64_t i = b * g.stride_c + m * g.ldc + n;
          const double want = g.alpha * acc + g.beta * C[i];
          const double want_mag = std::abs(g.alpha) * mag + std::abs(g.beta * C[i]);
          // (The same sums in the same order; the bound only allows a compiler's FMA contraction.)
          if ((std::abs(got[i] - want) > 1e-12 * (std::abs(want) + 1) ||
               std::abs(abs_sum[i] - want_mag) > 1e-12 * (want_mag + 1)) &&
              ++bad <= 3)
            ADD_FAILURE() << "C[" << b << ", " << m << ", " << n << "] = " << got[i] << ", want " << want
                          << "; |terms| " << abs_sum[i] << ", want " << want_mag;
        }
    EXPECT_EQ(bad, 0);
    // Elements outside the product (padding) keep C's values.
    EXPECT_EQ(got[g.N], C[g.N]);
    EXPECT_EQ(got[g.stride_c - 1], C[g.stride_c - 1]);
  }
}

TEST(CudaGemm, AllTransposesShapesAndDtypes) {
  WICK_SKIP_WITHOUT_CUDA();
  for (const DtypePair& p : kPairs)
    for (const Dims& d : kDims)
      for (int t = 0; t < 4; ++t)
        for (int64_t pad : {0, 3}) {
          SCOPED_TRACE(testing::Message() << p.ab << "->" << p.c << " " << d.M << "x" << d.N << "x" << d.K);
          check_case({d.M, d.N, d.K, 1, (t & 1) != 0, (t & 2) != 0, pad, false, 1.0, 0.0}, p.ab, p.c);
        }
}

TEST(CudaGemm, AlphaBetaAndBatches) {
  WICK_SKIP_WITHOUT_CUDA();
  for (const DtypePair& p : kPairs)
    for (int t = 0; t < 4; ++t) {
      const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
      check_case({33, 65, 40, 3, ta, tb, 0, false, 1.5, 0.5}, p.ab, p.c);
      check_case({33, 65, 40, 3, ta, tb, 5, false, -0.5, 0.0}, p.ab, p.c);
      check_case({130, 70, 48, 4, ta, tb, 0, true, 1.0, -2.0}, p.ab, p.c);  // B broadcast over the batch
      check_case({4, 4, 4, 70000, ta, tb, 0, false, 1.0, 0.0}, p.ab, p.c);  // batch > the 65535 grid limit
    }
}

// Leading dimensions and batch strides of whole 16 bytes: the wgmma TMA kernel
// reads a transposed A or a non-transposed B (MN-major) in place, through
// 64 x 64 boxes, instead of copying it K-major (unaligned operands, above,
// still take the copy). Partial boxes along M, N and K, batches, a broadcast B.
TEST(CudaGemm, AlignedMnMajorOperands) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::wgmma_mn_major, cuda::set_wgmma_mn_major);
  for (bool in_place : {false, true}) {
    SCOPED_TRACE(in_place ? "MN-major operands in place" : "MN-major operands copied K-major");
    cuda::set_wgmma_mn_major(in_place);
    for (const DtypePair& p : kPairs)
      for (int t = 0; t < 4; ++t) {
        const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
        SCOPED_TRACE(testing::Message() << p.ab << "->" << p.c << " ta " << ta << " tb " << tb);
        check_case({200, 136, 77, 1, ta, tb, 0, false, 1.0, 0.0}, p.ab, p.c);
        check_case({72, 264, 520, 1, ta, tb, 0, false, 1.0, 0.0}, p.ab, p.c);
        check_case({8, 8, 8, 1, ta, tb, 0, false, 1.0, 0.0}, p.ab, p.c);
        check_case({64, 136, 72, 3, ta, tb, 0, false, 0.5, 1.5}, p.ab, p.c);
        check_case({64, 136, 72, 3, ta, tb, 0, true, 1.0, 0.0}, p.ab, p.c);
      }
  }
}

// A 777 x 300 x 5000 bf16 product (fewer tiles than SMs, a long K) on the
// wgmma kernel, run 3 times from operands drawn with `seed`: the same bits
// every run (the split products add their partials in a fixed order).
void expect_same_bits_every_run(uint64_t seed) {
  const Tensor a = test::randn_t({777, 5000}, kFloat32, seed, false).to(kCuda).to(kBFloat16);
  const Tensor b = test::randn_t({5000, 300}, kFloat32, seed + 1, false).to(kCuda).to(kBFloat16);
  Tensor first;
  for (int run = 0; run < 3; ++run) {
    Tensor out = empty({777, 300}, TensorOptions(kFloat32).device(kCuda));
    cuda::batched_gemm(out, a, b, 1, 0, GemmBackend::Wgmma);
    if (run == 0) {
      first = out.to(kCPU);
      continue;
    }
    const Tensor again = out.to(kCPU);
    EXPECT_EQ(std::memcmp(first.data_ptr_raw(), again.data_ptr_raw(), first.numel() * sizeof(float)), 0) << "run " << run;
  }
}

// Stream-K (cuda/kernels/gemm_sm90_plan.h) in the wgmma TMA kernel: products of
// batch 1 with fewer output tiles than SMs and a long K, which the plan
// shares among more CTAs than tiles (asserted, so that the path really runs):
// k steps split across tile boundaries, partial tiles along M, N and K, a
// single tile split many ways, alpha and beta, aligned (MN-major read in
// place) and padded (copied) operands; then bit-for-bit repeatability.
TEST(CudaGemm, StreamK) {
  WICK_SKIP_WITHOUT_CUDA();
  const int dev = cuda::current_device();
  if (!cuda::wgmma_supported(dev)) GTEST_SKIP() << "stream-K is in the wgmma kernel (compute capability 9.0)";
  const test::SwitchScope restore(cuda::wgmma_stream_k, cuda::set_wgmma_stream_k);
  const test::SwitchScope restore_ck(cuda::wgmma_cluster_k, cuda::set_wgmma_cluster_k);
  const test::SwitchScope restore64(cuda::wgmma_rows64, cuda::set_wgmma_rows64);
  cuda::set_wgmma_cluster_k(false);  // (it would take these products: CudaGemm.ClusterSplitK's)
  cuda::set_wgmma_rows64(false);     // (the 64-row tiles would take M = 64, without stream-K)
  const int64_t sms = cuda::device_properties(dev).multiProcessorCount;
  struct SkCase {
    int64_t M, N, K, pad;
    double alpha, beta;
  };
  // (Sizes kept small: the host reference is a plain triple loop, and compute-sanitizer runs this too.)
  const SkCase cases[] = {{130, 260, 2000, 0, 1.0, 0.0}, {129, 257, 2100, 3, 1.0, 0.0}, {64, 8, 8200, 0, 1.0, 0.0},
                          {200, 300, 1500, 0, 1.5, 0.5}};
  for (const SkCase& c : cases) {
    const cuda::StreamKPlan plan = cuda::plan_stream_k_for(c.M, c.N, c.K, sms, cuda::wgmma_narrow_tiles());
    ASSERT_GT(plan.ctas, plan.tiles) << c.M << "x" << c.N << "x" << c.K << ": the plan keeps one tile per CTA";
  }
  for (bool on : {true, false}) {
    SCOPED_TRACE(on ? "stream-K on" : "stream-K off");
    cuda::set_wgmma_stream_k(on);
    for (const DtypePair& p : kPairs) {
      if (p.ab != kFloat16 && p.ab != kBFloat16) continue;
      for (int t = 0; t < 4; ++t) {
        const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
        SCOPED_TRACE(testing::Message() << p.ab << "->" << p.c << " ta " << ta << " tb " << tb);
        for (const SkCase& c : cases) check_case({c.M, c.N, c.K, 1, ta, tb, c.pad, false, c.alpha, c.beta}, p.ab, p.c);
      }
    }
  }
  // The partials are summed in a fixed order: every run gives the same bits.
  cuda::set_wgmma_stream_k(true);
  expect_same_bits_every_run(11);
}

// One product of the stream-K tests' shapes: C = alpha op(A) op(B) + beta (C
// or a bias) in bf16 inputs drawn from `seed`.
struct SkVariantCase {
  int64_t M, N, K;
  bool ta, tb;
  double alpha, beta;
  bool bias = false;  // beta * bias[n] in C's place (C starts as NaN)
};

// Runs `c` on the wgmma kernel with a stream-K variant off and on
// (`set`): every output bit the same, and `products` counting the run with
// it on only.
void expect_variant_same_bits(const SkVariantCase& c, DType out_dt, uint64_t seed, void (*set)(bool),
                              int64_t (*products)()) {
  SCOPED_TRACE(testing::Message() << out_dt << " ta " << c.ta << " tb " << c.tb << " " << c.M << "x" << c.N << "x"
                                  << c.K << (c.bias ? " bias" : ""));
  const Tensor a = test::randn_t(c.ta ? std::vector<int64_t>{c.K, c.M} : std::vector<int64_t>{c.M, c.K}, kFloat32,
                                 seed, false).to(kCuda).to(kBFloat16);
  const Tensor b = test::randn_t(c.tb ? std::vector<int64_t>{c.N, c.K} : std::vector<int64_t>{c.K, c.N}, kFloat32,
                                 seed + 1, false).to(kCuda).to(kBFloat16);
  const Tensor c0 = c.bias ? full({c.M, c.N}, std::numeric_limits<double>::quiet_NaN(), TensorOptions(out_dt).device(kCuda))
                           : test::randn_t({c.M, c.N}, kFloat32, seed + 2, false).to(kCuda).to(out_dt);
  const Tensor bias = test::randn_t({c.N}, kFloat32, seed + 3, false).to(kCuda).to(out_dt);
  Tensor out[2];
  for (int on = 0; on < 2; ++on) {
    set(on == 1);
    out[on] = c0.clone();
    GemmArgs g;
    g.M = c.M, g.N = c.N, g.K = c.K, g.batch = 1, g.trans_a = c.ta, g.trans_b = c.tb;
    g.lda = c.ta ? c.M : c.K, g.ldb = c.tb ? c.K : c.N, g.ldc = c.N, g.alpha = c.alpha, g.beta = c.beta;
    g.ab_dtype = kBFloat16, g.c_dtype = out_dt;
    g.A = a.data_ptr_raw(), g.B = b.data_ptr_raw(), g.C = out[on].data_ptr_raw();
    if (c.bias) g.bias = bias.data_ptr_raw();
    const int64_t before = products();
    cuda::gemm(g, GemmBackend::Wgmma);
    EXPECT_EQ(products(), before + on) << (on ? "the variant did not run" : "the variant ran while off");
  }
  const Tensor x = out[0].to(kFloat32).to(kCPU), y = out[1].to(kFloat32).to(kCPU);
  EXPECT_EQ(std::memcmp(x.data_ptr_raw(), y.data_ptr_raw(), x.numel() * sizeof(float)), 0)
      << "not bit for bit the product without the variant";
}

// The switches the stream-K variant tests hold, restored after: stream-K on,
// cluster split-K off (it would take these products), the 64-row tiles off
// (they would take M = 64, without stream-K), and both variants (the L2
// hints, the fused fixup) off until a test turns its own on.
struct StreamKVariantScope {
  test::SwitchScope sk{cuda::wgmma_stream_k, cuda::set_wgmma_stream_k};
  test::SwitchScope ck{cuda::wgmma_cluster_k, cuda::set_wgmma_cluster_k};
  test::SwitchScope l2{cuda::wgmma_stream_k_l2, cuda::set_wgmma_stream_k_l2};
  test::SwitchScope fused{cuda::wgmma_stream_k_fused, cuda::set_wgmma_stream_k_fused};
  test::SwitchScope rows64{cuda::wgmma_rows64, cuda::set_wgmma_rows64};
  StreamKVariantScope() {
    cuda::set_wgmma_stream_k(true);
    cuda::set_wgmma_cluster_k(false);
    cuda::set_wgmma_rows64(false);
    cuda::set_wgmma_stream_k_l2(false);
    cuda::set_wgmma_stream_k_fused(false);
  }
};

// StreamK's shapes (tiles split many ways, partial tiles along M, N and K,
// beta) as SkVariantCases, with every transpose.
std::vector<SkVariantCase> stream_k_variant_cases() {
  std::vector<SkVariantCase> out;
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
    out.push_back({130, 260, 2000, ta, tb, 1.0, 0.0});
    out.push_back({129, 257, 2100, ta, tb, 1.0, 0.0});
    out.push_back({64, 8, 8200, ta, tb, 1.0, 0.0});
    out.push_back({200, 300, 1500, ta, tb, 1.0, 0.5});
  }
  return out;
}

// Stream-K's partials kept in L2 and discarded after the fixup
// (set_wgmma_stream_k_l2): the same sums in the same order, so every output
// bit for bit the product without the hints, on StreamK's shapes, every
// transpose and both output dtypes; the counter shows the hints ran; then
// against the float64 host product, and the same bits every run.
TEST(CudaGemm, StreamKL2Hints) {
  WICK_SKIP_WITHOUT_WGMMA_TMA("stream-K");
  const StreamKVariantScope scope;
  uint64_t seed = 900;
  for (DType out_dt : {kFloat32, kBFloat16})
    for (const SkVariantCase& c : stream_k_variant_cases())
      expect_variant_same_bits(c, out_dt, seed += 10, cuda::set_wgmma_stream_k_l2, cuda::wgmma_stream_k_l2_products);
  cuda::set_wgmma_stream_k_l2(true);
  check_case({200, 300, 1500, 1, false, true, 0, false, 1.5, 0.5}, kBFloat16, kFloat32);
  check_case({129, 257, 2100, 1, true, false, 3, false, 1.0, 0.0}, kBFloat16, kBFloat16);
  const int64_t runs_before = cuda::wgmma_stream_k_l2_products();
  expect_same_bits_every_run(31);
  EXPECT_EQ(cuda::wgmma_stream_k_l2_products(), runs_before + 3) << "not every run took the hints";
}

// Stream-K's fixup fused into the GEMM kernel (set_wgmma_stream_k_fused: a
// grid barrier, then each CTA sums a share of the split tiles): the same sums
// in the same order as the fixup kernel, so every output bit for bit the
// product without it, on StreamK's shapes with every transpose, both output
// dtypes, alpha and a bias in C's place, and GPT-2 small's weight gradients
// at 8192 tokens (dW = dY^T X: 768 x 768, ~8 partials per tile, and 2304 x
// 768), where the plan takes stream-K on this device; the counter shows the
// fused kernel ran. Then against the float64 host product, and the same bits
// every run.
TEST(CudaGemm, StreamKFusedFixup) {
  WICK_SKIP_WITHOUT_WGMMA_TMA("stream-K");
  const StreamKVariantScope scope;
  const int64_t sms = cuda::device_properties(cuda::current_device()).multiProcessorCount;
  std::vector<SkVariantCase> cases = stream_k_variant_cases();
  cases.push_back({129, 257, 2100, true, false, 0.5, 1.0, true});
  cases.push_back({200, 300, 1500, false, true, -1.0, 0.5, true});
  for (const SkVariantCase& c : {SkVariantCase{768, 768, 8192, true, false, 1.0, 0.0},
                                 SkVariantCase{2304, 768, 8192, true, false, 1.0, 0.0}}) {
    if (cuda::plan_stream_k_for(c.M, c.N, c.K, sms, cuda::wgmma_narrow_tiles()).ctas > 0)
      cases.push_back(c);
    else
      std::printf("(%ldx%ldx%ld: no stream-K on %ld SMs)\n", static_cast<long>(c.M), static_cast<long>(c.N),
                  static_cast<long>(c.K), static_cast<long>(sms));
  }
  uint64_t seed = 1300;
  for (DType out_dt : {kFloat32, kBFloat16})
    for (const SkVariantCase& c : cases)
      expect_variant_same_bits(c, out_dt, seed += 10, cuda::set_wgmma_stream_k_fused,
                               cuda::wgmma_stream_k_fused_products);
  cuda::set_wgmma_stream_k_fused(true);
  check_case({200, 300, 1500, 1, false, true, 0, false, 1.5, 0.5}, kBFloat16, kFloat32);
  check_case({129, 257, 2100, 1, true, false, 3, false, 1.0, 0.0}, kBFloat16, kBFloat16);
  check_case({130, 260, 2000, 1, false, false, 0, false, 0.5, 1.0, true}, kBFloat16, kBFloat16);
  const int64_t runs_before = cuda::wgmma_stream_k_fused_products();
  expect_same_bits_every_run(41);
  EXPECT_EQ(cuda::wgmma_stream_k_fused_products(), runs_before + 3) << "not every run took the fused fixup";
}

// Cluster split-K (set_wgmma_cluster_k; gemm_sm90_plan.h) in the wgmma TMA
// kernel: the stream-K products (the plan picks clusters for each, asserted
// through wgmma_cluster_k_splits, and the counter shows the kernel ran): k
// ranges of a tile over 2 to 8 CTAs whose partials meet in distributed
// shared memory, partial tiles along M, N and K, alpha and beta, a bias in
// C's place, aligned (MN-major in place) and padded (copied) operands, every
// transpose; against the float64 host product. Then the same bits every run
// (the partials are added in rank order), and off: stream-K as before.
TEST(CudaGemm, ClusterSplitK) {
  WICK_SKIP_WITHOUT_WGMMA_TMA("cluster split-K");
  const test::SwitchScope restore(cuda::wgmma_cluster_k, cuda::set_wgmma_cluster_k);
  const test::SwitchScope restore_sk(cuda::wgmma_stream_k, cuda::set_wgmma_stream_k);
  cuda::set_wgmma_stream_k(true);
  const Case cases[] = {{130, 260, 2000, 1, false, false, 0, false, 1.0, 0.0},
                        {129, 257, 2100, 1, false, false, 3, false, 1.0, 0.0},
                        {200, 300, 1500, 1, false, false, 0, false, 1.5, 0.5},
                        {256, 512, 2048, 1, false, false, 0, false, 1.0, 0.0},
                        {200, 136, 2000, 1, false, false, 0, false, 1.0, -0.5, true}};
  for (const Case& c : cases)
    ASSERT_GT(cuda::wgmma_cluster_k_splits(c.M, c.N, c.K), 1) << c.M << "x" << c.N << "x" << c.K << ": no cluster plan";
  cuda::set_wgmma_cluster_k(true);
  for (const DtypePair& p : kPairs) {
    if (p.ab != kFloat16 && p.ab != kBFloat16) continue;
    for (int t = 0; t < 4; ++t)
      for (Case c : cases) {
        c.ta = (t & 1) != 0, c.tb = (t & 2) != 0;
        SCOPED_TRACE(testing::Message() << p.ab << "->" << p.c << " ta " << c.ta << " tb " << c.tb << " " << c.M
                                        << "x" << c.N << "x" << c.K);
        const int64_t before = cuda::wgmma_cluster_k_products();
        check_case(c, p.ab, p.c);  // (its wgmma backend, and the default one where that is wgmma too)
        EXPECT_GT(cuda::wgmma_cluster_k_products(), before) << "the product did not run cluster split-K";
      }
  }
  // 18 tiles, as GPT-2's 768 x 768 weight gradient: clusters of 5 on an H100-like GPU where 8 would not fit
  // one wave (a size the cases above do not take there); once, the host product being slow.
  {
    const Case c{384, 1536, 2048, 1, true, false, 0, false, 1.0, 0.0};
    SCOPED_TRACE(testing::Message() << "18 tiles, s = " << cuda::wgmma_cluster_k_splits(c.M, c.N, c.K));
    EXPECT_GT(cuda::wgmma_cluster_k_splits(c.M, c.N, c.K), 1);
    const int64_t before = cuda::wgmma_cluster_k_products();
    check_case(c, kBFloat16, kBFloat16);
    EXPECT_GT(cuda::wgmma_cluster_k_products(), before) << "the product did not run cluster split-K";
  }
  // The same bits every run.
  ASSERT_GT(cuda::wgmma_cluster_k_splits(777, 300, 5000), 1);
  const int64_t runs_before = cuda::wgmma_cluster_k_products();
  expect_same_bits_every_run(21);
  EXPECT_EQ(cuda::wgmma_cluster_k_products(), runs_before + 3) << "not every run took cluster split-K";
  // Off: stream-K, not the cluster kernel.
  cuda::set_wgmma_cluster_k(false);
  const int64_t before = cuda::wgmma_cluster_k_products();
  check_case(cases[0], kBFloat16, kBFloat16);
  EXPECT_EQ(cuda::wgmma_cluster_k_products(), before) << "switched off, yet the cluster kernel ran";
}

// 128 x 192 tiles in the wgmma TMA kernel (choose_tile_n picks them for each
// case here, asserted): a partial last tile along N, MN-major and K-major B
// (tb), batches with a broadcast B, alpha and beta, padded (copied) operands.
TEST(CudaGemm, NarrowTiles) {
  WICK_SKIP_WITHOUT_CUDA();
  const int dev = cuda::current_device();
  if (!cuda::wgmma_supported(dev)) GTEST_SKIP() << "the 192-wide tiles are the wgmma kernel's (compute capability 9.0)";
  const test::SwitchScope restore(cuda::wgmma_narrow_tiles, cuda::set_wgmma_narrow_tiles);
  const int64_t sms = cuda::device_properties(dev).multiProcessorCount;
  const Case cases[] = {{200, 136, 77, 1, false, false, 0, false, 1.0, 0.0},
                        {72, 264, 520, 1, false, false, 0, false, 1.0, 0.0},
                        {300, 400, 130, 3, false, false, 0, true, 1.0, 0.0},
                        {129, 385, 64, 2, false, false, 3, false, 1.5, 0.5},
                        {512, 768, 128, 1, false, false, 0, false, 1.0, 0.0}};
  for (const Case& c : cases)
    ASSERT_EQ(cuda::choose_tile_n(c.M, c.N, c.batch, sms), 192) << c.M << "x" << c.N << " batch " << c.batch;
  for (bool on : {true, false}) {
    SCOPED_TRACE(on ? "192-wide tiles" : "256-wide tiles");
    cuda::set_wgmma_narrow_tiles(on);
    for (const DtypePair& p : kPairs) {
      if (p.ab != kFloat16 && p.ab != kBFloat16) continue;
      for (int t = 0; t < 4; ++t)
        for (Case c : cases) {
          c.ta = (t & 1) != 0, c.tb = (t & 2) != 0;
          SCOPED_TRACE(testing::Message() << p.ab << "->" << p.c << " ta " << c.ta << " tb " << c.tb);
          check_case(c, p.ab, p.c);
        }
    }
  }
}

// Persistent tiles (set_wgmma_persistent): one CTA per SM walking the tiles
// of every batch, alone and with 192-wide tiles, against the float64 host
// product; grids of fewer tiles than SMs, several tiles per CTA, batches
// (broadcast B too), edges, padding, alpha and beta.
TEST(CudaGemm, PersistentTiles) {
  WICK_SKIP_WITHOUT_CUDA();
  if (!cuda::wgmma_supported(cuda::current_device())) GTEST_SKIP() << "the persistent tiles are the wgmma kernel's";
  const test::SwitchScope restore(cuda::wgmma_persistent, cuda::set_wgmma_persistent);
  const test::SwitchScope restore_narrow(cuda::wgmma_narrow_tiles, cuda::set_wgmma_narrow_tiles);
  cuda::set_wgmma_persistent(true);
  const Case cases[] = {{200, 136, 77, 1, false, false, 0, false, 1.0, 0.0},
                        {2100, 1030, 72, 1, false, false, 0, false, 1.0, 0.0},  // 17 x 5 tiles: 85
                        {300, 400, 130, 5, false, false, 0, true, 1.0, 0.0},    // 3 x 2 x 5 batches: 30
                        {129, 385, 64, 40, false, false, 3, false, 1.5, 0.5},   // 2 x 2 x 40: 160 > 132 SMs
                        {4100, 1030, 40, 1, false, false, 0, false, 1.0, 1.0}};  // 33 x 5: 165 (192-wide: 198)
  for (bool narrow : {false, true}) {
    cuda::set_wgmma_narrow_tiles(narrow);
    for (const DtypePair& p : kPairs) {
      if (p.ab != kFloat16 && p.ab != kBFloat16) continue;
      for (int t = 0; t < 4; ++t)
        for (Case c : cases) {
          c.ta = (t & 1) != 0, c.tb = (t & 2) != 0;
          SCOPED_TRACE(testing::Message() << p.ab << "->" << p.c << " ta " << c.ta << " tb " << c.tb << " narrow "
                                          << narrow << " " << c.M << "x" << c.N << "x" << c.K << " b" << c.batch);
          check_case(c, p.ab, p.c);
        }
    }
  }
}

// GemmArgs::bias (addmm's row-vector c): in the wgmma TMA kernel's epilogue
// (and its stream-K fixup), materialized into C for every other kernel and
// the vendors, read natively by the reference; C is NaN and must not be read.
// Odd shapes, transposes, padding, batches, beta != 1, K = 0.
TEST(CudaGemm, BiasEpilogue) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore_sk(cuda::wgmma_stream_k, cuda::set_wgmma_stream_k);
  const test::SwitchScope restore_narrow(cuda::wgmma_narrow_tiles, cuda::set_wgmma_narrow_tiles);
  for (int paths = 0; paths < 3; ++paths) {  // the TMA kernel as is, with stream-K, with 192-wide tiles
    cuda::set_wgmma_stream_k(paths == 1);
    cuda::set_wgmma_narrow_tiles(paths == 2);
    SCOPED_TRACE(paths == 0 ? "default paths" : paths == 1 ? "stream-K" : "192-wide tiles");
    for (const DtypePair& p : kPairs) {
      if (paths > 0 && p.ab != kFloat16 && p.ab != kBFloat16) continue;
      for (int t = 0; t < 4; ++t) {
        const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
        SCOPED_TRACE(testing::Message() << p.ab << "->" << p.c << " ta " << ta << " tb " << tb);
        check_case({33, 65, 40, 1, ta, tb, 0, false, 1.0, 1.0, true}, p.ab, p.c);
        check_case({129, 300, 72, 2, ta, tb, 3, false, 1.0, 1.0, true}, p.ab, p.c);
        check_case({64, 136, 520, 1, ta, tb, 0, false, -0.5, 2.0, true}, p.ab, p.c);
        check_case({130, 260, 2000, 1, ta, tb, 0, false, 1.0, 1.0, true}, p.ab, p.c);  // stream-K when on
        check_case({5, 9, 0, 2, ta, tb, 0, false, 1.0, 0.5, true}, p.ab, p.c);       // K = 0: C = beta bias
      }
    }
  }
}

// The TMA kernel's epilogue through shared memory and the TMA store
// (set_wgmma_tma_store) for 16-bit C: boxes clipped at M and N (a warpgroup
// wholly past M), batches (a broadcast B too), leading dimensions with
// padding, alpha, a bias (C NaN, not read), with 256- and 192-wide tiles,
// persistent or not, and with stream-K on (whose plan never gives one CTA a
// whole tile, so there every tile is finished by the fixup kernel: the
// product must still come out right with the store kernel launched). beta !=
// 0 without a bias, or a row stride that is not a whole 16 bytes, keep the
// direct epilogue (checked to run no store product). Then bit for bit
// against the direct epilogue on random inputs: the same arithmetic.
TEST(CudaGemm, TmaStoreEpilogue) {
  WICK_SKIP_WITHOUT_WGMMA_TMA("the TMA store epilogue");
  const test::SwitchScope restore(cuda::wgmma_tma_store, cuda::set_wgmma_tma_store);
  const test::SwitchScope restore_narrow(cuda::wgmma_narrow_tiles, cuda::set_wgmma_narrow_tiles);
  const test::SwitchScope restore_persistent(cuda::wgmma_persistent, cuda::set_wgmma_persistent);
  const test::SwitchScope restore_sk(cuda::wgmma_stream_k, cuda::set_wgmma_stream_k);
  const test::SwitchScope restore_ck(cuda::wgmma_cluster_k, cuda::set_wgmma_cluster_k);
  cuda::set_wgmma_cluster_k(false);  // (it would take the stream-K shapes, without the TMA store)
  cuda::set_wgmma_tma_store(true);
  const Case stored[] = {{200, 136, 77, 1, false, false, 0, false, 1.0, 0.0},
                         {72, 264, 520, 1, false, false, 8, false, -0.5, 0.0},
                         {64, 136, 72, 3, false, false, 0, false, 1.0, 0.0},  // rows 64..127 of each tile: none
                         {300, 400, 130, 3, false, false, 0, true, 1.0, 0.0},
                         {129, 392, 64, 2, false, false, 8, false, 1.5, 0.5, true},
                         {2100, 2064, 16, 1, false, false, 0, false, 1.0, 0.0},  // 153-187 tiles: two per CTA
                         {130, 264, 2000, 1, false, false, 0, false, 1.0, 0.0}};  // stream-K when on
  const Case direct[] = {{33, 64, 40, 2, false, false, 0, false, 1.5, 0.5},   // beta C
                         {129, 257, 64, 1, false, false, 0, false, 1.0, 0.0},  // ldc 257
                         {65, 136, 48, 2, false, false, 3, false, 1.0, 0.0},   // ldc 139
                         {7, 5, 3, 1, false, false, 3, false, 1.0, 0.0},       // ldc 8, rows of 10 bytes
                         {65, 130, 48, 2, false, false, 6, false, 1.0, 0.0}};  // ldc 136, rows of 260 bytes
  const DtypePair pairs[] = {{kBFloat16, kBFloat16}, {kFloat16, kFloat16}};
  // The epilogue sees only C: the operands' layouts (transposes) matter to the loads, which other tests cover,
  // so the default paths run all four and the other paths the linear layer's (B transposed). (The host's
  // float64 reference is most of this test's time.)
  for (int paths = 0; paths < 4; ++paths) {  // as is, 256-wide only, not persistent, stream-K
    cuda::set_wgmma_narrow_tiles(paths != 1);
    cuda::set_wgmma_persistent(paths != 2);
    cuda::set_wgmma_stream_k(paths == 3);
    SCOPED_TRACE(paths == 0 ? "default paths" : paths == 1 ? "256-wide" : paths == 2 ? "one tile per CTA" : "stream-K");
    for (const DtypePair& p : pairs)
      for (int t = 0; t < 4; ++t) {
        if (paths > 0 && t != 2) continue;
        const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
        SCOPED_TRACE(testing::Message() << p.ab << "->" << p.c << " ta " << ta << " tb " << tb);
        for (Case c : stored) {
          c.ta = ta, c.tb = tb;
          SCOPED_TRACE(testing::Message() << c.M << "x" << c.N << "x" << c.K << " b" << c.batch << " pad " << c.pad);
          const int64_t before = cuda::wgmma_tma_store_products();
          check_case(c, p.ab, p.c);
          EXPECT_EQ(cuda::wgmma_tma_store_products(), before + 1) << "the wgmma product did not take the TMA store";
        }
        for (Case c : direct) {
          c.ta = ta, c.tb = tb;
          SCOPED_TRACE(testing::Message() << c.M << "x" << c.N << "x" << c.K << " b" << c.batch << " pad " << c.pad);
          const int64_t before = cuda::wgmma_tma_store_products();
          check_case(c, p.ab, p.c);
          EXPECT_EQ(cuda::wgmma_tma_store_products(), before) << "a layout the TMA store cannot take took it";
        }
      }
  }
  // Bit for bit against the direct epilogue: random bf16 inputs, a bias and alpha = 0.3 (linear's forward shape at
  // GPT-2's K), so both round alpha * sum + beta * bias the same way in every element.
  cuda::set_wgmma_narrow_tiles(true);
  cuda::set_wgmma_persistent(true);
  cuda::set_wgmma_stream_k(false);
  const Tensor x = test::randn_t({1000, 768}, kFloat32, 21, false).to(kCuda).to(kBFloat16);
  const Tensor w = test::randn_t({776, 768}, kFloat32, 22, false).to(kCuda).to(kBFloat16);
  const Tensor bias = test::randn_t({776}, kFloat32, 23, false).to(kCuda).to(kBFloat16);
  Tensor out[2];
  for (int on = 0; on < 2; ++on) {
    cuda::set_wgmma_tma_store(on == 1);
    out[on] = full({1000, 776}, std::numeric_limits<double>::quiet_NaN(), TensorOptions(kBFloat16).device(kCuda));
    GemmArgs g;
    g.M = 1000, g.N = 776, g.K = 768, g.batch = 1, g.trans_a = false, g.trans_b = true;
    g.lda = 768, g.ldb = 768, g.ldc = 776, g.alpha = 0.3, g.beta = 1.0;
    g.ab_dtype = kBFloat16, g.c_dtype = kBFloat16;
    g.A = x.data_ptr_raw(), g.B = w.data_ptr_raw(), g.C = out[on].data_ptr_raw(), g.bias = bias.data_ptr_raw();
    const int64_t before = cuda::wgmma_tma_store_products();
    cuda::gemm(g, GemmBackend::Wgmma);
    EXPECT_EQ(cuda::wgmma_tma_store_products(), before + on);
    out[on] = out[on].to(kCPU);
  }
  ASSERT_EQ(out[0].sizes(), out[1].sizes());
  EXPECT_EQ(std::memcmp(out[0].data_ptr_raw(), out[1].data_ptr_raw(), out[0].numel() * 2), 0);
}

// 64-row tiles in the wgmma TMA kernel (set_wgmma_rows64: one consumer
// warpgroup) for products with M <= 64: one row, a partial tile, exactly 64;
// every transpose, padded (copied) and aligned (in place) operands, batches
// with a broadcast B, alpha, beta, a bias; persistent or not, with the TMA
// store epilogue or not; each product checked to have taken the path, and
// M = 65 checked not to.
TEST(CudaGemm, Rows64Tiles) {
  WICK_SKIP_WITHOUT_WGMMA_TMA("the 64-row tiles");
  const test::SwitchScope restore(cuda::wgmma_rows64, cuda::set_wgmma_rows64);
  const test::SwitchScope restore_persistent(cuda::wgmma_persistent, cuda::set_wgmma_persistent);
  const test::SwitchScope restore_store(cuda::wgmma_tma_store, cuda::set_wgmma_tma_store);
  cuda::set_wgmma_rows64(true);
  const Case cases[] = {{1, 257, 129, 1, false, false, 0, false, 1.0, 0.0},
                        {33, 520, 300, 1, false, false, 3, false, 1.0, 0.0},
                        {64, 1032, 72, 1, false, false, 0, false, 1.0, 0.0},
                        {64, 3136, 576, 2, false, false, 0, false, 1.0, 0.0},  // ResNet layer1's 3x3, 2 images
                        {40, 264, 64, 3, false, false, 0, true, 1.5, 0.5},
                        {40, 264, 72, 2, false, false, 0, false, 1.5, 0.0},  // the TMA store clipped at M = 40
                        {64, 136, 520, 2, false, false, 8, false, -0.5, 1.0, true},
                        {7, 5, 3, 1, false, false, 3, false, 1.0, 0.0}};  // ldc 8, N = 5: no TMA store
  for (int paths = 0; paths < 3; ++paths) {  // persistent, one tile per CTA, persistent + TMA store
    cuda::set_wgmma_persistent(paths != 1);
    cuda::set_wgmma_tma_store(paths == 2);
    SCOPED_TRACE(paths == 0 ? "persistent" : paths == 1 ? "one tile per CTA" : "persistent, TMA store");
    for (const DtypePair& p : kPairs) {
      if (p.ab != kFloat16 && p.ab != kBFloat16) continue;
      // The other paths: 16-bit C (the store epilogue's) and both layouts of A (the 64-row boxes); the host's
      // float64 reference is most of this test's time.
      if (paths > 0 && p.c != p.ab) continue;
      for (int t = 0; t < (paths == 0 ? 4 : 2); ++t)
        for (Case c : cases) {
          c.ta = (t & 1) != 0, c.tb = (t & 2) != 0;
          SCOPED_TRACE(testing::Message() << p.ab << "->" << p.c << " ta " << c.ta << " tb " << c.tb << " "
                                          << c.M << "x" << c.N << "x" << c.K << " b" << c.batch);
          const int64_t before = cuda::wgmma_rows64_products();
          check_case(c, p.ab, p.c);
          EXPECT_EQ(cuda::wgmma_rows64_products(), before + 1) << "the wgmma product did not take 64-row tiles";
        }
    }
  }
  const int64_t before = cuda::wgmma_rows64_products();
  check_case({65, 136, 72, 1, false, false, 0, false, 1.0, 0.0}, kBFloat16, kBFloat16);
  EXPECT_EQ(cuda::wgmma_rows64_products(), before) << "M = 65 took 64-row tiles";
}

// The float32 cases the SIMT variants below run: the default kernel's shapes,
// transposes and padding, and alpha, beta and batches.
void check_simt_variant() {
  for (const Dims& d : kDims)
    for (int t = 0; t < 4; ++t)
      for (int64_t pad : {0, 3}) {
        SCOPED_TRACE(testing::Message() << d.M << "x" << d.N << "x" << d.K << " t " << t << " pad " << pad);
        check_case({d.M, d.N, d.K, 1, (t & 1) != 0, (t & 2) != 0, pad, false, 1.0, 0.0}, kFloat32, kFloat32);
      }
  check_case({130, 70, 48, 4, false, true, 0, true, 1.0, -2.0}, kFloat32, kFloat32);
  check_case({33, 65, 40, 3, true, false, 5, false, -0.5, 0.5}, kFloat32, kFloat32);
}

// The float32 SIMT kernel with 4 warps and 8 x 16 outputs per thread
// (set_gemm_simt_wide): the same cases, plus edges of its 16-column groups.
// The register-staged float32 kernel (section 1), the default before the
// cp.async kernel and still the one below sm_80: the SIMT variants' cases
// with the cp.async kernel off.
TEST(CudaGemm, SimtRegisterStagedTiles) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::gemm_simt_async, cuda::set_gemm_simt_async);
  cuda::set_gemm_simt_async(false);
  const int64_t before = cuda::gemm_simt_async_products();
  check_simt_variant();
  EXPECT_EQ(cuda::gemm_simt_async_products(), before) << "the cp.async kernel ran while off";
}

TEST(CudaGemm, SimtWideTiles) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::gemm_simt_wide, cuda::set_gemm_simt_wide);
  const test::SwitchScope restore_async(cuda::gemm_simt_async, cuda::set_gemm_simt_async);
  cuda::set_gemm_simt_wide(true);
  cuda::set_gemm_simt_async(false);  // it takes the products first where on
  check_simt_variant();
  check_case({129, 161, 17, 2, false, false, 0, false, 1.0, 0.0}, kFloat32, kFloat32);  // 32-column groups cut
  check_case({256, 96, 520, 1, true, true, 0, false, 1.0, 1.0}, kFloat32, kFloat32);
}

// The float32 SIMT kernel with cp.async stages and split-K
// (set_gemm_simt_async; sm_80+): the SIMT variants' cases (every transpose:
// A and B copied along k or along m/n, 16 or 4 bytes at a time, padded
// leading dimensions; with pad 3 a single matrix's leading dimension M + 3
// or N + 3 is a multiple of 4 where M, N is not, so the last 16-byte copy of
// a row is partial), then split-K forced to 2, 3 and 7 chunks: a K that is
// no multiple of the chunk, chunks with no K at all (K = 17 in 7 chunks of
// 8), batches with a broadcast B, alpha and beta, N % 4 != 0 (scalar partial
// stores), and the cost model choosing split-K by itself for a single tile
// with a long K, and not for 512 tiles with K = 256 (on any SM count, two
// chunks would halve each CTA's steps but double the CTAs per SM and add
// the partials' traffic).
TEST(CudaGemm, SimtAsyncTiles) {
  WICK_SKIP_WITHOUT_CUDA();
  if (cuda::device_properties(cuda::current_device()).major < 8) GTEST_SKIP() << "cp.async needs sm_80";
  const test::SwitchScope restore(cuda::gemm_simt_async, cuda::set_gemm_simt_async);
  const SimtForcedGrids restore_splits;
  cuda::set_gemm_simt_async(true);
  const int64_t before = cuda::gemm_simt_async_products();
  check_simt_variant();
  EXPECT_GT(cuda::gemm_simt_async_products(), before) << "the products did not take the cp.async kernel";
  check_case({256, 96, 520, 1, true, true, 0, false, 1.0, 1.0}, kFloat32, kFloat32);
  check_case({200, 136, 64, 2, true, false, 0, false, 1.0, 0.0}, kFloat32, kFloat32);  // 16-byte copies, 2 x tiles
  for (int splits : {2, 3, 7}) {
    cuda::set_gemm_simt_async_splits(splits);
    SCOPED_TRACE(testing::Message() << splits << " K chunks");
    const int64_t split_before = cuda::gemm_simt_async_split_products();
    for (int t = 0; t < 4; ++t) {
      const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
      check_case({129, 257, 200, 1, ta, tb, 0, false, 1.0, 0.0}, kFloat32, kFloat32);
      check_case({33, 65, 17, 3, ta, tb, 3, false, -0.5, 0.5}, kFloat32, kFloat32);
    }
    check_case({130, 70, 48, 4, false, true, 0, true, 1.0, -2.0}, kFloat32, kFloat32);
    EXPECT_EQ(cuda::gemm_simt_async_split_products(), split_before + 9) << "a forced split-K product ran whole";
  }
  cuda::set_gemm_simt_async_splits(0);
  int64_t split_before = cuda::gemm_simt_async_split_products();
  check_case({64, 96, 4096, 1, true, false, 0, false, 1.0, 0.0}, kFloat32, kFloat32);
  EXPECT_EQ(cuda::gemm_simt_async_split_products(), split_before + 1) << "one tile, K = 4096: no split-K chosen";
  split_before = cuda::gemm_simt_async_split_products();
  check_case({2048, 4096, 256, 1, true, false, 0, false, 1.0, 0.0}, kFloat32, kFloat32);
  EXPECT_EQ(cuda::gemm_simt_async_split_products(), split_before) << "512 tiles with K = 256 were split";
}

// The cp.async kernel's 64 x 256 tiles (set_gemm_simt_rows64) for M <= 64:
// every transpose (A copied 16 bytes at a time along m, or 4 along k; B 16
// along n or 4 along k), partial tiles in m, n and k, one row, a batch with
// a broadcast B, alpha and beta, forced split-K; the products it must not
// take (M > 64; B unaligned along n, copied 4 bytes at a time) keep the
// 128 x 128 tiles, which the counter shows.
TEST(CudaGemm, SimtRows64Tiles) {
  WICK_SKIP_WITHOUT_CUDA();
  if (cuda::device_properties(cuda::current_device()).major < 8) GTEST_SKIP() << "cp.async needs sm_80";
  const test::SwitchScope restore(cuda::gemm_simt_async, cuda::set_gemm_simt_async);
  const test::SwitchScope restore64(cuda::gemm_simt_rows64, cuda::set_gemm_simt_rows64);
  const SimtForcedGrids restore_splits;
  cuda::set_gemm_simt_async(true);
  cuda::set_gemm_simt_rows64(true);
  int64_t before = cuda::gemm_simt_rows64_products();
  int64_t taken = 0;
  for (int t = 0; t < 4; ++t) {
    const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
    SCOPED_TRACE(testing::Message() << "ta " << ta << " tb " << tb);
    check_case({64, 600, 300, 1, ta, tb, 0, false, 1.0, 0.0}, kFloat32, kFloat32);   // 3 column tiles, the last partial
    check_case({33, 100, 520, 2, ta, tb, 0, true, -0.5, 1.5}, kFloat32, kFloat32);   // a broadcast B, beta
    // One row with K under one k step, and one column: stored [K, N], B's rows (257 and 1 floats) are not
    // whole 16 bytes, so it is copied 4 bytes at a time and these keep the 128 x 128 tiles unless tb.
    check_case({1, 257, 7, 1, ta, tb, 0, false, 1.0, 0.0}, kFloat32, kFloat32);
    check_case({5, 1, 64, 1, ta, tb, 0, false, 1.0, 0.0}, kFloat32, kFloat32);
    taken += tb ? 4 : 2;
  }
  EXPECT_EQ(cuda::gemm_simt_rows64_products(), before + taken) << "a product of M <= 64 kept 128 x 128 tiles";
  for (int splits : {2, 5}) {
    cuda::set_gemm_simt_async_splits(splits);
    SCOPED_TRACE(testing::Message() << splits << " K chunks");
    before = cuda::gemm_simt_rows64_products();
    check_case({64, 300, 400, 1, true, false, 0, false, 1.0, 0.5}, kFloat32, kFloat32);
    check_case({40, 513, 200, 3, false, true, 0, false, 2.0, 0.0}, kFloat32, kFloat32);
    EXPECT_EQ(cuda::gemm_simt_rows64_products(), before + 2);
  }
  cuda::set_gemm_simt_async_splits(0);
  before = cuda::gemm_simt_rows64_products();
  check_case({65, 300, 40, 1, false, false, 0, false, 1.0, 0.0}, kFloat32, kFloat32);  // M > 64
  check_case({64, 300, 40, 1, false, false, 3, false, 1.0, 0.0}, kFloat32, kFloat32);  // ldb % 4 != 0: 4-byte B
  check_case({64, 300, 40, 1, true, false, 3, false, 1.0, 0.0}, kFloat32, kFloat32);   // the same, A along m
  EXPECT_EQ(cuda::gemm_simt_rows64_products(), before) << "taken where it does not apply";
  check_case({64, 300, 40, 1, false, true, 3, false, 1.0, 0.0}, kFloat32, kFloat32);   // B along k: it applies
  // lda 36, ldb 260: 16-byte copies whose last vector is partial (vec_bytes < 16) in both 64- and
  // 256-wide loaders, and a C row that ends in scalar stores.
  check_case({33, 257, 40, 1, true, false, 3, false, 1.0, 0.5}, kFloat32, kFloat32);
  EXPECT_EQ(cuda::gemm_simt_rows64_products(), before + 2);
}

// The cp.async kernel with its k-contiguous operands copied m/n-contiguous
// first (set_gemm_simt_transpose_k), where the other dimension is at least
// 512: A alone (N >= 512), B alone (M >= 512), both, neither (the counter
// unchanged); batches with padded, misaligned leading dimensions and batch
// strides (rows not a multiple of 4: the copies' rows padded), a broadcast B
// (copied once), alpha and beta, K not a multiple of the copy kernel's 32 and
// of the stage's 8, M <= 64 (then the 64-row tiles read the copy), against
// the float64 reference; the transposing copies counted. Then the copies off:
// the k-major tiles on the same shapes.
TEST(CudaGemm, SimtTransposedKMajor) {
  WICK_SKIP_WITHOUT_CUDA();
  if (cuda::device_properties(cuda::current_device()).major < 8) GTEST_SKIP() << "cp.async needs sm_80";
  const test::SwitchScope restore(cuda::gemm_simt_async, cuda::set_gemm_simt_async);
  const test::SwitchScope restore_tk(cuda::gemm_simt_transpose_k, cuda::set_gemm_simt_transpose_k);
  const test::SwitchScope restore64(cuda::gemm_simt_rows64, cuda::set_gemm_simt_rows64);
  cuda::set_gemm_simt_async(true);
  cuda::set_gemm_simt_transpose_k(true);
  cuda::set_gemm_simt_rows64(true);
  struct Expect {
    Case c;
    int copies;  // operands copied
  };
  const Expect cases[] = {
      {{70, 530, 37, 1, false, false, 0, false, 1.0, 0.0}, 1},    // A (N >= 512); B n-contiguous already
      {{530, 70, 45, 1, true, true, 0, false, 1.0, 0.0}, 1},      // B (M >= 512); A m-contiguous already
      {{515, 517, 33, 2, false, true, 3, false, 1.0, 0.5}, 2},    // both, padded, batched, beta
      {{513, 600, 20, 3, false, true, 1, true, -0.5, 0.0}, 2},    // a broadcast B, copied once
      {{40, 700, 33, 1, false, true, 0, false, 1.0, 0.0}, 1},     // M <= 64: A copied, the 64-row tiles
      {{300, 300, 64, 1, false, true, 0, false, 1.0, 0.0}, 0},    // both k-contiguous, neither dim >= 512
      {{520, 530, 8, 1, true, false, 0, false, 1.0, 0.0}, 0},     // both m/n-contiguous: nothing to copy
  };
  // Then the same with the copies off (on by default): the k-major tiles on these shapes, nothing copied.
  for (bool copies : {true, false}) {
    cuda::set_gemm_simt_transpose_k(copies);
    for (const Expect& e : cases) {
      SCOPED_TRACE(testing::Message() << e.c.M << "x" << e.c.N << "x" << e.c.K << " batch " << e.c.batch << " ta "
                                      << e.c.ta << " tb " << e.c.tb << " pad " << e.c.pad << " copies " << copies);
      const int64_t before = cuda::gemm_simt_transposed_operands(), rows64 = cuda::gemm_simt_rows64_products();
      check_case(e.c, kFloat32, kFloat32);
      EXPECT_EQ(cuda::gemm_simt_transposed_operands(), before + (copies ? e.copies : 0));
      if (e.c.M <= 64) {
        EXPECT_EQ(cuda::gemm_simt_rows64_products(), rows64 + 1) << "the 64-row tiles did not run";
      }
    }
  }
}

// The cp.async kernel's hybrid stream-K (set_gemm_simt_stream_k;
// gemm_simt_plan.h), its grid forced small (set_gemm_simt_stream_k_ctas) so
// that small products run every part of it: whole waves and then stream-K (9
// tiles on 4 CTAs: 8 one per CTA, the ninth's k steps shared by all 4), a wave
// and a few tiles (on 5 and 7), stream-K alone (on 20: every segment partial,
// ranges crossing tiles; and with fewer k steps than CTAs, some CTAs with
// none, which the fixup skips), whole waves alone (on 3 and 9: no fixup), a
// stream-K tile whole in one CTA's range (one k step: stored by that CTA, the
// fixup leaving it); partial tiles along M, N and K (K not a multiple of the
// stage's 8), alpha and beta, every operand layout (k-contiguous ones copied
// first where the other dimension is at least 512, 600 x 530, and with the
// copies off read along k; padded leading dimensions: 4-byte copies); against the float64
// reference, the counter showing the path ran. Batches, split-K and the
// 64-row tiles leave it alone. Then the plan's own grid on 8192 x 768 x 768,
// the row it is for, against the plain grid within float32's rounding, and
// the same bits every run.
TEST(CudaGemm, SimtStreamK) {
  WICK_SKIP_WITHOUT_CUDA();
  if (cuda::device_properties(cuda::current_device()).major < 8) GTEST_SKIP() << "cp.async needs sm_80";
  const SimtAsyncPaths paths(/*stream_k_on=*/true, /*kvec_on=*/false);  // (SimtKVec runs stream-K with kvec)
  struct Forced {
    Case c;
    int ctas;
  };
  const Forced cases[] = {
      {{300, 260, 203, 1, false, false, 0, false, 1.0, 0.0}, 4},   // 3 x 3 tiles, 26 k steps: 8 + 1
      {{300, 260, 203, 1, true, true, 0, false, 1.5, 0.5}, 20},    // stream-K alone
      {{300, 260, 16, 1, false, true, 0, false, 1.0, 0.5}, 20},    // 18 k steps on 20 CTAs: two with none
      {{300, 260, 203, 1, false, true, 3, false, 1.0, 0.0}, 5},    // 5 + 4, padded (4-byte copies)
      {{257, 385, 64, 1, true, false, 1, false, -0.5, 1.0}, 7},    // 3 x 4 tiles, 8 k steps: 7 + 5
      {{300, 260, 203, 1, false, false, 0, false, 1.0, 0.0}, 3},   // whole waves only
      {{300, 260, 203, 1, true, false, 0, false, 1.0, 0.5}, 9},    // one wave
      {{300, 260, 5, 1, false, false, 0, false, 1.0, 0.5}, 4},     // one k step: the ninth tile whole, no fixup
      {{600, 530, 203, 1, false, true, 0, false, 1.0, 0.5}, 7},    // 25 tiles: 21 + 4; both operands copied first
  };
  for (bool copies : {true, false}) {
    cuda::set_gemm_simt_transpose_k(copies);
    for (const Forced& f : cases) {
      SCOPED_TRACE(testing::Message() << f.c.M << "x" << f.c.N << "x" << f.c.K << " ta " << f.c.ta << " tb " << f.c.tb
                                      << " pad " << f.c.pad << " on " << f.ctas << " CTAs, copies " << copies);
      cuda::set_gemm_simt_stream_k_ctas(f.ctas);
      const int64_t before = cuda::gemm_simt_stream_k_products(), copied = cuda::gemm_simt_transposed_operands();
      check_case(f.c, kFloat32, kFloat32);
      EXPECT_GT(cuda::gemm_simt_stream_k_products(), before) << "the stream-K grid did not run";
      // (Operands are copied first where the other dimension is at least 512: only 600 x 530's, both.)
      EXPECT_EQ(cuda::gemm_simt_transposed_operands() - copied, copies && f.c.M >= 512 ? 2 : 0);
    }
  }
  cuda::set_gemm_simt_stream_k_ctas(4);
  int64_t before = cuda::gemm_simt_stream_k_products();
  check_case({300, 260, 40, 2, false, false, 0, false, 1.0, 0.0}, kFloat32, kFloat32);  // a batch
  check_case({40, 300, 40, 1, false, false, 0, false, 1.0, 0.0}, kFloat32, kFloat32);   // the 64-row tiles
  cuda::set_gemm_simt_async_splits(2);
  check_case({300, 260, 203, 1, false, false, 0, false, 1.0, 0.0}, kFloat32, kFloat32);  // split-K
  cuda::set_gemm_simt_async_splits(0);
  EXPECT_EQ(cuda::gemm_simt_stream_k_products(), before) << "taken where it does not apply";

  // The plan's grid on the row it is for: against the plain grid, element by element within twice the
  // float32 accumulation bound (tolerance(), from |A| |B|); then the same bits every run.
  cuda::set_gemm_simt_stream_k_ctas(0);
  cuda::set_gemm_simt_transpose_k(true);
  const Tensor a = test::randn_t({8192, 768}, kFloat32, 61, false).to(kCuda);
  const Tensor b = test::randn_t({768, 768}, kFloat32, 62, false).to(kCuda);
  Tensor out[3];
  int64_t runs[3];
  for (int i = 0; i < 3; ++i) {
    cuda::set_gemm_simt_stream_k(i > 0);
    out[i] = empty({8192, 768}, TensorOptions(kFloat32).device(kCuda));
    const int64_t n0 = cuda::gemm_simt_stream_k_products();
    cuda::batched_gemm(out[i], a, b, 1, 0, GemmBackend::Wick);
    runs[i] = cuda::gemm_simt_stream_k_products() - n0;
    out[i] = out[i].to(kCPU);
  }
  EXPECT_EQ(runs[0], 0);
  if (runs[1] == 0) {
    std::printf("(8192x768x768: the plan keeps the plain grid on this device)\n");
  } else {
    EXPECT_EQ(runs[2], 1);
    const Tensor mag = matmul(abs(a), abs(b)).to(kCPU);
    const float *x = out[0].data_ptr<float>(), *y = out[1].data_ptr<float>(), *s = mag.data_ptr<float>();
    int64_t bad = 0;
    for (int64_t i = 0; i < out[0].numel(); ++i)
      if (!(std::abs(x[i] - y[i]) <= 2 * tolerance(kFloat32, kFloat32, 768, s[i], x[i]))) ++bad;
    EXPECT_EQ(bad, 0) << "elements of the stream-K product off the plain one by more than float32's rounding";
    EXPECT_EQ(std::memcmp(out[1].data_ptr_raw(), out[2].data_ptr_raw(), out[1].numel() * sizeof(float)), 0)
        << "two runs gave different bits";
  }
}

// The cp.async kernel's k-contiguous operands copied 16 bytes at a time and
// moved into their stage tiles in shared memory (set_gemm_simt_kvec): A alone
// (NN), B alone (TN), both (NT); K not a multiple of the stage's 8 nor of 4
// (padded rows: chunks cut by src-size), partial tiles along M and N, a
// batch with a broadcast B, alpha and beta, split-K chosen and forced (chunks
// ending inside a stage), and the hybrid stream-K grid forced small (its
// segments' k ranges); against the float64 reference, the counter showing the
// path ran, and no operand copied first where it ran (also where both would
// have been). Where it must not run (misaligned rows, M <= 64 under the 64-row
// tiles, the other operand copied 4 bytes at a time) the counter stays. Then
// the same bits as the copies first and as the 4-byte k-major copies, on
// GPT-2's 8192 x 768 x 768 forward and odd shapes.
TEST(CudaGemm, SimtKVec) {
  WICK_SKIP_WITHOUT_CUDA();
  if (cuda::device_properties(cuda::current_device()).major < 8) GTEST_SKIP() << "cp.async needs sm_80";
  const SimtAsyncPaths paths(/*stream_k_on=*/false, /*kvec_on=*/true);
  struct Expect {
    Case c;
    bool taken;
  };
  const Expect cases[] = {
      {{300, 260, 204, 1, false, true, 0, false, 1.0, 0.0}, true},    // both; K % 8 = 4: a half stage
      {{300, 260, 202, 1, false, true, 2, false, 1.0, 0.5}, true},    // rows padded to 204: chunks cut at K
      {{300, 260, 204, 1, false, false, 0, false, -0.5, 0.0}, true},  // A alone, B n-contiguous
      {{300, 260, 204, 1, true, true, 0, false, 1.0, 1.5}, true},     // B alone, A m-contiguous
      {{130, 140, 64, 3, false, true, 0, true, 1.0, 0.0}, true},      // a batch, a broadcast B
      {{129, 131, 4096, 1, false, true, 0, false, 1.0, 0.0}, true},   // 4 tiles: split-K chosen
      {{300, 260, 203, 1, false, true, 0, false, 1.0, 0.0}, false},   // rows of 203 floats: not 16 bytes
      {{40, 300, 64, 1, false, true, 0, false, 1.0, 0.0}, false},     // M <= 64: the 64-row tiles
      {{300, 260, 64, 1, false, true, 1, false, 1.0, 0.0}, false},    // padded to 65: both 4-byte copies
      {{300, 260, 202, 1, false, false, 2, false, 1.0, 0.0}, false},  // A's rows 204, B's 262: B 4-byte copied
      {{600, 600, 64, 1, false, true, 0, false, 1.0, 0.0}, true},     // both would be copied first: neither is
  };
  for (bool copies : {true, false}) {
    cuda::set_gemm_simt_transpose_k(copies);
    for (const Expect& e : cases) {
      SCOPED_TRACE(testing::Message() << e.c.M << "x" << e.c.N << "x" << e.c.K << " batch " << e.c.batch << " ta "
                                      << e.c.ta << " tb " << e.c.tb << " pad " << e.c.pad << " copies " << copies);
      const int64_t before = cuda::gemm_simt_kvec_products(), copied = cuda::gemm_simt_transposed_operands();
      check_case(e.c, kFloat32, kFloat32);
      EXPECT_EQ(cuda::gemm_simt_kvec_products(), before + (e.taken ? 1 : 0));
      // (Where it runs, these shapes' other operand is m/n-contiguous or taken too: nothing copied first.)
      if (e.taken) EXPECT_EQ(cuda::gemm_simt_transposed_operands(), copied) << "an operand copied first";
    }
  }
  cuda::set_gemm_simt_transpose_k(true);
  for (int splits : {2, 3}) {  // K chunks of multiples of 8; K = 998 ends inside a 16-byte copy's 4 k
    SCOPED_TRACE(testing::Message() << splits << " K chunks forced");
    cuda::set_gemm_simt_async_splits(splits);
    const int64_t before = cuda::gemm_simt_kvec_products(), split = cuda::gemm_simt_async_split_products();
    check_case({257, 300, 1000, 1, false, true, 0, false, 1.0, 0.5}, kFloat32, kFloat32);
    check_case({257, 302, 998, 1, false, false, 2, false, 1.0, 0.0}, kFloat32, kFloat32);  // rows 1000, 304
    EXPECT_EQ(cuda::gemm_simt_kvec_products(), before + 2);
    EXPECT_EQ(cuda::gemm_simt_async_split_products(), split + 2);
  }
  cuda::set_gemm_simt_async_splits(0);
  cuda::set_gemm_simt_stream_k(true);
  for (int ctas : {4, 20}) {  // 3 x 3 tiles: 8 whole + stream-K; stream-K alone
    SCOPED_TRACE(testing::Message() << "stream-K on " << ctas << " CTAs");
    cuda::set_gemm_simt_stream_k_ctas(ctas);
    const int64_t before = cuda::gemm_simt_kvec_products(), sk = cuda::gemm_simt_stream_k_products();
    check_case({300, 260, 204, 1, false, true, 0, false, 1.0, 0.0}, kFloat32, kFloat32);
    check_case({300, 262, 202, 1, false, false, 2, false, 1.5, 0.5}, kFloat32, kFloat32);  // rows 204, 264
    check_case({300, 260, 204, 1, true, true, 0, false, 1.0, 0.0}, kFloat32, kFloat32);    // B alone (TN)
    EXPECT_EQ(cuda::gemm_simt_kvec_products(), before + 3);
    EXPECT_EQ(cuda::gemm_simt_stream_k_products(), sk + 3);
  }
  cuda::set_gemm_simt_stream_k_ctas(0);
  cuda::set_gemm_simt_stream_k(false);

  // The same bits as the copies first and as the 4-byte k-major copies: the k loop's sums are the same.
  struct Shape {
    int64_t M, N, K;
    bool ta, tb;
  };
  for (const Shape& sh : {Shape{8192, 768, 768, false, true}, Shape{515, 517, 100, false, true},
                          Shape{700, 600, 36, false, false}, Shape{600, 700, 44, true, true}}) {
    SCOPED_TRACE(testing::Message() << sh.M << "x" << sh.N << "x" << sh.K << " ta " << sh.ta << " tb " << sh.tb);
    const Tensor a0 = test::randn_t({sh.ta ? sh.K : sh.M, sh.ta ? sh.M : sh.K}, kFloat32, 71, false).to(kCuda);
    const Tensor b0 = test::randn_t({sh.tb ? sh.N : sh.K, sh.tb ? sh.K : sh.N}, kFloat32, 72, false).to(kCuda);
    const Tensor a = sh.ta ? a0.t() : a0, b = sh.tb ? b0.t() : b0;
    Tensor out[3];
    for (int i = 0; i < 3; ++i) {  // 0: kKVec; 1: the copies first; 2: the 4-byte k-major copies
      cuda::set_gemm_simt_kvec(i == 0);
      cuda::set_gemm_simt_transpose_k(i == 1);
      out[i] = empty({sh.M, sh.N}, TensorOptions(kFloat32).device(kCuda));
      const int64_t before = cuda::gemm_simt_kvec_products();
      cuda::batched_gemm(out[i], a, b, 1, 0, GemmBackend::Wick);
      EXPECT_EQ(cuda::gemm_simt_kvec_products(), before + (i == 0 ? 1 : 0)) << "setting " << i;
      out[i] = out[i].to(kCPU);
    }
    for (int i = 1; i < 3; ++i)
      EXPECT_EQ(std::memcmp(out[0].data_ptr_raw(), out[i].data_ptr_raw(), out[0].numel() * sizeof(float)), 0)
          << "kKVec's bits differ from setting " << i;
  }
}

TEST(CudaGemm, KZeroScalesC) {
  WICK_SKIP_WITHOUT_CUDA();
  for (const DtypePair& p : kPairs) {
    check_case({5, 9, 0, 2, false, false, 0, false, 1.0, 0.5}, p.ab, p.c);
    check_case({5, 9, 0, 2, true, true, 0, false, 1.0, 0.0}, p.ab, p.c);  // C = 0, NaN overwritten
  }
}

TEST(CudaGemm, ArgumentErrors) {
  GemmArgs g;
  g.M = 2, g.N = 3, g.K = 4, g.lda = 4, g.ldb = 3, g.ldc = 3;
  g.ab_dtype = kInt64, g.c_dtype = kInt64;
  EXPECT_WICK_ERROR(cuda::check_gemm_args(g), "unsupported dtypes");
  g.ab_dtype = kFloat32, g.c_dtype = kBFloat16;
  EXPECT_WICK_ERROR(cuda::check_gemm_args(g), "unsupported dtypes");
  g.c_dtype = kFloat32, g.lda = 3;
  EXPECT_WICK_ERROR(cuda::check_gemm_args(g), "lda = 3 < 4");
  g.lda = 4, g.ldc = 2;
  EXPECT_WICK_ERROR(cuda::check_gemm_args(g), "ldc = 2 < N = 3");
  g.ldc = 3, g.K = -1;
  EXPECT_WICK_ERROR(cuda::check_gemm_args(g), "negative size");
}

// The tensor-level entry with each backend against the CPU product, on
// views whose strides map to transposes, need a copy, or broadcast a batch.
TEST(CudaGemm, BatchedGemmTensorsEveryBackend) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor a = test::randn_t({2, 3, 37, 19}, kFloat64, 1, false);
  const Tensor b = test::randn_t({3, 45, 19}, kFloat64, 2, false).mT();  // [3, 19, 45], transposed storage
  const Tensor want = matmul(a, b);
  // Every other column of a wider matrix: neither row- nor column-major, so a copy is read.
  const Tensor wide = test::randn_t({2, 3, 37, 38}, kFloat64, 3, false);
  const Tensor want2 = mul(matmul(wide.slice(3, 0, 38, 2), b), 2.0);
  for (GemmBackend be : {GemmBackend::Wick, GemmBackend::Cublas, GemmBackend::CublasLt}) {
    Tensor out = empty(want.sizes(), TensorOptions(kFloat64).device(kCuda));
    cuda::batched_gemm(out, a.to(kCuda), b.to(kCuda).mT().contiguous().mT(), 1, 0, be);
    EXPECT_TRUE(test::all_close(out.to(kCPU), want, 1e-12, 1e-12)) << cuda::gemm_backend_name(be);
    Tensor out2 = empty(want.sizes(), TensorOptions(kFloat64).device(kCuda));
    cuda::batched_gemm(out2, wide.to(kCuda).slice(3, 0, 38, 2), b.to(kCuda), 2, 0, be);
    EXPECT_TRUE(test::all_close(out2.to(kCPU), want2, 1e-12, 1e-12)) << cuda::gemm_backend_name(be);
  }
}

#endif  // WICK_WITH_CUDA

// ---- ops on CUDA tensors ---------------------------------------------------

Tensor cpu_f64(const Shape& s, uint64_t seed) { return test::randn_t(s, kFloat64, seed, false); }

// The views are taken on the device (a CPU view moved to the GPU arrives
// contiguous), so the GPU sees the transposed / strided layouts.
TEST(CudaMatmul, Float32AndFloat64MatchCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const auto id = [](const Tensor& t) { return t; };
  const auto tr = [](const Tensor& t) { return t.mT(); };
  const auto every_other_col = [](const Tensor& t) { return t.slice(-1, 0, t.size(-1), 2); };
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-4 : 1e-11;
    auto check = [&](const Tensor& a, const Tensor& b, auto va, auto vb, const char* what) {
      const Tensor ac = a.to(dt), bc = b.to(dt);
      const Tensor want = matmul(va(ac).to(kFloat64), vb(bc).to(kFloat64));
      const Tensor got = matmul(va(ac.to(kCuda)), vb(bc.to(kCuda)));
      EXPECT_EQ(got.device(), kCuda) << what;
      EXPECT_EQ(got.dtype(), dt) << what;
      EXPECT_TRUE(test::all_close(got.to(kCPU).to(kFloat64), want, tol, tol)) << what << " " << dt;
    };
    check(cpu_f64({67, 45}, 1), cpu_f64({45, 129}, 2), id, id, "NN");
    check(cpu_f64({45, 67}, 3), cpu_f64({45, 129}, 2), tr, id, "TN");
    check(cpu_f64({67, 45}, 1), cpu_f64({129, 45}, 4), id, tr, "NT");
    check(cpu_f64({45, 67}, 3), cpu_f64({129, 45}, 4), tr, tr, "TT");
    check(cpu_f64({67, 90}, 5), cpu_f64({45, 129}, 2), every_other_col, id, "column-strided A (copied)");
    check(cpu_f64({67, 45}, 1), cpu_f64({45, 258}, 6), id, every_other_col, "column-strided B (copied)");
    check(cpu_f64({2, 1, 33, 17}, 7), cpu_f64({3, 17, 9}, 8), id, id, "broadcast batch");
    check(cpu_f64({4, 33, 17}, 9), cpu_f64({17, 9}, 10), id, id, "batch folded into rows");
    check(cpu_f64({4, 17, 33}, 11), cpu_f64({4, 9, 17}, 12), tr, tr, "batched TT");
    check(cpu_f64({4, 17, 33}, 11), cpu_f64({9, 17}, 13), tr, tr, "batched T @ matrix T (not foldable)");
    check(cpu_f64({17}, 14), cpu_f64({17, 5}, 15), id, id, "vector @ matrix");
    check(cpu_f64({5, 17}, 16), cpu_f64({17}, 17), id, id, "matrix @ vector");
    check(cpu_f64({300}, 18), cpu_f64({300}, 19), id, id, "dot");
    check(cpu_f64({0, 17}, 20), cpu_f64({17, 5}, 21), id, id, "M = 0");
    check(cpu_f64({3, 0}, 22), cpu_f64({0, 5}, 23), id, id, "K = 0");
    check(cpu_f64({1, 1}, 24), cpu_f64({1, 1}, 25), id, id, "1x1");
  }
}

// The products on CUDA tensors against the CPU's; run by the test below in
// both settings of the GEMM's bias epilogue.
void products_addmm_and_linear() {
  const Tensor a = cpu_f64({3, 20, 30}, 1), b = cpu_f64({3, 30, 10}, 2), c = cpu_f64({10}, 3);
  EXPECT_TRUE(test::all_close(bmm(a.to(kCuda), b.to(kCuda)).to(kCPU), bmm(a, b), 1e-11, 1e-11));
  EXPECT_TRUE(test::all_close(mm(a[0].to(kCuda), b[1].to(kCuda)).to(kCPU), mm(a[0], b[1]), 1e-11, 1e-11));
  EXPECT_TRUE(test::all_close(mv(a[0].to(kCuda), b[0].select(1, 2).to(kCuda)).to(kCPU), mv(a[0], b[0].select(1, 2)),
                              1e-11, 1e-11));
  EXPECT_TRUE(test::all_close(addmm(c.to(kCuda), a[0].to(kCuda), b[0].to(kCuda), 0.5, 2.0).to(kCPU),
                              addmm(c, a[0], b[0], 0.5, 2.0), 1e-11, 1e-11));
  const Tensor w = cpu_f64({10, 30}, 4);
  EXPECT_TRUE(test::all_close(linear(a.to(kCuda), w.to(kCuda), c.to(kCuda)).to(kCPU), linear(a, w, c), 1e-11, 1e-11));
  // addmm's c in every form: a row vector goes to the GEMM's bias (1-D, [1, N], strided), the others are
  // copied into the output first ([M, N], a column [M, 1], a scalar-like [1]).
  const Tensor wide = cpu_f64({20}, 5);
  for (const Tensor& cc : {c, c.view({1, 10}), slice(wide, 0, 0, 20, 2), cpu_f64({20, 10}, 6), cpu_f64({20, 1}, 7),
                           cpu_f64({1}, 8)}) {
    SCOPED_TRACE(shape_str(cc.sizes()));
    Tensor cg = cc.to(kCuda);
    if (cc.dim() == 1 && cc.size(0) == 10 && !cc.is_contiguous()) cg = slice(wide.to(kCuda), 0, 0, 20, 2);
    EXPECT_TRUE(test::all_close(addmm(cg, a[0].to(kCuda), b[0].to(kCuda), 0.5, 2.0).to(kCPU),
                                addmm(cc, a[0], b[0], 0.5, 2.0), 1e-11, 1e-11));
    EXPECT_TRUE(test::all_close(addmm(cg, a[0].to(kCuda), b[0].to(kCuda)).to(kCPU), addmm(cc, a[0], b[0]), 1e-11,
                                1e-11));
  }
  // Gradients through the bias path, against the CPU's.
  Tensor x = a[1].clone().requires_grad_(true), wt = w.clone().requires_grad_(true), bias = c.clone().requires_grad_(true);
  Tensor xg = a[1].to(kCuda).requires_grad_(true), wg = w.to(kCuda).requires_grad_(true),
         bg = c.to(kCuda).requires_grad_(true);
  sum(mul(linear(x, wt, bias), linear(x, wt, bias))).backward();
  sum(mul(linear(xg, wg, bg), linear(xg, wg, bg))).backward();
  EXPECT_TRUE(test::all_close(xg.grad().to(kCPU), x.grad(), 1e-10, 1e-10));
  EXPECT_TRUE(test::all_close(wg.grad().to(kCPU), wt.grad(), 1e-10, 1e-10));
  EXPECT_TRUE(test::all_close(bg.grad().to(kCPU), bias.grad(), 1e-10, 1e-10));
  // 16-bit: the bias rounded into the output once, like the CPU product of the same rounded values.
  for (DType dt : {kBFloat16, kFloat16}) {
    // Rounded on the device: the CPU has no 16-bit floats.
    auto rounded = [dt](const Tensor& t) { return t.to(kCuda).to(dt).to(kFloat64).to(kCPU); };
    const Tensor ah = rounded(a[0]), bh = rounded(b[0]), ch = rounded(c);
    const Tensor got = addmm(ch.to(kCuda).to(dt), ah.to(kCuda).to(dt), bh.to(kCuda).to(dt)).to(kFloat64).to(kCPU);
    EXPECT_TRUE(test::all_close(got, addmm(ch, ah, bh), dt == kBFloat16 ? 1e-2 : 2e-3, 1e-2)) << dt;
  }
}

TEST(CudaMatmul, ProductsAddmmAndLinear) {
  WICK_SKIP_WITHOUT_CUDA();
#ifdef WICK_WITH_CUDA
  const test::SwitchScope restore(cuda::gemm_bias_epilogue, cuda::set_gemm_bias_epilogue);
  for (bool epilogue : {true, false}) {
    SCOPED_TRACE(epilogue ? "bias in the GEMM's epilogue" : "bias copied into the output");
    cuda::set_gemm_bias_epilogue(epilogue);
    products_addmm_and_linear();
  }
#else
  products_addmm_and_linear();
#endif
}

// float16/bfloat16 through the ops (casts on the device): random inputs, the
// reference from the rounded inputs in float64, tolerance from the output's
// rounding plus fp32 accumulation ~ sqrt(K).
TEST(CudaMatmul, HalfPrecisionMatchesRoundedReference) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat16, kBFloat16}) {
    for (int t = 0; t < 4; ++t) {
      const int64_t M = 131, N = 77, K = 300;
      Tensor a = cpu_f64(t & 1 ? Shape{K, M} : Shape{M, K}, 1).to(kCuda).to(dt);
      Tensor b = cpu_f64(t & 2 ? Shape{N, K} : Shape{K, N}, 2).to(kCuda).to(dt);
      if (t & 1) a = a.t();
      if (t & 2) b = b.t();
      const Tensor got = matmul(a, b);
      EXPECT_EQ(got.dtype(), dt);
      const Tensor want = matmul(a.to(kFloat64).to(kCPU), b.to(kFloat64).to(kCPU));
      const double out_eps = dt == kBFloat16 ? 0x1p-8 : 0x1p-11;
      // |C| ~ sqrt(K) for unit normal inputs.
      const double atol = 4 * 0x1p-23 * std::sqrt(double(K)) * std::sqrt(double(K)) + out_eps;
      EXPECT_TRUE(test::all_close(got.to(kFloat64).to(kCPU), want, atol, out_eps)) << dt << " t=" << t;
    }
    // Batched with a broadcast batch dim.
    Tensor a = cpu_f64({2, 1, 40, 24}, 3).to(kCuda).to(dt), b = cpu_f64({3, 24, 56}, 4).to(kCuda).to(dt);
    const Tensor want = matmul(a.to(kFloat64).to(kCPU), b.to(kFloat64).to(kCPU));
    const double out_eps = dt == kBFloat16 ? 0x1p-8 : 0x1p-11;
    EXPECT_TRUE(test::all_close(matmul(a, b).to(kFloat64).to(kCPU), want, 1e-3 + out_eps, out_eps)) << dt;
  }
}

// Gradients with the products on the GPU: the function moves its CPU inputs
// to the device and the result back (both differentiable), so gradcheck's
// finite differences run on the host and every product, forward and
// backward (and the backward of the backward), on the device.
TEST(CudaMatmul, GradcheckFloat64OnDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  auto on_gpu = [](auto f) {
    return [f](const tensor_list& x) {
      tensor_list d;
      for (const Tensor& t : x) d.push_back(t.to(kCuda));
      return f(d).to(kCPU);
    };
  };
  const auto mm_fn = on_gpu([](const tensor_list& x) { return matmul(x[0], x[1]); });
  EXPECT_TRUE(gradcheck(mm_fn, {test::rand_f64({5, 7}, 1), test::rand_f64({7, 3}, 2)}));
  EXPECT_TRUE(gradcheck(mm_fn, {test::noncontig_f64({5, 7}, 3), test::noncontig_f64({7, 3}, 4)}));
  EXPECT_TRUE(gradcheck(mm_fn, {test::rand_f64({2, 4, 6}, 5), test::rand_f64({6, 3}, 6)}));
  EXPECT_TRUE(gradcheck(mm_fn, {test::rand_f64({2, 1, 4, 6}, 7), test::rand_f64({3, 6, 2}, 8)}));
  EXPECT_TRUE(gradgradcheck(mm_fn, {test::rand_f64({4, 5}, 9), test::rand_f64({5, 3}, 10)}));
  const auto addmm_fn = on_gpu([](const tensor_list& x) { return addmm(x[0], x[1], x[2], 0.5, 1.5); });
  EXPECT_TRUE(gradcheck(addmm_fn, {test::rand_f64({3}, 11), test::rand_f64({4, 5}, 12), test::rand_f64({5, 3}, 13)}));
  const auto linear_fn = on_gpu([](const tensor_list& x) { return linear(x[0], x[1], x[2]); });
  EXPECT_TRUE(gradcheck(linear_fn, {test::rand_f64({2, 3, 5}, 14), test::rand_f64({4, 5}, 15), test::rand_f64({4}, 16)}));
}

TEST(CudaMatmul, Errors) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor c = zeros({2, 2}, TensorOptions(kFloat32).device(kCuda));
  EXPECT_WICK_ERROR(matmul(c, zeros({2, 2})), "matmul: expected both operands on the same device");
  EXPECT_WICK_ERROR(matmul(c, zeros({2, 2}, TensorOptions(kFloat64).device(kCuda))), "same dtype");
  EXPECT_WICK_ERROR(matmul(zeros({2, 2}, TensorOptions(kInt64).device(kCuda)), zeros({2, 2}, TensorOptions(kInt64).device(kCuda))),
                    "matmul: dtype int64 is not supported on cuda");
  EXPECT_WICK_ERROR(mm(c, zeros({3, 2}, TensorOptions(kFloat32).device(kCuda))), "mm: inner dimensions differ");
}

}  // namespace
}  // namespace wick
