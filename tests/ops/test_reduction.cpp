// Reductions: values and gradients against PyTorch (tests/fixtures/gen_reduction.py)
// over several dim sets with and without keepdim, on contiguous and permuted
// inputs; gradcheck / gradgradcheck in float64; integer and bool dtypes; ties,
// zeros, infinities and NaN; empty and 0-d tensors; the kernel layouts against
// the reference fold; error messages.
#include <cmath>
#include <limits>

#include "ops/cpu/reduce.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

Tensor f64(std::initializer_list<double> v, Shape shape) { return tensor(v, shape, kFloat64); }
Tensor i64(std::initializer_list<int64_t> v, Shape shape) { return tensor(v, shape, kInt64); }

// ---------------------------------------------------------------------------
// Against PyTorch: every multi-dim reduction over every dim set.

// Mirrors CONFIGS in gen_reduction.py; "nc" reduces x.permute({2, 0, 1}).
struct Config {
  const char* name;
  bool noncontig;
  Dims dims;
  bool keepdim;
};
const Config kConfigs[] = {
    {"all", false, {}, false},      {"d1", false, {1}, false},          {"d0k", false, {0}, true},
    {"d02k", false, {0, 2}, true},  {"d12", false, {1, 2}, false},      {"nc0", true, {0}, false},
    {"nc12k", true, {-2, -1}, true},
};

using ReduceFn = Tensor (*)(const Tensor&, const Dims&, bool);
struct OpCase {
  const char* name;
  ReduceFn fn;
};

const OpCase kOps[] = {
    {"sum", [](const Tensor& x, const Dims& d, bool k) { return sum(x, d, k); }},
    {"mean", [](const Tensor& x, const Dims& d, bool k) { return mean(x, d, k); }},
    {"prod", [](const Tensor& x, const Dims& d, bool k) { return prod(x, d, k); }},
    {"var", [](const Tensor& x, const Dims& d, bool k) { return var(x, d, 1, k); }},
    {"var0", [](const Tensor& x, const Dims& d, bool k) { return var(x, d, 0, k); }},
    {"std", [](const Tensor& x, const Dims& d, bool k) { return wick::std(x, d, 1, k); }},
    {"logsumexp", [](const Tensor& x, const Dims& d, bool k) { return logsumexp(x, d, k); }},
    {"norm1", [](const Tensor& x, const Dims& d, bool k) { return norm(x, 1, d, k); }},
    {"norm2", [](const Tensor& x, const Dims& d, bool k) { return norm(x, 2, d, k); }},
    {"norminf", [](const Tensor& x, const Dims& d, bool k) { return norm(x, kInf, d, k); }},
    {"norm3", [](const Tensor& x, const Dims& d, bool k) { return norm(x, 3, d, k); }},
    {"norm05", [](const Tensor& x, const Dims& d, bool k) { return norm(x, 0.5, d, k); }},
    {"amax", [](const Tensor& x, const Dims& d, bool k) { return amax(x, d, k); }},
    {"amin", [](const Tensor& x, const Dims& d, bool k) { return amin(x, d, k); }},
};

class ReduceVsTorch : public ::testing::TestWithParam<OpCase> {};

TEST_P(ReduceVsTorch, ValuesAndGradients) {
  const OpCase& op = GetParam();
  const Tensor x = fixture("reduction/x");
  for (const Config& cfg : kConfigs) {
    SCOPED_TRACE(std::string(op.name) + " " + cfg.name);
    const std::string stem = std::string("reduction/") + op.name + "_" + cfg.name;
    Tensor leaf = x.clone().requires_grad_();
    Tensor v = cfg.noncontig ? leaf.permute({2, 0, 1}) : leaf;
    Tensor out = op.fn(v, cfg.dims, cfg.keepdim);
    EXPECT_TRUE(all_close(out, fixture(stem + "_out"), 1e-12, 1e-10));
    sum(out * fixture(std::string("reduction/g_") + cfg.name)).backward();
    EXPECT_TRUE(all_close(leaf.grad(), fixture(stem + "_grad"), 1e-12, 1e-9));
    // The forward again without autograd and in float32: same values.
    Tensor out32 = op.fn(v.detach().to(kFloat32), cfg.dims, cfg.keepdim);
    EXPECT_EQ(out32.dtype(), kFloat32);
    EXPECT_TRUE(all_close(out32, fixture(stem + "_out"), 1e-6, 1e-4));
  }
}

INSTANTIATE_TEST_SUITE_P(Reduction, ReduceVsTorch, ::testing::ValuesIn(kOps),
                         [](const ::testing::TestParamInfo<OpCase>& i) { return std::string(i.param.name); });

TEST(Reduction, MaxMinOverDimVsTorch) {
  struct DimConfig {
    const char* name;
    bool noncontig;
    int64_t dim;
    bool keepdim;
  };
  const DimConfig configs[] = {{"d1", false, 1, false}, {"dm1k", false, -1, true}, {"nc0", true, 0, false}};
  const Tensor x = fixture("reduction/x");
  for (const DimConfig& cfg : configs) {
    for (bool is_max : {true, false}) {
      const std::string name = is_max ? "maxdim" : "mindim";
      SCOPED_TRACE(name + " " + cfg.name);
      const std::string stem = "reduction/" + name + "_" + cfg.name;
      Tensor leaf = x.clone().requires_grad_();
      Tensor v = cfg.noncontig ? leaf.permute({2, 0, 1}) : leaf;
      auto [values, indices] = is_max ? max(v, cfg.dim, cfg.keepdim) : min(v, cfg.dim, cfg.keepdim);
      EXPECT_TRUE(all_close(values, fixture(stem + "_values"), 0, 0));
      EXPECT_TRUE(all_equal(indices, fixture(stem + "_indices")));
      EXPECT_FALSE(indices.requires_grad());
      sum(values * fixture("reduction/g_" + name + "_" + cfg.name)).backward();
      EXPECT_TRUE(all_close(leaf.grad(), fixture(stem + "_grad"), 0, 0));
      Tensor arg = is_max ? argmax(v, cfg.dim, cfg.keepdim) : argmin(v, cfg.dim, cfg.keepdim);
      EXPECT_TRUE(all_equal(arg, fixture("reduction/" + std::string(is_max ? "argmax_" : "argmin_") + cfg.name)));
    }
  }
}

TEST(Reduction, ArgmaxFlattened) {
  const Tensor x = fixture("reduction/x");
  EXPECT_TRUE(all_equal(argmax(x), fixture("reduction/argmax_flat")));
  EXPECT_TRUE(all_equal(argmin(x), fixture("reduction/argmin_flat")));
  // The flat index is into the logical (row-major) order, not memory order.
  EXPECT_TRUE(all_equal(argmax(x.permute({2, 0, 1})), fixture("reduction/argmax_flat_nc")));
  EXPECT_TRUE(all_equal(argmin(x.permute({2, 0, 1})), fixture("reduction/argmin_flat_nc")));
  EXPECT_EQ(argmax(x).dim(), 0);
  EXPECT_EQ(argmax(x, std::nullopt, /*keepdim=*/true).sizes(), (Shape{1, 1, 1}));
}

TEST(Reduction, CumsumVsTorch) {
  const Tensor x = fixture("reduction/x");
  const Tensor g = fixture("reduction/g_cumsum");
  struct C {
    const char* name;
    bool noncontig;
    int64_t dim;
  };
  for (const C& c : {C{"d0", false, 0}, C{"d1", false, 1}, C{"dm1", false, -1}, C{"nc0", true, 0}}) {
    SCOPED_TRACE(c.name);
    Tensor leaf = x.clone().requires_grad_();
    Tensor v = c.noncontig ? leaf.permute({2, 0, 1}) : leaf;
    Tensor out = cumsum(v, c.dim);
    EXPECT_TRUE(all_close(out, fixture(std::string("reduction/cumsum_") + c.name + "_out"), 1e-12, 1e-12));
    // gen_reduction.py draws g with the output's shape from the same stream: same values, reshaped.
    sum(out * g.reshape(out.sizes())).backward();
    EXPECT_TRUE(all_close(leaf.grad(), fixture(std::string("reduction/cumsum_") + c.name + "_grad"), 1e-12, 1e-12));
  }
}

// ---------------------------------------------------------------------------
// Ties, zeros, infinities, NaN.

TEST(Reduction, TiesSplitTheGradient) {
  const Tensor t = fixture("reduction/ties_x");
  struct C {
    const char* name;
    Tensor (*fn)(const Tensor&);
  };
  const C cases[] = {
      {"max", [](const Tensor& v) { return max(v); }},
      {"min", [](const Tensor& v) { return min(v); }},
      {"amax1", [](const Tensor& v) { return amax(v, {1}); }},
      {"amin0", [](const Tensor& v) { return amin(v, {0}); }},
      {"maxdim1", [](const Tensor& v) { return max(v, 1).first; }},
      {"norminf1", [](const Tensor& v) { return norm(v, kInf, {1}); }},
  };
  for (const C& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor leaf = t.clone().requires_grad_();
    Tensor out = c.fn(leaf);
    EXPECT_TRUE(all_close(out, fixture(std::string("reduction/ties_") + c.name + "_out"), 0, 0));
    sum(out).backward();
    EXPECT_TRUE(all_close(leaf.grad(), fixture(std::string("reduction/ties_") + c.name + "_grad"), 1e-15, 0));
  }
  // max over a dim: the first index wins the tie and takes the whole gradient.
  EXPECT_TRUE(all_equal(max(t, 1).second, fixture("reduction/ties_maxdim1_indices")));
}

TEST(Reduction, ProdGradientWithZeros) {
  const Tensor z = fixture("reduction/zeros_x");  // rows: no zero, one zero, two zeros
  for (const char* cfg : {"d1", "all"}) {
    SCOPED_TRACE(cfg);
    Tensor leaf = z.clone().requires_grad_();
    Tensor out = std::string(cfg) == "d1" ? prod(leaf, {1}) : prod(leaf);
    EXPECT_TRUE(all_close(out, fixture(std::string("reduction/zeros_prod_") + cfg + "_out"), 0, 0));
    sum(out).backward();
    EXPECT_TRUE(all_close(leaf.grad(), fixture(std::string("reduction/zeros_prod_") + cfg + "_grad"), 1e-15, 0));
  }
  Tensor one = fixture("reduction/zero1_x").requires_grad_();  // exactly one zero
  prod(one).backward();
  EXPECT_TRUE(all_close(one.grad(), fixture("reduction/zero1_prod_all_grad"), 1e-15, 0));
  // prod is linear in each element, so central differences are exact even at 0.
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return prod(in[0], {1}); },
                        {fixture("reduction/zeros_x").requires_grad_()}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return prod(in[0], {0}, true); },
                        {fixture("reduction/zeros_x").requires_grad_()}));
}

TEST(Reduction, InfinitiesAndNaN) {
  const Tensor s = fixture("reduction/special_x");
  EXPECT_TRUE(all_close(logsumexp(s, {1}), fixture("reduction/special_logsumexp1")));
  EXPECT_TRUE(all_close(amax(s, {1}), fixture("reduction/special_amax1"), 0, 0));
  EXPECT_TRUE(all_close(amin(s, {1}), fixture("reduction/special_amin1"), 0, 0));
  EXPECT_TRUE(all_equal(argmax(s, 1), fixture("reduction/special_argmax1")));
  EXPECT_TRUE(all_equal(argmin(s, 1), fixture("reduction/special_argmin1")));
  EXPECT_TRUE(all_close(max(s, 1).first, fixture("reduction/special_max_values1"), 0, 0));
  EXPECT_TRUE(all_equal(max(s, 1).second, fixture("reduction/special_max_indices1")));
  EXPECT_TRUE(all_close(norm(s, kInf, {1}), fixture("reduction/special_norminf1"), 0, 0));
  const Tensor n = fixture("reduction/nan_x");
  EXPECT_TRUE(all_equal(argmax(n), fixture("reduction/nan_argmax")));  // the first NaN
  EXPECT_TRUE(all_equal(argmin(n), fixture("reduction/nan_argmin")));
  EXPECT_TRUE(std::isnan(max(n).item()));
  EXPECT_TRUE(std::isnan(min(n).item()));
  EXPECT_TRUE(std::isnan(sum(n).item()));
  // float32 takes the same paths.
  EXPECT_TRUE(all_close(logsumexp(s.to(kFloat32), {1}), fixture("reduction/special_logsumexp1")));
  EXPECT_TRUE(all_equal(argmax(s.to(kFloat32), 1), fixture("reduction/special_argmax1")));
}

// ---------------------------------------------------------------------------
// Dtypes.

TEST(Reduction, IntegerAndBoolDtypes) {
  const Tensor i = fixture("reduction/int_x");  // int32
  ASSERT_EQ(i.dtype(), kInt32);
  EXPECT_TRUE(all_equal(sum(i, {1}), fixture("reduction/int_sum1")));
  EXPECT_TRUE(all_equal(sum(i), fixture("reduction/int_sum_all")));
  EXPECT_TRUE(all_equal(prod(i, {0}), fixture("reduction/int_prod0")));
  EXPECT_TRUE(all_equal(cumsum(i, 1), fixture("reduction/int_cumsum1")));
  EXPECT_TRUE(all_equal(amax(i, {0}), fixture("reduction/int_amax0")));
  auto [mv, mi] = min(i, 1);
  EXPECT_TRUE(all_equal(mv, fixture("reduction/int_min1_values")));
  EXPECT_TRUE(all_equal(mi, fixture("reduction/int_min1_indices")));
  EXPECT_TRUE(all_equal(argmax(i), fixture("reduction/int_argmax")));
  EXPECT_TRUE(all_equal(argmax(i, 1), fixture("reduction/int_argmax1")));
  EXPECT_TRUE(all_close(logsumexp(i, {1}), fixture("reduction/int_logsumexp1")));
  EXPECT_EQ(logsumexp(i, {1}).dtype(), kFloat32);
  EXPECT_EQ(max(i).dtype(), kInt32);
  // Large int64 values keep full precision (no detour through double).
  Tensor big = i64({(int64_t(1) << 60) + 1, 2}, {2});
  EXPECT_EQ(sum(big).item<int64_t>(), (int64_t(1) << 60) + 3);
  // Overflow wraps around (two's complement) like PyTorch, without UB.
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(sum(i64({kMax, 1}, {2})).item<int64_t>(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(cumsum(i64({kMax, 1}, {2}), 0).tolist<int64_t>()[1], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(prod(i64({int64_t(1) << 62, 4}, {2})).item<int64_t>(), 0);

  const Tensor b = fixture("reduction/bool_x");
  EXPECT_TRUE(all_equal(sum(b, {0}), fixture("reduction/bool_sum0")));
  EXPECT_TRUE(all_equal(all(b, {1}), fixture("reduction/bool_all1")));
  EXPECT_TRUE(all_equal(any(b, {0}), fixture("reduction/bool_any0")));
  EXPECT_TRUE(all_equal(cumsum(b, 1), fixture("reduction/bool_cumsum1")));
  EXPECT_EQ(max(b).dtype(), kBool);
  EXPECT_TRUE(max(b).item<bool>());
  EXPECT_FALSE(min(b).item<bool>());
  EXPECT_EQ(argmin(b).item<int64_t>(), 1);
  // all/any of numbers: x != 0 (NaN is nonzero).
  EXPECT_TRUE(all_equal(all(f64({1, kNaN, -2, 0}, {2, 2}), {1}), tensor({true, false})));
  EXPECT_TRUE(all_equal(any(f64({0, 0, 0, 3}, {2, 2}), {1}), tensor({false, true})));
  // sum's dtype argument.
  Tensor s = sum(i, {1}, false, kFloat64);
  EXPECT_EQ(s.dtype(), kFloat64);
  EXPECT_TRUE(all_close(s, fixture("reduction/int_sum1").to(kFloat64)));
}

TEST(Reduction, Float32AccumulatesInDouble) {
  const Tensor f = fixture("reduction/f32_x");  // values near 1000: float32 accumulation would drift
  EXPECT_TRUE(all_close(sum(f, {0}), fixture("reduction/f32_sum0"), 0, 1e-7));
  EXPECT_TRUE(all_close(sum(f, {1}), fixture("reduction/f32_sum1"), 0, 1e-7));
  EXPECT_TRUE(all_close(mean(f), fixture("reduction/f32_mean_all"), 0, 1e-7));
  EXPECT_TRUE(all_close(var(f, {0}), fixture("reduction/f32_var0"), 0, 1e-4));
  // 2^24 + 1 + 1 + ... is exact in double, not in float.
  std::vector<float> v(1001, 1.0f);
  v[0] = 16777216.0f;
  Tensor ones_plus = from_vector(v);
  EXPECT_EQ(sum(ones_plus).item<double>(), 16777216.0 + 1000.0);
}

TEST(Reduction, VarCorrection) {
  Tensor x = f64({1, 2}, {2});
  EXPECT_DOUBLE_EQ(var(x, {}, 0).item(), 0.25);
  EXPECT_DOUBLE_EQ(var(x, {}, 1).item(), 0.5);
  EXPECT_DOUBLE_EQ(wick::std(x, {}, 0).item(), 0.5);
  // N - correction <= 0 divides by zero, like PyTorch: inf, or nan for 0/0.
  EXPECT_EQ(var(x, {}, 2).item(), kInf);
  EXPECT_EQ(var(x, {}, 3).item(), kInf);
  EXPECT_TRUE(std::isnan(var(f64({1}, {1})).item()));
  EXPECT_TRUE(std::isnan(var(f64({1, 1}, {2}), {}, 2).item()));
  // Welford stays accurate with a large offset.
  Tensor shifted = add(rand_f64({1000}, 3, false), 1e9);
  EXPECT_NEAR(var(shifted).item(), var(sub(shifted, 1e9)).item(), 1e-6);
}

// ---------------------------------------------------------------------------
// gradcheck / gradgradcheck in float64.

TEST(Reduction, Gradcheck) {
  Tensor x = rand_f64({2, 3, 4}, 11);
  Tensor nc = noncontig_f64({3, 4}, 12);
  // An expanded (stride-0) input: gradients of the broadcast dim add up.
  Tensor row = rand_f64({1, 4}, 13);
  auto check = [&](const char* name, Tensor (*fn)(const Tensor&)) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(gradcheck([fn](const tensor_list& in) { return fn(in[0]); }, {x}));
    EXPECT_TRUE(gradcheck([fn](const tensor_list& in) { return fn(in[0]); }, {nc}));
    EXPECT_TRUE(gradcheck([fn](const tensor_list& in) { return fn(in[0].expand({3, 4})); }, {row}));
  };
  check("sum", [](const Tensor& v) { return sum(v, {-1}); });
  check("sum_all", [](const Tensor& v) { return sum(v); });
  check("mean", [](const Tensor& v) { return mean(v, {0}, true); });
  check("var", [](const Tensor& v) { return var(v, {-1}); });
  check("var0", [](const Tensor& v) { return var(v, {0, -1}, 0, true); });
  check("std", [](const Tensor& v) { return wick::std(v, {0}); });
  check("prod", [](const Tensor& v) { return prod(v, {-1}); });
  check("logsumexp", [](const Tensor& v) { return logsumexp(v, {0}); });
  check("norm1", [](const Tensor& v) { return norm(v, 1, {-1}); });
  check("norm2", [](const Tensor& v) { return norm(v, 2); });
  check("norm3", [](const Tensor& v) { return norm(v, 3, {0}, true); });
  check("norm1.5", [](const Tensor& v) { return norm(v, 1.5, {-1}); });
  check("amax", [](const Tensor& v) { return amax(v, {0}); });
  check("amin", [](const Tensor& v) { return amin(v, {-1}, true); });
  check("cumsum0", [](const Tensor& v) { return cumsum(v, 0); });
  check("cumsum1", [](const Tensor& v) { return cumsum(v, -1); });
  // Without ties (random inputs), max/min over a dim and norm inf are smooth.
  check("maxdim", [](const Tensor& v) { return max(v, -1).first; });
  check("mindim", [](const Tensor& v) { return min(v, 0, true).first; });
  check("max", [](const Tensor& v) { return max(v); });
  check("norminf", [](const Tensor& v) { return norm(v, kInf, {0}); });
}

TEST(Reduction, Gradgradcheck) {
  Tensor x = rand_f64({2, 3}, 21);
  auto check = [&](const char* name, Tensor (*fn)(const Tensor&)) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(gradgradcheck([fn](const tensor_list& in) { return fn(in[0]); }, {x}));
  };
  check("sum", [](const Tensor& v) { return sum(v, {0}); });
  check("mean", [](const Tensor& v) { return mean(v, {1}); });
  check("var", [](const Tensor& v) { return var(v, {1}); });
  check("std", [](const Tensor& v) { return wick::std(v, {0}); });
  check("prod", [](const Tensor& v) { return prod(v, {1}); });
  check("logsumexp", [](const Tensor& v) { return logsumexp(v, {1}); });
  check("norm2", [](const Tensor& v) { return norm(v, 2, {1}); });
  check("norm3", [](const Tensor& v) { return norm(v, 3); });
  check("cumsum", [](const Tensor& v) { return cumsum(v, 1); });
  check("amax", [](const Tensor& v) { return amax(v, {1}); });
  check("maxdim", [](const Tensor& v) { return max(v, 0).first; });
}

TEST(Reduction, NormAtZero) {
  // p = 2: PyTorch's subgradient at 0 is 0 (not nan).
  Tensor z = zeros({2, 3}, TensorOptions(kFloat64).requires_grad());
  norm(z, 2).backward();
  EXPECT_TRUE(all_equal(z.grad(), zeros({2, 3}, kFloat64)));
  Tensor z3 = zeros({3}, TensorOptions(kFloat64).requires_grad());
  norm(z3, 3).backward();
  EXPECT_TRUE(all_equal(z3.grad(), zeros({3}, kFloat64)));
  // A zero row among nonzero ones only zeroes that row's gradient.
  Tensor m = f64({0, 0, 3, 4}, {2, 2}).requires_grad_();
  sum(norm(m, 2, {1})).backward();
  EXPECT_TRUE(all_close(m.grad(), f64({0, 0, 0.6, 0.8}, {2, 2})));
  // std of a constant slice: gradient 0, like PyTorch.
  Tensor c = full({3}, 2.0, kFloat64).requires_grad_();
  wick::std(c).backward();
  EXPECT_TRUE(all_equal(c.grad(), zeros({3}, kFloat64)));
}

// ---------------------------------------------------------------------------
// Shapes: keepdim, negative dims, 0-d and empty tensors.

TEST(Reduction, ShapesAndNegativeDims) {
  Tensor x = rand_f64({2, 3, 4}, 1, false);
  EXPECT_EQ(sum(x, {-1, 0}).sizes(), (Shape{3}));
  EXPECT_EQ(sum(x, {-1, 0}, true).sizes(), (Shape{1, 3, 1}));
  EXPECT_TRUE(all_close(sum(x, {-1, 0}), sum(x, {0, 2})));
  EXPECT_EQ(sum(x, {}, true).sizes(), (Shape{1, 1, 1}));
  EXPECT_EQ(amax(x, {1}, true).sizes(), (Shape{2, 1, 4}));
  EXPECT_EQ(max(x, -2, true).second.sizes(), (Shape{2, 1, 4}));
  EXPECT_EQ(argmin(x, -1).sizes(), (Shape{2, 3}));
  EXPECT_EQ(cumsum(x, -2).sizes(), (Shape{2, 3, 4}));
}

TEST(Reduction, ZeroDimTensors) {
  Tensor s = scalar_tensor(2.5, kFloat64).requires_grad_();
  for (Tensor out : {sum(s), sum(s, {0}), mean(s, {-1}), prod(s), amax(s), max(s), logsumexp(s, {0})}) {
    EXPECT_EQ(out.dim(), 0);
    EXPECT_DOUBLE_EQ(out.item(), 2.5);
  }
  EXPECT_DOUBLE_EQ(norm(scalar_tensor(-2.5, kFloat64)).item(), 2.5);
  auto [v, i] = max(s, 0);
  EXPECT_EQ(v.dim(), 0);
  EXPECT_EQ(i.item<int64_t>(), 0);
  EXPECT_EQ(argmax(s).item<int64_t>(), 0);
  EXPECT_EQ(argmin(s, 0, true).dim(), 0);
  EXPECT_DOUBLE_EQ(cumsum(s, 0).item(), 2.5);
  EXPECT_TRUE(std::isnan(var(s).item()));  // N - 1 = 0
  max(s, 0).first.backward();
  EXPECT_DOUBLE_EQ(s.grad().item(), 1.0);
  EXPECT_WICK_ERROR(sum(s, {1}), "sum");
  EXPECT_WICK_ERROR(max(s, 1), "max");
}

TEST(Reduction, EmptyTensors) {
  Tensor e = zeros({0, 3}, kFloat64);
  EXPECT_EQ(sum(e).item(), 0.0);
  EXPECT_TRUE(all_equal(sum(e, {0}), zeros({3}, kFloat64)));
  EXPECT_EQ(sum(e, {1}).sizes(), (Shape{0}));
  EXPECT_EQ(prod(e).item(), 1.0);
  EXPECT_TRUE(std::isnan(mean(e).item()));
  EXPECT_TRUE(std::isnan(var(e).item()));
  EXPECT_TRUE(std::isnan(wick::std(e, {0}).select(0, 2).item()));
  EXPECT_TRUE(all_equal(logsumexp(e, {0}), full({3}, -kInf, kFloat64)));
  EXPECT_EQ(norm(e).item(), 0.0);
  EXPECT_EQ(norm(e, kInf).item(), 0.0);  // max |x| over nothing: 0, like torch.norm
  EXPECT_TRUE(all(e).item<bool>());
  EXPECT_FALSE(any(e).item<bool>());
  EXPECT_EQ(cumsum(e, 0).sizes(), (Shape{0, 3}));
  EXPECT_EQ(sum(zeros({0}, kInt32)).dtype(), kInt64);
  // max/min/argmax have no identity: empty reduced dims are errors, but
  // reducing a non-empty dim of an empty tensor is fine.
  EXPECT_EQ(amax(e, {1}).sizes(), (Shape{0}));
  EXPECT_EQ(max(e, 1).second.sizes(), (Shape{0}));
  EXPECT_EQ(argmax(e, 1).sizes(), (Shape{0}));
  EXPECT_WICK_ERROR(amax(e, {0}), "amax: cannot reduce over dim 0 of size 0");
  EXPECT_WICK_ERROR(amin(e), "amin");
  EXPECT_WICK_ERROR(max(e), "max: cannot reduce an empty tensor");
  EXPECT_WICK_ERROR(min(e, 0), "min: cannot reduce over dim 0");
  EXPECT_WICK_ERROR(argmax(e), "argmax: cannot reduce an empty tensor");
  EXPECT_WICK_ERROR(argmin(e, 0), "argmin");
  // Backward through an empty reduction.
  Tensor el = zeros({0, 3}, kFloat64).requires_grad_();
  sum(mean(el, {0})).backward();
  EXPECT_EQ(el.grad().sizes(), (Shape{0, 3}));
}

TEST(Reduction, Errors) {
  Tensor x = rand_f64({2, 3}, 5, false);
  Tensor ints = i64({1, 2, 3}, {3});
  EXPECT_WICK_ERROR(sum(x, {0, -2}), "sum: dimension listed twice");
  EXPECT_WICK_ERROR(sum(x, {2}), "sum");
  EXPECT_WICK_ERROR(mean(x, {1, 1}), "mean: dimension listed twice");
  EXPECT_WICK_ERROR(mean(ints), "mean: expected a floating point input, got int64");
  EXPECT_WICK_ERROR(var(ints), "var: expected a floating point input, got int64");
  EXPECT_WICK_ERROR(wick::std(x, {-3}), "std");
  EXPECT_WICK_ERROR(prod(x, {0, 0}), "prod: dimension listed twice");
  EXPECT_WICK_ERROR(logsumexp(x, {5}), "logsumexp");
  EXPECT_WICK_ERROR(norm(ints), "norm: expected a floating point input, got int64");
  EXPECT_WICK_ERROR(norm(x, 0), "norm: expected p > 0");
  EXPECT_WICK_ERROR(norm(x, -1), "norm: expected p > 0");
  EXPECT_WICK_ERROR(amax(x, {1, -1}), "amax: dimension listed twice");
  EXPECT_WICK_ERROR(amin(x, {3}), "amin");
  EXPECT_WICK_ERROR(max(x, 2), "max");
  EXPECT_WICK_ERROR(min(x, -3), "min");
  EXPECT_WICK_ERROR(argmax(x, 2), "argmax");
  EXPECT_WICK_ERROR(argmin(x, -5), "argmin");
  EXPECT_WICK_ERROR(cumsum(x, 2), "cumsum");
  EXPECT_WICK_ERROR(all(x, {0, 0}), "all: dimension listed twice");
  EXPECT_WICK_ERROR(any(x, {4}), "any");
  EXPECT_WICK_ERROR(sum(Tensor()), "sum: undefined tensor");
  EXPECT_WICK_ERROR(sum(x, {}, false, kFloat16), "sum");
}

// ---------------------------------------------------------------------------
// The engine's layouts (rows, columns, split range) against the reference fold.

Tensor reference_sum(const Tensor& x, const Dims& dims_in, bool keepdim) {
  auto dims = reduction_dims(dims_in, x.dim(), "reference_sum");
  Tensor out = empty(reduced_shape(x.sizes(), dims, keepdim), kFloat64);
  double* o = out.data_ptr<double>();
  cpu::reduce_each<double>(x, dims, [&](int64_t i, auto each) {
    double acc = 0;
    each([&](double v) { acc += v; });
    o[i] = acc;
  });
  return out;
}

TEST(Reduction, EngineLayoutsMatchReference) {
  Tensor base = rand_f64({6, 5, 40}, 31, false);
  struct C {
    const char* name;
    Tensor x;
  };
  const C cases[] = {
      {"contiguous", base},
      {"permuted", base.permute({2, 0, 1})},
      {"sliced", base.slice(2, 1, std::nullopt, 3)},
      {"expanded", base.select(0, 0).unsqueeze(0).expand({4, 5, 40})},
      {"transposed_inner", base.transpose(1, 2)},
  };
  const Dims dim_sets[] = {{}, {0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {-1, 0}};
  for (const C& c : cases)
    for (const Dims& d : dim_sets)
      for (bool k : {false, true}) {
        SCOPED_TRACE(std::string(c.name) + " dims " + shape_str(d));
        EXPECT_TRUE(all_close(sum(c.x, d, k), reference_sum(c.x, d, k), 1e-12, 1e-12));
      }
}

TEST(Reduction, LongReductionsSplitAcrossThreads) {
  // Few outputs, long reductions: the engine splits the reduced range among
  // threads and merges in order. Exercise it, the column layout with many
  // rows and argmax's first-index rule across the split.
  const int saved = get_num_threads();
  set_num_threads(4);
  Tensor x = rand_f64({200000}, 41, false);
  EXPECT_NEAR(sum(x).item(), reference_sum(x, {}, false).item(), 1e-8);
  Tensor cols = rand_f64({70000, 3}, 42, false);
  EXPECT_TRUE(all_close(sum(cols, {0}), reference_sum(cols, {0}, false), 1e-9, 1e-12));
  EXPECT_TRUE(all_close(mean(cols, {0}), div(reference_sum(cols, {0}, false), 70000.0), 1e-12, 1e-12));
  EXPECT_NEAR(var(x).item(), 1.0 / 3.0, 0.01);  // uniform on [-1, 1)
  EXPECT_TRUE(all_close(var(cols, {0}), mean(square(sub(cols, mean(cols, {0}, true))), {0}) * (70000.0 / 69999.0),
                        1e-12, 1e-9));
  std::vector<double> tv(200000, 0.0);
  tv[150000] = tv[10] = tv[199999] = 5.0;
  Tensor ties = from_vector(tv);
  EXPECT_EQ(argmax(ties).item<int64_t>(), 10);
  EXPECT_EQ(argmin(neg(ties)).item<int64_t>(), 10);
  EXPECT_EQ(amax(ties).item(), 5.0);
  tv[120000] = kNaN;
  ties = from_vector(tv);
  EXPECT_EQ(argmax(ties).item<int64_t>(), 120000);
  EXPECT_TRUE(std::isnan(amax(ties).item()));
  Tensor cs = ones({100000}, kFloat64);
  EXPECT_EQ(cumsum(cs, 0).select(0, 99999).item(), 100000.0);
  set_num_threads(saved);
}

}  // namespace
