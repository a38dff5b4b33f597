// The CUDA index_select / index_add kernels (cuda/kernels/indexing.cu)
// through index_select, index_add and embedding, against the CPU: every
// dim, repeated and int32 indices, empty indices, non-contiguous inputs,
// several dtypes, out-of-range errors, the backward (deterministic with
// repeated indices) and float64 gradchecks on the device. Skips without a GPU.
#include <gtest/gtest.h>

#include <functional>

#include "autograd/gradcheck.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/reduction.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

Tensor normal(const Shape& s, DType dt, uint64_t seed) { return wick::test::randn_t(s, dt, seed, false); }

}  // namespace

TEST(CudaIndexing, IndexSelectEveryDimMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor idx = tensor({4, 0, 0, 2, 4, 1}, {}, kInt64);
  for (DType dt : {kFloat32, kFloat64, kInt64, kInt32})
    for (int64_t d = 0; d < 3; ++d) {
      SCOPED_TRACE(str(dt, " dim ", d));
      Tensor x = mul(normal({5, 6, 7}, kFloat64, 1 + d), 10.0).to(dt);
      EXPECT_TRUE(all_equal(index_select(x.to(kCuda), d, idx.to(kCuda)).cpu(), index_select(x, d, idx)));
      EXPECT_TRUE(all_equal(index_select(x.to(kCuda), d, idx.to(kInt32).to(kCuda)).cpu(), index_select(x, d, idx)));
      // A transposed (non-contiguous) x.
      Tensor xt = x.transpose(0, 2);
      EXPECT_TRUE(all_equal(index_select(x.to(kCuda).transpose(0, 2), d, idx.to(kCuda)).cpu(), index_select(xt, d, idx)));
      // An empty index.
      EXPECT_EQ(index_select(x.to(kCuda), d, empty({0}, TensorOptions(kInt64).device(kCuda))).size(d), 0);
    }
  // float16 rows move bit for bit.
  Tensor h = normal({9, 33}, kFloat32, 5).to(kCuda).to(kFloat16);
  EXPECT_TRUE(all_equal(index_select(h, 0, idx.to(kCuda)).to(kFloat32).cpu(), index_select(h.to(kFloat32).cpu(), 0, idx)));
}

TEST(CudaIndexing, IndexAddRepeatedIndicesAndAlpha) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor idx = tensor({1, 3, 1, 0, 3, 3}, {}, kInt64);
  for (DType dt : {kFloat32, kFloat64, kInt64})
    for (int64_t d = 0; d < 2; ++d) {
      SCOPED_TRACE(str(dt, " dim ", d));
      Tensor x = mul(normal({4, 5}, kFloat64, 7), 4.0).to(dt);
      Shape ss = {4, 5};
      ss[d] = 6;
      Tensor src = mul(normal(ss, kFloat64, 8), 4.0).to(dt);
      const Scalar alpha = is_floating(dt) ? Scalar(0.5) : Scalar(int64_t{2});
      Tensor c = index_add(x, d, idx, src, alpha);
      Tensor g = index_add(x.to(kCuda), d, idx.to(kCuda), src.to(kCuda), alpha).cpu();
      EXPECT_TRUE(dt == kFloat32 ? all_close(g, c, 1e-6, 1e-6) : all_equal(g, c));
    }
}

TEST(CudaIndexing, OutOfRangeIndicesAreErrors) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor x = ones({5, 3}, TensorOptions(kFloat32).device(kCuda));
  EXPECT_WICK_ERROR(index_select(x, 0, tensor({0, 9, 7}, {}, kInt64).to(kCuda)),
                    "index_select: index 9 is out of bounds for dimension 0 with size 5");
  EXPECT_WICK_ERROR(index_select(x, 1, tensor({-1}, {}, kInt64).to(kCuda)), "index -1 is out of bounds");
  EXPECT_WICK_ERROR(index_add(x, 0, tensor({5}, {}, kInt64).to(kCuda), ones({1, 3}, TensorOptions(kFloat32).device(kCuda))),
                    "index_add: index 5 is out of bounds");
  EXPECT_WICK_ERROR(embedding(x, tensor({2, 5}, {}, kInt64).to(kCuda)), "embedding: index 5 is out of bounds");
  EXPECT_WICK_ERROR(index_select(x, 0, tensor({0}, {}, kInt64)), "expected all tensors on the same device");
}

TEST(CudaIndexing, EmbeddingForwardBackwardMatchTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor w = normal({11, 40}, kFloat32, 9);
  Tensor ids = tensor({3, 3, 0, 10, 7, 3, 1, 0}, {}, kInt64).reshape({2, 4});
  Tensor gy = normal({2, 4, 40}, kFloat32, 10);
  for (int64_t pad : {-1, 3}) {
    SCOPED_TRACE(str("padding_idx ", pad));
    auto run = [&](const Device& dev) {
      Tensor wl = w.to(dev).detach().requires_grad_(true);
      Tensor y = embedding(wl, ids.to(dev), pad);
      sum(mul(y, gy.to(dev))).backward();
      return std::pair{y.detach().cpu(), wl.grad().cpu()};
    };
    const auto c = run(Device(kCPU)), g = run(kCuda), g2 = run(kCuda);
    EXPECT_TRUE(all_equal(g.first, c.first));
    EXPECT_TRUE(all_close(g.second, c.second, 1e-6, 1e-6));
    EXPECT_TRUE(all_equal(g.second, g2.second));  // deterministic, repeated ids included
  }
}

TEST(CudaIndexing, GradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor idx = tensor({2, 0, 2, 1}, {}, kInt64).to(kCuda);
  auto on_gpu = [](std::function<Tensor(const Tensor&)> f) {
    return [f](const tensor_list& in) { return f(in[0].to(kCuda)).to(kCPU); };
  };
  Tensor x = wick::test::rand_f64({3, 4}, 11);
  EXPECT_TRUE(gradcheck(on_gpu([&](const Tensor& v) { return index_select(v, 0, idx); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([&](const Tensor& v) { return index_select(v, 1, idx); }), {x}));
  EXPECT_TRUE(gradcheck(on_gpu([&](const Tensor& v) { return embedding(v, idx.reshape({2, 2}), 0); }), {x}));
  EXPECT_TRUE(gradgradcheck(on_gpu([&](const Tensor& v) { return mul(index_select(v, 0, idx), index_select(v, 0, idx)); }), {x}));
}
