// Copies and conversions (ops/copy.h): copy_ with broadcasting and conversion
// between every pair of dtypes (against torch's .to(), fixtures copy_* from
// gen_tensor.py), to(dtype), contiguous, clone, item, tolist, copy_'s
// gradient, and writing into an expanded tensor.
#include <cmath>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

const DType kCpu[] = {kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64};
const DType kSignedDst[] = {kBool, kInt32, kInt64, kFloat32, kFloat64};

}  // namespace

TEST(Copy, ConversionBetweenAllDtypes) {
  // Row k of copy_<src> is torch's src.to(kCpu[k]), stored as float64 (exact).
  for (DType s : kCpu) {
    const std::string sn = dtype_name(s);
    Tensor src = fixture("tensor/copy_src_" + sn);
    ASSERT_EQ(src.dtype(), s);
    Tensor want = fixture("tensor/copy_" + sn);
    for (size_t k = 0; k < std::size(kCpu); ++k) {
      const DType d = kCpu[k];
      Tensor got = src.to(d);
      EXPECT_EQ(got.dtype(), d);
      EXPECT_TRUE(all_equal(got.to(kFloat64), want[k])) << sn << " -> " << d;
      Tensor dst = empty(src.sizes(), d);
      dst.copy_(src);
      EXPECT_TRUE(all_equal(dst, got)) << "copy_ " << sn << " -> " << d;
    }
  }
}

TEST(Copy, SignedConversionsTruncateTowardZero) {
  // -2.7 -> -2, -0.5 -> 0 for integers; every nonzero -> true for bool.
  for (DType s : {kInt32, kInt64, kFloat32, kFloat64}) {
    const std::string sn = dtype_name(s);
    Tensor src = fixture("tensor/copy_signed_src_" + sn);
    Tensor want = fixture("tensor/copy_signed_" + sn);
    for (size_t k = 0; k < std::size(kSignedDst); ++k)
      EXPECT_TRUE(all_equal(src.to(kSignedDst[k]).to(kFloat64), want[k])) << sn << " -> " << kSignedDst[k];
  }
  EXPECT_EQ(tensor({-0.5, 0.0, 1e-300}).to(kBool).tolist<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(tensor({NAN}).to(kBool).item<bool>(), true);
  EXPECT_EQ(tensor({true, false}).to(kFloat32).tolist<float>(), (std::vector<float>{1.f, 0.f}));
}

TEST(Copy, BroadcastIntoDestination) {
  Tensor dst = zeros({2, 3}, kFloat64);
  dst.copy_(tensor({1.f, 2.f, 3.f}));  // float32 row, converted
  EXPECT_EQ(dst.tolist<double>(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  dst.copy_(tensor({7, 8}, Shape{2, 1}));  // int64 column
  EXPECT_EQ(dst.tolist<double>(), (std::vector<double>{7, 7, 7, 8, 8, 8}));
  dst.copy_(scalar_tensor(-1.5));
  EXPECT_EQ(dst.tolist<double>(), std::vector<double>(6, -1.5));
  // Into a non-contiguous destination.
  Tensor base = zeros({3, 2}, kInt64);
  Tensor t = base.t();
  t.copy_(tensor({1, 2, 3, 4, 5, 6}, Shape{2, 3}));
  EXPECT_EQ(base.tolist<int64_t>(), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
  // Empty tensors copy nothing.
  Tensor e = zeros({0, 3});
  e.copy_(ones({3}));
  EXPECT_EQ(e.numel(), 0);
}

TEST(Copy, Errors) {
  Tensor dst = zeros({2, 3});
  EXPECT_WICK_ERROR(dst.copy_(ones({4})), "copy_: shapes [2,3] and [4] cannot be broadcast");
  EXPECT_WICK_ERROR(dst.copy_(ones({2, 2, 3})),
                    "copy_: source of shape [2,2,3] cannot be broadcast to the destination's shape [2,3]");
  Tensor ex = zeros({3, 1}).expand({3, 4});
  EXPECT_WICK_ERROR(ex.copy_(ones({3, 4})),
                    "copy_: unsupported operation: more than one element of the written-to tensor refers to a "
                    "single memory location");
  EXPECT_WICK_ERROR(dst.copy_(Tensor()), "copy_: undefined tensor");
  Tensor leaf = zeros({3}, kFloat64).requires_grad_();
  EXPECT_WICK_ERROR(leaf.copy_(ones({3}, kFloat64)), "copy_: a leaf tensor that requires grad");
}

TEST(Copy, ToDtype) {
  Tensor x = rand_f64({2, 3}, 0, false);
  EXPECT_TRUE(x.to(kFloat64).is_same(x));  // no-op returns the tensor itself
  Tensor f = x.to(kFloat32);
  EXPECT_EQ(f.dtype(), kFloat32);
  EXPECT_TRUE(all_close(f, x, 1e-7, 1e-7));
  // Non-contiguous input, contiguous output.
  Tensor ft = x.t().to(kFloat32);
  EXPECT_TRUE(ft.is_contiguous());
  EXPECT_TRUE(all_close(ft, x.t(), 1e-7, 1e-7));
  EXPECT_EQ(x.double_().dtype(), kFloat64);
  EXPECT_EQ(x.long_().dtype(), kInt64);
  EXPECT_EQ(x.to(kCPU, kInt32).dtype(), kInt32);
}

TEST(Copy, ContiguousAndClone) {
  Tensor x = rand_f64({2, 3, 4}, 1, false);
  Tensor p = x.permute({2, 0, 1});
  ASSERT_FALSE(p.is_contiguous());
  Tensor c = p.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.storage().get(), x.storage().get());
  EXPECT_TRUE(all_equal(c, p));
  EXPECT_EQ(c.strides(), (Shape{6, 3, 1}));
  EXPECT_TRUE(x.contiguous().is_same(x));
  // A size-1 dim with any stride is still contiguous.
  Tensor s = x.slice(0, 1, 2);
  EXPECT_TRUE(s.is_contiguous());
  Tensor k = x.clone();
  EXPECT_NE(k.storage().get(), x.storage().get());
  EXPECT_TRUE(all_equal(k, x));
  Tensor kv = k.select(0, 0);
  kv.copy_(scalar_tensor(5.0, kFloat64));
  EXPECT_FALSE(all_equal(k, x));  // the clone is independent
  EXPECT_TRUE(all_equal(p.clone(), p));
  EXPECT_EQ(scalar_tensor(2.0).clone().dim(), 0);
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return in[0].permute({1, 0}).contiguous(); },
                        {rand_f64({2, 3})}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return in[0].clone(); }, {noncontig_f64({3, 2})}));
}

TEST(Copy, ItemAndTolist) {
  EXPECT_EQ(tensor({2.5f}, Shape{1, 1}).item(), 2.5);
  EXPECT_EQ(scalar_tensor(7).item<int64_t>(), 7);
  EXPECT_EQ(scalar_tensor(2.9).item<int32_t>(), 2);
  EXPECT_EQ(scalar_tensor(true).item<double>(), 1.0);
  EXPECT_EQ(arange(5).select(0, 3).item<int64_t>(), 3);
  EXPECT_WICK_ERROR(zeros({2, 3}).item(), "item: a tensor with 6 elements (shape [2,3]) cannot be converted to a scalar");
  EXPECT_WICK_ERROR(zeros({0}).item(), "item: a tensor with 0 elements");
  Tensor m = arange(6).reshape({2, 3}).t();
  EXPECT_EQ(m.tolist<int64_t>(), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(m.tolist<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  EXPECT_EQ(tensor({0, 2}).tolist<bool>(), (std::vector<bool>{false, true}));
  EXPECT_TRUE(zeros({0, 2}).tolist<float>().empty());
}

TEST(Copy, CopyGradientFlowsToTheSource) {
  // dst's old value gets a zero gradient; src gets the gradient summed over the broadcast.
  Tensor a = rand_f64({2, 3}, 2);
  Tensor src = rand_f64({3}, 3);
  Tensor dst = a * 1.0;
  dst.copy_(src);
  Tensor w = tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, Shape{2, 3}, kFloat64);
  sum(dst * w).backward();
  EXPECT_TRUE(all_close(src.grad(), tensor({5.0, 7.0, 9.0}, {}, kFloat64)));
  EXPECT_TRUE(all_close(a.grad(), zeros({2, 3}, kFloat64)));
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& in) {
        Tensor d = zeros({2, 3}, kFloat64);
        d.copy_(in[0]);
        return d * in[0];
      },
      {rand_f64({3}, 4)}));
}

TEST(Copy, ConversionGradientsKeepTheSourceDtype) {
  Tensor x = rand_f64({3}, 5);
  sum(x.to(kFloat32) * 2.0).backward();
  EXPECT_EQ(x.grad().dtype(), kFloat64);
  EXPECT_TRUE(all_close(x.grad(), full({3}, 2.0, kFloat64)));
  // Into a float32 destination from a float64 source: the gradient returns as float64.
  Tensor s = rand_f64({2}, 6);
  Tensor d = zeros({2});
  d.copy_(s);
  sum(d).backward();
  EXPECT_EQ(s.grad().dtype(), kFloat64);
  EXPECT_TRUE(all_close(s.grad(), ones({2}, kFloat64)));
  // Integer conversions cut the graph.
  EXPECT_FALSE(x.to(kInt64).requires_grad());
}
