// The CUDA indexing kernels (cuda/kernels/indexing.cu) through every op of
// ops/indexing.h, against the CPU: index_select / index_add / embedding,
// gather / scatter / scatter_add, masked_select / nonzero, advanced indexing
// (index / index_put) and one_hot. Every dim, repeated and int32 indices,
// empty indices, non-contiguous inputs and indices, every dtype (float16 /
// bfloat16 against the CPU on their widened values), out-of-range errors,
// the backward against the CPU and float64 gradchecks on the device. Skips
// without a GPU.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "autograd/gradcheck.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/indexing.h"  // the sorted index_add switch: CUDA builds only
#endif
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/reduction.h"
#include "ops/sort.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

using wick::test::normal;

const Tensor U;  // ':' in advanced indexing

// Uniform int64 indices in [lo, hi) of the given shape (CPU).
Tensor rand_index(const Shape& s, int64_t lo, int64_t hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> u(lo, hi - 1);
  std::vector<int64_t> v(static_cast<size_t>(numel_of(s)));
  for (int64_t& e : v) e = u(rng);
  return from_vector<int64_t>(v, s);
}

// Indices distinct along `dim` (CPU): the first k of a random permutation of
// [0, n) on every line along dim; the other dims have the sizes of `s`.
Tensor distinct_index(const Shape& s, int64_t dim, int64_t n, uint64_t seed) {
  Shape full = s;
  full[dim] = n;
  return argsort(normal(full, kFloat64, seed), dim).narrow(dim, 0, s[dim]).contiguous();
}

// Values of dtype dt in a small range (exact in every dtype; bool: > 0).
Tensor values_of(const Shape& s, DType dt, uint64_t seed) {
  Tensor v = round(mul(normal(s, kFloat64, seed), 3.0));
  if (dt == kBool) return gt(v, 0.0);
  if (dt == kUInt8) return abs(v).to(dt);
  return v.to(dt);
}

// f on the CPU and on CUDA (inputs copied there): outputs equal (tol 0) or
// close, and so are the gradients of sum(f * w) w.r.t. the inputs in `diff`.
void expect_same(const std::function<Tensor(const tensor_list&)>& f, const tensor_list& in,
                 const std::vector<size_t>& diff = {}, double tol = 0) {
  auto run = [&](const Device& dev) {
    tensor_list args;
    for (size_t k = 0; k < in.size(); ++k) {
      Tensor t = in[k].defined() ? in[k].to(dev).detach() : Tensor();
      if (std::find(diff.begin(), diff.end(), k) != diff.end()) t.requires_grad_(true);
      args.push_back(t);
    }
    Tensor y = f(args);
    tensor_list out{y.detach().cpu()};
    if (!diff.empty()) {
      sum(mul(y, normal(y.sizes(), y.dtype(), 99).to(dev))).backward();
      for (size_t k : diff) out.push_back(args[k].grad().cpu());
    }
    return out;
  };
  const tensor_list c = run(Device(kCPU)), g = run(kCuda);
  for (size_t k = 0; k < c.size(); ++k) {
    SCOPED_TRACE(k == 0 ? std::string("output") : str("gradient of input ", diff[k - 1]));
    EXPECT_TRUE(tol == 0 ? all_equal(g[k], c[k]) : all_close(g[k], c[k], tol, tol));
  }
}

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

#ifdef WICK_WITH_CUDA  // (the switch exists in CUDA builds only)
// index_add through the sorted index (set_index_add_sorted) against the
// bucket kernel, bit for bit (the same sums in the same order, rounded to the
// dtype after each add): every dim of a 3-D tensor, many repeats, one index
// repeated 300 times, one source row, an embedding-gradient shape; float32,
// float64, float16, bfloat16, int64, int32, uint8; the launch counter; then
// the embedding backward against the CPU with it on.
TEST(CudaIndexing, IndexAddSortedEqualsTheBucketKernel) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::index_add_sorted, cuda::set_index_add_sorted);
  std::mt19937 gen(21);
  auto indices = [&](int64_t m, int64_t n) {
    std::vector<int64_t> v(static_cast<size_t>(m));
    std::uniform_int_distribution<int64_t> d(0, n - 1);
    for (int64_t& x : v) x = d(gen);
    return from_vector(v, Shape{m});
  };
  struct Case {
    Shape x;
    int64_t dim, m;
    bool same;  // every index the same row
  };
  const Case cases[] = {{{3, 50, 7}, 0, 9, false}, {{3, 50, 7}, 1, 200, false}, {{3, 50, 7}, 2, 40, false},
                        {{6, 9}, 0, 300, true},      {{6, 9}, 1, 1, false},      {{1000, 64}, 0, 4096, false},
                        {{37, 3}, 0, 5000, false}};  // (5000: sorted in 3 tiles of 2048 and merged)
  int64_t runs = 0;
  const int64_t before = cuda::index_add_sorted_launches();
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16, kInt64, kInt32, kUInt8})
    for (const Case& c : cases) {
      SCOPED_TRACE(str(dt, " x ", shape_str(c.x), " dim ", c.dim, " m ", c.m));
      Shape ss = c.x;
      ss[static_cast<size_t>(c.dim)] = c.m;
      const Tensor idx = c.same ? full({c.m}, 4, TensorOptions(kInt64)) : indices(c.m, c.x[static_cast<size_t>(c.dim)]);
      const bool integral = dt == kInt64 || dt == kInt32 || dt == kUInt8;
      // (Integers: small non-negative values, which uint8 holds and its sums wrap as the CPU's.)
      // (Cast on the device: the CPU holds no 16-bit floats.)
      const Tensor x = (integral ? abs(normal(c.x, kFloat64, 3, 3.0)) : normal(c.x, kFloat64, 3)).to(kCuda).to(dt);
      const Tensor src = (integral ? abs(normal(ss, kFloat64, 4, 3.0)) : normal(ss, kFloat64, 4)).to(kCuda).to(dt);
      Tensor got[2];
      for (int on = 0; on < 2; ++on) {
        cuda::set_index_add_sorted(on == 1);
        got[on] = index_add(x, c.dim, idx.to(kCuda), src).to(integral ? kInt64 : kFloat64).cpu();
      }
      ++runs;
      EXPECT_TRUE(all_equal(got[1], got[0]));
      if (dt == kFloat64) {  // and the CPU's sums, to rounding
        EXPECT_TRUE(all_close(got[1], index_add(x.cpu(), c.dim, idx, src.cpu()), 1e-12, 1e-12));
      }
    }
  EXPECT_EQ(cuda::index_add_sorted_launches(), before + runs) << "not every index_add took the sorted path";
  cuda::set_index_add_sorted(true);
  Tensor w = normal({11, 40}, kFloat32, 9);
  Tensor ids = tensor({3, 3, 0, 10, 7, 3, 1, 0}, {}, kInt64).reshape({2, 4});
  Tensor gy = normal({2, 4, 40}, kFloat32, 10);
  auto grad = [&](const Device& dev) {
    Tensor wl = w.to(dev).detach().requires_grad_(true);
    sum(mul(embedding(wl, ids.to(dev), -1), gy.to(dev))).backward();
    return wl.grad().cpu();
  };
  EXPECT_TRUE(all_close(grad(kCuda), grad(Device(kCPU)), 1e-6, 1e-6));
}
#endif  // WICK_WITH_CUDA

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
  EXPECT_TRUE(gradcheck(on_gpu([&](const Tensor& v) { return embedding(v, idx.reshape({2, 2})); }), {x}));
  EXPECT_TRUE(gradgradcheck(on_gpu([&](const Tensor& v) { return mul(index_select(v, 0, idx), index_select(v, 0, idx)); }), {x}));
}

// ---------------------------------------------------------------------------
// gather / scatter / scatter_add

TEST(CudaIndexing, GatherEveryDimDtypeAndLayout) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64, kInt32, kInt64, kUInt8, kBool}) {
    const Tensor x = values_of({5, 6, 7}, dt, 1);
    for (int64_t d = 0; d < 3; ++d) {
      SCOPED_TRACE(str(dt, " dim ", d));
      Shape is = {4, 5, 3};
      is[d] = 9;  // longer than x along dim: repeated indices
      const Tensor idx = rand_index(is, 0, x.size(d), 10 + d);
      auto f = [d](const tensor_list& a) { return gather(a[0], d, a[1]); };
      expect_same(f, {x, idx});
      expect_same(f, {x, idx.to(kInt32)});
      // Transposed x, and a transposed (non-contiguous) index.
      Shape ts = {7, 6, 5};
      ts[d] = 9;
      const Tensor it = rand_index({ts[2], ts[1], ts[0]}, 0, x.transpose(0, 2).size(d), 20 + d).transpose(0, 2);
      expect_same([d](const tensor_list& a) { return gather(a[0].transpose(0, 2), d, a[1]); }, {x, it});
    }
  }
  // float16 / bfloat16 move bit for bit.
  for (DType dt : {kFloat16, kBFloat16}) {
    Tensor h = normal({6, 33}, kFloat32, 5).to(kCuda).to(dt);
    Tensor idx = rand_index({6, 40}, 0, 33, 6);
    EXPECT_TRUE(all_equal(gather(h, 1, idx.to(kCuda)).to(kFloat32).cpu(), gather(h.to(kFloat32).cpu(), 1, idx)));
  }
  // Empty index and 0-d.
  Tensor xc = normal({3, 4}, kFloat32, 7).to(kCuda);
  EXPECT_EQ(gather(xc, 0, zeros({0, 4}, TensorOptions(kInt64).device(kCuda))).sizes(), (Shape{0, 4}));
  Tensor s = scalar_tensor(2.5, TensorOptions(kFloat64).device(kCuda));
  EXPECT_EQ(gather(s, 0, tensor({0, 0}, {}, kInt64).to(kCuda)).cpu().sum().item<double>(), 5.0);
}

TEST(CudaIndexing, ScatterDistinctIndicesEveryDtypeAndScalarValue) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64, kInt32, kInt64, kUInt8, kBool}) {
    const Tensor x = values_of({5, 6, 7}, dt, 2);
    for (int64_t d = 0; d < 3; ++d) {
      SCOPED_TRACE(str(dt, " dim ", d));
      Shape is = {4, 5, 6};
      is[d] = 3;
      const Tensor idx = distinct_index(is, d, x.size(d), 30 + d);  // no two writes to one element
      const Tensor src = values_of({5, 6, 7}, dt, 3);                // larger than the index
      expect_same([d](const tensor_list& a) { return scatter(a[0], d, a[1], a[2]); }, {x, idx, src});
      expect_same([d](const tensor_list& a) { return scatter(a[0], d, a[1], Scalar(int64_t{1})); }, {x, idx});
      // Non-contiguous x (every other element of a wider tensor) and src (a narrowed one).
      expect_same([d](const tensor_list& a) { return scatter(a[0].slice(2, 0, 14, 2), d, a[1], a[2].narrow(2, 1, 7)); },
                  {values_of({5, 6, 14}, dt, 6), idx, values_of({5, 6, 9}, dt, 7)});
    }
  }
  for (DType dt : {kFloat16, kBFloat16}) {
    Tensor h = normal({4, 9}, kFloat32, 8).to(kCuda).to(dt);
    Tensor src = normal({4, 9}, kFloat32, 9).to(kCuda).to(dt);
    Tensor idx = distinct_index({4, 5}, 1, 9, 10);
    EXPECT_TRUE(all_equal(scatter(h, 1, idx.to(kCuda), src).to(kFloat32).cpu(),
                          scatter(h.to(kFloat32).cpu(), 1, idx, src.to(kFloat32).cpu())));
    EXPECT_TRUE(all_equal(scatter(h, 1, idx.to(kCuda), 0.5).to(kFloat32).cpu(),
                          scatter(h.to(kFloat32).cpu(), 1, idx, 0.5)));
  }
}

TEST(CudaIndexing, ScatterAddRepeatedIndicesEveryDtype) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64, kInt32, kInt64, kUInt8, kBool}) {
    const Tensor x = values_of({5, 6, 7}, dt, 4);
    for (int64_t d = 0; d < 3; ++d) {
      SCOPED_TRACE(str(dt, " dim ", d));
      Shape is = {5, 6, 7};
      is[d] = 11;  // many repeats per target
      const Tensor idx = rand_index(is, 0, x.size(d), 40 + d);
      const Tensor src = values_of(is, dt, 5);
      // Atomics reorder float sums: float32 is close, everything else exact
      // (the values are small integers, so float64 sums are exact too).
      expect_same([d](const tensor_list& a) { return scatter_add(a[0], d, a[1], a[2]); }, {x, idx, src}, {},
                  dt == kFloat32 ? 1e-5 : 0.0);
    }
  }
  // One line receiving everything (a histogram): heavy contention on few elements.
  const Tensor hist_idx = rand_index({20000}, 0, 3, 50);
  expect_same([](const tensor_list& a) { return scatter_add(a[0], 0, a[1], a[2]); },
              {zeros({3}, kInt64), hist_idx, ones({20000}, kInt64)});
  // float16 / bfloat16 (hardware atomics) against float32 sums of the same values.
  for (DType dt : {kFloat16, kBFloat16}) {
    SCOPED_TRACE(str(dt));
    Tensor h = normal({6, 8}, kFloat32, 11).to(kCuda).to(dt);
    Tensor src = normal({6, 20}, kFloat32, 12).to(kCuda).to(dt);
    Tensor idx = rand_index({6, 20}, 0, 8, 13);
    Tensor want = scatter_add(h.to(kFloat32).cpu(), 1, idx, src.to(kFloat32).cpu());
    Tensor got = scatter_add(h, 1, idx.to(kCuda), src);
    EXPECT_EQ(got.dtype(), dt);
    EXPECT_TRUE(all_close(got.to(kFloat32).cpu(), want, dt == kFloat16 ? 2e-2 : 1e-1, 2e-2));
  }
}

TEST(CudaIndexing, GatherScatterOutOfRangeIndicesAreErrors) {
  WICK_SKIP_WITHOUT_CUDA();
  const TensorOptions o = TensorOptions(kFloat32).device(kCuda);
  Tensor x = zeros({3, 4}, o);
  auto I = [](std::initializer_list<int64_t> v, const Shape& s) { return tensor(v, s, kInt64).to(kCuda); };
  EXPECT_WICK_ERROR(gather(x, 1, I({0, 4}, {1, 2})), "gather: index 4 is out of bounds for dimension 1 with size 4");
  EXPECT_WICK_ERROR(gather(x, 1, I({-1}, {1, 1})), "gather: index -1 is out of bounds");
  EXPECT_WICK_ERROR(scatter(x, 0, I({3}, {1, 1}), zeros({1, 1}, o)),
                    "scatter: index 3 is out of bounds for dimension 0 with size 3");
  EXPECT_WICK_ERROR(scatter(x, 0, I({-2}, {1, 1}), 1.0), "scatter: index -2 is out of bounds");
  EXPECT_WICK_ERROR(scatter_add(x, 1, I({0, 9}, {1, 2}), zeros({1, 2}, o)), "scatter_add: index 9 is out of bounds");
  EXPECT_WICK_ERROR(gather(zeros({0, 2}, o), 0, I({0}, {1, 1})), "gather: index 0 is out of bounds");
  EXPECT_WICK_ERROR(gather(x, 0, tensor({0}, Shape{1, 1}, kInt64)), "expected all tensors on the same device");
  // A failed call leaves the device usable.
  EXPECT_TRUE(all_equal(gather(x, 1, I({3, 0}, {1, 2})).cpu(), zeros({1, 2})));
}

TEST(CudaIndexing, GatherScatterBackwardMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor x = normal({4, 5, 6}, kFloat64, 14);
  for (int64_t d = 0; d < 3; ++d) {
    SCOPED_TRACE(str("dim ", d));
    Shape is = {3, 4, 5};
    is[d] = 8;
    const Tensor gi = rand_index(is, 0, x.size(d), 60 + d);  // repeats: scatter_add in the backward
    expect_same([d](const tensor_list& a) { return gather(a[0], d, a[1]); }, {x, gi}, {0}, 1e-12);
    Shape ss = is;
    ss[d] = 2;
    const Tensor si = distinct_index(ss, d, x.size(d), 70 + d);
    const Tensor src = normal({4, 5, 6}, kFloat64, 15);
    expect_same([d](const tensor_list& a) { return scatter(a[0], d, a[1], a[2]); }, {x, si, src}, {0, 2}, 1e-12);
    expect_same([d](const tensor_list& a) { return scatter_add(a[0], d, a[1], a[2]); },
                {x, gi, normal(is, kFloat64, 16)}, {0, 2}, 1e-12);
  }
}

TEST(CudaIndexing, GatherScatterGradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  auto dev = [](const Tensor& t) { return t.to(kCuda); };
  const Tensor gi = dev(tensor({2, 0, 0, 1, 1, 1, 0, 2}, Shape{2, 4}, kInt64));
  const Tensor si = dev(tensor({2, 0, 1, 0}, Shape{2, 2}, kInt64));
  const Tensor ai = dev(tensor({1, 1, 0, 1, 2, 1}, Shape{3, 2}, kInt64));
  using Fn = std::function<Tensor(const tensor_list&)>;
  auto on_gpu = [](Fn f) {
    return [f](const tensor_list& in) {
      tensor_list d;
      for (const Tensor& t : in) d.push_back(t.to(kCuda));
      return f(d).to(kCPU);
    };
  };
  Fn g = [&](const tensor_list& a) { return gather(a[0], 1, gi); };
  EXPECT_TRUE(gradcheck(on_gpu(g), {wick::test::rand_f64({3, 3})}));
  EXPECT_TRUE(gradgradcheck(on_gpu(g), {wick::test::rand_f64({3, 3})}));
  Fn s = [&](const tensor_list& a) { return scatter(a[0], 1, si, a[1]); };
  EXPECT_TRUE(gradcheck(on_gpu(s), {wick::test::rand_f64({3, 3}, 1), wick::test::rand_f64({2, 3}, 2)}));
  EXPECT_TRUE(gradcheck(on_gpu([&](const tensor_list& a) { return scatter(a[0], 0, si, -3.0); }),
                        {wick::test::rand_f64({3, 3})}));
  Fn sa = [&](const tensor_list& a) { return scatter_add(a[0], 0, ai, a[1]); };
  EXPECT_TRUE(gradcheck(on_gpu(sa), {wick::test::rand_f64({3, 2}, 3), wick::test::rand_f64({4, 3}, 4)}));
  EXPECT_TRUE(gradgradcheck(on_gpu(sa), {wick::test::rand_f64({3, 2}, 3), wick::test::rand_f64({3, 2}, 4)}));
}

// ---------------------------------------------------------------------------
// masks, nonzero, advanced indexing, one_hot

TEST(CudaIndexing, MaskedSelectAndNonzeroMatchTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor x = normal({7, 9, 5}, kFloat64, 17);
  const Tensor m = gt(normal({7, 9, 5}, kFloat64, 18), 0.3);
  expect_same([](const tensor_list& a) { return masked_select(a[0], a[1]); }, {x, m}, {0}, 1e-12);
  // x broadcast against the mask (its gradient sums), a transposed x.
  expect_same([](const tensor_list& a) { return masked_select(a[0], a[1]); }, {x.select(0, 0), m}, {0}, 1e-12);
  expect_same([](const tensor_list& a) { return masked_select(a[0].transpose(0, 2), a[1].transpose(0, 2)); }, {x, m},
              {0}, 1e-12);
  for (DType dt : {kFloat32, kInt32, kInt64, kUInt8, kBool})
    expect_same([](const tensor_list& a) { return masked_select(a[0], a[1]); }, {values_of({7, 9, 5}, dt, 19), m});
  // nonzero: every dtype, NaN counts as nonzero, a long input, empty and 0-d.
  for (DType dt : {kFloat32, kFloat64, kInt32, kInt64, kUInt8, kBool}) {
    SCOPED_TRACE(str(dt));
    expect_same([](const tensor_list& a) { return nonzero(a[0]); }, {values_of({6, 5, 4}, dt, 20)});
    expect_same([](const tensor_list& a) { return nonzero(a[0].transpose(0, 1)); }, {values_of({6, 5, 4}, dt, 21)});
  }
  expect_same([](const tensor_list& a) { return nonzero(a[0]); },
              {tensor({0.0, std::nan(""), -0.0, 1.0, 0.0}, {}, kFloat64)});
  expect_same([](const tensor_list& a) { return nonzero(a[0]); }, {values_of({100003}, kInt32, 22)});
  expect_same([](const tensor_list& a) { return nonzero(a[0]); }, {zeros({3, 0})});
  expect_same([](const tensor_list& a) { return nonzero(a[0]); }, {zeros({4, 3})});
  expect_same([](const tensor_list& a) { return nonzero(a[0]); }, {scalar_tensor(2.0)});
  expect_same([](const tensor_list& a) { return nonzero(a[0]); }, {scalar_tensor(0.0)});
  Tensor h = normal({5, 6}, kFloat32, 23).to(kCuda).to(kFloat16);
  EXPECT_TRUE(all_equal(nonzero(gt(h, 0.0)).cpu(), nonzero(gt(h.to(kFloat32).cpu(), 0.0))));
}

TEST(CudaIndexing, AdvancedIndexingMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  auto I = [](std::initializer_list<int64_t> v) { return tensor(v, {}, kInt64); };
  const Tensor i = I({0, -1, 0}), j = I({1, 1, 2});
  const Tensor m = tensor({true, false, true}, {}, kBool);
  const Tensor m2 = tensor({true, false, true, false, false, true, true, true, false}, Shape{3, 3}, kBool);
  // The patterns of tests/ops/test_indexing.cpp: ':' in every place, adjacent and separated index dims, masks.
  const std::vector<std::vector<Tensor>> patterns = {
      {i}, {U, j}, {i, U, j}, {U, i.reshape({3, 1}), j}, {m}, {m, U, I({1, -1})}, {U, m2},
      {i.reshape({3, 1}), U, j.reshape({1, 3})}, {U, U, I({2, -3})}, {tensor({true}, Shape{}, kBool)}};
  const Tensor x = normal({3, 3, 3}, kFloat64, 24);
  for (size_t k = 0; k < patterns.size(); ++k) {
    SCOPED_TRACE(str("pattern ", k));
    const auto& p = patterns[k];
    // Index tensors on the device, and (like PyTorch) on the CPU for a CUDA x.
    auto on = [&p](const Device& dev) {
      std::vector<Tensor> q;
      for (const Tensor& t : p) q.push_back(t.defined() ? t.to(dev) : t);
      return q;
    };
    expect_same([&](const tensor_list& a) { return index(a[0], on(a[0].device())); }, {x}, {0}, 1e-12);
    expect_same([&](const tensor_list& a) { return index(a[0].transpose(0, 2), on(Device(kCPU))); }, {x}, {0}, 1e-12);
  }
  for (DType dt : {kFloat32, kInt64, kUInt8, kBool})
    expect_same([&](const tensor_list& a) { return index(a[0], {U, a[1], a[2]}); },
                {values_of({4, 5, 6}, dt, 25), rand_index({2, 7}, -5, 5, 26), rand_index({1, 7}, -6, 6, 27)});
  // index_put: repeated targets accumulate (exact on these values); distinct targets overwrite.
  const Tensor rep = rand_index({50}, -4, 4, 28), dist = distinct_index({6}, 0, 8, 29);
  for (DType dt : {kFloat64, kFloat32, kInt32, kInt64, kUInt8, kBool}) {
    SCOPED_TRACE(str(dt));
    expect_same([&](const tensor_list& a) { return index_put(a[0], {a[1]}, a[2], true); },
                {values_of({4, 3}, dt, 30), rep, values_of({50, 3}, dt, 31)});
    expect_same([&](const tensor_list& a) { return index_put(a[0], {U, a[1]}, a[2], false); },
                {values_of({3, 8}, dt, 32), dist, values_of({3, 1}, dt, 33)});
  }
  expect_same([&](const tensor_list& a) { return index_put(a[0], {m2}, a[1], true); },
              {normal({3, 3, 2}, kFloat64, 34), normal({2}, kFloat64, 35)}, {0, 1}, 1e-12);
  expect_same([&](const tensor_list& a) { return index_put(a[0], {U, dist.narrow(0, 0, 3)}, a[1], false); },
              {normal({2, 8}, kFloat64, 36), normal({2, 3}, kFloat64, 37)}, {0, 1}, 1e-12);
  // Errors name the index and the dim, as on the CPU.
  Tensor xc = zeros({3, 4}, TensorOptions(kFloat32).device(kCuda));
  EXPECT_WICK_ERROR(index(xc, {I({3}).to(kCuda)}), "index: index 3 is out of bounds for dimension 0 with size 3");
  EXPECT_WICK_ERROR(index(xc, {U, I({0, -5})}), "index: index -5 is out of bounds for dimension 1 with size 4");
  EXPECT_WICK_ERROR(index_put(xc, {I({0}), I({4})}, zeros({}, TensorOptions(kFloat32).device(kCuda))),
                    "index_put: index 4 is out of bounds for dimension 1");
}

TEST(CudaIndexing, AdvancedIndexingGradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor i = tensor({0, 2, 0}, {}, kInt64).to(kCuda), j = tensor({1, -1, 1}, {}, kInt64).to(kCuda);
  const Tensor m = tensor({true, false, false, true, true, false}, Shape{3, 2}, kBool).to(kCuda);
  auto on_gpu = [](std::function<Tensor(const tensor_list&)> f) {
    return [f](const tensor_list& in) {
      tensor_list d;
      for (const Tensor& t : in) d.push_back(t.to(kCuda));
      return f(d).to(kCPU);
    };
  };
  using wick::test::rand_f64;
  EXPECT_TRUE(gradcheck(on_gpu([&](const tensor_list& a) { return index(a[0], {i, U, j}); }), {rand_f64({3, 2, 3})}));
  EXPECT_TRUE(gradgradcheck(on_gpu([&](const tensor_list& a) { return index(a[0], {U, j}); }), {rand_f64({2, 3})}));
  EXPECT_TRUE(gradcheck(on_gpu([&](const tensor_list& a) { return index_put(a[0], {i}, a[1], true); }),
                        {rand_f64({3, 2}), rand_f64({3, 2}, 1)}));
  EXPECT_TRUE(gradcheck(on_gpu([&](const tensor_list& a) { return index_put(a[0], {m}, a[1], false); }),
                        {rand_f64({3, 2}), rand_f64({3}, 1)}));
  EXPECT_TRUE(gradgradcheck(on_gpu([&](const tensor_list& a) { return masked_select(a[0], m); }),
                            {rand_f64({3, 2})}));
}

TEST(CudaIndexing, OneHotMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor idx = rand_index({4, 7}, 0, 6, 38);
  for (int64_t c : {-1, 6, 9}) {
    SCOPED_TRACE(str("num_classes ", c));
    Tensor g = one_hot(idx.to(kCuda), c);
    EXPECT_TRUE(g.is_cuda());
    EXPECT_TRUE(all_equal(g.cpu(), one_hot(idx, c)));
    EXPECT_TRUE(all_equal(one_hot(idx.to(kInt32).to(kCuda), c).cpu(), one_hot(idx, c)));
  }
  EXPECT_EQ(one_hot(zeros({0}, TensorOptions(kInt64).device(kCuda)), 3).sizes(), (Shape{0, 3}));
  EXPECT_WICK_ERROR(one_hot(tensor({0, 3}, {}, kInt64).to(kCuda), 3),
                    "one_hot: class value 3 is out of range for num_classes 3");
  EXPECT_WICK_ERROR(one_hot(tensor({-1}, {}, kInt64).to(kCuda)), "one_hot: class values must be non-negative, got -1");
}
