// Indexing ops: values and gradients against PyTorch fixtures (contiguous and
// strided inputs), gradcheck / gradgradcheck in float64, empty and 0-d
// cases, repeated indices, the parallel kernel paths against plain loops, and
// the error messages for bad indices, dtypes and shapes.
#include <algorithm>
#include <cmath>
#include <functional>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

Tensor I(std::initializer_list<int64_t> v, std::optional<Shape> shape = {}) { return tensor(v, shape, kInt64); }

// Same values as t in a non-contiguous layout (every other element of a
// buffer twice as wide in the last dim).
Tensor strided_copy(const Tensor& t) {
  if (t.dim() == 0 || t.numel() == 0) return t.clone();
  Shape big = t.sizes();
  big.back() *= 2;
  Tensor v = zeros(big, t.dtype()).slice(-1, 0, std::nullopt, 2);
  v.copy_(t);
  return v;
}

struct Case {
  std::string name;
  std::vector<std::string> inputs;
  std::vector<std::string> diff;  // inputs whose gradient is checked
  std::function<Tensor(const tensor_list&)> fn;
};

void run_case(const Case& c, bool strided) {
  SCOPED_TRACE(c.name + (strided ? " (strided inputs)" : ""));
  const std::string base = "indexing/" + c.name + "_";
  tensor_list in;
  for (const std::string& n : c.inputs) {
    Tensor t = fixture(base + n);
    if (strided) t = strided_copy(t);
    if (std::find(c.diff.begin(), c.diff.end(), n) != c.diff.end()) {
      t = t.detach();
      t.requires_grad_();
    }
    in.push_back(t);
  }
  Tensor out = c.fn(in);
  Tensor expect = fixture(base + "out");
  if (expect.is_floating_point())
    EXPECT_TRUE(all_close(out, expect, 1e-12, 1e-12));
  else
    EXPECT_TRUE(all_equal(out, expect));
  if (c.diff.empty()) return;
  sum(out * fixture(base + "g")).backward();
  for (size_t k = 0; k < c.inputs.size(); ++k) {
    if (std::find(c.diff.begin(), c.diff.end(), c.inputs[k]) == c.diff.end()) continue;
    SCOPED_TRACE("gradient of " + c.inputs[k]);
    ASSERT_TRUE(in[k].grad().defined());
    EXPECT_TRUE(all_close(in[k].grad(), fixture(base + "grad_" + c.inputs[k]), 1e-12, 1e-12));
  }
}

const Tensor U;  // an undefined entry: ':' in index / index_put

std::vector<Case> cases() {
  return {
      {"isel_d1", {"x", "i"}, {"x"}, [](const tensor_list& a) { return index_select(a[0], 1, a[1]); }},
      {"isel_dneg", {"x", "i"}, {"x"}, [](const tensor_list& a) { return index_select(a[0], -1, a[1]); }},
      {"isel_d0", {"x", "i"}, {"x"}, [](const tensor_list& a) { return index_select(a[0], 0, a[1]); }},
      {"iadd_d0", {"x", "i", "s"}, {"x", "s"}, [](const tensor_list& a) { return index_add(a[0], 0, a[1], a[2], 2.5); }},
      {"iadd_dneg", {"x", "i", "s"}, {"x", "s"}, [](const tensor_list& a) { return index_add(a[0], -1, a[1], a[2]); }},
      {"gather_d1", {"x", "i"}, {"x"}, [](const tensor_list& a) { return gather(a[0], 1, a[1]); }},
      {"gather_dneg", {"x", "i"}, {"x"}, [](const tensor_list& a) { return gather(a[0], -1, a[1]); }},
      {"gather_d0", {"x", "i"}, {"x"}, [](const tensor_list& a) { return gather(a[0], 0, a[1]); }},
      {"scatter_d1", {"x", "i", "s"}, {"x", "s"}, [](const tensor_list& a) { return scatter(a[0], 1, a[1], a[2]); }},
      {"scatter_dneg", {"x", "i", "s"}, {"x", "s"}, [](const tensor_list& a) { return scatter(a[0], -2, a[1], a[2]); }},
      {"scatter_big", {"x", "i", "s"}, {}, [](const tensor_list& a) { return scatter(a[0], 1, a[1], a[2]); }},
      {"scatter_val", {"x", "i"}, {"x"}, [](const tensor_list& a) { return scatter(a[0], 0, a[1], 7.25); }},
      {"sadd_d0", {"x", "i", "s"}, {"x", "s"}, [](const tensor_list& a) { return scatter_add(a[0], 0, a[1], a[2]); }},
      {"sadd_dneg", {"x", "i", "s"}, {"x", "s"}, [](const tensor_list& a) { return scatter_add(a[0], -1, a[1], a[2]); }},
      {"msel_bmask", {"x", "m"}, {"x"}, [](const tensor_list& a) { return masked_select(a[0], a[1]); }},
      {"msel_bx", {"x", "m"}, {"x"}, [](const tensor_list& a) { return masked_select(a[0], a[1]); }},
      {"nonzero_f", {"x"}, {}, [](const tensor_list& a) { return nonzero(a[0]); }},
      {"nonzero_b", {"x"}, {}, [](const tensor_list& a) { return nonzero(a[0]); }},
      {"index_first", {"x", "i"}, {"x"}, [](const tensor_list& a) { return index(a[0], {a[1]}); }},
      {"index_mid", {"x", "i"}, {"x"}, [](const tensor_list& a) { return index(a[0], {U, a[1]}); }},
      {"index_nonadj", {"x", "i", "j"}, {"x"}, [](const tensor_list& a) { return index(a[0], {a[1], U, a[2]}); }},
      {"index_nonadj2", {"x", "i", "j"}, {"x"}, [](const tensor_list& a) { return index(a[0], {U, a[1], U, a[2]}); }},
      {"index_adj", {"x", "i", "j"}, {"x"}, [](const tensor_list& a) { return index(a[0], {U, a[1], a[2]}); }},
      {"index_mask", {"x", "m"}, {"x"}, [](const tensor_list& a) { return index(a[0], {a[1]}); }},
      {"index_midmask", {"x", "m"}, {"x"}, [](const tensor_list& a) { return index(a[0], {U, a[1]}); }},
      {"index_mixed", {"x", "m", "j"}, {"x"}, [](const tensor_list& a) { return index(a[0], {a[1], U, a[2]}); }},
      {"iput_rows", {"x", "i", "v"}, {"x", "v"}, [](const tensor_list& a) { return index_put(a[0], {a[1]}, a[2]); }},
      {"iput_bcast", {"x", "i", "v"}, {"x", "v"}, [](const tensor_list& a) { return index_put(a[0], {a[1]}, a[2]); }},
      {"iput_acc", {"x", "i", "v"}, {"x", "v"},
       [](const tensor_list& a) { return index_put(a[0], {a[1]}, a[2], true); }},
      {"iput_mask", {"x", "m", "v"}, {"x", "v"}, [](const tensor_list& a) { return index_put(a[0], {a[1]}, a[2]); }},
      {"iput_nonadj", {"x", "i", "j", "v"}, {"x", "v"},
       [](const tensor_list& a) { return index_put(a[0], {a[1], U, a[2]}, a[3], true); }},
      {"iput_nonadj2", {"x", "i", "j", "v"}, {"x", "v"},
       [](const tensor_list& a) { return index_put(a[0], {U, a[1], U, a[2]}, a[3]); }},
      {"onehot_n", {"i"}, {}, [](const tensor_list& a) { return one_hot(a[0], 5); }},
      {"onehot_infer", {"i"}, {}, [](const tensor_list& a) { return one_hot(a[0]); }},
      {"emb", {"w", "i"}, {"w"}, [](const tensor_list& a) { return embedding(a[0], a[1]); }},
      {"emb_pad", {"w", "i"}, {"w"}, [](const tensor_list& a) { return embedding(a[0], a[1], 2); }},
  };
}

using Fn = std::function<Tensor(const tensor_list&)>;

}  // namespace

// ---------------------------------------------------------------------------
// against PyTorch

TEST(IndexingFixtures, ValuesAndGradients) {
  for (const Case& c : cases()) run_case(c, /*strided=*/false);
}

TEST(IndexingFixtures, StridedInputs) {
  for (const Case& c : cases()) run_case(c, /*strided=*/true);
}

// ---------------------------------------------------------------------------
// gradcheck (first and second order) in float64

TEST(IndexingGrad, IndexSelectAndIndexAdd) {
  Tensor i = I({2, 0, 2});
  EXPECT_TRUE(gradcheck([&](const tensor_list& a) { return index_select(a[0], 1, i); }, {rand_f64({2, 3, 2})}));
  EXPECT_TRUE(gradcheck([&](const tensor_list& a) { return index_select(a[0], 0, i); }, {noncontig_f64({3, 4})}));
  EXPECT_TRUE(gradgradcheck([&](const tensor_list& a) { return index_select(a[0], -1, i); }, {rand_f64({2, 3})}));
  Tensor dup = I({1, 1, 0, 1});
  Fn f = [&](const tensor_list& a) { return index_add(a[0], 0, dup, a[1], -1.5); };
  EXPECT_TRUE(gradcheck(f, {rand_f64({3, 2}, 1), rand_f64({4, 2}, 2)}));
  EXPECT_TRUE(gradcheck(f, {noncontig_f64({3, 2}, 1), noncontig_f64({4, 2}, 2)}));
  EXPECT_TRUE(gradgradcheck(f, {rand_f64({3, 2}, 1), rand_f64({4, 2}, 2)}));
}

TEST(IndexingGrad, GatherScatter) {
  Tensor gi = I({2, 0, 0, 1, 1, 1, 0, 2}, Shape{2, 4});  // longer than x along dim 1, repeats
  Fn g = [&](const tensor_list& a) { return gather(a[0], 1, gi); };
  EXPECT_TRUE(gradcheck(g, {rand_f64({3, 3})}));
  EXPECT_TRUE(gradcheck(g, {noncontig_f64({3, 3})}));
  EXPECT_TRUE(gradgradcheck(g, {rand_f64({3, 3})}));

  Tensor si = I({2, 0, 1, 0}, Shape{2, 2});  // distinct targets per row
  Fn s = [&](const tensor_list& a) { return scatter(a[0], 1, si, a[1]); };
  EXPECT_TRUE(gradcheck(s, {rand_f64({3, 3}, 1), rand_f64({2, 2}, 2)}));
  // src larger than index: its gradient is zero outside the index's box.
  EXPECT_TRUE(gradcheck(s, {rand_f64({3, 3}, 1), noncontig_f64({3, 4}, 2)}));
  EXPECT_TRUE(gradgradcheck(s, {rand_f64({3, 3}, 1), rand_f64({2, 3}, 2)}));
  EXPECT_TRUE(gradcheck([&](const tensor_list& a) { return scatter(a[0], 0, si, -3.0); }, {rand_f64({3, 3})}));

  Tensor ai = I({1, 1, 0, 1, 2, 1}, Shape{3, 2});  // repeated targets accumulate
  Fn sa = [&](const tensor_list& a) { return scatter_add(a[0], 0, ai, a[1]); };
  EXPECT_TRUE(gradcheck(sa, {rand_f64({3, 2}, 3), rand_f64({3, 2}, 4)}));
  EXPECT_TRUE(gradcheck(sa, {noncontig_f64({3, 2}, 3), rand_f64({4, 3}, 4)}));
  EXPECT_TRUE(gradgradcheck(sa, {rand_f64({3, 2}, 3), rand_f64({3, 2}, 4)}));
}

TEST(IndexingGrad, MaskedSelect) {
  Tensor m = tensor({true, false, true, true, false, true}, Shape{2, 3});
  Fn f = [&](const tensor_list& a) { return masked_select(a[0], m); };
  EXPECT_TRUE(gradcheck(f, {rand_f64({2, 3})}));
  EXPECT_TRUE(gradcheck(f, {rand_f64({3})}));  // x broadcast against the mask: gradients sum
  EXPECT_TRUE(gradcheck(f, {noncontig_f64({2, 3})}));
  EXPECT_TRUE(gradgradcheck(f, {rand_f64({2, 3})}));
}

TEST(IndexingGrad, AdvancedIndex) {
  Tensor i = I({0, -1, 0}), j = I({1, 1, 2});
  Tensor m = tensor({true, false, true}, {}, kBool);
  Tensor m2 = tensor({true, false, true, false, false, true, true, true, false}, Shape{3, 3}, kBool);
  std::vector<std::vector<Tensor>> patterns = {
      {i}, {U, j}, {i, U, j}, {U, i.reshape({3, 1}), j}, {m}, {m, U, I({1, -1})}, {U, m2}, {i.reshape({3, 1}), U, j.reshape({1, 3})}, {U, U, I({2, -3})}};
  for (const auto& p : patterns) {
    Fn f = [&](const tensor_list& a) { return index(a[0], p); };
    EXPECT_TRUE(gradcheck(f, {rand_f64({3, 3, 3})}));
    EXPECT_TRUE(gradcheck(f, {noncontig_f64({3, 3, 3})}));
    EXPECT_TRUE(gradgradcheck(f, {rand_f64({3, 3, 3})}));
  }
}

TEST(IndexingGrad, IndexPut) {
  Tensor i = I({0, 2, 0}), j = I({1, -1, 1});
  for (bool acc : {false, true}) {
    SCOPED_TRACE(acc ? "accumulate" : "overwrite");
    Fn rows = [&](const tensor_list& a) { return index_put(a[0], {i}, a[1], acc); };
    if (acc) EXPECT_TRUE(gradcheck(rows, {rand_f64({3, 2}), rand_f64({3, 2}, 1)}));
    // Broadcast values (their gradient sums over the broadcast dims).
    Tensor k = I({0, 2});
    Fn b = [&](const tensor_list& a) { return index_put(a[0], {k}, a[1], acc); };
    EXPECT_TRUE(gradcheck(b, {rand_f64({3, 2}), rand_f64({2}, 1)}));
    EXPECT_TRUE(gradcheck(b, {noncontig_f64({3, 2}), rand_f64({1, 2}, 1)}));
    Fn nonadj = [&](const tensor_list& a) { return index_put(a[0], {i, U, j}, a[1], acc); };
    if (acc) EXPECT_TRUE(gradcheck(nonadj, {rand_f64({3, 2, 3}), rand_f64({3, 2}, 1)}));
    Tensor m = tensor({true, false, false, true, true, false}, Shape{3, 2});
    Fn mask = [&](const tensor_list& a) { return index_put(a[0], {m}, a[1], acc); };
    EXPECT_TRUE(gradcheck(mask, {rand_f64({3, 2}), rand_f64({3}, 1)}));
    EXPECT_TRUE(gradgradcheck(mask, {rand_f64({3, 2}), rand_f64({3}, 1)}));
  }
}

TEST(IndexingGrad, Embedding) {
  Tensor idx = I({0, 3, 3, 1, 0, 3}, Shape{2, 3});
  Fn f = [&](const tensor_list& a) { return embedding(a[0], idx); };
  EXPECT_TRUE(gradcheck(f, {rand_f64({4, 2})}));
  EXPECT_TRUE(gradcheck(f, {noncontig_f64({4, 2})}));
  EXPECT_TRUE(gradgradcheck(f, {rand_f64({4, 2})}));
  // With padding_idx the padding row's gradient is zeroed on purpose (not the
  // true derivative, so no gradcheck): exactly zero there, the others the
  // count of their lookups.
  Tensor w = rand_f64({4, 2});
  sum(embedding(w, idx, 3)).backward();
  EXPECT_TRUE(all_close(w.grad(), tensor({2.0, 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0}, Shape{4, 2}, kFloat64)));
}

// ---------------------------------------------------------------------------
// empty, 0-d, dtypes

TEST(Indexing, EmptyIndices) {
  Tensor x = rand_f64({3, 4});
  Tensor e = zeros({0}, kInt64);
  Tensor s = index_select(x, 1, e);
  EXPECT_EQ(s.sizes(), (Shape{3, 0}));
  sum(s).backward();
  EXPECT_TRUE(all_equal(x.grad(), zeros({3, 4}, kFloat64)));
  EXPECT_TRUE(all_equal(index_add(x, 0, e, zeros({0, 4}, kFloat64)), x.detach()));
  EXPECT_EQ(gather(x, 0, zeros({0, 4}, kInt64)).sizes(), (Shape{0, 4}));
  EXPECT_TRUE(all_equal(scatter(x, 1, zeros({3, 0}, kInt64), zeros({3, 0}, kFloat64)), x.detach()));
  EXPECT_TRUE(all_equal(scatter_add(x, 1, zeros({0, 0}, kInt64), zeros({0, 0}, kFloat64)), x.detach()));
  EXPECT_EQ(index(x, {e}).sizes(), (Shape{0, 4}));
  EXPECT_EQ(index(x, {U, e}).sizes(), (Shape{3, 0}));
  EXPECT_TRUE(all_equal(index_put(x, {e}, zeros({}, kFloat64)), x.detach()));
  EXPECT_EQ(masked_select(x, zeros({4}, kBool)).sizes(), (Shape{0}));
  EXPECT_EQ(nonzero(zeros({2, 3})).sizes(), (Shape{0, 2}));
  EXPECT_EQ(one_hot(zeros({0}, kInt64), 3).sizes(), (Shape{0, 3}));
  EXPECT_EQ(embedding(x, zeros({0, 2}, kInt64)).sizes(), (Shape{0, 2, 4}));
  // Empty x.
  EXPECT_EQ(index_select(zeros({0, 3}), 1, I({2, 0})).sizes(), (Shape{0, 2}));
  EXPECT_EQ(masked_select(zeros({0, 3}), tensor({true, false, true})).sizes(), (Shape{0}));
}

TEST(Indexing, ZeroDim) {
  Tensor s = tensor({2.5}, Shape{}, kFloat64);
  EXPECT_TRUE(all_equal(index_select(s, 0, I({0, 0})), s));
  EXPECT_TRUE(all_equal(gather(s, 0, I({0}, Shape{})), s));
  EXPECT_TRUE(all_equal(gather(s, 0, I({0, 0})), tensor({2.5, 2.5}, {}, kFloat64)));
  EXPECT_TRUE(all_equal(scatter(s, 0, I({0}, Shape{}), tensor({4.0}, Shape{}, kFloat64)),
                        tensor({4.0}, Shape{}, kFloat64)));
  EXPECT_TRUE(all_equal(index_add(s, 0, I({0, 0}), tensor({1.0, 2.0}, {}, kFloat64)), tensor({5.5}, Shape{}, kFloat64)));
  EXPECT_TRUE(all_equal(nonzero(s), zeros({1, 0}, kInt64)));
  EXPECT_TRUE(all_equal(nonzero(zeros({})), zeros({0, 0}, kInt64)));
  EXPECT_TRUE(all_equal(one_hot(I({1}, Shape{}), 3), I({0, 1, 0})));
  Tensor w = rand_f64({3, 2});
  EXPECT_TRUE(all_equal(embedding(w, I({2}, Shape{})), w.detach()[2]));
  Tensor x = rand_f64({2, 3});
  // A 0-d int index removes the dim; a 0-d bool index adds one (Python's x[True], x[False]).
  EXPECT_TRUE(all_equal(index(x, {I({1}, Shape{})}), x.detach()[1]));
  EXPECT_EQ(index(x, {tensor({true}, Shape{})}).sizes(), (Shape{1, 2, 3}));
  EXPECT_EQ(index(x, {tensor({false}, Shape{})}).sizes(), (Shape{0, 2, 3}));
  EXPECT_EQ(index(x, {I({1}, Shape{}), tensor({true}, Shape{})}).sizes(), (Shape{1, 3}));
  EXPECT_TRUE(all_equal(index_put(x, {tensor({true}, Shape{})}, tensor({1.0}, Shape{}, kFloat64)),
                        ones({2, 3}, kFloat64)));
  EXPECT_TRUE(gradcheck([](const tensor_list& a) { return index(a[0], {tensor({true}, Shape{}), I({2, 0})}); },
                        {rand_f64({3, 2})}));
  // No index tensors at all: x[:, :] is a copy.
  EXPECT_TRUE(all_equal(index(x, {U, U}), x.detach()));
  EXPECT_TRUE(all_equal(index_put(x, {}, tensor({1.0, 2.0, 3.0}, {}, kFloat64), true),
                        x.detach() + tensor({1.0, 2.0, 3.0}, {}, kFloat64)));
}

TEST(Indexing, DtypesAndDuplicates) {
  // int32 indices are accepted everywhere.
  Tensor x = arange(12, kFloat32).reshape({3, 4});
  EXPECT_TRUE(all_equal(index_select(x, 0, tensor({2, 0}, {}, kInt32)), index_select(x, 0, I({2, 0}))));
  EXPECT_TRUE(all_equal(gather(x, 1, tensor({3, 0, 1}, Shape{3, 1}, kInt32)), tensor({3.f, 4.f, 9.f}, Shape{3, 1})));
  EXPECT_TRUE(all_equal(index(x, {tensor({-1}, {}, kInt32)}), tensor({8.f, 9.f, 10.f, 11.f}, Shape{1, 4})));
  // uint8 masks act as bool masks.
  EXPECT_TRUE(all_equal(masked_select(x, tensor({1, 0, 0, 1}, {}, kInt32).to(kUInt8)),
                        tensor({0.f, 3.f, 4.f, 7.f, 8.f, 11.f})));
  EXPECT_TRUE(all_equal(index(x, {tensor({1, 0, 1}, {}, kInt32).to(kUInt8)}), index(x, {I({0, 2})})));
  // Integer and bool data; accumulation with repeated indices.
  Tensor xi = arange(6).reshape({2, 3});
  EXPECT_TRUE(all_equal(scatter_add(xi, 1, I({0, 0, 0, 2}, Shape{2, 2}), I({1, 2, 3, 4}, Shape{2, 2})),
                        I({3, 1, 2, 6, 4, 9}, Shape{2, 3})));
  EXPECT_TRUE(all_equal(index_add(xi, 1, I({2, 2}), I({1, 1, 1, 1}, Shape{2, 2}), 3), I({0, 1, 8, 3, 4, 11}, Shape{2, 3})));
  EXPECT_TRUE(all_equal(index_put(xi, {U, I({1, 1, 1})}, I({5}), true), I({0, 16, 2, 3, 19, 5}, Shape{2, 3})));
  Tensor b = zeros({3}, kBool);
  EXPECT_TRUE(all_equal(index_put(b, {I({2, 2})}, tensor({true, false}), true), tensor({false, false, true})));
  EXPECT_TRUE(all_equal(scatter_add(b, 0, I({0, 0}), tensor({false, true})), tensor({true, false, false})));
  // Overwriting with repeated indices: the last one in row-major order wins.
  EXPECT_TRUE(all_equal(index_put(zeros({3}), {I({1, 1, 1})}, tensor({1.f, 2.f, 3.f})), tensor({0.f, 3.f, 0.f})));
  EXPECT_TRUE(all_equal(scatter(x, 1, zeros({1, 2}, kInt64), tensor({1.f, 2.f}, Shape{1, 2})).select(0, 0),
                        tensor({2.f, 1.f, 2.f, 3.f})));
  // scatter with a scalar converts it to x's dtype.
  EXPECT_TRUE(all_equal(scatter(xi, 0, I({1, 0}, Shape{1, 2}), 7.9), I({0, 7, 2, 7, 4, 5}, Shape{2, 3})));
  // nonzero: NaN counts as nonzero.
  EXPECT_TRUE(all_equal(nonzero(tensor({0.f, NAN, 0.f, 1.f})), I({1, 3}, Shape{2, 1})));
}

// ---------------------------------------------------------------------------
// The parallel paths (sizes above the kernels' grain) against plain loops.

TEST(Indexing, LargeAgainstLoops) {
  const int64_t R = 7, C = 9000, M = 50;
  Tensor x = rand_f64({R, C}, 5, false);
  std::vector<int64_t> iv(M);
  for (int64_t k = 0; k < M; ++k) iv[k] = (k * 37) % R;  // many repeats
  Tensor idx = from_vector(iv);
  const double* xp = x.data_ptr<double>();

  // index_select along dim 0 and along the last dim (rows outer).
  Tensor s0 = index_select(x, 0, idx);
  Tensor s1 = index_select(x, 1, idx);
  const double* p0 = s0.data_ptr<double>();
  const double* p1 = s1.data_ptr<double>();
  bool ok = true;
  for (int64_t k = 0; k < M; ++k)
    for (int64_t c = 0; c < C; ++c) ok &= p0[k * C + c] == xp[iv[k] * C + c];
  for (int64_t r = 0; r < R; ++r)
    for (int64_t k = 0; k < M; ++k) ok &= p1[r * M + k] == xp[r * C + iv[k]];
  EXPECT_TRUE(ok);
  EXPECT_TRUE(all_equal(index(x, {idx}), s0));
  EXPECT_TRUE(all_equal(index(x, {U, idx}), s1));

  // index_add / index_put(accumulate) / scatter_add with repeated indices.
  Tensor src = rand_f64({M, C}, 6, false);
  const double* sp = src.data_ptr<double>();
  std::vector<double> ref(x.tolist<double>());
  for (int64_t k = 0; k < M; ++k)
    for (int64_t c = 0; c < C; ++c) ref[iv[k] * C + c] += sp[k * C + c];
  Tensor expect = from_vector(ref, Shape{R, C});
  EXPECT_TRUE(all_close(index_add(x, 0, idx, src), expect, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(index_put(x, {idx}, src, true), expect, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(scatter_add(x, 0, idx.reshape({M, 1}).expand({M, C}), src), expect, 1e-12, 1e-12));

  // gather along the long dim, transposed (strided) x.
  Tensor xt = x.t();
  Tensor gi = from_vector(iv).reshape({1, M}).expand({C / 100, M}).contiguous();
  Tensor g = gather(x.slice(1, 0, C / 100).t(), 1, gi);  // [C/100, M] from x^T[:C/100]
  const double* gp = g.data_ptr<double>();
  ok = true;
  for (int64_t c = 0; c < C / 100; ++c)
    for (int64_t k = 0; k < M; ++k) ok &= gp[c * M + k] == xp[iv[k] * C + c];
  EXPECT_TRUE(ok);
  EXPECT_EQ(xt.size(0), C);

  // masked_select / nonzero / masked gradient on a large mask.
  Tensor m = gt(x, 0.25);
  Tensor sel = masked_select(x, m);
  Tensor nz = nonzero(m);
  ASSERT_EQ(nz.size(0), sel.numel());
  const int64_t* np = nz.data_ptr<int64_t>();
  const double* selp = sel.data_ptr<double>();
  ok = true;
  int64_t w = 0;
  for (int64_t i = 0; i < R * C; ++i) {
    if (!(xp[i] > 0.25)) continue;
    ok &= np[2 * w] == i / C && np[2 * w + 1] == i % C && selp[w] == xp[i];
    ++w;
  }
  EXPECT_TRUE(ok);
  EXPECT_EQ(w, sel.numel());
  EXPECT_TRUE(all_equal(index(x, {m}), sel));
  Tensor xg = x.detach();
  xg.requires_grad_();
  sum(masked_select(xg, m)).backward();
  EXPECT_TRUE(all_equal(xg.grad(), m.to(kFloat64)));
}

// ---------------------------------------------------------------------------
// errors

TEST(IndexingErrors, OutOfRange) {
  Tensor x = zeros({3, 4});
  EXPECT_WICK_ERROR(index_select(x, 0, I({0, 3})), "index_select: index 3 is out of bounds for dimension 0 with size 3");
  EXPECT_WICK_ERROR(index_select(x, 1, I({-1})), "index_select: index -1 is out of bounds for dimension 1 with size 4");
  EXPECT_WICK_ERROR(index_add(x, 0, I({5}), zeros({1, 4})), "index_add: index 5 is out of bounds for dimension 0");
  EXPECT_WICK_ERROR(gather(x, 1, I({4}, Shape{1, 1})), "gather: index 4 is out of bounds for dimension 1 with size 4");
  EXPECT_WICK_ERROR(gather(x, 1, I({-1}, Shape{1, 1})), "gather: index -1 is out of bounds");
  EXPECT_WICK_ERROR(scatter(x, 0, I({3}, Shape{1, 1}), zeros({1, 1})), "scatter: index 3 is out of bounds");
  EXPECT_WICK_ERROR(scatter(x, 0, I({-2}, Shape{1, 1}), 1.0), "scatter: index -2 is out of bounds");
  EXPECT_WICK_ERROR(scatter_add(x, 1, I({0, 9}, Shape{1, 2}), zeros({1, 2})), "scatter_add: index 9 is out of bounds");
  EXPECT_WICK_ERROR(index(x, {I({3})}), "index: index 3 is out of bounds for dimension 0 with size 3");
  EXPECT_WICK_ERROR(index(x, {U, I({-5})}), "index: index -5 is out of bounds for dimension 1 with size 4");
  EXPECT_WICK_ERROR(index_put(x, {I({0}), I({4})}, zeros({})), "index_put: index 4 is out of bounds for dimension 1");
  EXPECT_WICK_ERROR(one_hot(I({0, 3}), 3), "one_hot: class value 3 is out of range for num_classes 3");
  EXPECT_WICK_ERROR(one_hot(I({-1})), "one_hot: class values must be non-negative, got -1");
  EXPECT_WICK_ERROR(embedding(x, I({3})), "embedding: index 3 is out of bounds for dimension 0 with size 3");
  EXPECT_WICK_ERROR(embedding(x, I({-1})), "embedding: index -1 is out of bounds");
  EXPECT_WICK_ERROR(index_select(zeros({}), 0, I({1})), "index_select: index 1 is out of bounds");
  EXPECT_WICK_ERROR(gather(zeros({0, 2}), 0, I({0}, Shape{1, 1})), "gather: index 0 is out of bounds");
}

TEST(IndexingErrors, WrongDtypes) {
  Tensor x = zeros({3, 4});
  Tensor fi = tensor({0.f});
  EXPECT_WICK_ERROR(index_select(x, 0, fi), "index_select: index must be int64 or int32, got float32");
  EXPECT_WICK_ERROR(index_add(x, 0, fi, zeros({1, 4})), "index_add: index must be int64 or int32");
  EXPECT_WICK_ERROR(index_add(x, 0, I({0}), zeros({1, 4}, kFloat64)), "index_add: x (float32) and source (float64)");
  EXPECT_WICK_ERROR(gather(x, 0, fi.reshape({1, 1})), "gather: index must be int64 or int32");
  EXPECT_WICK_ERROR(scatter(x, 0, tensor({true}, Shape{1, 1}), 1.0), "scatter: index must be int64 or int32, got bool");
  EXPECT_WICK_ERROR(scatter(x, 0, I({0}, Shape{1, 1}), zeros({1, 1}, kFloat64)), "scatter: x (float32) and src (float64)");
  EXPECT_WICK_ERROR(scatter_add(x, 0, I({0}, Shape{1, 1}), zeros({1, 1}, kInt64)), "scatter_add: x (float32) and src");
  EXPECT_WICK_ERROR(masked_select(x, zeros({4}, kInt64)), "masked_select: mask must be bool");
  EXPECT_WICK_ERROR(index(x, {fi}), "index: tensors used as indices must be int64, int32, bool or uint8, got float32");
  EXPECT_WICK_ERROR(index_put(x, {fi}, zeros({})), "index_put: tensors used as indices must be");
  EXPECT_WICK_ERROR(index_put(x, {I({0})}, zeros({}, kFloat64)), "index_put: values (float64) and x (float32)");
  EXPECT_WICK_ERROR(one_hot(fi), "one_hot: index must be int64 or int32");
  EXPECT_WICK_ERROR(embedding(x, fi), "embedding: index must be int64 or int32");
}

TEST(IndexingErrors, Shapes) {
  Tensor x = zeros({3, 4});
  EXPECT_WICK_ERROR(index_select(x, 0, zeros({1, 1}, kInt64)), "index_select: index must be 0-d or 1-d");
  EXPECT_WICK_ERROR(index_select(x, 2, I({0})), "index_select");
  EXPECT_WICK_ERROR(index_add(x, 0, I({0}), zeros({1, 5})), "index_add: source of shape [1,5] does not match [1,4]");
  EXPECT_WICK_ERROR(gather(x, 1, zeros({4, 2}, kInt64)), "gather: index [4,2] is larger than x [3,4] in dimension 0");
  EXPECT_WICK_ERROR(gather(x, 1, zeros({2}, kInt64)), "gather: index must have as many dimensions as x");
  EXPECT_WICK_ERROR(gather(x, 2, zeros({1, 1}, kInt64)), "gather");
  EXPECT_WICK_ERROR(scatter(x, 1, zeros({1, 2}, kInt64), zeros({1, 1})), "scatter: index [1,2] is larger than src [1,1]");
  EXPECT_WICK_ERROR(scatter_add(x, 1, zeros({4, 1}, kInt64), zeros({5, 5})), "scatter_add: index [4,1] is larger than x");
  EXPECT_WICK_ERROR(masked_select(x, zeros({3}, kBool)), "masked_select: shapes [3,4] and [3] cannot be broadcast");
  EXPECT_WICK_ERROR(index(x, {I({0}), I({0}), I({0})}), "index: too many indices for tensor of dimension 2 (got 3)");
  EXPECT_WICK_ERROR(index(x, {U, zeros({3}, kBool)}), "index: the shape of the mask [3] does not match");
  EXPECT_WICK_ERROR(index(x, {I({0, 1}), I({0, 1, 2})}), "index: shapes [2] and [3] cannot be broadcast");
  EXPECT_WICK_ERROR(index_put(x, {I({0})}, zeros({3})), "index_put: values of shape [3] cannot be broadcast to the "
                                                         "indexing result of shape [1,4]");
  EXPECT_WICK_ERROR(one_hot(zeros({0}, kInt64)), "one_hot: cannot infer the number of classes from an empty tensor");
  EXPECT_WICK_ERROR(one_hot(I({0}), -2), "one_hot: num_classes must be -1");
  EXPECT_WICK_ERROR(embedding(zeros({3}), I({0})), "embedding: weight must be 2-D");
  EXPECT_WICK_ERROR(embedding(x, I({0}), 3), "embedding: padding_idx 3 must be -1 (none) or in [0, 3)");
}
