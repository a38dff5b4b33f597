// Sorting and selection (sort, argsort, topk, unique): values and indices
// against PyTorch fixtures (gen_sort.py) including ties and NaN, gradients
// (fixtures and gradcheck), dtypes, empty and 0-d tensors, errors.
#include "support/test_util.h"

#include <cmath>
#include <limits>

using namespace wick;
using namespace wick::test;

namespace {

Tensor fx(const std::string& name) { return fixture("sort/" + name); }

const double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

// ---------------------------------------------------------------------------
// sort / argsort

TEST(Sort, TiesAndNaNBothOrdersBothDims) {
  Tensor x = fx("ties_x");
  for (int64_t dim : {-1, 0}) {
    for (bool desc : {false, true}) {
      const std::string tag = "ties_d" + std::to_string(dim == -1 ? 1 : 0) + (desc ? "_desc" : "_asc");
      auto [v, i] = sort(x, dim, desc);
      EXPECT_EQ(v.dtype(), kFloat32);
      EXPECT_EQ(i.dtype(), kInt64);
      EXPECT_TRUE(all_equal(v, fx(tag + "_values"))) << tag;
      EXPECT_TRUE(all_equal(i, fx(tag + "_indices"))) << tag;
      EXPECT_TRUE(all_equal(argsort(x, dim, desc), fx(tag + "_indices"))) << tag;
    }
  }
}

TEST(Sort, IntegersWithTies) {
  Tensor x = fx("int_x");
  auto [v, i] = sort(x, 1);
  EXPECT_TRUE(all_equal(v, fx("int_values")));
  EXPECT_TRUE(all_equal(i, fx("int_indices")));
  auto [vd, id] = sort(x, 1, /*descending=*/true);
  EXPECT_TRUE(all_equal(vd, fx("int_desc_values")));
  EXPECT_TRUE(all_equal(id, fx("int_desc_indices")));
}

TEST(Sort, NonContiguousBoolEmptyAndScalar) {
  // A transposed input sorted along both dims matches its contiguous copy.
  Tensor x = noncontig_f64({4, 5}, 1).detach();
  for (int64_t dim : {0, 1}) {
    auto [v, i] = sort(x, dim);
    auto [vc, ic] = sort(x.contiguous(), dim);
    EXPECT_TRUE(all_equal(v, vc));
    EXPECT_TRUE(all_equal(i, ic));
  }
  auto [bv, bi] = sort(tensor({true, false, true, false}));
  EXPECT_TRUE(all_equal(bv, tensor({false, false, true, true})));
  EXPECT_TRUE(all_equal(bi, tensor({1, 3, 0, 2}, {}, kInt64)));
  auto [ev, ei] = sort(zeros({3, 0}), 1);
  EXPECT_EQ(ev.sizes(), (Shape{3, 0}));
  EXPECT_EQ(ei.dtype(), kInt64);
  auto [sv, si] = sort(scalar_tensor(2.5));
  EXPECT_EQ(sv.dim(), 0);
  EXPECT_EQ(sv.item(), 2.5);
  EXPECT_EQ(si.item<int64_t>(), 0);
  // Infinities sort around the numbers, NaN after +inf.
  const double inf = std::numeric_limits<double>::infinity();
  auto [iv, ii] = sort(from_vector<double>({kNaN, inf, -inf, 0.0}));
  EXPECT_TRUE(all_equal(ii, tensor({2, 3, 1, 0}, {}, kInt64)));
}

TEST(Sort, LongLanesInParallel) {
  // Many lanes and long lanes: every lane must come out sorted with its indices.
  Tensor x = rand_f64({64, 3000}, 7, false);
  auto [v, i] = sort(x, 1, true);
  auto vl = v.tolist<double>();
  auto il = i.tolist<int64_t>();
  auto xl = x.tolist<double>();
  bool ok = true;
  for (int64_t r = 0; r < 64 && ok; ++r)
    for (int64_t c = 0; c < 3000; ++c) {
      ok = ok && xl[r * 3000 + il[r * 3000 + c]] == vl[r * 3000 + c];
      if (c > 0) ok = ok && vl[r * 3000 + c - 1] >= vl[r * 3000 + c];
    }
  EXPECT_TRUE(ok);
}

TEST(Sort, Gradient) {
  Tensor x = fx("sort_grad_x").requires_grad_();
  auto [v, i] = sort(x, 0, true);
  EXPECT_TRUE(all_equal(v, fx("sort_grad_values")));
  EXPECT_TRUE(all_equal(i, fx("sort_grad_indices")));
  EXPECT_FALSE(i.requires_grad());
  v.backward(fx("sort_grad_gout"));
  EXPECT_TRUE(all_close(x.grad(), fx("sort_grad_gx"), 0, 0));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return sort(t[0], 1).first; }, {noncontig_f64({3, 4}, 1)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& t) { return sort(t[0], 0, true).first; }, {rand_f64({3, 2}, 2)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return sort(t[0]).first; }, {rand_f64({}, 3)}));
}

TEST(Sort, Errors) {
  EXPECT_WICK_ERROR(sort(zeros({2, 3}), 2), "sort");
  EXPECT_WICK_ERROR(argsort(zeros({2, 3}), -3), "argsort");
  EXPECT_WICK_ERROR(sort(Tensor()), "sort: undefined tensor");
}

// ---------------------------------------------------------------------------
// topk

TEST(Topk, LargestAndSmallestWithGradients) {
  for (const char* name : {"topk_largest", "topk_smallest"}) {
    const bool largest = std::string(name) == "topk_largest";
    Tensor x = fx(std::string(name) + "_x").requires_grad_();
    auto [v, i] = largest ? topk(x, 3, 1) : topk(x, 2, 0, /*largest=*/false);
    EXPECT_TRUE(all_equal(v, fx(std::string(name) + "_values"))) << name;
    EXPECT_TRUE(all_equal(i, fx(std::string(name) + "_indices"))) << name;
    v.backward(fx(std::string(name) + "_gout"));
    EXPECT_TRUE(all_close(x.grad(), fx(std::string(name) + "_gx"), 0, 0)) << name;
  }
}

TEST(Topk, AgreesWithSortIncludingTiesAndNaN) {
  Tensor x = from_vector<double>({1, kNaN, 3, 3, -1, kNaN, 0, 3}, Shape{2, 4});
  for (int64_t k = 0; k <= 4; ++k) {
    for (bool largest : {true, false}) {
      auto [v, i] = topk(x, k, 1, largest);
      auto [sv, si] = sort(x, 1, largest);
      EXPECT_TRUE(all_equal(v, sv.slice(1, 0, k))) << k << largest;
      EXPECT_TRUE(all_equal(i, si.slice(1, 0, k))) << k << largest;
    }
  }
  // Integers, non-contiguous input, empty and 0-d.
  Tensor n = arange(12).view({3, 4}).t();
  auto [nv, ni] = topk(n, 2, 0);
  EXPECT_TRUE(all_equal(nv, tensor({3, 7, 11, 2, 6, 10}, Shape{2, 3}, kInt64)));
  EXPECT_TRUE(all_equal(ni, tensor({3, 3, 3, 2, 2, 2}, Shape{2, 3}, kInt64)));
  EXPECT_EQ(topk(zeros({0, 5}), 2).first.sizes(), (Shape{0, 2}));
  EXPECT_EQ(topk(zeros({3, 5}), 0).first.sizes(), (Shape{3, 0}));
  EXPECT_EQ(topk(scalar_tensor(4.0), 1).first.item(), 4.0);
}

TEST(Topk, Gradcheck) {
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return topk(t[0], 2, 0).first; }, {noncontig_f64({4, 3}, 1)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return topk(t[0], 3, -1, false).first; }, {rand_f64({2, 5}, 2)}));
}

TEST(Topk, Errors) {
  EXPECT_WICK_ERROR(topk(zeros({2, 3}), 4), "topk: k (4) is out of range for dimension 1 of size 3");
  EXPECT_WICK_ERROR(topk(zeros({2, 3}), -1, 0), "topk: k (-1) is out of range for dimension 0 of size 2");
  EXPECT_WICK_ERROR(topk(zeros({2, 3}), 1, 2), "topk");
}

// ---------------------------------------------------------------------------
// unique

TEST(Unique, InverseAndCountsMatchTorch) {
  for (const char* name : {"unique_int", "unique_f"}) {
    UniqueResult r = unique(fx(std::string(name) + "_x"));
    EXPECT_TRUE(all_equal(r.values, fx(std::string(name) + "_values"))) << name;
    EXPECT_TRUE(all_equal(r.inverse, fx(std::string(name) + "_inverse"))) << name;
    EXPECT_TRUE(all_equal(r.counts, fx(std::string(name) + "_counts"))) << name;
  }
}

TEST(Unique, NaNBoolEmptyScalarNonContiguous) {
  // Every NaN is its own unique value, sorted after the numbers (newer
  // PyTorch; 1.13's CPU kernel returns wrong inverse/counts here).
  UniqueResult n = unique(from_vector<double>({1, kNaN, 2, kNaN, 1}));
  EXPECT_TRUE(all_equal(n.values, from_vector<double>({1, 2, kNaN, kNaN})));
  EXPECT_TRUE(all_equal(n.inverse, tensor({0, 2, 1, 3, 0}, {}, kInt64)));
  EXPECT_TRUE(all_equal(n.counts, tensor({2, 1, 1, 1}, {}, kInt64)));
  UniqueResult b = unique(tensor({true, true, false}));
  EXPECT_TRUE(all_equal(b.values, tensor({false, true})));
  EXPECT_TRUE(all_equal(b.counts, tensor({1, 2}, {}, kInt64)));
  UniqueResult e = unique(zeros({2, 0}));
  EXPECT_EQ(e.values.sizes(), Shape{0});
  EXPECT_EQ(e.inverse.sizes(), (Shape{2, 0}));
  EXPECT_EQ(e.counts.sizes(), Shape{0});
  UniqueResult s = unique(scalar_tensor(int64_t{5}));
  EXPECT_TRUE(all_equal(s.values, tensor({5}, {}, kInt64)));
  EXPECT_EQ(s.inverse.dim(), 0);
  EXPECT_EQ(s.inverse.item<int64_t>(), 0);
  Tensor t = tensor({3, 1, 3, 2, 1, 1}, Shape{2, 3}, kInt64).t();  // [[3,2],[1,1],[3,1]]
  UniqueResult u = unique(t);
  EXPECT_TRUE(all_equal(u.values, tensor({1, 2, 3}, {}, kInt64)));
  EXPECT_TRUE(all_equal(u.inverse, tensor({2, 1, 0, 0, 2, 0}, Shape{3, 2}, kInt64)));
  EXPECT_TRUE(all_equal(u.counts, tensor({3, 1, 2}, {}, kInt64)));
  // Not differentiable: no graph is attached.
  EXPECT_FALSE(unique(rand_f64({3}, 1)).values.requires_grad());
  EXPECT_WICK_ERROR(unique(Tensor()), "unique: undefined tensor");
}
