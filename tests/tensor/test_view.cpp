// View ops (ops/view.h): values against PyTorch (tests/fixtures/tensor/view_*,
// from gen_tensor.py), that each view aliases its base (a write through the
// view lands in the base, exactly at the viewed elements), gradients by
// gradcheck in float64, and the error messages.
#include <functional>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

using ViewOp = std::function<Tensor(const Tensor&)>;

Tensor fx(const std::string& name) { return fixture("tensor/view_" + name); }

// The view aliases base: writing 100, 101, ... through it changes base in
// exactly numel(view) places, and viewing base again reads the written values.
void expect_aliases(const Tensor& base_in, const ViewOp& op, const char* what) {
  SCOPED_TRACE(what);
  Tensor base = base_in.detach().clone();
  Tensor v = op(base);
  EXPECT_EQ(v.storage().get(), base.storage().get());
  Tensor vals = (arange(0, v.numel(), 1, kFloat64) + 100.0).reshape(v.sizes());
  const uint64_t version = base.version();
  v.copy_(vals);
  EXPECT_GT(base.version(), version);  // views share the version counter
  EXPECT_TRUE(all_equal(op(base), vals));
  int64_t changed = 0;
  for (double x : base.tolist<double>()) changed += x >= 100.0;
  EXPECT_EQ(changed, v.numel());
}

bool check_grad(const ViewOp& op, const Tensor& x) {
  return gradcheck([op](const tensor_list& in) { return op(in[0]); }, {x});
}

}  // namespace

TEST(View, ViewWithInferredDim) {
  Tensor x = fx("x");
  ViewOp a = [](const Tensor& t) { return t.view({-1, 4}); };
  ViewOp b = [](const Tensor& t) { return t.view({2, -1, 3}); };
  EXPECT_TRUE(all_equal(a(x), fx("view_m1_4")));
  EXPECT_TRUE(all_equal(b(x), fx("view_4_m1_3")));
  expect_aliases(x, a, "view -1,4");
  EXPECT_TRUE(check_grad(b, rand_f64({2, 3, 4})));
  // A view of a view whose dims are still contiguous with each other.
  Tensor s = x.slice(2, 0, 2);  // [2,3,2], strides [12,4,1]
  EXPECT_TRUE(all_equal(s.view({2, 3, 2, 1}).squeeze(3), s));
  EXPECT_EQ(zeros({0, 4}).view({-1, 2}).sizes(), (Shape{0, 2}));
  EXPECT_EQ(scalar_tensor(2.0).view({1, 1}).sizes(), (Shape{1, 1}));
}

TEST(View, ViewErrors) {
  Tensor x = fx("x");
  EXPECT_WICK_ERROR(x.transpose(0, 1).view({6, 4}), "use reshape() instead");
  EXPECT_WICK_ERROR(x.view({5, 5}), "view: shape [5,5] is invalid for input of size 24");
  EXPECT_WICK_ERROR(x.view({-1, -1}), "view: only one dimension can be inferred");
  EXPECT_WICK_ERROR(x.view({-1, 5}), "view: shape [-1,5] is invalid for input of size 24");
  EXPECT_WICK_ERROR(x.view({-2, 12}), "view: invalid shape dimension -2");
  EXPECT_WICK_ERROR(zeros({0, 4}).view({-1, 0}), "view: shape [-1,0] is invalid");
}

TEST(View, ReshapeFallsBackToACopy) {
  Tensor x = fx("x");
  Tensor xt = x.transpose(0, 1);
  Tensor r = xt.reshape({6, 4});
  EXPECT_TRUE(all_equal(r, fx("reshape_copy")));
  EXPECT_NE(r.storage().get(), x.storage().get());  // could not be a view
  Tensor rv = x.reshape({4, 6});
  EXPECT_EQ(rv.storage().get(), x.storage().get());  // could
  EXPECT_TRUE(check_grad([](const Tensor& t) { return t.transpose(0, 1).reshape({6, 4}); }, rand_f64({2, 3, 4})));
  EXPECT_TRUE(check_grad([](const Tensor& t) { return t.reshape({-1}); }, noncontig_f64({3, 4})));
  EXPECT_WICK_ERROR(x.reshape({7, -1}), "reshape: shape [7,-1] is invalid for input of size 24");
}

TEST(View, PermuteTransposeT) {
  Tensor x = fx("x"), m = fx("m");
  ViewOp p = [](const Tensor& t) { return t.permute({2, 0, 1}); };
  ViewOp tr = [](const Tensor& t) { return t.transpose(0, 2); };
  ViewOp tt = [](const Tensor& t) { return t.t(); };
  EXPECT_TRUE(all_equal(p(x), fx("permute")));
  EXPECT_TRUE(all_equal(x.permute({-1, 0, -2}), fx("permute")));
  EXPECT_TRUE(all_equal(tr(x), fx("transpose")));
  EXPECT_TRUE(all_equal(x.transpose(-1, 0), fx("transpose")));
  EXPECT_TRUE(all_equal(tt(m), fx("t")));
  expect_aliases(x, p, "permute");
  expect_aliases(x, tr, "transpose");
  expect_aliases(m, tt, "t");
  EXPECT_TRUE(check_grad(p, rand_f64({2, 3, 4})));
  EXPECT_TRUE(check_grad(tr, noncontig_f64({2, 3, 4})));
  EXPECT_TRUE(check_grad(tt, rand_f64({3, 2})));
  // t() of 1-d and 0-d tensors is the identity.
  Tensor v = arange(0, 3, 1, kFloat64);
  EXPECT_TRUE(all_equal(v.t(), v));
  EXPECT_EQ(scalar_tensor(1.0).t().dim(), 0);
}

TEST(View, PermuteTransposeErrors) {
  Tensor x = fx("x");
  EXPECT_WICK_ERROR(x.permute({0, 1}), "permute: expected 3 dims for a tensor of shape [2,3,4], got [0,1]");
  EXPECT_WICK_ERROR(x.permute({0, 1, 1}), "permute: dim 1 repeated");
  EXPECT_WICK_ERROR(x.permute({0, 1, 3}), "permute: dimension 3 out of range");
  EXPECT_WICK_ERROR(x.transpose(0, 3), "transpose: dimension 3 out of range");
  EXPECT_WICK_ERROR(scalar_tensor(1.0).transpose(0, 1), "transpose: dimension 1 out of range for a 0-d tensor");
  EXPECT_WICK_ERROR(x.t(), "t: expects a tensor with <= 2 dimensions");
}

TEST(View, Slice) {
  Tensor x = fx("x");
  ViewOp neg = [](const Tensor& t) { return t.slice(1, -2, std::nullopt).slice(2, std::nullopt, std::nullopt, 2); };
  ViewOp clamp = [](const Tensor& t) { return t.slice(1, 1, 100); };
  ViewOp clamp_lo = [](const Tensor& t) { return t.slice(1, -100, 2); };
  ViewOp step3 = [](const Tensor& t) { return t.slice(-1, 1, std::nullopt, 3); };
  EXPECT_TRUE(all_equal(neg(x), fx("slice_neg")));
  EXPECT_TRUE(all_equal(clamp(x), fx("slice_clamp")));
  EXPECT_TRUE(all_equal(clamp_lo(x), fx("slice_clamp_lo")));
  EXPECT_TRUE(all_equal(step3(x), fx("slice_step3")));
  Tensor e = x.slice(1, 2, 1);
  EXPECT_TRUE(all_equal(e, fx("slice_empty")));
  EXPECT_EQ(e.sizes(), (Shape{2, 0, 4}));
  expect_aliases(x, neg, "slice negative start, step 2");
  expect_aliases(x, step3, "slice step 3");
  EXPECT_TRUE(check_grad(neg, rand_f64({2, 3, 4})));
  EXPECT_TRUE(check_grad(step3, noncontig_f64({2, 3, 4})));
  EXPECT_TRUE(check_grad([](const Tensor& t) { return t.slice(0, 5, 9); }, rand_f64({3})));  // empty
  EXPECT_WICK_ERROR(x.slice(1, 0, 2, 0), "slice: step must be positive, got 0");
  EXPECT_WICK_ERROR(x.slice(1, 0, 2, -1), "slice: step must be positive, got -1");
  EXPECT_WICK_ERROR(x.slice(3, 0, 2), "slice: dimension 3 out of range");
  EXPECT_WICK_ERROR(scalar_tensor(1.0).slice(0, 0, 1), "slice: cannot slice a 0-d tensor");
}

TEST(View, Narrow) {
  Tensor x = fx("x");
  ViewOp n = [](const Tensor& t) { return t.narrow(2, 1, 2); };
  ViewOp nn = [](const Tensor& t) { return t.narrow(1, -2, 2); };
  EXPECT_TRUE(all_equal(n(x), fx("narrow")));
  EXPECT_TRUE(all_equal(nn(x), fx("narrow_neg")));
  expect_aliases(x, n, "narrow");
  EXPECT_TRUE(check_grad(nn, rand_f64({2, 3, 4})));
  EXPECT_EQ(x.narrow(1, 3, 0).sizes(), (Shape{2, 0, 4}));
  EXPECT_WICK_ERROR(x.narrow(1, 2, 2), "narrow: start 2 + length 2 exceeds dimension 1 of size 3");
  EXPECT_WICK_ERROR(x.narrow(1, -4, 1), "narrow:");
  EXPECT_WICK_ERROR(x.narrow(1, 0, -1), "narrow:");
}

TEST(View, Select) {
  Tensor x = fx("x");
  ViewOp s = [](const Tensor& t) { return t.select(1, -1); };
  ViewOp s0 = [](const Tensor& t) { return t[1]; };
  EXPECT_TRUE(all_equal(s(x), fx("select_neg")));
  EXPECT_TRUE(all_equal(s0(x), fx("select0")));
  expect_aliases(x, s, "select");
  EXPECT_TRUE(check_grad(s, rand_f64({2, 3, 4})));
  EXPECT_TRUE(check_grad(s0, noncontig_f64({2, 3, 4})));
  Tensor v = arange(0, 4, 1, kFloat64);
  EXPECT_EQ(v.select(0, -4).dim(), 0);
  EXPECT_EQ(v.select(0, -4).item(), 0.0);
  EXPECT_WICK_ERROR(x.select(1, 3), "select: index 3 out of range for dimension 1 of size 3");
  EXPECT_WICK_ERROR(x.select(1, -4), "select: index -4 out of range");
  EXPECT_WICK_ERROR(scalar_tensor(1.0).select(0, 0), "select: cannot select from a 0-d tensor");
}

TEST(View, ExpandAndBroadcastTo) {
  Tensor v = fx("v");  // [3, 1]
  Tensor a = v.expand({2, 3, 4});
  EXPECT_TRUE(all_equal(a, fx("expand_lead")));
  EXPECT_EQ(a.strides(), (Shape{0, 1, 0}));
  EXPECT_EQ(a.storage().get(), v.storage().get());
  EXPECT_TRUE(all_equal(v.expand({-1, 5}), fx("expand_m1")));
  EXPECT_TRUE(all_equal(v.broadcast_to({2, 2, 3, 6}), fx("broadcast_to")));
  EXPECT_TRUE(all_equal(v.expand_as(zeros({3, 7})), v.expand({3, 7})));
  // Writing through the base shows in every broadcast copy.
  Tensor base = v.clone();
  Tensor e = base.expand({2, 3, 4});
  Tensor row = base.select(0, 1);
  row.copy_(scalar_tensor(7.0, kFloat64));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t k = 0; k < 4; ++k) EXPECT_EQ(e[i][1][k].item(), 7.0);
  // Gradient: summed over the broadcast dims.
  EXPECT_TRUE(check_grad([](const Tensor& t) { return t.expand({2, 3, 4}); }, rand_f64({3, 1})));
  EXPECT_TRUE(check_grad([](const Tensor& t) { return t.expand({2, -1, 3}); }, noncontig_f64({1, 3})));
  EXPECT_TRUE(all_equal(scalar_tensor(2.0).expand({2, 2}), full({2, 2}, 2.0)));
}

TEST(View, ExpandErrors) {
  Tensor v = fx("v");
  EXPECT_WICK_ERROR(v.expand({3, 2, 2}), "expand: the expanded size of the tensor (2) must match the existing size (3)");
  EXPECT_WICK_ERROR(v.expand({4}), "expand: the number of sizes provided (1) must be greater or equal");
  EXPECT_WICK_ERROR(v.expand({-1, 3, 2}), "expand: cannot use -1 for the new leading dimension 0");
  Tensor e = v.expand({3, 4});
  EXPECT_WICK_ERROR(e.copy_(zeros({3, 4})), "more than one element of the written-to tensor refers to a single");
}

TEST(View, SqueezeUnsqueeze) {
  Tensor y = fx("y"), x = fx("x");  // y: [1, 3, 1, 2]
  ViewOp sq = [](const Tensor& t) { return t.squeeze(); };
  ViewOp sq2 = [](const Tensor& t) { return t.squeeze(2); };
  ViewOp uq = [](const Tensor& t) { return t.unsqueeze(-1); };
  EXPECT_TRUE(all_equal(sq(y), fx("squeeze_all")));
  EXPECT_TRUE(all_equal(sq2(y), fx("squeeze_2")));
  EXPECT_TRUE(all_equal(y.squeeze(-2), fx("squeeze_2")));
  EXPECT_TRUE(all_equal(y.squeeze(1), fx("squeeze_1")));
  EXPECT_TRUE(all_equal(x.unsqueeze(0), fx("unsqueeze_0")));
  EXPECT_TRUE(all_equal(uq(x), fx("unsqueeze_m1")));
  EXPECT_TRUE(all_equal(x.unsqueeze(2), fx("unsqueeze_2")));
  expect_aliases(y, sq, "squeeze");
  expect_aliases(x, uq, "unsqueeze");
  EXPECT_TRUE(check_grad(sq, rand_f64({1, 3, 1, 2})));
  EXPECT_TRUE(check_grad(uq, noncontig_f64({2, 3})));
  // Unsqueeze of a non-contiguous view stays a view.
  Tensor nc = x.transpose(0, 2).unsqueeze(1);
  EXPECT_EQ(nc.storage().get(), x.storage().get());
  EXPECT_TRUE(all_equal(nc.squeeze(1), x.transpose(0, 2)));
  EXPECT_EQ(scalar_tensor(1.0).unsqueeze(0).sizes(), (Shape{1}));
  EXPECT_EQ(scalar_tensor(1.0).squeeze().dim(), 0);
  EXPECT_WICK_ERROR(y.squeeze(4), "squeeze: dimension 4 out of range");
  EXPECT_WICK_ERROR(x.unsqueeze(4), "unsqueeze: dimension 4 out of range");
}

TEST(View, FlattenUnflatten) {
  Tensor x = fx("x");
  ViewOp f1 = [](const Tensor& t) { return t.flatten(1); };
  ViewOp uf = [](const Tensor& t) { return t.unflatten(2, {2, 2}); };
  EXPECT_TRUE(all_equal(x.flatten(), fx("flatten")));
  EXPECT_TRUE(all_equal(f1(x), fx("flatten_1")));
  EXPECT_TRUE(all_equal(x.flatten(0, 1), fx("flatten_0_1")));
  EXPECT_TRUE(all_equal(x.flatten(-3, -2), fx("flatten_0_1")));
  EXPECT_TRUE(all_equal(uf(x), fx("unflatten")));
  EXPECT_TRUE(all_equal(x.unflatten(1, {-1, 1}), fx("unflatten_m1")));
  expect_aliases(x, f1, "flatten");
  expect_aliases(x, uf, "unflatten");
  EXPECT_TRUE(check_grad(f1, noncontig_f64({2, 3, 2})));
  EXPECT_TRUE(check_grad(uf, rand_f64({2, 3, 4})));
  EXPECT_EQ(scalar_tensor(1.0).flatten().sizes(), (Shape{1}));
  // Flattening a permuted tensor must copy.
  EXPECT_TRUE(all_equal(x.permute({2, 0, 1}).flatten(), fx("permute").reshape({-1})));
  EXPECT_WICK_ERROR(x.flatten(2, 1), "flatten: start_dim (2) cannot come after end_dim (1)");
  EXPECT_WICK_ERROR(x.unflatten(2, {3, 2}), "unflatten: shape [3,2] is invalid for input of size 4");
  EXPECT_WICK_ERROR(x.unflatten(3, {1}), "unflatten: dimension 3 out of range");
}

TEST(View, Diagonal) {
  Tensor m = fx("m"), x = fx("x");  // m: [3, 5]
  for (int64_t off : {0, 2, -1, -3, 5}) {
    const std::string name = "diag_m_" + (off < 0 ? "n" + std::to_string(-off) : std::to_string(off));
    EXPECT_TRUE(all_equal(m.diagonal(off), fx(name))) << name;
  }
  EXPECT_EQ(m.diagonal(5).sizes(), (Shape{0}));
  EXPECT_TRUE(all_equal(x.diagonal(1, 0, 2), fx("diag_x_1_0_2")));
  EXPECT_TRUE(all_equal(x.diagonal(-1, 1, 2), fx("diag_x_n1_1_2")));
  EXPECT_TRUE(all_equal(x.diagonal(0, 2, -3), fx("diag_x_0_2_m3")));
  ViewOp d = [](const Tensor& t) { return t.diagonal(1, 0, 2); };
  ViewOp dm = [](const Tensor& t) { return t.diagonal(-1); };
  expect_aliases(x, d, "diagonal 3-d");
  expect_aliases(m, dm, "diagonal offset -1");
  EXPECT_TRUE(check_grad(d, rand_f64({2, 3, 4})));
  EXPECT_TRUE(check_grad(dm, noncontig_f64({3, 5})));
  EXPECT_TRUE(check_grad([](const Tensor& t) { return t.diagonal(2); }, rand_f64({4, 3})));
  EXPECT_WICK_ERROR(m.diagonal(0, 1, 1), "diagonal: dim1 and dim2 cannot be identical");
  EXPECT_WICK_ERROR(arange(0, 3, 1, kFloat64).diagonal(), "diagonal: expected a tensor with at least 2 dims");
  EXPECT_WICK_ERROR(m.diagonal(0, 0, 2), "diagonal: dimension 2 out of range");
}

TEST(View, AsStrided) {
  Tensor flat = fx("flat");  // [12]
  ViewOp windows = [](const Tensor& t) { return t.as_strided({3, 3}, {2, 1}, 1); };
  EXPECT_TRUE(all_equal(windows(flat), fx("as_strided")));
  EXPECT_TRUE(all_equal(flat.as_strided({4, 3}, {1, 4}), fx("as_strided_t")));
  expect_aliases(flat, [](const Tensor& t) { return t.as_strided({4, 3}, {1, 4}); }, "as_strided");
  // Overlapping windows: the gradient adds up every use of an element.
  Tensor leaf = flat.clone().requires_grad_();
  windows(leaf).backward(fx("as_strided_gout"));
  EXPECT_TRUE(all_close(leaf.grad(), fx("as_strided_grad"), 1e-12, 1e-12));
  EXPECT_TRUE(check_grad(windows, rand_f64({12})));
  // The offset defaults to the input's own.
  Tensor tail = flat.slice(0, 4, std::nullopt);
  EXPECT_TRUE(all_equal(tail.as_strided({2}, {1}), flat.slice(0, 4, 6)));
  EXPECT_WICK_ERROR(flat.as_strided({3, 3}, {4, 2}), "as_strided: setStorage: sizes [3,3], strides [4,2]");
  EXPECT_WICK_ERROR(flat.as_strided({3}, {-1}), "as_strided: negative size or stride");
  EXPECT_WICK_ERROR(flat.as_strided({3, 3}, {1}), "as_strided: 2 sizes but 1 strides");
  EXPECT_WICK_ERROR(flat.as_strided({2}, {1}, -1), "as_strided: negative storage offset");
}

TEST(View, HigherOrderThroughViews) {
  // Second derivatives flow through the scatter-backward views.
  auto f = [](const tensor_list& in) {
    Tensor s = in[0].diagonal().slice(0, 1, std::nullopt);
    return s * s * in[0].select(0, 0).narrow(0, 0, 2);
  };
  EXPECT_TRUE(gradgradcheck(f, {rand_f64({3, 3})}));
}
