// Creation ops (ops/creation.h): dtype inference, arange / linspace / eye
// against torch (tests/fixtures/tensor/creation_*), data from vectors and
// caller buffers (with strides and deleters), *_like, and error messages.
#include <cmath>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

Tensor fx(const std::string& name) { return fixture("tensor/creation_" + name); }

// Restores the default dtype when a test changes it.
struct DefaultDtypeGuard {
  DType saved = default_dtype();
  ~DefaultDtypeGuard() { set_default_dtype(saved); }
};

}  // namespace

TEST(Creation, ZerosOnesFullDtypeInference) {
  EXPECT_EQ(zeros({2, 3}).dtype(), kFloat32);
  EXPECT_EQ(ones({2}, kInt32).dtype(), kInt32);
  EXPECT_EQ(full({2}, 3).dtype(), kInt64);
  EXPECT_EQ(full({2}, 2.5).dtype(), kFloat32);
  EXPECT_EQ(full({2}, true).dtype(), kBool);
  EXPECT_EQ(full({2}, 2.5, kFloat64).dtype(), kFloat64);
  EXPECT_EQ(scalar_tensor(3).dtype(), kInt64);
  EXPECT_EQ(scalar_tensor(3).dim(), 0);
  EXPECT_EQ(zeros({2, 3}).tolist<float>(), std::vector<float>(6, 0.f));
  EXPECT_EQ(ones({3}, kUInt8).tolist<int64_t>(), std::vector<int64_t>(3, 1));
  EXPECT_EQ(full({2, 2}, -7).tolist<int64_t>(), std::vector<int64_t>(4, -7));
  EXPECT_EQ(full({2}, 2.9, kInt32).tolist<int64_t>(), std::vector<int64_t>(2, 2));  // truncates like torch
  EXPECT_EQ(full({3}, 0.5, kBool).tolist<bool>(), std::vector<bool>(3, true));
  EXPECT_EQ(zeros({0, 4}).numel(), 0);
  EXPECT_TRUE(zeros({2}, TensorOptions().requires_grad()).requires_grad());
  EXPECT_TRUE(zeros({2}).is_contiguous());
  {
    DefaultDtypeGuard g;
    set_default_dtype(kFloat64);
    EXPECT_EQ(zeros({2}).dtype(), kFloat64);
    EXPECT_EQ(full({2}, 2.5).dtype(), kFloat64);
    EXPECT_EQ(full({2}, 2).dtype(), kInt64);
    EXPECT_EQ(arange(0.0, 1.0, 0.5).dtype(), kFloat64);
  }
  EXPECT_WICK_ERROR(zeros({2, -1}), "empty: negative dimension in shape [2,-1]");
  EXPECT_WICK_ERROR(set_default_dtype(kInt64), "set_default_dtype: only float32 or float64");
}

TEST(Creation, ArangeIntegers) {
  EXPECT_TRUE(all_equal(arange(10), fx("arange_10")));
  EXPECT_TRUE(all_equal(arange(-3, 7, 2), fx("arange_int_step")));
  EXPECT_TRUE(all_equal(arange(10, 0, -3), fx("arange_neg_step")));
  EXPECT_TRUE(all_equal(arange(0, 5, 1, kFloat32), fx("arange_int_as_f32")));
  EXPECT_EQ(arange(5, 5).numel(), 0);
  EXPECT_EQ(arange(0, 10, 3).tolist<int64_t>(), (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(arange(0, 10, 3, kInt32).dtype(), kInt32);
}

TEST(Creation, ArangeFloats) {
  // Lengths must match exactly; values to float32 rounding (torch's vectorized
  // CPU kernel may round the last bit differently).
  struct Case {
    const char* name;
    Tensor got;
  };
  const Case cases[] = {
      {"arange_f_01", arange(0, 1, 0.1)},
      {"arange_f_half", arange(1, 2.5, 0.5)},
      {"arange_f_neg", arange(-1, -2, -0.25)},
      {"arange_f64_03", arange(0.0, 1.0, 0.3, kFloat64)},
      {"arange_f_big", arange(-5.5, 100.0, 1.7)},
  };
  for (const Case& c : cases) {
    Tensor want = fx(c.name);
    EXPECT_EQ(c.got.dtype(), want.dtype()) << c.name;
    EXPECT_TRUE(all_close(c.got, want, 1e-6, 1e-6)) << c.name;
  }
  EXPECT_TRUE(all_equal(arange(0.0, 1.0, 0.3, kFloat64), fx("arange_f64_03")));
}

TEST(Creation, ArangeErrors) {
  EXPECT_WICK_ERROR(arange(0, 5, 0), "arange: step must be nonzero");
  EXPECT_WICK_ERROR(arange(0, 5, -1), "arange: upper bound and larger bound inconsistent with step sign");
  EXPECT_WICK_ERROR(arange(5.0, 0.0, 0.5), "arange: upper bound and larger bound inconsistent");
  EXPECT_WICK_ERROR(arange(0.0, INFINITY, 1.0), "arange: start and end must be finite");
  EXPECT_WICK_ERROR(arange(0, 3, 1, kBool), "arange: dtype bool is not supported");
}

TEST(Creation, Linspace) {
  const struct {
    const char* name;
    Tensor got;
    double tol;
  } cases[] = {
      {"linspace_5", linspace(0, 1, 5), 0},
      {"linspace_7_neg", linspace(3, -2, 7), 1e-6},
      {"linspace_f64", linspace(-1.3, 2.9, 11, kFloat64), 1e-15},
      {"linspace_f32_odd", linspace(0.1, 0.7, 13), 1e-6},
      {"linspace_1", linspace(2.5, 9, 1), 0},
      {"linspace_int", linspace(0.5, 10.3, 5, kInt64), 0},
      {"linspace_int_neg", linspace(-7, 8, 6, kInt32), 0},
  };
  for (const auto& c : cases) {
    Tensor want = fx(c.name);
    EXPECT_EQ(c.got.dtype(), want.dtype()) << c.name;
    EXPECT_TRUE(all_close(c.got, want, c.tol, c.tol)) << c.name;
  }
  // Both endpoints are exact.
  auto v = linspace(0.1, 0.7, 13).tolist<float>();
  EXPECT_EQ(v.front(), 0.1f);
  EXPECT_EQ(v.back(), 0.7f);
  EXPECT_EQ(linspace(0, 1, 0).numel(), 0);
  EXPECT_WICK_ERROR(linspace(0, 1, -1), "linspace: number of steps must be non-negative");
  EXPECT_WICK_ERROR(linspace(-7, 8, 6, kUInt8), "linspace: start -7 or end 8 cannot be converted to dtype uint8");
}

TEST(Creation, Eye) {
  EXPECT_TRUE(all_equal(eye(3), fx("eye_3")));
  EXPECT_TRUE(all_equal(eye(2, 4), fx("eye_2_4")));
  EXPECT_TRUE(all_equal(eye(4, 2, kInt64), fx("eye_4_2_i64")));
  EXPECT_EQ(eye(0).sizes(), (Shape{0, 0}));
  EXPECT_EQ(eye(2, {}, kBool).tolist<bool>(), (std::vector<bool>{true, false, false, true}));
  EXPECT_WICK_ERROR(eye(-1), "eye: sizes must be non-negative, got -1 x -1");
  EXPECT_WICK_ERROR(eye(2, -3), "eye: sizes must be non-negative, got 2 x -3");
}

TEST(Creation, FromVectorAndTensor) {
  Tensor a = from_vector(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, Shape{2, 3});
  EXPECT_EQ(a.dtype(), kInt32);
  EXPECT_EQ(a.sizes(), (Shape{2, 3}));
  EXPECT_EQ(a[1][2].item<int64_t>(), 6);
  Tensor b = from_vector(std::vector<double>{1.5, -2.5}, {}, kInt64);  // converted
  EXPECT_EQ(b.dtype(), kInt64);
  EXPECT_EQ(b.tolist<int64_t>(), (std::vector<int64_t>{1, -2}));
  Tensor c = from_vector(std::vector<bool>{true, false});
  EXPECT_EQ(c.dtype(), kBool);
  Tensor s = from_vector(std::vector<float>{4.f}, Shape{});
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<float>(), 4.f);
  EXPECT_EQ(from_vector(std::vector<float>{}).sizes(), (Shape{0}));
  EXPECT_EQ(tensor({1, 2, 3}).dtype(), kInt64);
  EXPECT_EQ(tensor({1.f, 2.f}).dtype(), kFloat32);
  EXPECT_EQ(tensor({1.0, 2.0}).dtype(), kFloat64);
  EXPECT_EQ(tensor({true}).dtype(), kBool);
  Tensor r = tensor({1.0, 2.0, 3.0, 4.0}, Shape{2, 2}, TensorOptions(kFloat32).requires_grad());
  EXPECT_EQ(r.dtype(), kFloat32);
  EXPECT_TRUE(r.requires_grad());
  EXPECT_TRUE(r.is_leaf());
  EXPECT_WICK_ERROR(from_vector(std::vector<float>{1, 2, 3}, Shape{2, 2}),
                    "from_vector: shape [2,2] holds 4 elements but 3 values were given");
  EXPECT_WICK_ERROR(tensor({1, 2}, Shape{3}), "from_vector: shape [3] holds 3 elements");
}

TEST(Creation, FromBlobWithStridesAndDeleter) {
  double* buf = new double[6]{0, 1, 2, 3, 4, 5};
  int deleted = 0;
  {
    // A transposed view of a row-major [2, 3] buffer.
    Tensor t = from_blob(buf, {3, 2}, kFloat64, Shape{1, 3}, [&](void* p) {
      ++deleted;
      delete[] static_cast<double*>(p);
    });
    EXPECT_FALSE(t.is_contiguous());
    EXPECT_EQ(t.tolist<double>(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
    // No copy: writes reach the caller's buffer.
    Tensor col = t.select(1, 1);
    col.copy_(scalar_tensor(9.0, kFloat64));
    EXPECT_EQ(buf[3], 9.0);
    EXPECT_EQ(buf[5], 9.0);
    Tensor view = t.t();  // keeps the storage alive
    t = Tensor();
    EXPECT_EQ(deleted, 0);
    EXPECT_EQ(view[1][0].item(), 9.0);
  }
  EXPECT_EQ(deleted, 1);
  // Without a deleter the caller keeps ownership.
  float local[4] = {1, 2, 3, 4};
  Tensor l = from_blob(local, {2, 2}, kFloat32);
  EXPECT_TRUE(l.is_contiguous());
  EXPECT_EQ(l[1][0].item<float>(), 3.f);
  EXPECT_WICK_ERROR(from_blob(local, {2, 2}, kFloat32, Shape{1}), "from_blob: 2 sizes but 1 strides");
  EXPECT_WICK_ERROR(from_blob(local, {2}, kFloat32, Shape{-1}), "from_blob: negative size or stride");
}

TEST(Creation, LikeFunctions) {
  Tensor i = arange(6, kInt32).reshape({2, 3}).t();  // non-contiguous int32
  Tensor z = zeros_like(i);
  EXPECT_EQ(z.dtype(), kInt32);
  EXPECT_EQ(z.sizes(), (Shape{3, 2}));
  EXPECT_TRUE(z.is_contiguous());
  EXPECT_EQ(ones_like(i, kFloat64).dtype(), kFloat64);
  EXPECT_EQ(ones_like(i).tolist<int64_t>(), std::vector<int64_t>(6, 1));
  Tensor f = full_like(i, 2.5);  // the input's dtype wins: truncated
  EXPECT_EQ(f.dtype(), kInt32);
  EXPECT_EQ(f.tolist<int64_t>(), std::vector<int64_t>(6, 2));
  EXPECT_EQ(empty_like(i).sizes(), (Shape{3, 2}));
  Tensor g = rand_f64({2});
  EXPECT_FALSE(zeros_like(g).requires_grad());
  EXPECT_TRUE(zeros_like(g, TensorOptions().requires_grad()).requires_grad());
  EXPECT_EQ(zeros_like(scalar_tensor(1.5)).dim(), 0);
}
