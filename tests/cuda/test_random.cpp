// RNG parity (cuda/kernels/random.cu): for the same generator state, the CUDA
// samples equal the CPU's and the generator advances the same way. Exact for
// the integer-derived streams; randn/normal within the bound that CUDA's
// double log/cos allow (see random.cu), measured and reported here.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "ops/creation.h"
#include "ops/shape.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"

using namespace wick;
using wick::test::all_equal;

namespace {
const Device kCuda("cuda");

// Runs f(gen, device) on both devices from the same state; checks the offsets agree.
template <typename F>
std::pair<Tensor, Tensor> both(uint64_t seed, F f) {
  Generator gc(seed), gg(seed);
  gc.set_offset(5);
  gg.set_offset(5);
  Tensor c = f(gc, kCPU);
  Tensor g = f(gg, kCuda);
  EXPECT_TRUE(g.is_cuda());
  EXPECT_EQ(gc.offset(), gg.offset()) << "the generators advanced differently";
  return {c, g.to(kCPU)};
}

// Largest |a - b| / max(1, |b|), and the count of differing elements.
std::pair<double, int64_t> compare(const Tensor& a, const Tensor& b) {
  const auto x = a.tolist<double>(), y = b.tolist<double>();
  double worst = 0;
  int64_t diff = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]) / std::max(1.0, std::abs(y[i])));
    diff += x[i] != y[i];
  }
  return {worst, diff};
}

const std::vector<Shape> kShapes = {Shape{}, Shape{0}, Shape{1}, Shape{3}, Shape{5}, Shape{7, 13}, Shape{100003}};
}  // namespace

TEST(CudaRandom, UniformIsBitIdentical) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64})
    for (const Shape& s : kShapes) {
      auto [c, g] = both(42, [&](Generator& gen, Device d) { return rand(s, TensorOptions(dt).device(d), &gen); });
      EXPECT_TRUE(all_equal(g, c)) << dt << " " << shape_str(s);
    }
}

TEST(CudaRandom, UniformInPlaceIsBitIdentical) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64}) {
    auto [c, g] = both(7, [&](Generator& gen, Device d) {
      Tensor t = empty({33, 17}, TensorOptions(dt).device(d));
      uniform_(t, -3.0, 5.5, &gen);
      return t;
    });
    EXPECT_TRUE(all_equal(g, c)) << dt;
    // Non-contiguous destination: drawn contiguous, scattered in row-major order.
    auto [c2, g2] = both(8, [&](Generator& gen, Device d) {
      Tensor t = zeros({17, 33}, TensorOptions(dt).device(d));
      Tensor v = t.transpose(0, 1);
      uniform_(v, 0.0, 2.0, &gen);
      return t;
    });
    EXPECT_TRUE(all_equal(g2, c2)) << dt;
  }
}

TEST(CudaRandom, RandintAndBernoulliAreBitIdentical) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kUInt8, kInt32, kInt64, kFloat32, kFloat64}) {
    auto [c, g] = both(3, [&](Generator& gen, Device d) { return randint(0, 100, {1001}, TensorOptions(dt).device(d), &gen); });
    EXPECT_TRUE(all_equal(g, c)) << dt;
  }
  auto [c, g] = both(4, [&](Generator& gen, Device d) {
    return randint(-(int64_t{1} << 62), int64_t{1} << 62, {513}, TensorOptions(kInt64).device(d), &gen);
  });
  EXPECT_TRUE(all_equal(g, c));
  for (DType dt : {kBool, kUInt8, kInt32, kFloat32, kFloat64}) {
    auto [c2, g2] = both(5, [&](Generator& gen, Device d) { return bernoulli({999}, 0.3, TensorOptions(dt).device(d), &gen); });
    EXPECT_TRUE(all_equal(g2, c2)) << dt;
  }
  for (DType dt : {kFloat32, kFloat64}) {
    Tensor p = rand({40, 25}, TensorOptions(dt));
    auto [c3, g3] = both(6, [&](Generator& gen, Device d) { return bernoulli(p.to(d), &gen); });
    EXPECT_TRUE(all_equal(g3, c3)) << dt;
  }
}

TEST(CudaRandom, NormalMatchesWithinDocumentedBound) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64}) {
    auto [c, g] = both(11, [&](Generator& gen, Device d) { return randn({200001}, TensorOptions(dt).device(d), &gen); });
    const auto [worst, ndiff] = compare(g, c);
    // float64: a few ulps from CUDA's log (1 ulp) and cos (2 ulp); float32: a
    // rare 1-ulp difference when the double lands by a rounding boundary.
    const double bound = dt == kFloat64 ? 1e-14 : 2.4e-7;
    EXPECT_LE(worst, bound) << dt;
    if (dt == kFloat32) EXPECT_LE(ndiff, 200) << "float32 samples that differ out of 200001";
    std::printf("[ measured ] randn %s: max relative difference %.3g, %lld of 200001 samples differ\n",
                dtype_name(dt), worst, static_cast<long long>(ndiff));
    auto [c2, g2] = both(12, [&](Generator& gen, Device d) { return normal(2.0, 0.5, {1000}, TensorOptions(dt).device(d), &gen); });
    EXPECT_LE(compare(g2, c2).first, bound) << dt;
    auto [c3, g3] = both(13, [&](Generator& gen, Device d) {
      Tensor t = empty({10, 10}, TensorOptions(dt).device(d));
      normal_(t, -1.0, 3.0, &gen);
      return t;
    });
    EXPECT_LE(compare(g3, c3).first, bound) << dt;
  }
}

TEST(CudaRandom, HalfDrawsAreTheRoundedFloat32Draws) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat16, kBFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    const TensorOptions o = TensorOptions(dt).device(kCuda), o32 = TensorOptions(kFloat32).device(kCuda);
    using Draw = std::function<Tensor(const TensorOptions&, Generator&)>;
    const std::vector<Draw> draws = {
        [](const TensorOptions& op, Generator& g) { return rand({7, 13}, op, &g); },
        [](const TensorOptions& op, Generator& g) { return randn({7, 13}, op, &g); },
        [](const TensorOptions& op, Generator& g) { return normal(2.0, 0.5, {1001}, op, &g); },
        [](const TensorOptions& op, Generator& g) {  // in place, on a non-contiguous view
          Tensor t = empty({4, 9}, op).t();
          uniform_(t, -3.0, 5.0, &g);
          return t;
        },
        [](const TensorOptions& op, Generator& g) {
          Tensor t = empty({6, 5}, op);
          normal_(t, 1.0, 2.0, &g);
          return t;
        },
    };
    for (size_t i = 0; i < draws.size(); ++i) {
      Generator gh(40 + i), gf(40 + i);
      Tensor h = draws[i](o, gh), f = draws[i](o32, gf);
      EXPECT_EQ(h.dtype(), dt) << i;
      EXPECT_EQ(gh.offset(), gf.offset()) << i;  // the same counters are consumed
      EXPECT_TRUE(all_equal(h.to(kFloat32).cpu(), f.to(dt).to(kFloat32).cpu())) << i;
    }
    Tensor r = randn({3}, o.requires_grad(true));
    EXPECT_TRUE(r.requires_grad());
  }
}

TEST(CudaRandom, SequentialDrawsAndDefaultGenerator) {
  WICK_SKIP_WITHOUT_CUDA();
  // Interleaved draws of different kinds keep the two generators in step.
  auto [c, g] = both(99, [&](Generator& gen, Device d) {
    Tensor a = rand({5}, TensorOptions(kFloat32).device(d), &gen);
    Tensor b = randint(0, 7, {3}, TensorOptions(kInt64).device(d), &gen).to(kFloat32);
    Tensor e = rand({6}, TensorOptions(kFloat64).device(d), &gen).to(kFloat32);
    return cat({a.to(kCPU), b.to(kCPU), e.to(kCPU)}).to(d);
  });
  EXPECT_TRUE(all_equal(g, c));
  manual_seed(1234);
  Tensor x = rand({64}, TensorOptions(kCuda)).to(kCPU);
  manual_seed(1234);
  Tensor y = rand({64});
  EXPECT_TRUE(all_equal(x, y));
}

TEST(CudaRandom, RandpermAndMultinomialFollowTheCpuStream) {
  WICK_SKIP_WITHOUT_CUDA();
  auto [c, g] = both(21, [&](Generator& gen, Device d) { return randperm(50, TensorOptions(d), &gen); });
  EXPECT_TRUE(all_equal(g, c));
  Tensor w = rand({3, 8});
  auto [c2, g2] = both(22, [&](Generator& gen, Device d) { return multinomial(w.to(d), 5, false, &gen); });
  EXPECT_TRUE(all_equal(g2, c2));
}

TEST(CudaRandom, ErrorsDoNotAdvanceTheGenerator) {
  WICK_SKIP_WITHOUT_CUDA();
  Generator gen(1);
  Tensor p = full({4}, 1.5, TensorOptions(kFloat32).device(kCuda));
  EXPECT_WICK_ERROR(bernoulli(p, &gen), "probabilities must be in [0, 1]");
  EXPECT_EQ(gen.offset(), 0u);
  EXPECT_WICK_ERROR(rand({2}, TensorOptions(kInt32).device(kCuda), &gen), "floating");
  EXPECT_WICK_ERROR(randint(5, 5, {2}, TensorOptions(kCuda), &gen), "low < high");
  EXPECT_EQ(gen.offset(), 0u);
}
