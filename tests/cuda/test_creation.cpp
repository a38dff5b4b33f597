// Creation ops on CUDA (cuda/kernels/fill.cu): zeros/ones/full/fill_/zero_,
// arange, linspace, eye, *_like and from_vector, against the CPU.
#include <gtest/gtest.h>

#include "ops/creation.h"
#include "ops/elementwise.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {
const Device kCuda("cuda");
const std::vector<DType> kCpuDTypes = {kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64};
}  // namespace

TEST(CudaCreation, FullZerosOnesEveryDType) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : kCpuDTypes) {
    for (const Shape& shape : {Shape{}, Shape{0}, Shape{1}, Shape{3, 5}, Shape{2, 3, 1001}}) {
      EXPECT_TRUE(all_equal(zeros(shape, TensorOptions(dt).device(kCuda)).to(kCPU), zeros(shape, dt))) << dt;
      EXPECT_TRUE(all_equal(ones(shape, TensorOptions(dt).device(kCuda)).to(kCPU), ones(shape, dt))) << dt;
      EXPECT_TRUE(all_equal(full(shape, 7, TensorOptions(dt).device(kCuda)).to(kCPU), full(shape, 7, dt))) << dt;
      EXPECT_TRUE(all_equal(full(shape, 2.75, TensorOptions(dt).device(kCuda)).to(kCPU), full(shape, 2.75, dt))) << dt;
    }
  }
  // The dtype follows the scalar as on the CPU.
  EXPECT_EQ(full({2}, true, TensorOptions(kCuda)).dtype(), kBool);
  EXPECT_EQ(full({2}, int64_t{3}, TensorOptions(kCuda)).dtype(), kInt64);
  // 16-bit floats exist on the device only.
  Tensor h = full({3, 3}, 1.5, TensorOptions(kFloat16).device(kCuda));
  EXPECT_TRUE(all_equal(h.to(kFloat32).to(kCPU), full({3, 3}, 1.5, kFloat32)));
  Tensor b = full({5}, -0.25, TensorOptions(kBFloat16).device(kCuda));
  EXPECT_TRUE(all_equal(b.to(kFloat32).to(kCPU), full({5}, -0.25, kFloat32)));
}

TEST(CudaCreation, FillNonContiguousAndGrad) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor d = zeros({4, 6}, TensorOptions(kFloat32).device(kCuda));
  Tensor h = zeros({4, 6}, TensorOptions(kFloat32));
  Tensor dv = d.slice(1, 1, 6, 2), hv = h.slice(1, 1, 6, 2);
  dv.fill_(3.0);
  hv.fill_(3.0);
  EXPECT_TRUE(all_equal(d.to(kCPU), h));
  Tensor dt = d.transpose(0, 1);
  dt.zero_();
  EXPECT_TRUE(all_equal(d.to(kCPU), zeros({4, 6}, kFloat32)));
  Tensor odd = zeros({1001}, TensorOptions(kInt32).device(kCuda)).slice(0, 1, 1001);  // misaligned start
  odd.fill_(5);
  EXPECT_TRUE(all_equal(odd.to(kCPU), full({1000}, 5, kInt32)));
  EXPECT_TRUE(ones({2}, TensorOptions(kFloat32).device(kCuda).requires_grad()).requires_grad());
}

TEST(CudaCreation, ArangeLinspaceEye) {
  WICK_SKIP_WITHOUT_CUDA();
  EXPECT_TRUE(all_equal(arange(10, TensorOptions(kCuda)).to(kCPU), arange(10)));
  EXPECT_TRUE(all_equal(arange(-5, 17, 3, TensorOptions(kCuda)).to(kCPU), arange(-5, 17, 3)));
  EXPECT_TRUE(all_equal(arange(5, -5, -2, TensorOptions(kInt32).device(kCuda)).to(kCPU), arange(5, -5, -2, kInt32)));
  // Floating steps: one rounding per operation on both devices.
  EXPECT_TRUE(all_close(arange(0.0, 1.0, 0.1, TensorOptions(kCuda)).to(kCPU), arange(0.0, 1.0, 0.1), 1e-7, 2.5e-7));
  EXPECT_TRUE(all_close(arange(-3.0, 100.0, 0.37, TensorOptions(kFloat64).device(kCuda)).to(kCPU),
                        arange(-3.0, 100.0, 0.37, kFloat64), 0, 1e-15));
  EXPECT_WICK_ERROR(arange(5, TensorOptions(kBool).device(kCuda)), "bool");
  for (int64_t steps : {0, 1, 2, 7, 1000})
    for (DType dt : {kFloat32, kFloat64, kInt64, kInt32}) {
      Tensor d = linspace(-2.0, 9.0, steps, TensorOptions(dt).device(kCuda)).to(kCPU);
      Tensor h = linspace(-2.0, 9.0, steps, dt);
      const double tol = dt == kFloat32 ? 1e-6 : 1e-14;
      EXPECT_TRUE(all_close(d, h, tol, tol)) << steps << " " << dt;
      if (steps >= 2) {  // both endpoints exact
        EXPECT_EQ(d.tolist<double>().front(), h.tolist<double>().front());
        EXPECT_EQ(d.tolist<double>().back(), h.tolist<double>().back());
      }
    }
  EXPECT_WICK_ERROR(linspace(0, 300, 4, TensorOptions(kUInt8).device(kCuda)), "overflow");
  for (DType dt : kCpuDTypes) {
    EXPECT_TRUE(all_equal(eye(4, {}, TensorOptions(dt).device(kCuda)).to(kCPU), eye(4, {}, dt))) << dt;
    EXPECT_TRUE(all_equal(eye(3, 5, TensorOptions(dt).device(kCuda)).to(kCPU), eye(3, 5, dt))) << dt;
    EXPECT_TRUE(all_equal(eye(6, 2, TensorOptions(dt).device(kCuda)).to(kCPU), eye(6, 2, dt))) << dt;
  }
  EXPECT_EQ(eye(0, {}, TensorOptions(kCuda)).numel(), 0);
}

TEST(CudaCreation, LikeAndFromVector) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor d = ones({2, 3}, TensorOptions(kInt32).device(kCuda));
  Tensor z = zeros_like(d);
  EXPECT_TRUE(z.is_cuda());
  EXPECT_EQ(z.dtype(), kInt32);
  EXPECT_TRUE(all_equal(full_like(d, 4).to(kCPU), full({2, 3}, 4, kInt32)));
  EXPECT_TRUE(empty_like(d).is_cuda());
  EXPECT_TRUE(ones_like(d, TensorOptions(kFloat64)).is_cuda());
  Tensor v = tensor({1.0f, 2.0f, 3.0f}, Shape{3}, TensorOptions(kCuda));
  EXPECT_TRUE(v.is_cuda());
  EXPECT_EQ(v.to(kCPU).tolist<float>(), (std::vector<float>{1, 2, 3}));
}
