// Copies on and across CUDA devices (cuda/kernels/copy.cu, cuda/transfer.cpp):
// round trips for every dtype pair, non-contiguous and broadcast copy_,
// empty and 0-d tensors, and the errors. The CPU result is the reference.
#include <gtest/gtest.h>

#include <vector>

#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"

#ifdef WICK_WITH_CUDA
#include "cuda/kernels/copy.h"
#endif

using namespace wick;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");
const std::vector<DType> kCpuDTypes = {kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64};
const std::vector<DType> kAllDTypes = {kBool, kUInt8, kInt32, kInt64, kFloat16, kBFloat16, kFloat32, kFloat64};

// 0..9 repeating (bool: > 4), values every dtype holds exactly, so every
// conversion is exact on both devices.
Tensor sample(const Shape& shape, DType dt) {
  std::vector<int64_t> v(static_cast<size_t>(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = dt == kBool ? (i % 10 > 4) : static_cast<int64_t>(i % 10);
  return from_vector(v, shape).to(dt);
}

}  // namespace

TEST(CudaCopy, RoundTripEveryDType) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : kCpuDTypes) {
    Tensor h = sample({3, 37}, dt);
    Tensor d = h.to(kCuda);
    EXPECT_TRUE(d.is_cuda());
    EXPECT_EQ(d.dtype(), dt);
    EXPECT_TRUE(all_equal(d.to(kCPU), h)) << dt;
  }
}

TEST(CudaCopy, EveryDTypePairOnDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType from : kAllDTypes) {
    for (DType to : kAllDTypes) {
      // Built on the device (the CPU has no float16), then compared after a
      // conversion to float64 on the device.
      Tensor src = sample({5, 13}, kInt64).to(kCuda).to(from);
      Tensor out = src.to(to);
      ASSERT_EQ(out.dtype(), to);
      Tensor expect = sample({5, 13}, kInt64);
      if (from == kBool || to == kBool) expect = sample({5, 13}, kInt64).to(kBool).to(kInt64);  // nonzero -> 1
      EXPECT_TRUE(all_equal(out.to(kFloat64).to(kCPU), expect.to(kFloat64))) << from << " -> " << to;
    }
  }
}

TEST(CudaCopy, HostToDeviceWithConversionAndBack) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType from : kCpuDTypes)
    for (DType to : kCpuDTypes) {
      Tensor h = sample({4, 9}, from);
      Tensor d = empty({4, 9}, TensorOptions(to).device(kCuda));
      d.copy_(h);  // cross-device with conversion
      Tensor back = empty({4, 9}, TensorOptions(from));
      back.copy_(d);  // and back, converting again
      EXPECT_TRUE(all_equal(d.to(kCPU), h.to(to))) << from << " -> " << to;
      EXPECT_TRUE(all_equal(back, h.to(to).to(from))) << from << " -> " << to;
    }
  // float16/bfloat16 in host memory: raw bytes travel, the device converts.
  Tensor h = sample({7}, kFloat32);
  Tensor half_on_host = h.to(kCuda).to(kFloat16).to(kCPU);
  EXPECT_EQ(half_on_host.dtype(), kFloat16);
  EXPECT_TRUE(all_equal(half_on_host.to(kCuda).to(kFloat32).to(kCPU), h));
  EXPECT_TRUE(all_equal(h.to(kCuda).to(kBFloat16).to(kCPU).to(kCuda).to(kFloat32).to(kCPU), h));
}

TEST(CudaCopy, NonContiguousSourcesAndDestinations) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor h = randn({6, 7, 5}, TensorOptions(kFloat64));
  Tensor d = h.to(kCuda);
  // Transposed and sliced views on the device, copied to the host.
  Tensor ht = h.transpose(0, 2), dt = d.transpose(0, 2);
  EXPECT_TRUE(all_equal(dt.to(kCPU), ht.contiguous()));
  EXPECT_TRUE(all_equal(dt.contiguous().to(kCPU), ht.contiguous()));
  EXPECT_TRUE(all_equal(d.slice(1, 1, 6, 2).to(kCPU), h.slice(1, 1, 6, 2).contiguous()));
  EXPECT_TRUE(all_equal(dt.to(kFloat32).to(kCPU), ht.to(kFloat32)));
  // A non-contiguous host source to the device.
  EXPECT_TRUE(all_equal(ht.to(kCuda).to(kCPU), ht.contiguous()));
  // Into a non-contiguous device destination (a transposed view), from host and device.
  Tensor dst = zeros({5, 7, 6}, TensorOptions(kFloat64).device(kCuda));
  Tensor dview = dst.transpose(0, 2);  // shape [6, 7, 5]
  dview.copy_(h);
  EXPECT_TRUE(all_equal(dst.to(kCPU), h.transpose(0, 2).contiguous()));
  Tensor dst2 = zeros({5, 7, 6}, TensorOptions(kFloat32).device(kCuda));
  Tensor dview2 = dst2.transpose(0, 2);
  dview2.copy_(d);
  EXPECT_TRUE(all_equal(dst2.to(kCPU), h.transpose(0, 2).to(kFloat32).contiguous()));
  // Into a non-contiguous host destination from the device.
  Tensor hdst = zeros({5, 7, 6}, TensorOptions(kFloat64));
  Tensor hview = hdst.transpose(0, 2);
  hview.copy_(d);
  EXPECT_TRUE(all_equal(hdst, h.transpose(0, 2).contiguous()));
}

TEST(CudaCopy, BroadcastCopy) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor row = tensor({1.0, 2.0, 3.0}, Shape{1, 3});
  Tensor col = tensor({10.0, 20.0}, Shape{2, 1});
  for (const Tensor& src : {row, col}) {
    Tensor hd = zeros({4, 2, 3}, TensorOptions(kFloat32));
    hd.copy_(src);
    Tensor dd = zeros({4, 2, 3}, TensorOptions(kFloat32).device(kCuda));
    dd.copy_(src.to(kCuda));  // on the device
    EXPECT_TRUE(all_equal(dd.to(kCPU), hd));
    Tensor dd2 = zeros({4, 2, 3}, TensorOptions(kInt32).device(kCuda));
    dd2.copy_(src);  // from the host, with conversion
    EXPECT_TRUE(all_equal(dd2.to(kCPU), hd.to(kInt32)));
    Tensor hd2 = zeros({4, 2, 3}, TensorOptions(kFloat64));
    hd2.copy_(src.to(kCuda));  // to the host, broadcast on the device
    EXPECT_TRUE(all_equal(hd2, hd.to(kFloat64)));
  }
  // A 0-d source fills everything.
  Tensor d = zeros({3, 4}, TensorOptions(kInt64).device(kCuda));
  d.copy_(scalar_tensor(7.0));
  EXPECT_TRUE(all_equal(d.to(kCPU), full({3, 4}, int64_t{7})));
}

TEST(CudaCopy, EmptyAndScalar) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor e = empty({0, 3}, TensorOptions(kFloat32));
  Tensor de = e.to(kCuda);
  EXPECT_EQ(de.sizes(), (Shape{0, 3}));
  EXPECT_EQ(de.to(kCPU).numel(), 0);
  EXPECT_EQ(de.to(kFloat64).numel(), 0);
  Tensor s = scalar_tensor(2.5);
  Tensor ds = s.to(kCuda);
  EXPECT_EQ(ds.dim(), 0);
  EXPECT_EQ(ds.item<double>(), 2.5);
  EXPECT_EQ(ds.to(kInt32).item<int32_t>(), 2);
}

TEST(CudaCopy, CloneContiguousAndUnalignedViews) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor h = randn({1001}, TensorOptions(kFloat32));
  Tensor d = h.to(kCuda);
  Tensor c = d.clone();
  EXPECT_TRUE(c.is_cuda());
  EXPECT_NE(c.data_ptr_raw(), d.data_ptr_raw());
  EXPECT_TRUE(all_equal(c.to(kCPU), h));
  // A view starting at element 1: the vectorized path must fall back (misaligned).
  Tensor off = d.slice(0, 1, 1001);
  EXPECT_TRUE(all_equal(off.to(kFloat64).to(kCPU), h.slice(0, 1, 1001).to(kFloat64)));
  EXPECT_TRUE(all_equal(off.to(kFloat16).to(kFloat32).to(kCPU), h.slice(0, 1, 1001).to(kCuda).to(kFloat16).to(kFloat32).to(kCPU)));
  EXPECT_TRUE(all_equal(off.contiguous().to(kCPU), h.slice(0, 1, 1001).contiguous()));
}

TEST(CudaCopy, LargeCopyBeyondPinnedStaging) {
  WICK_SKIP_WITHOUT_CUDA();
  // 80 MiB: goes directly from pageable memory (cuda/pinned.h).
  Tensor h = arange(0, int64_t{20} << 20, 1, TensorOptions(kInt32));
  Tensor d = h.to(kCuda);
  EXPECT_TRUE(all_equal(d.to(kCPU), h));
  // Several small copies back to back reuse the pinned buffers safely.
  for (int i = 0; i < 20; ++i) {
    Tensor x = full({1000}, i, TensorOptions(kInt64));
    EXPECT_TRUE(all_equal(x.to(kCuda).to(kCPU), x)) << i;
  }
}

TEST(CudaCopy, AutogradThroughToDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor x = tensor({1.0, 2.0, 3.0}).requires_grad_();
  Tensor y = x.to(kCuda).to(kCPU);
  y.backward(ones({3}, TensorOptions(kFloat64)));
  EXPECT_TRUE(all_equal(x.grad(), ones({3}, TensorOptions(kFloat64))));
}

TEST(CudaCopy, Errors) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor d = zeros({2, 3}, TensorOptions(kFloat32).device(kCuda));
  EXPECT_WICK_ERROR(d.copy_(ones({3, 2})), "cannot be broadcast");
  EXPECT_WICK_ERROR(d.expand({4, 2, 3}).copy_(ones({4, 2, 3})), "more than one element");
  EXPECT_WICK_ERROR(ones({2}).to(Device("cuda:99")), "out of range");
}

// ---- the strided fast paths of cuda/kernels/copy.cu ----
// Inner-contiguous vectorized copies (permutes that keep the last dim), the
// tiled transpose (a dim other than the last is stride 1 in src), and the
// cases that must fall back to the reference kernel (misaligned views,
// broadcast innermost dims, small planes). The CPU copy is the reference;
// 16-bit data is made on the device from float32 (the CPU has no 16-bit
// dtypes) and its reference is the same conversion of the CPU result, done
// by the contiguous path.

namespace {

// Values that differ from their neighbours in every direction (a wrong
// offset shows), exact in dt: (37 i + 11) mod a prime.
Tensor distinct(const Shape& shape, DType dt) {
  std::vector<int64_t> v(static_cast<size_t>(numel_of(shape)));
  const int64_t m = dt == kBool ? 7 : dt == kUInt8 ? 251 : 100003;
  for (size_t i = 0; i < v.size(); ++i) {
    const int64_t x = (37 * static_cast<int64_t>(i) + 11) % m;
    v[i] = dt == kBool ? (x > 3) : x;
  }
  return from_vector(v, shape).to(dt);
}

const std::vector<DType> kHalfDTypes = {kFloat16, kBFloat16};

// f(x) on the device vs on the CPU for every CPU dtype, and for the 16-bit
// dtypes with float32 data converted on the device.
template <typename F>
void expect_same_on_device(const Shape& shape, F f, const std::string& what) {
  for (DType dt : kCpuDTypes) {
    Tensor h = distinct(shape, dt);
    EXPECT_TRUE(all_equal(f(h.to(kCuda)).to(kCPU), f(h).contiguous())) << what << " " << dt;
  }
  for (DType dt : kHalfDTypes) {
    Tensor h = wick::test::normal(shape, kFloat32, 7);
    Tensor got = f(h.to(kCuda).to(dt)).to(kFloat32).to(kCPU);
    Tensor expect = f(h).contiguous().to(kCuda).to(dt).to(kFloat32).to(kCPU);
    EXPECT_TRUE(all_equal(got, expect)) << what << " " << dt;
  }
}

// Every test below runs with the fast strided paths off (the reference
// kernel) and on (cuda::set_fast_strided_copies).
class CudaCopyStridedPaths : public ::testing::TestWithParam<bool> {
 protected:
#ifdef WICK_WITH_CUDA
  void SetUp() override {
    saved_ = cuda::fast_strided_copies();
    cuda::set_fast_strided_copies(GetParam());
  }
  void TearDown() override { cuda::set_fast_strided_copies(saved_); }
#endif

 private:
  bool saved_ = false;
};

}  // namespace

TEST_P(CudaCopyStridedPaths, PermuteKeepingTheInnerDimEveryDType) {
  WICK_SKIP_WITHOUT_CUDA();
  // The attention head permutes (B, L, H, D) <-> (B, H, L, D); inner sizes
  // that allow every vector width (64, 16, 8), only narrower ones (12, 6, 2)
  // and none (7, 1).
  for (int64_t dh : {64, 16, 8, 12, 6, 2, 7, 1}) {
    const std::string what = "D=" + std::to_string(dh);
    expect_same_on_device({2, 5, 3, dh}, [](const Tensor& x) { return x.permute({0, 2, 1, 3}).contiguous(); }, what);
    expect_same_on_device({2, 3, 5, dh}, [](const Tensor& x) { return x.permute({0, 2, 1, 3}).contiguous(); }, what);
    expect_same_on_device({4, 9, dh}, [](const Tensor& x) { return x.transpose(0, 1).contiguous(); }, what);
  }
  // A permute of the outer dims of a 5-D tensor (several dims left after coalescing).
  expect_same_on_device({3, 2, 4, 5, 32}, [](const Tensor& x) { return x.permute({2, 0, 3, 1, 4}).contiguous(); },
                        "5-D");
}

TEST_P(CudaCopyStridedPaths, StridedPathsConvertEveryDTypePair) {
  WICK_SKIP_WITHOUT_CUDA();
  // Values 0..9 (every dtype holds them exactly), the permute / transpose on
  // the device with a conversion, compared in float64.
  struct Case {
    Shape shape;
    std::vector<int64_t> perm;
  };
  const std::vector<Case> cases = {
      {{2, 3, 5, 16}, {0, 2, 1, 3}}, {{2, 3, 5, 8}, {0, 2, 1, 3}}, {{2, 3, 5, 12}, {0, 2, 1, 3}},
      {{2, 3, 5, 6}, {0, 2, 1, 3}},  {{2, 3, 5, 5}, {0, 2, 1, 3}}, {{37, 53}, {1, 0}},
      {{3, 20, 33}, {0, 2, 1}}};
  for (const Case& c : cases)
    for (DType from : kAllDTypes)
      for (DType to : kAllDTypes) {
        Tensor src = sample(c.shape, kInt64).to(kCuda).to(from);
        Tensor out = src.permute(c.perm).to(to);
        ASSERT_EQ(out.dtype(), to);
        Tensor expect = sample(c.shape, kInt64);
        if (from == kBool || to == kBool) expect = expect.to(kBool).to(kInt64);  // nonzero -> 1
        EXPECT_TRUE(all_equal(out.to(kFloat64).to(kCPU), expect.permute(c.perm).to(kFloat64)))
            << from << " -> " << to << " " << shape_str(c.shape);
      }
}

TEST_P(CudaCopyStridedPaths, TransposedFloat32ToBFloat16) {
  WICK_SKIP_WITHOUT_CUDA();
  // A transposed weight cast for a bfloat16 matmul: odd sizes, one element,
  // empty, planes just at and below the tile threshold, and many tiles.
  for (const Shape& shape : {Shape{37, 53}, Shape{1, 1}, Shape{0, 53}, Shape{53, 0}, Shape{8, 8}, Shape{7, 40},
                             Shape{40, 7}, Shape{32, 64}, Shape{300, 257}}) {
    Tensor h = wick::test::normal(shape, kFloat32, 11);
    for (DType dt : kHalfDTypes) {
      Tensor got = h.to(kCuda).t().to(dt);
      ASSERT_EQ(got.sizes(), (Shape{shape[1], shape[0]}));
      Tensor expect = h.t().contiguous().to(kCuda).to(dt);  // the contiguous conversion
      EXPECT_TRUE(all_equal(got.to(kFloat32).to(kCPU), expect.to(kFloat32).to(kCPU))) << shape_str(shape) << " " << dt;
    }
    // Same dtype (a plain transpose) and float64 -> float32.
    EXPECT_TRUE(all_equal(h.to(kCuda).t().contiguous().to(kCPU), h.t().contiguous())) << shape_str(shape);
    Tensor h64 = h.to(kFloat64);
    EXPECT_TRUE(all_equal(h64.to(kCuda).t().to(kFloat32).to(kCPU), h64.t().to(kFloat32))) << shape_str(shape);
  }
}

TEST_P(CudaCopyStridedPaths, BatchedTranspose) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_same_on_device({3, 70, 33}, [](const Tensor& x) { return x.transpose(1, 2).contiguous(); }, "(3,70,33)^T");
  expect_same_on_device({3, 33, 70}, [](const Tensor& x) { return x.transpose(1, 2).contiguous(); }, "(3,33,70)^T");
  // Two batch dims, neither contiguous (src strides 36 and 4320).
  expect_same_on_device({4, 40, 3, 36}, [](const Tensor& x) { return x.permute({2, 0, 3, 1}).contiguous(); },
                        "permute(2,0,3,1)");
  // The src-contiguous dim becomes the outermost one, the batch sits between.
  expect_same_on_device({2, 9, 3, 16}, [](const Tensor& x) { return x.permute({3, 0, 2, 1}).contiguous(); },
                        "permute(3,0,2,1)");
}

TEST_P(CudaCopyStridedPaths, MisalignedAndOffsetViews) {
  WICK_SKIP_WITHOUT_CUDA();
  // A permute of a view starting `off` elements into its buffer: off = 1
  // (and 3) is misaligned for any vector of float32, off = 2 allows pairs,
  // off = 4 the full 16 bytes; bfloat16 likewise with twice the elements.
  for (int64_t off = 0; off <= 5; ++off) {
    Tensor h = wick::test::normal({off + 5 * 3 * 64}, kFloat32, 3);
    Tensor hv = h.narrow(0, off, 5 * 3 * 64).view({5, 3, 64});
    Tensor expect = hv.permute({1, 0, 2}).contiguous();
    Tensor dv = h.to(kCuda).narrow(0, off, 5 * 3 * 64).view({5, 3, 64});
    EXPECT_TRUE(all_equal(dv.permute({1, 0, 2}).contiguous().to(kCPU), expect)) << off;
    EXPECT_TRUE(all_equal(dv.permute({1, 0, 2}).to(kFloat64).to(kCPU), expect.to(kFloat64))) << off;
    Tensor bv = h.to(kCuda).to(kBFloat16).narrow(0, off, 5 * 3 * 64).view({5, 3, 64});
    EXPECT_TRUE(all_equal(bv.permute({1, 0, 2}).contiguous().to(kFloat32).to(kCPU),
                          expect.to(kCuda).to(kBFloat16).to(kFloat32).to(kCPU)))
        << off;
  }
  // A sliced, offset, transposed view (the transpose path takes any base).
  Tensor h = wick::test::normal({40, 50}, kFloat32, 5);
  Tensor hv = h.slice(0, 3, 40).slice(1, 1, 50, 2).t();
  Tensor dv = h.to(kCuda).slice(0, 3, 40).slice(1, 1, 50, 2).t();
  EXPECT_TRUE(all_equal(dv.contiguous().to(kCPU), hv.contiguous()));
  EXPECT_TRUE(all_equal(h.to(kCuda).slice(0, 3, 40).slice(1, 1, 49).t().contiguous().to(kCPU),
                        h.slice(0, 3, 40).slice(1, 1, 49).t().contiguous()));
  EXPECT_TRUE(all_equal(h.to(kCuda).slice(0, 3, 40).t().to(kBFloat16).to(kFloat32).to(kCPU),
                        h.slice(0, 3, 40).t().contiguous().to(kCuda).to(kBFloat16).to(kFloat32).to(kCPU)));
}

TEST_P(CudaCopyStridedPaths, BroadcastSourcesOnTheStridedPaths) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor row = wick::test::normal({64}, kFloat32, 1);
  Tensor col = wick::test::normal({6, 1}, kFloat32, 2);
  Tensor mat = wick::test::normal({30, 40}, kFloat32, 3);
  // (source, destination shape): a row (stride 0 outside the inner run: the
  // vector path), a column (stride 0 innermost: the reference kernel), and a
  // transposed matrix repeated over a batch (the transpose path).
  const std::vector<std::pair<Tensor, Shape>> cases = {
      {row, {6, 5, 64}}, {row.view({1, 64}), {4, 1, 64}}, {col, {6, 64}}, {mat.t(), {5, 40, 30}},
      {mat.view({30, 1, 40}), {30, 3, 40}}};
  for (const auto& [src, shape] : cases) {
    for (DType dt : {kFloat32, kFloat64, kInt32}) {
      Tensor expect = zeros(shape, TensorOptions(dt));
      expect.copy_(src);
      Tensor got = zeros(shape, TensorOptions(dt).device(kCuda));
      got.copy_(src.to(kCuda));
      EXPECT_TRUE(all_equal(got.to(kCPU), expect)) << shape_str(shape) << " " << dt;
      EXPECT_TRUE(all_equal(src.to(kCuda).expand(shape).to(dt).to(kCPU), expect)) << shape_str(shape) << " " << dt;
    }
    Tensor got16 = zeros(shape, TensorOptions(kBFloat16).device(kCuda));
    got16.copy_(src.to(kCuda));
    Tensor expect16 = src.expand(shape).contiguous().to(kCuda).to(kBFloat16);
    EXPECT_TRUE(all_equal(got16.to(kFloat32).to(kCPU), expect16.to(kFloat32).to(kCPU))) << shape_str(shape);
  }
}

TEST_P(CudaCopyStridedPaths, IntoNonContiguousDestinations) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor h = wick::test::normal({50, 40}, kFloat32, 9);
  // Into a transposed view from a contiguous source: dst stride 1 in dim 0,
  // src stride 1 in dim 1 (the transpose path with the roles swapped).
  for (DType dt : {kFloat32, kFloat64, kInt64}) {
    Tensor dst = zeros({40, 50}, TensorOptions(dt).device(kCuda));
    dst.t().copy_(h.to(kCuda));
    EXPECT_TRUE(all_equal(dst.to(kCPU), h.t().to(dt))) << dt;
  }
  Tensor dst16 = zeros({40, 50}, TensorOptions(kBFloat16).device(kCuda));
  dst16.t().copy_(h.to(kCuda));
  EXPECT_TRUE(all_equal(dst16.to(kFloat32).to(kCPU), h.t().contiguous().to(kCuda).to(kBFloat16).to(kFloat32).to(kCPU)));
  // Into a column slice of a wider buffer (the vector path, 32-byte aligned
  // start; then a misaligned one): the columns outside stay zero.
  Tensor src = wick::test::normal({6, 64}, kFloat32, 4);
  for (int64_t start : {8, 3}) {
    Tensor dst = zeros({6, 80}, TensorOptions(kFloat32).device(kCuda));
    dst.narrow(1, start, 64).copy_(src.to(kCuda));
    Tensor expect = zeros({6, 80}, TensorOptions(kFloat32));
    expect.narrow(1, start, 64).copy_(src);
    EXPECT_TRUE(all_equal(dst.to(kCPU), expect)) << start;
    Tensor dst16 = zeros({6, 80}, TensorOptions(kBFloat16).device(kCuda));
    dst16.narrow(1, start, 64).copy_(src.to(kCuda));
    EXPECT_TRUE(all_equal(dst16.to(kFloat32).to(kCPU), expect.to(kCuda).to(kBFloat16).to(kFloat32).to(kCPU))) << start;
  }
  // A permuted destination of a 4-D tensor, written from a permuted source.
  Tensor x = wick::test::normal({2, 5, 3, 64}, kFloat32, 8);
  Tensor d4 = zeros({2, 3, 5, 64}, TensorOptions(kFloat32).device(kCuda));
  d4.permute({0, 2, 1, 3}).copy_(x.to(kCuda));
  EXPECT_TRUE(all_equal(d4.to(kCPU), x.permute({0, 2, 1, 3}).contiguous()));
}

INSTANTIATE_TEST_SUITE_P(ReferenceAndFast, CudaCopyStridedPaths, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "fast" : "reference"; });
