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
