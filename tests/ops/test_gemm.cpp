// The GEMM kernels (ops/cpu/gemm.cpp) against the readable reference:
// odd sizes and sizes straddling the register tile (MR, NR) and cache block
// (KC, MC, NC) edges of every micro-kernel family this CPU runs (portable,
// AVX2, AVX-512), all four transpose cases, padded and broadcast (stride 0)
// operands, alpha / beta (beta = 0 ignores NaN in C), float / double /
// integer types, batched products, fused epilogues, on 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "ops/cpu/gemm.h"
#include "tensor/parallel.h"
#include "tests/support/test_util.h"

namespace wick {
namespace {

using cpu::Activation;
using cpu::Epilogue;
using cpu::GemmIsa;
using cpu::MatRef;

template <typename T>
std::vector<T> random_values(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<T> v(static_cast<size_t>(std::max<int64_t>(n, 1)));
  if constexpr (std::is_floating_point_v<T>) {
    std::uniform_real_distribution<double> d(-1, 1);
    for (auto& x : v) x = static_cast<T>(d(gen));
  } else {
    std::uniform_int_distribution<int> d(0, 5);
    for (auto& x : v) x = static_cast<T>(d(gen));
  }
  return v;
}

// How an operand of r x c logical elements is laid out in memory.
enum class Layout { row_major, col_major, padded, broadcast_rows, broadcast_cols };
const char* layout_name(Layout l) {
  switch (l) {
    case Layout::row_major: return "row";
    case Layout::col_major: return "col";
    case Layout::padded: return "padded";
    case Layout::broadcast_rows: return "bcast_rows";
    case Layout::broadcast_cols: return "bcast_cols";
  }
  return "?";
}

// Strides and the element count the storage needs.
struct Strided {
  int64_t rs, cs, size;
};
Strided layout_of(Layout l, int64_t r, int64_t c) {
  switch (l) {
    case Layout::row_major: return {c, 1, r * c};
    case Layout::col_major: return {1, r, r * c};
    case Layout::padded: return {2 * c + 3, 2, r * (2 * c + 3)};  // row stride > cols, column stride 2
    case Layout::broadcast_rows: return {0, 1, c};                 // every row the same
    case Layout::broadcast_cols: return {1, 0, r};                 // every column the same
  }
  return {c, 1, r * c};
}

double tolerance_of(double) { return 1e-12; }
double tolerance_of(float) { return 2e-5; }
template <typename T>
double tolerance() {
  if constexpr (std::is_floating_point_v<T>) return tolerance_of(T(0));
  return 0;
}

template <typename T>
void check(int64_t M, int64_t N, int64_t K, Layout la, Layout lb, T alpha, T beta, const Epilogue<T>* ep = nullptr,
           bool nan_c = false) {
  SCOPED_TRACE(str("M=", M, " N=", N, " K=", K, " A=", layout_name(la), " B=", layout_name(lb),
                   " alpha=", +alpha, " beta=", +beta, " isa=", cpu::gemm_isa_name(cpu::gemm_isa()),
                   " threads=", get_num_threads(), ep ? " epilogue" : ""));
  const Strided sa = layout_of(la, M, K), sb = layout_of(lb, K, N);
  const auto a = random_values<T>(sa.size, 1), b = random_values<T>(sb.size, 2);
  const int64_t ldc = N + 3;  // C rows padded: ldc != N
  auto c_fast = random_values<T>(M * ldc, 3);
  if constexpr (std::is_floating_point_v<T>)
    if (nan_c)
      for (auto& x : c_fast) x = NAN;
  auto c_ref = c_fast;
  const MatRef<const T> A{a.data(), sa.rs, sa.cs}, B{b.data(), sb.rs, sb.cs};
  if (ep) {
    cpu::gemm_ex<T>(M, N, K, alpha, A, B, beta, c_fast.data(), ldc, *ep);
    cpu::gemm_ex_reference<T>(M, N, K, alpha, A, B, beta, c_ref.data(), ldc, *ep);
  } else {
    cpu::gemm<T>(M, N, K, alpha, A, B, beta, c_fast.data(), ldc);
    cpu::gemm_reference<T>(M, N, K, alpha, A, B, beta, c_ref.data(), ldc);
  }
  const double tol = tolerance<T>() * std::max<double>(1, std::sqrt(static_cast<double>(K)));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const double f = static_cast<double>(c_fast[i * ldc + j]), r = static_cast<double>(c_ref[i * ldc + j]);
      if (std::isnan(r)) {
        ASSERT_TRUE(std::isnan(f)) << "at (" << i << ", " << j << ")";  // the padding past N keeps its NaN
        continue;
      }
      ASSERT_NEAR(f, r, tol * (1 + std::abs(r))) << "at (" << i << ", " << j << ")";
    }
}

// Runs body() under every micro-kernel family this CPU supports, on 1 and 2
// threads, restoring the defaults afterwards.
template <typename F>
void for_each_config(F body) {
  const int threads = get_num_threads();
  for (GemmIsa isa : {GemmIsa::portable, GemmIsa::avx2, GemmIsa::avx512}) {
    if (!cpu::set_gemm_isa(isa)) continue;
    for (int t : {1, 2}) {
      set_num_threads(t);
      body();
    }
  }
  cpu::set_gemm_isa(GemmIsa::automatic);
  set_num_threads(threads);
}

const Layout kTransposes[][2] = {{Layout::row_major, Layout::row_major},
                                 {Layout::col_major, Layout::row_major},
                                 {Layout::row_major, Layout::col_major},
                                 {Layout::col_major, Layout::col_major}};

}  // namespace

TEST(GemmKernel, IsaHook) {
  EXPECT_TRUE(cpu::gemm_isa_supported(GemmIsa::portable));
  EXPECT_TRUE(cpu::set_gemm_isa(GemmIsa::portable));
  EXPECT_EQ(cpu::gemm_isa(), GemmIsa::portable);
  EXPECT_TRUE(cpu::set_gemm_isa(GemmIsa::automatic));
  EXPECT_NE(cpu::gemm_isa(), GemmIsa::automatic);
  if (!cpu::gemm_isa_supported(GemmIsa::avx512)) {
    EXPECT_FALSE(cpu::set_gemm_isa(GemmIsa::avx512));
    EXPECT_NE(cpu::gemm_isa(), GemmIsa::avx512);
  }
  std::printf("gemm micro-kernel in use: %s\n", cpu::gemm_isa_name(cpu::gemm_isa()));
}

TEST(GemmKernel, OddSizesAllTransposes) {
  const int64_t shapes[][3] = {{1, 1, 1},   {7, 7, 7},     {33, 33, 33},  {257, 257, 257}, {7, 33, 257},
                               {257, 7, 33}, {33, 257, 7}, {1, 257, 33},  {257, 1, 33},    {2, 3, 4},
                               {0, 7, 3},   {7, 0, 3},     {7, 3, 0}};
  for_each_config([&] {
    for (auto& s : shapes)
      for (auto& t : kTransposes) {
        check<float>(s[0], s[1], s[2], t[0], t[1], 1.0f, 0.0f);
        check<double>(s[0], s[1], s[2], t[0], t[1], 1.0, 0.0);
      }
  });
}

// Sizes one below, at and one above the tile and block edges of every kernel
// family: MR 6 / 12, NR 8 / 16 / 32, KC 192 / 256, MC 72 / 120 / 144 / 240,
// NC 3072 / 4080.
TEST(GemmKernel, BlockEdges) {
  const int64_t shapes[][3] = {{5, 15, 3},    {6, 16, 4},     {7, 17, 5},     {11, 31, 9},    {12, 32, 9},
                               {13, 33, 9},   {8, 9, 191},    {8, 9, 192},    {8, 9, 193},    {6, 16, 255},
                               {6, 16, 256},  {6, 16, 257},   {13, 17, 513},  {71, 9, 20},    {73, 9, 20},
                               {119, 9, 20},  {121, 9, 20},   {143, 17, 20},  {144, 17, 20},  {145, 17, 20},
                               {239, 33, 20}, {241, 33, 20},  {3, 3071, 5},   {3, 3073, 5},   {3, 4079, 5},
                               {3, 4080, 5},  {3, 4081, 5},   {145, 100, 300}};
  for_each_config([&] {
    for (auto& s : shapes)
      for (auto& t : {kTransposes[0], kTransposes[3]}) {
        check<float>(s[0], s[1], s[2], t[0], t[1], 1.0f, 0.0f);
        check<double>(s[0], s[1], s[2], t[0], t[1], 1.0, 0.0);
      }
  });
}

TEST(GemmKernel, PaddedAndBroadcastStrides) {
  const Layout layouts[] = {Layout::row_major, Layout::col_major, Layout::padded, Layout::broadcast_rows,
                            Layout::broadcast_cols};
  for_each_config([&] {
    for (Layout la : layouts)
      for (Layout lb : layouts) {
        check<float>(37, 41, 43, la, lb, 1.0f, 0.0f);
        check<double>(13, 70, 300, la, lb, 0.5, 1.0);
      }
  });
}

TEST(GemmKernel, AlphaBetaAndNaN) {
  for_each_config([&] {
    for (auto& t : kTransposes) {
      check<float>(33, 40, 257, t[0], t[1], 0.5f, 2.0f);
      check<double>(33, 40, 257, t[0], t[1], -1.5, 1.0);
      check<double>(7, 1, 33, t[0], t[1], -1.5, 1.0);   // matrix-vector
      check<double>(1, 33, 7, t[0], t[1], 2.0, -0.25);  // vector-matrix
      check<double>(5, 4, 0, t[0], t[1], 2.0, 3.0);     // K = 0: C = beta C
      check<float>(57, 33, 7, t[0], t[1], 0.0f, 0.5f);  // alpha = 0
      // beta = 0 ignores NaN in C (the columns past N keep theirs).
      check<float>(50, 40, 300, t[0], t[1], 1.0f, 0.0f, nullptr, /*nan_c=*/true);
      check<double>(1, 40, 30, t[0], t[1], 1.0, 0.0, nullptr, /*nan_c=*/true);
      check<double>(40, 1, 30, t[0], t[1], 1.0, 0.0, nullptr, /*nan_c=*/true);
    }
  });
}

TEST(GemmKernel, Integers) {
  for_each_config([&] {
    for (auto& t : kTransposes) {
      check<int64_t>(33, 257, 7, t[0], t[1], 3, 2);
      check<int32_t>(40, 35, 300, t[0], t[1], 1, 0);
      check<int32_t>(7, 1, 257, t[0], t[1], 1, 0);
      check<uint8_t>(9, 17, 5, t[0], t[1], 1, 1);
    }
  });
}

TEST(GemmKernel, Epilogues) {
  const auto bias_f = random_values<float>(300, 7);
  const auto bias_d = random_values<double>(300, 8);
  const auto bias_i = random_values<int32_t>(300, 9);
  for_each_config([&] {
    for (Activation act : {Activation::none, Activation::relu, Activation::gelu, Activation::gelu_tanh})
      for (int bias = 0; bias < 3; ++bias) {
        const Epilogue<float> ef{bias ? bias_f.data() : nullptr, bias == 2, act};
        const Epilogue<double> ed{bias ? bias_d.data() : nullptr, bias == 2, act};
        for (auto& t : {kTransposes[0], kTransposes[2]}) {  // x W (NN) and x W^T (NT, linear)
          check<float>(67, 45, 270, t[0], t[1], 1.0f, 0.0f, &ef);
          check<double>(67, 45, 270, t[0], t[1], 0.5, 1.0, &ed);
          check<double>(1, 45, 20, t[0], t[1], 1.0, 0.0, &ed);   // vector-matrix path
          check<double>(45, 1, 20, t[0], t[1], 1.0, 0.0, &ed);   // matrix-vector path
          check<double>(45, 17, 0, t[0], t[1], 1.0, 2.0, &ed);   // K = 0
        }
        if (act == Activation::none || act == Activation::relu) {
          const Epilogue<int32_t> ei{bias ? bias_i.data() : nullptr, bias == 2, act};
          check<int32_t>(30, 20, 10, Layout::row_major, Layout::row_major, 1, 0, &ei);
        }
      }
  });
}

TEST(GemmKernel, Batched) {
  for_each_config([&] {
    // batch x [M, K] @ [K, N]; B broadcast (stride 0) in one case, and
    // batches that do and do not split evenly over the threads.
    for (int64_t batch : {1, 3, 4, 9})
      for (bool bcast_b : {false, true})
        for (auto [M, N, K] : {std::array<int64_t, 3>{7, 9, 5}, std::array<int64_t, 3>{70, 90, 65}}) {
          SCOPED_TRACE(str("batch=", batch, " bcast_b=", bcast_b, " M=", M, " N=", N, " K=", K));
          const auto a = random_values<float>(batch * M * K, 1), b = random_values<float>(batch * K * N, 2);
          const auto bias = random_values<float>(N, 4);
          const int64_t ldc = N + 1, sc = M * ldc + 2;
          std::vector<float> c_fast(batch * sc, NAN), c_ref(batch * sc, NAN);
          const Epilogue<float> ep{bias.data(), false, Activation::relu};
          // A transposed inside each matrix: element (i, k) at i + k * M.
          cpu::gemm_batched<float>(batch, M, N, K, 1.0f, {a.data(), 1, M}, M * K, {b.data(), N, 1},
                                   bcast_b ? 0 : K * N, 0.0f, c_fast.data(), ldc, sc, ep);
          for (int64_t i = 0; i < batch; ++i)
            cpu::gemm_ex_reference<float>(M, N, K, 1.0f, {a.data() + i * M * K, 1, M},
                                          {b.data() + (bcast_b ? 0 : i * K * N), N, 1}, 0.0f, c_ref.data() + i * sc,
                                          ldc, ep);
          for (size_t i = 0; i < c_ref.size(); ++i) {
            if (std::isnan(c_ref[i])) {
              ASSERT_TRUE(std::isnan(c_fast[i])) << i;
              continue;
            }
            ASSERT_NEAR(c_fast[i], c_ref[i], 1e-4 * (1 + std::abs(c_ref[i]))) << i;
          }
        }
  });
}

// A product called from inside a parallel region runs serially and stays
// correct (one product per thread, as batched matmul does).
TEST(GemmKernel, InsideParallelRegion) {
  const int64_t M = 100, N = 80, K = 120;
  const auto a = random_values<float>(M * K, 1), b = random_values<float>(K * N, 2);
  std::vector<float> ref(M * N);
  cpu::gemm_reference<float>(M, N, K, 1.0f, {a.data(), K, 1}, {b.data(), N, 1}, 0.0f, ref.data(), N);
  std::vector<std::vector<float>> out(4, std::vector<float>(M * N));
  parallel_for(0, 4, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      cpu::gemm<float>(M, N, K, 1.0f, {a.data(), K, 1}, {b.data(), N, 1}, 0.0f, out[i].data(), N);
  });
  for (auto& o : out)
    for (int64_t i = 0; i < M * N; ++i) ASSERT_NEAR(o[i], ref[i], 1e-4 * (1 + std::abs(ref[i])));
}

}  // namespace wick

// ---------------------------------------------------------------------------
// linear: its forward is one gemm_ex with the bias in the epilogue; it must
// equal the composed ops (addmm / mm with W^T) and keep its gradients,
// second order included.

namespace wick {

using test::noncontig_f64;
using test::rand_f64;

TEST(GemmLinear, FusedMatchesComposed) {
  for (DType dt : {kFloat32, kFloat64}) {
    const double tol = dt == kFloat32 ? 1e-5 : 1e-12;
    Tensor x = rand_f64({5, 37}, 1, false).to(dt), w = rand_f64({19, 37}, 2, false).to(dt);
    Tensor b = rand_f64({19}, 3, false).to(dt);
    EXPECT_TRUE(test::all_close(linear(x, w, b), addmm(b, x, w.t()), tol, tol));
    EXPECT_TRUE(test::all_close(linear(x, w), mm(x, w.t()), tol, tol));
    // 3-D input, transposed (non-contiguous) weight and input views.
    Tensor x3 = rand_f64({2, 37, 4}, 4, false).to(dt).transpose(1, 2);
    Tensor wt = rand_f64({37, 19}, 5, false).to(dt).t();
    EXPECT_TRUE(test::all_close(linear(x3, wt, b), add(matmul(x3, wt.t()), b), tol, tol));
  }
  // Empty input, K = 0 (only the bias).
  Tensor e = linear(zeros({3, 0}, kFloat64), zeros({2, 0}, kFloat64), ones({2}, kFloat64));
  EXPECT_TRUE(test::all_close(e, ones({3, 2}, kFloat64)));
}

TEST(GemmLinear, GradientsAndSecondOrder) {
  auto f = [](const tensor_list& in) { return linear(in[0], in[1], in[2]); };
  const tensor_list in{rand_f64({3, 4}, 1), rand_f64({5, 4}, 2), rand_f64({5}, 3)};
  EXPECT_TRUE(gradcheck(f, in));
  EXPECT_TRUE(gradgradcheck(f, in));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& t) { return linear(t[0], t[1]); },
                            {rand_f64({2, 3, 4}, 4), noncontig_f64({4, 5}, 5).t()}));
  // The gradients equal those of the composed formula.
  Tensor x = rand_f64({6, 4}, 6), w = rand_f64({3, 4}, 7), b = rand_f64({3}, 8);
  Tensor g = rand_f64({6, 3}, 9, false);
  auto fused = autograd::grad({linear(x, w, b)}, {x, w, b}, {g});
  auto composed = autograd::grad({addmm(b, x, w.t())}, {x, w, b}, {g});
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(test::all_close(fused[i], composed[i], 1e-12, 1e-12)) << i;
}

}  // namespace wick
