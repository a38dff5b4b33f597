// Linear algebra: the gemm kernel against its reference, matmul and friends
// against PyTorch (values and gradients), gradcheck / gradgradcheck, tril and
// triu, the Jacobi eigensolver, and the error messages.
#include <cmath>
#include <random>

#include "ops/cpu/gemm.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

// numpy's ascontiguousarray (in common.save) stores a 0-d array as 1-d, so
// the 1-D . 1-D fixtures (out, g) come back as [1]; they are 0-d here.
Tensor fx(const std::string& name) {
  Tensor t = fixture("linalg/" + name);
  const bool scalar = name == "matmul_vv_out" || name == "matmul_vv_g";
  return scalar ? t.reshape({}) : t;
}

// The same values in a non-contiguous layout: every other element of the
// last dim of a bigger buffer (transposed as well for matrices).
Tensor strided_copy(const Tensor& t) {
  NoGradGuard ng;
  Tensor src = t.dim() >= 2 ? t.mT() : t;
  Shape big = src.sizes();
  big.back() *= 2;
  Tensor v = zeros(big, t.dtype()).slice(-1, 0, std::nullopt, 2);
  copy_(v, src);
  return t.dim() >= 2 ? v.mT() : v;
}

// ---------------------------------------------------------------------------
// gemm kernel

template <typename T>
std::vector<T> random_values(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<T> v(static_cast<size_t>(n));
  if constexpr (std::is_floating_point_v<T>) {
    std::uniform_real_distribution<double> d(-1, 1);
    for (auto& x : v) x = static_cast<T>(d(gen));
  } else {
    std::uniform_int_distribution<int> d(-5, 5);
    for (auto& x : v) x = static_cast<T>(d(gen));
  }
  return v;
}

// Runs gemm and gemm_reference on the same operands, stored transposed or
// not, and compares C.
template <typename T>
void check_gemm(int64_t M, int64_t N, int64_t K, bool trans_a, bool trans_b, T alpha, T beta, double tol) {
  SCOPED_TRACE(str("M=", M, " N=", N, " K=", K, " ta=", trans_a, " tb=", trans_b, " alpha=", alpha, " beta=", beta));
  const auto a = random_values<T>(M * K, 1), b = random_values<T>(K * N, 2);
  const int64_t ldc = N + 3;  // C rows padded: ldc != N
  auto c_fast = random_values<T>(std::max<int64_t>(M * ldc, 1), 3);
  auto c_ref = c_fast;
  cpu::MatRef<const T> A{a.data(), trans_a ? 1 : K, trans_a ? M : 1};
  cpu::MatRef<const T> B{b.data(), trans_b ? 1 : N, trans_b ? K : 1};
  cpu::gemm<T>(M, N, K, alpha, A, B, beta, c_fast.data(), ldc);
  cpu::gemm_reference<T>(M, N, K, alpha, A, B, beta, c_ref.data(), ldc);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const double f = static_cast<double>(c_fast[i * ldc + j]), r = static_cast<double>(c_ref[i * ldc + j]);
      ASSERT_NEAR(f, r, tol * (1 + std::abs(r))) << "at (" << i << ", " << j << ")";
    }
}

}  // namespace

TEST(Gemm, MatchesReferenceOnOddSizes) {
  const int64_t shapes[][3] = {{1, 1, 1},   {7, 33, 257}, {257, 7, 33}, {33, 257, 7}, {1, 257, 33}, {257, 1, 33},
                               {33, 7, 1},  {257, 33, 257}, {7, 257, 1}, {1, 1, 257}, {0, 7, 3},   {7, 0, 3},
                               {7, 3, 0},   {600, 9, 300}};
  for (auto& s : shapes)
    for (int t = 0; t < 4; ++t) {
      check_gemm<float>(s[0], s[1], s[2], t & 1, t & 2, 1.0f, 0.0f, 1e-4);
      check_gemm<double>(s[0], s[1], s[2], t & 1, t & 2, 1.0, 0.0, 1e-12);
    }
}

TEST(Gemm, AlphaBetaAndIntegers) {
  for (int t = 0; t < 4; ++t) {
    check_gemm<double>(33, 7, 257, t & 1, t & 2, 0.5, 2.0, 1e-12);
    check_gemm<double>(7, 1, 33, t & 1, t & 2, -1.5, 1.0, 1e-12);
    check_gemm<double>(1, 33, 7, t & 1, t & 2, 2.0, -0.25, 1e-12);
    check_gemm<double>(5, 4, 0, t & 1, t & 2, 2.0, 3.0, 1e-12);  // K = 0: C = beta C
    check_gemm<float>(257, 33, 7, t & 1, t & 2, 0.0f, 0.5f, 1e-5);  // alpha = 0
    check_gemm<int64_t>(33, 257, 7, t & 1, t & 2, 3, 2, 0);
    check_gemm<int32_t>(7, 1, 257, t & 1, t & 2, 1, 0, 0);
    check_gemm<uint8_t>(9, 17, 5, t & 1, t & 2, 1, 1, 0);
  }
}

TEST(Gemm, BetaZeroIgnoresNaN) {
  const double a[] = {1, 2}, b[] = {3, 4};
  double c[] = {NAN};
  cpu::gemm<double>(1, 1, 2, 1.0, {a, 2, 1}, {b, 1, 1}, 0.0, c, 1);
  EXPECT_EQ(c[0], 11.0);
  double c2[] = {NAN, NAN, NAN, NAN};
  cpu::gemm<double>(2, 2, 1, 1.0, {a, 1, 1}, {b, 1, 1}, 0.0, c2, 2);
  EXPECT_EQ(c2[0], 3.0);
  EXPECT_EQ(c2[3], 8.0);
}

// ---------------------------------------------------------------------------
// matmul against PyTorch

namespace {
const char* kMatmulCases[] = {"vv", "vm", "mv", "mm", "v3", "3v", "fold", "m3", "bcast", "bmm"};
}

TEST(Matmul, ValuesAndGradientsMatchTorch) {
  for (const char* name : kMatmulCases) {
    SCOPED_TRACE(name);
    const std::string p = std::string("matmul_") + name + "_";
    Tensor a = fx(p + "a").requires_grad_(), b = fx(p + "b").requires_grad_();
    Tensor out = matmul(a, b);
    ASSERT_TRUE(all_close(out, fx(p + "out"), 1e-12, 1e-12));
    out.backward(fx(p + "g"));
    EXPECT_TRUE(all_close(a.grad(), fx(p + "ga"), 1e-12, 1e-12));
    EXPECT_TRUE(all_close(b.grad(), fx(p + "gb"), 1e-12, 1e-12));
  }
}

TEST(Matmul, Float32MatchesTorch) {
  for (const char* name : kMatmulCases) {
    SCOPED_TRACE(name);
    const std::string p = std::string("matmul_") + name + "_";
    Tensor out = matmul(fx(p + "a").to(kFloat32), fx(p + "b").to(kFloat32));
    EXPECT_EQ(out.dtype(), kFloat32);
    EXPECT_TRUE(all_close(out, fx(p + "out").to(kFloat32), 1e-5, 1e-5));
  }
}

TEST(Matmul, NonContiguousOperands) {
  for (const char* name : kMatmulCases) {
    SCOPED_TRACE(name);
    const std::string p = std::string("matmul_") + name + "_";
    Tensor a = strided_copy(fx(p + "a")), b = strided_copy(fx(p + "b"));
    ASSERT_FALSE(a.is_contiguous());
    ASSERT_FALSE(b.is_contiguous());
    EXPECT_TRUE(all_close(matmul(a, b), fx(p + "out"), 1e-12, 1e-12));
  }
  // Broadcast (stride-0) operands, as produced by expand.
  Tensor a = fx("matmul_mm_a"), b = fx("matmul_mm_b");
  Tensor out = matmul(a.expand({3, 3, 4}), b.expand({3, 4, 5}));
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(all_close(out[i], fx("matmul_mm_out"), 1e-12, 1e-12));
}

TEST(Matmul, ResultShapes) {
  auto shape_of = [](const Shape& sa, const Shape& sb) { return matmul(zeros(sa), zeros(sb)).sizes(); };
  EXPECT_EQ(shape_of({3}, {3}), Shape{});
  EXPECT_EQ(shape_of({3}, {3, 4}), (Shape{4}));
  EXPECT_EQ(shape_of({2, 3}, {3}), (Shape{2}));
  EXPECT_EQ(shape_of({3}, {5, 2, 3, 4}), (Shape{5, 2, 4}));
  EXPECT_EQ(shape_of({5, 2, 4, 3}, {3}), (Shape{5, 2, 4}));
  EXPECT_EQ(shape_of({2, 1, 3, 4}, {5, 4, 2}), (Shape{2, 5, 3, 2}));
  EXPECT_EQ(shape_of({1, 3, 4}, {6, 1, 4, 2}), (Shape{6, 1, 3, 2}));
}

TEST(Matmul, EmptyDims) {
  EXPECT_EQ(matmul(zeros({0, 3}), zeros({3, 4})).sizes(), (Shape{0, 4}));
  EXPECT_EQ(matmul(zeros({2, 0, 3, 4}), zeros({4, 5})).sizes(), (Shape{2, 0, 3, 5}));
  EXPECT_EQ(matmul(zeros({0, 3, 4}), zeros({2, 4, 5}).slice(0, 0, 1)).sizes(), (Shape{0, 3, 5}));
  // K = 0: a sum over nothing is zero.
  EXPECT_TRUE(all_equal(matmul(ones({3, 0}), ones({0, 4})), zeros({3, 4})));
  EXPECT_TRUE(all_equal(matmul(ones({2, 3, 0}), ones({0, 2})), zeros({2, 3, 2})));
  EXPECT_TRUE(all_equal(matmul(ones({0}), ones({0})), zeros({})));
  Tensor a = zeros({3, 0}, TensorOptions(kFloat64).requires_grad()), b = rand_f64({0, 4});
  sum(matmul(a, b)).backward();
  EXPECT_EQ(a.grad().sizes(), (Shape{3, 0}));
  EXPECT_EQ(b.grad().sizes(), (Shape{0, 4}));
}

TEST(Matmul, IntegerDtypes) {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, Shape{2, 3}), b = tensor({1, 0, -1, 2, 3, 1}, Shape{3, 2});
  Tensor expect = tensor({8, 7, 17, 16}, Shape{2, 2});  // [1-2+9, 0+4+3; 4-5+18, 0+10+6]
  EXPECT_TRUE(all_equal(matmul(a, b), expect));
  EXPECT_TRUE(all_equal(matmul(a.to(kInt32), b.to(kInt32)), expect.to(kInt32)));
  EXPECT_TRUE(all_equal(mv(a, tensor({1, 1, 1})), tensor({6, 15})));
  EXPECT_TRUE(all_equal(dot(tensor({1, 2, 3}), tensor({4, 5, 6})), scalar_tensor(32)));
}

TEST(Matmul, Errors) {
  EXPECT_WICK_ERROR(matmul(zeros({3, 4}), zeros({5, 6})), "matmul: inner dimensions differ: [3,4] @ [5,6] (4 != 5)");
  EXPECT_WICK_ERROR(matmul(zeros({3}), zeros({4})), "matmul: inner dimensions differ: [3] @ [4] (3 != 4)");
  EXPECT_WICK_ERROR(matmul(zeros({2, 3}), zeros({4})), "matmul: inner dimensions differ: [2,3] @ [4] (3 != 4)");
  EXPECT_WICK_ERROR(matmul(zeros({}), zeros({3})), "matmul: both arguments need at least 1 dimension, got [] and [3]");
  EXPECT_WICK_ERROR(matmul(zeros({3, 3}), zeros({})), "got [3,3] and []");
  EXPECT_WICK_ERROR(matmul(zeros({2, 3}), zeros({3, 2}, kFloat64)),
                    "matmul: expected both operands to have the same dtype, got float32 and float64");
  EXPECT_WICK_ERROR(matmul(zeros({2, 3, 4}), zeros({5, 4, 2})), "matmul: batch dimensions cannot be broadcast: "
                                                                "[2,3,4] @ [5,4,2] ([2] vs [5])");
  EXPECT_WICK_ERROR(matmul(zeros({2, 2}, kBool), zeros({2, 2}, kBool)), "matmul: dtype bool is not supported");
}

// ---------------------------------------------------------------------------
// mm, bmm, mv, dot, outer, addmm

TEST(Products, MatchMatmul) {
  Tensor a = fx("matmul_mm_a"), b = fx("matmul_mm_b");
  EXPECT_TRUE(all_close(mm(a, b), fx("matmul_mm_out"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(mm(strided_copy(a), strided_copy(b)), fx("matmul_mm_out"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(bmm(fx("matmul_bmm_a"), fx("matmul_bmm_b")), fx("matmul_bmm_out"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(mv(fx("matmul_mv_a"), fx("matmul_mv_b")), fx("matmul_mv_out"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(mv(strided_copy(fx("matmul_mv_a")), strided_copy(fx("matmul_mv_b"))), fx("matmul_mv_out"),
                        1e-12, 1e-12));
  Tensor d = dot(fx("matmul_vv_a"), fx("matmul_vv_b"));
  EXPECT_EQ(d.dim(), 0);
  EXPECT_TRUE(all_close(d, fx("matmul_vv_out"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(dot(strided_copy(fx("matmul_vv_a")), fx("matmul_vv_b")), fx("matmul_vv_out"), 1e-12, 1e-12));
  // outer: every product a_i b_j; it promotes like a broadcast multiply.
  Tensor o = outer(tensor({1.0, 2.0, 3.0}, {}, kFloat64), tensor({1.0, -1.0}, {}, kFloat64));
  EXPECT_TRUE(all_close(o, tensor({1.0, -1.0, 2.0, -2.0, 3.0, -3.0}, Shape{3, 2}, kFloat64)));
  EXPECT_EQ(outer(tensor({1, 2}), tensor({0.5f})).dtype(), kFloat32);
  EXPECT_EQ(outer(zeros({0}), zeros({4})).sizes(), (Shape{0, 4}));
}

TEST(Products, AddmmMatchesTorch) {
  Tensor c = fx("addmm_c").requires_grad_(), a = fx("addmm_a").requires_grad_(), b = fx("addmm_b").requires_grad_();
  Tensor out = addmm(c, a, b, 0.5, 2.0);
  ASSERT_TRUE(all_close(out, fx("addmm_out"), 1e-12, 1e-12));
  out.backward(fx("addmm_g"));
  EXPECT_TRUE(all_close(c.grad(), fx("addmm_gc"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(a.grad(), fx("addmm_ga"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(b.grad(), fx("addmm_gb"), 1e-12, 1e-12));
  // Defaults are beta = alpha = 1; beta = 0 ignores c, even NaN.
  Tensor prod = mm(fx("addmm_a"), fx("addmm_b"));
  EXPECT_TRUE(all_close(addmm(fx("addmm_c"), fx("addmm_a"), fx("addmm_b")), add(prod, fx("addmm_c")), 1e-12, 1e-12));
  Tensor nan_c = full({3, 5}, NAN, kFloat64);
  EXPECT_TRUE(all_close(addmm(nan_c, fx("addmm_a"), fx("addmm_b"), 0, 1), prod, 1e-12, 1e-12));
  EXPECT_TRUE(all_equal(addmm(tensor({1, 2}), tensor({1, 2, 3, 4}, Shape{2, 2}), tensor({1, 0, 0, 1}, Shape{2, 2}), 2, 3),
                        tensor({5, 10, 11, 16}, Shape{2, 2})));
}

TEST(Products, Errors) {
  EXPECT_WICK_ERROR(mm(zeros({3}), zeros({3, 4})), "mm: expected 2-D tensors, got [3] and [3,4]");
  EXPECT_WICK_ERROR(mm(zeros({3, 4}), zeros({5, 6})), "mm: inner dimensions differ: [3,4] @ [5,6] (4 != 5)");
  EXPECT_WICK_ERROR(mm(zeros({3, 4}), zeros({4, 6}, kInt64)), "mm: expected both operands to have the same dtype");
  EXPECT_WICK_ERROR(bmm(zeros({2, 3, 4}), zeros({4, 5})), "bmm: expected 3-D tensors");
  EXPECT_WICK_ERROR(bmm(zeros({2, 3, 4}), zeros({3, 4, 5})), "bmm: batch sizes differ: [2,3,4] @ [3,4,5] (2 != 3)");
  EXPECT_WICK_ERROR(bmm(zeros({2, 3, 4}), zeros({2, 5, 5})), "bmm: inner dimensions differ");
  EXPECT_WICK_ERROR(mv(zeros({3, 4}), zeros({4, 1})), "mv: expected a 2-D matrix and a 1-D vector");
  EXPECT_WICK_ERROR(mv(zeros({3, 4}), zeros({3})), "mv: inner dimensions differ: [3,4] @ [3] (4 != 3)");
  EXPECT_WICK_ERROR(dot(zeros({3}), zeros({4})), "dot: sizes differ: [3] . [4] (3 != 4)");
  EXPECT_WICK_ERROR(dot(zeros({3, 1}), zeros({3})), "dot: expected 1-D tensors");
  EXPECT_WICK_ERROR(dot(zeros({3}), zeros({3}, kFloat64)), "dot: expected both operands to have the same dtype");
  EXPECT_WICK_ERROR(outer(zeros({3, 1}), zeros({3})), "outer: expected 1-D tensors");
  EXPECT_WICK_ERROR(addmm(zeros({4}), zeros({3, 4}), zeros({4, 5})), "addmm: self of shape [4] cannot be broadcast");
  EXPECT_WICK_ERROR(addmm(zeros({5}), zeros({3, 4}), zeros({5, 5})), "addmm: inner dimensions differ");
  EXPECT_WICK_ERROR(addmm(zeros({5}, kFloat64), zeros({3, 4}), zeros({4, 5})), "addmm: expected self and the operands");
  EXPECT_WICK_ERROR(addmm(zeros({5}, kInt64), zeros({3, 4}, kInt64), zeros({4, 5}, kInt64), 0.5),
                    "addmm: for integral input tensors");
}

// ---------------------------------------------------------------------------
// gradients

TEST(LinalgGrad, Matmul) {
  const Shape cases[][2] = {{{4}, {4}},       {{4}, {4, 3}},       {{3, 4}, {4}},        {{3, 4}, {4, 2}},
                            {{2, 3, 4}, {4}}, {{4}, {2, 4, 3}},    {{2, 3, 4}, {4, 2}},  {{3, 4}, {2, 4, 2}},
                            {{2, 1, 3, 4}, {5, 4, 2}},             {{1, 2, 3}, {2, 3, 2}}};
  uint64_t seed = 0;
  for (auto& c : cases) {
    SCOPED_TRACE(shape_str(c[0]) + " @ " + shape_str(c[1]));
    EXPECT_TRUE(gradcheck([](const tensor_list& t) { return matmul(t[0], t[1]); },
                          {rand_f64(c[0], seed), rand_f64(c[1], seed + 1)}));
    seed += 2;
  }
  // Non-contiguous inputs.
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return matmul(t[0], t[1]); },
                        {noncontig_f64({2, 3, 4}, 7), noncontig_f64({4, 3}, 8)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return matmul(t[0], t[1]); },
                        {noncontig_f64({4}, 9), noncontig_f64({2, 4, 3}, 10)}));
}

TEST(LinalgGrad, MatmulSecondOrder) {
  const Shape cases[][2] = {{{3, 4}, {4, 2}}, {{2, 1, 2, 3}, {3, 3, 2}}, {{3}, {3}}, {{2, 3, 4}, {4}}, {{2, 3, 2}, {2, 2}}};
  uint64_t seed = 100;
  for (auto& c : cases) {
    SCOPED_TRACE(shape_str(c[0]) + " @ " + shape_str(c[1]));
    EXPECT_TRUE(gradgradcheck([](const tensor_list& t) { return matmul(t[0], t[1]); },
                              {rand_f64(c[0], seed), rand_f64(c[1], seed + 1)}));
    seed += 2;
  }
}

TEST(LinalgGrad, OtherProducts) {
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return mm(t[0], t[1]); }, {rand_f64({3, 4}, 1), noncontig_f64({4, 2}, 2)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return bmm(t[0], t[1]); },
                        {rand_f64({2, 3, 4}, 3), noncontig_f64({2, 4, 2}, 4)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return mv(t[0], t[1]); }, {noncontig_f64({3, 4}, 5), rand_f64({4}, 6)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return dot(t[0], t[1]); }, {rand_f64({5}, 7), noncontig_f64({5}, 8)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return outer(t[0], t[1]); }, {rand_f64({3}, 9), rand_f64({4}, 10)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return addmm(t[0], t[1], t[2], 0.5, -2.0); },
                        {rand_f64({1, 2}, 11), rand_f64({3, 4}, 12), noncontig_f64({4, 2}, 13)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return addmm(t[0], t[1], t[2]); },
                        {rand_f64({3, 2}, 14), rand_f64({3, 4}, 15), rand_f64({4, 2}, 16)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& t) { return addmm(t[0], t[1], t[2], 2, 3); },
                            {rand_f64({2}, 17), rand_f64({3, 4}, 18), rand_f64({4, 2}, 19)}));
}

TEST(LinalgGrad, Triangles) {
  for (int64_t k : {0, 1, -1, 5}) {
    SCOPED_TRACE(k);
    EXPECT_TRUE(gradcheck([k](const tensor_list& t) { return tril(t[0], k); }, {rand_f64({2, 3, 4}, 20)}));
    EXPECT_TRUE(gradcheck([k](const tensor_list& t) { return triu(t[0], k); }, {noncontig_f64({4, 3}, 21)}));
  }
  EXPECT_TRUE(gradgradcheck([](const tensor_list& t) { return tril(t[0], 0) * t[0]; }, {rand_f64({3, 3}, 22)}));
}

// ---------------------------------------------------------------------------
// tril / triu

TEST(Triangles, MatchTorch) {
  Tensor x = fx("tri_x");
  const std::pair<int64_t, const char*> ks[] = {{0, "0"}, {1, "1"}, {-2, "m2"}};
  for (auto [k, tag] : ks) {
    SCOPED_TRACE(k);
    EXPECT_TRUE(all_equal(tril(x, k), fx(std::string("tril_") + tag)));
    EXPECT_TRUE(all_equal(triu(x, k), fx(std::string("triu_") + tag)));
    EXPECT_TRUE(all_equal(tril(strided_copy(x), k), fx(std::string("tril_") + tag)));
    EXPECT_TRUE(all_equal(triu(strided_copy(x), k), fx(std::string("triu_") + tag)));
  }
}

TEST(Triangles, EdgeCases) {
  Tensor x = ones({3, 4}, kInt64);
  // Offsets past the matrix keep everything or nothing (and must not overflow).
  EXPECT_TRUE(all_equal(tril(x, 100), x));
  EXPECT_TRUE(all_equal(tril(x, -100), zeros({3, 4}, kInt64)));
  EXPECT_TRUE(all_equal(triu(x, INT64_MIN), x));
  EXPECT_TRUE(all_equal(triu(x, INT64_MAX), zeros({3, 4}, kInt64)));
  EXPECT_TRUE(all_equal(tril(ones({2, 2}, kBool)), tensor({true, false, true, true}, Shape{2, 2})));
  EXPECT_TRUE(all_equal(triu(tensor({1, 2, 3, 4, 5, 6}, Shape{3, 2}), -1), tensor({1, 2, 3, 4, 0, 6}, Shape{3, 2})));
  EXPECT_EQ(tril(zeros({2, 0, 3})).sizes(), (Shape{2, 0, 3}));
  // A broadcast (stride-0) input.
  EXPECT_TRUE(all_equal(triu(ones({1, 3}).expand({3, 3})), triu(ones({3, 3}))));
  EXPECT_WICK_ERROR(tril(zeros({3})), "tril: input tensor must have at least 2 dimensions, got [3]");
  EXPECT_WICK_ERROR(triu(zeros({})), "triu: input tensor must have at least 2 dimensions");
}

// ---------------------------------------------------------------------------
// eigh

namespace {
// Checks x V = V diag(w), V^T V = I, w ascending and the sign convention.
void check_eigh(const Tensor& x, const Tensor& w, const Tensor& v, double tol) {
  const int64_t n = x.size(-1);
  ASSERT_EQ(w.sizes(), Shape(x.sizes().begin(), x.sizes().end() - 1));
  ASSERT_EQ(v.sizes(), x.sizes());
  EXPECT_TRUE(all_close(matmul(x, v), v * w.unsqueeze(-2), tol, tol));
  EXPECT_TRUE(all_close(matmul(v.mT(), v), eye(n, {}, x.dtype()).expand(x.sizes()), tol, tol));
  test::expect_eigh_conventions(w, v);
}
}  // namespace

TEST(Eigh, MatchesTorchEigenvalues) {
  for (const char* name : {"single", "batched", "repeated"}) {
    SCOPED_TRACE(name);
    Tensor x = fx(std::string("eigh_") + name + "_x");
    auto [w, v] = eigh(x);
    EXPECT_TRUE(all_close(w, fx(std::string("eigh_") + name + "_w"), 1e-12, 1e-12));
    check_eigh(x, w, v, 1e-12);
    // float32 in, float32 out, computed in double.
    auto [w32, v32] = eigh(x.to(kFloat32));
    EXPECT_EQ(w32.dtype(), kFloat32);
    EXPECT_EQ(v32.dtype(), kFloat32);
    EXPECT_TRUE(all_close(w32, fx(std::string("eigh_") + name + "_w").to(kFloat32), 1e-5, 1e-5));
    check_eigh(x.to(kFloat32), w32, v32, 1e-5);
  }
}

TEST(Eigh, SpecialMatrices) {
  // Diagonal: eigenvalues sorted, eigenvectors the permuted unit vectors.
  Tensor d = tensor({3.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 2.0}, Shape{3, 3}, kFloat64);
  auto [w, v] = eigh(d);
  EXPECT_TRUE(all_equal(w, tensor({-1.0, 2.0, 3.0}, {}, kFloat64)));
  EXPECT_TRUE(all_equal(v, tensor({0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0}, Shape{3, 3}, kFloat64)));
  // Only the lower triangle is read.
  Tensor x = fx("eigh_single_x");
  auto [wl, vl] = eigh(add(tril(x), triu(full({6, 6}, 100.0, kFloat64), 1)));
  EXPECT_TRUE(all_close(wl, fx("eigh_single_w"), 1e-12, 1e-12));
  // Zero matrix, 1x1, empty, a broadcast batch, a matrix with a tiny diagonal.
  auto [wz, vz] = eigh(zeros({4, 4}, kFloat64));
  EXPECT_TRUE(all_equal(wz, zeros({4}, kFloat64)));
  EXPECT_TRUE(all_equal(vz, eye(4, {}, kFloat64)));
  EXPECT_TRUE(all_equal(eigh(full({1, 1}, -2.5)).first, full({1}, -2.5)));
  EXPECT_EQ(eigh(zeros({2, 0, 0})).first.sizes(), (Shape{2, 0}));
  EXPECT_EQ(eigh(zeros({0, 3, 3})).second.sizes(), (Shape{0, 3, 3}));
  Tensor xb = x.expand({2, 6, 6});
  auto [wb, vb] = eigh(xb);
  check_eigh(xb, wb, vb, 1e-12);
  Tensor anti = tensor({0.0, 1e-20, 1e-20, 0.0}, Shape{2, 2}, kFloat64);
  auto [wa, va] = eigh(anti);
  EXPECT_TRUE(all_close(wa, tensor({-1e-20, 1e-20}, {}, kFloat64), 0, 1e-12));
  check_eigh(anti, wa, va, 1e-12);
}

TEST(Eigh, LargerBatch) {
  // A batch of 16 random symmetric 12x12 matrices (parallel over the batch).
  Tensor m = rand_f64({16, 12, 12}, 5, false);
  Tensor x = add(m, m.mT());
  auto [w, v] = eigh(x);
  check_eigh(x, w, v, 1e-11);
}

TEST(Eigh, NoGradientAndErrors) {
  Tensor x = fx("eigh_single_x").requires_grad_();
  auto [w, v] = eigh(x);
  EXPECT_FALSE(w.requires_grad());
  EXPECT_FALSE(v.requires_grad());
  EXPECT_WICK_ERROR(eigh(zeros({2, 3})), "eigh: expected a square matrix or a batch of them [..., n, n], got [2,3]");
  EXPECT_WICK_ERROR(eigh(zeros({3})), "eigh: expected a square matrix");
  EXPECT_WICK_ERROR(eigh(zeros({2, 2}, kInt64)), "eigh: expected a floating dtype (float32 or float64), got int64");
  EXPECT_WICK_ERROR(eigh(full({2, 2}, NAN)), "eigh: the input [2,2] contains non-finite values");
}
