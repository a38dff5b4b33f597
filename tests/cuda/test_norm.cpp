// The CUDA batch_norm and group_norm kernels (cuda/kernels/norm.cu) through
// the ops, against the CPU kernels: training and eval batch_norm (outputs,
// the running-statistics update, the fused backward's gx, gw, gb), 2-D to
// 4-D inputs, many-chunk reductions, non-contiguous and empty inputs,
// float16/bfloat16 against the float64 CPU result, float64 gradchecks on the
// device (the create_graph formulas), a deterministic backward, and the
// errors for parameters on another device. Every test skips without a GPU.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/gradcheck.h"
#include "ops/conv.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"

#ifdef WICK_WITH_CUDA
#include "cuda/kernels/norm.h"
#endif

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

using wick::test::normal;

// A host copy; float16 / bfloat16 widen (exactly) to float32, as the CPU holds no 16-bit tensors.
Tensor host(const Tensor& t) {
  if (!t.defined()) return t;
  return t.dtype() == kFloat16 || t.dtype() == kBFloat16 ? t.to(kFloat32).cpu() : t.cpu();
}
Tensor grad_of(const Tensor& t) { return t.defined() && t.grad().defined() ? host(t.grad()) : Tensor(); }
// A float64 host copy of the values a (16-bit or float32) tensor holds, for the float64 CPU reference.
Tensor ref(const Tensor& v) { return v.defined() ? v.to(kFloat32).cpu().to(kFloat64) : Tensor(); }

// Everything a batch_norm / group_norm call produces, on the CPU: the output,
// the gradients of x, w, b for L = sum(y * gy), and the running statistics
// after the call.
struct Result {
  std::vector<Tensor> t;  // y, gx, gw, gb, running_mean, running_var
  std::vector<DType> dtypes;  // of y and gx where they were computed
};

struct NormArgs {
  Tensor x, w, b, rm, rv, gy;
};

// f(x, w, b, rm, rv) on device d with fresh copies of every input.
Result run(const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&)>& f,
           const NormArgs& a, const Device& d, const std::function<Tensor(const Tensor&)>& view = {}) {
  Tensor xd = a.x.to(d);
  if (view) xd = view(xd);
  Tensor xl = xd.detach().requires_grad_(true);
  Tensor wl = a.w.defined() ? a.w.to(d).detach().requires_grad_(true) : Tensor();
  Tensor bl = a.b.defined() ? a.b.to(d).detach().requires_grad_(true) : Tensor();
  // Fresh copies of the running statistics (updated in place by the call).
  Tensor rm = a.rm.defined() ? a.rm.to(d).clone() : Tensor(), rv = a.rv.defined() ? a.rv.to(d).clone() : Tensor();
  Tensor y = f(xl, wl, bl, rm, rv);
  EXPECT_EQ(y.device(), d);
  Tensor gy = a.gy.to(d);
  if (view) gy = view(gy);
  sum(mul(y, gy)).backward();
  return {{host(y.detach()), grad_of(xl), grad_of(wl), grad_of(bl), host(rm), host(rv)},
          {y.dtype(), xl.grad().defined() ? xl.grad().dtype() : y.dtype()}};
}

void expect_same(const Result& g, const Result& c, double t) {
  const char* names[] = {"y", "gx", "gw", "gb", "running_mean", "running_var"};
  for (size_t i = 0; i < c.t.size(); ++i) {
    ASSERT_EQ(g.t[i].defined(), c.t[i].defined()) << names[i];
    if (c.t[i].defined()) EXPECT_TRUE(all_close(g.t[i], c.t[i], t, t)) << names[i];
  }
}

NormArgs make_args(const Shape& xs, DType dt, bool affine, bool running, uint64_t seed) {
  const int64_t C = xs[1];
  NormArgs a;
  a.x = add(normal(xs, dt, seed, 2.0), 3.0);  // an offset mean: the shifted variance matters
  a.w = affine ? add(normal({C}, dt, seed + 1, 0.5), 1.0) : Tensor();
  a.b = affine ? normal({C}, dt, seed + 2) : Tensor();
  a.rm = running ? normal({C}, dt, seed + 3, 0.1) : Tensor();
  a.rv = running ? add(abs(normal({C}, dt, seed + 4)), 0.5) : Tensor();
  a.gy = normal(xs, dt, seed + 5);
  return a;
}

}  // namespace

TEST(CudaNorm, BatchNormMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const std::vector<Shape> shapes = {{4, 5, 7, 3}, {8, 6}, {3, 4, 5}, {2, 3, 33, 17}, {64, 3, 32, 32}, {2, 1, 1, 1}};
  for (DType dt : {kFloat32, kFloat64})
    for (const Shape& s : shapes)
      for (bool training : {true, false})
        for (bool affine : {false, true})
          for (bool running : {false, true}) {
            if (!training && !running) continue;  // eval needs running statistics
            SCOPED_TRACE(str(dt, " ", shape_str(s), training ? " train" : " eval", affine ? " affine" : "",
                             running ? " running" : ""));
            const NormArgs a = make_args(s, dt, affine, running, 7);
            auto f = [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv) {
              return batch_norm(x, rm, rv, w, b, training, 0.3, 1e-5);
            };
            const double t = dt == kFloat64 ? 1e-10 : 3e-5;
            expect_same(run(f, a, kCuda), run(f, a, Device(kCPU)), t);
          }
}

TEST(CudaNorm, BatchNormRunningStatisticsFollowTheCpuOverSteps) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat32, kFloat64}) {
    const int64_t C = 5;
    Tensor rm_c = zeros({C}, TensorOptions(dt)), rv_c = ones({C}, TensorOptions(dt));
    Tensor rm_g = rm_c.to(kCuda), rv_g = rv_c.to(kCuda);
    for (int step = 0; step < 4; ++step) {
      Tensor x = add(normal({6, C, 3, 4}, dt, 30 + step, 1.5), 0.5 * step);
      batch_norm(x, rm_c, rv_c, Tensor(), Tensor(), true, 0.1, 1e-5);
      batch_norm(x.to(kCuda), rm_g, rv_g, Tensor(), Tensor(), true, 0.1, 1e-5);
    }
    // The batch statistics differ from the CPU's in the last bits only (the
    // update itself rounds as the CPU does).
    const double t = dt == kFloat64 ? 1e-13 : 1e-6;
    EXPECT_TRUE(all_close(rm_g.cpu(), rm_c, t, t)) << dt;
    EXPECT_TRUE(all_close(rv_g.cpu(), rv_c, t, t)) << dt;
    // running_var uses the unbiased variance (M = 72 values per channel).
    EXPECT_GT(rv_c.tolist<double>()[0], 0.0);
  }
}

TEST(CudaNorm, BatchNormNonContiguousAndEmpty) {
  WICK_SKIP_WITHOUT_CUDA();
  const NormArgs a = make_args({3, 4, 6, 5}, kFloat32, true, true, 40);
  auto f = [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv) {
    return batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
  };
  auto transposed = [](const Tensor& v) { return v.transpose(2, 3); };
  ASSERT_FALSE(transposed(a.x.to(kCuda)).is_contiguous());
  expect_same(run(f, a, kCuda, transposed), run(f, a, Device(kCPU), transposed), 3e-5);

  // An empty batch: empty output, running statistics unchanged, zero gw/gb.
  NormArgs e = make_args({0, 4, 3, 3}, kFloat32, true, true, 41);
  const Result g = run(f, e, kCuda), c = run(f, e, Device(kCPU));
  EXPECT_EQ(g.t[0].numel(), 0);
  EXPECT_TRUE(all_equal(g.t[4], e.rm));
  EXPECT_TRUE(all_equal(g.t[5], e.rv));
  expect_same(g, c, 0.0);
}

TEST(CudaNorm, BatchNormBackwardIsDeterministic) {
  WICK_SKIP_WITHOUT_CUDA();
  const NormArgs a = make_args({32, 7, 19, 23}, kFloat32, true, false, 50);
  auto f = [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv) {
    return batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
  };
  const Result r1 = run(f, a, kCuda), r2 = run(f, a, kCuda);
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(all_equal(r1.t[i], r2.t[i])) << i;
}

TEST(CudaNorm, GroupNormMatchesTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  const std::vector<std::pair<Shape, int64_t>> cases = {
      {{2, 6, 5, 7}, 3}, {{3, 4, 10}, 2}, {{2, 8}, 4}, {{4, 6, 3, 3}, 6}, {{2, 5, 4, 4}, 1}, {{1, 32, 64, 64}, 2}};
  for (DType dt : {kFloat32, kFloat64})
    for (const auto& [s, groups] : cases)
      for (bool affine : {false, true}) {
        SCOPED_TRACE(str(dt, " ", shape_str(s), " groups ", groups, affine ? " affine" : ""));
        const NormArgs a = make_args(s, dt, affine, false, 60);
        auto f = [g = groups](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor&, const Tensor&) {
          return group_norm(x, g, w, b, 1e-5);
        };
        const double t = dt == kFloat64 ? 1e-10 : 5e-5;
        expect_same(run(f, a, kCuda), run(f, a, Device(kCPU)), t);
      }
  // Non-contiguous and empty inputs.
  const NormArgs a = make_args({3, 4, 6, 5}, kFloat32, true, false, 61);
  auto f = [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor&, const Tensor&) {
    return group_norm(x, 2, w, b, 1e-5);
  };
  auto transposed = [](const Tensor& v) { return v.transpose(2, 3); };
  expect_same(run(f, a, kCuda, transposed), run(f, a, Device(kCPU), transposed), 5e-5);
  const NormArgs e = make_args({0, 4, 3, 3}, kFloat32, true, false, 62);
  expect_same(run(f, e, kCuda), run(f, e, Device(kCPU)), 0.0);
}

TEST(CudaNorm, HalfPrecisionMatchesTheFloat64Cpu) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kFloat16, kBFloat16}) {
    const double t = dt == kFloat16 ? 1e-2 : 6e-2;
    // The 16-bit inputs, and the float64 CPU copies of their rounded values.
    auto half = [&](const Tensor& v) { return v.defined() ? v.to(kCuda).to(dt) : Tensor(); };
      const NormArgs a32 = make_args({4, 6, 5, 7}, kFloat32, true, true, 70);
    NormArgs h{half(a32.x), half(a32.w), half(a32.b), half(a32.rm), half(a32.rv), half(a32.gy)};
    NormArgs r{ref(h.x), ref(h.w), ref(h.b), ref(h.rm), ref(h.rv), ref(h.gy)};
    for (bool training : {true, false}) {
      SCOPED_TRACE(str(dt, training ? " train" : " eval"));
      auto f = [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv) {
        return batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5);
      };
      const Result g = run(f, h, kCuda), c = run(f, r, Device(kCPU));
      EXPECT_EQ(g.dtypes[0], dt);
      EXPECT_EQ(g.dtypes[1], dt);
      Result g64;
      for (const Tensor& v : g.t) g64.t.push_back(ref(v));
      // gw, gb sum 210 rounded products per channel: looser.
      expect_same(g64, c, 4 * t);
    }
    auto gn = [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor&, const Tensor&) {
      return group_norm(x, 3, w, b, 1e-5);
    };
    NormArgs hg = h, rg = r;
    hg.rm = hg.rv = rg.rm = rg.rv = Tensor();
    const Result g = run(gn, hg, kCuda), c = run(gn, rg, Device(kCPU));
    EXPECT_EQ(g.dtypes[0], dt);
    Result g64;
    for (const Tensor& v : g.t) g64.t.push_back(ref(v));
    expect_same(g64, c, 4 * t);
  }
}

#ifdef WICK_WITH_CUDA
// The mixed kernels (cuda::set_batch_norm_mixed): a 16-bit x with float32
// weight, bias and running statistics. y and gx stay 16-bit, gw, gb and the
// running statistics float32, all against the float64 CPU on the same
// values; with the switch off the mixed dtypes are an error, as before.
// Under autocast, conv -> batch_norm -> relu keeps bfloat16 activations with
// the switch on (float32 with it off) and agrees with the float32 path.
TEST(CudaNorm, BatchNormMixed) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::batch_norm_mixed, cuda::set_batch_norm_mixed);
  cuda::set_batch_norm_mixed(true);
  for (DType dt : {kFloat16, kBFloat16}) {
    const double t = dt == kFloat16 ? 1e-2 : 6e-2;
    auto half = [&](const Tensor& v) { return v.defined() ? v.to(kCuda).to(dt) : Tensor(); };
    auto f32 = [&](const Tensor& v) { return v.defined() ? v.to(kCuda) : Tensor(); };
    for (const Shape& s : std::vector<Shape>{{4, 6, 5, 7}, {64, 3, 8, 8}, {8, 6}}) {
      for (bool affine : {true, false}) {
        const NormArgs a32 = make_args(s, kFloat32, affine, true, 90);
        NormArgs m{half(a32.x), f32(a32.w), f32(a32.b), f32(a32.rm), f32(a32.rv), half(a32.gy)};
        NormArgs r{ref(m.x), ref(m.w), ref(m.b), ref(m.rm), ref(m.rv), ref(m.gy)};
        for (bool training : {true, false}) {
          SCOPED_TRACE(str(dt, " ", shape_str(s), training ? " train" : " eval", affine ? " affine" : ""));
          auto f = [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv) {
            Tensor y = batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5);
            if (x.is_cuda()) {
              EXPECT_EQ(rm.dtype(), kFloat32);
              if (w.defined()) EXPECT_EQ(w.dtype(), kFloat32);
            }
            return y;
          };
          const Result g = run(f, m, kCuda), c = run(f, r, Device(kCPU));
          EXPECT_EQ(g.dtypes[0], dt);
          EXPECT_EQ(g.dtypes[1], dt);
          Result g64;
          for (const Tensor& v : g.t) g64.t.push_back(ref(v));
          expect_same(g64, c, 4 * t);
        }
      }
    }
    // Switch off: mixed dtypes are refused, naming them.
    cuda::set_batch_norm_mixed(false);
    const NormArgs a32 = make_args({4, 6, 5, 7}, kFloat32, true, true, 91);
    EXPECT_WICK_ERROR(batch_norm(half(a32.x), f32(a32.rm), f32(a32.rv), f32(a32.w), f32(a32.b), true, 0.1, 1e-5),
                      "has dtype float32 but input has dtype");
    cuda::set_batch_norm_mixed(true);
  }
  // Autocast: conv -> batch_norm -> relu, bfloat16 activations with the mixed kernels.
  const Tensor x = normal({8, 3, 16, 16}, kFloat32, 92).to(kCuda);
  const Tensor cw = normal({16, 3, 3, 3}, kFloat32, 93, 0.3).to(kCuda);
  const NormArgs p = make_args({8, 16, 16, 16}, kFloat32, true, true, 94);
  Tensor outs[2], wgrads[2];
  for (int mixed = 0; mixed < 2; ++mixed) {
    cuda::set_batch_norm_mixed(mixed == 1);
    Tensor w = p.w.to(kCuda).requires_grad_(true), b = p.b.to(kCuda).requires_grad_(true);
    Tensor rm = p.rm.to(kCuda).clone(), rv = p.rv.to(kCuda).clone();
    Tensor y;
    {
      Autocast ac(kCuda, kBFloat16);
      Tensor h = conv2d(x, cw, Tensor(), {1, 1}, {1, 1});
      EXPECT_EQ(h.dtype(), kBFloat16);
      y = relu(batch_norm(h, rm, rv, w, b, true, 0.1, 1e-5));
    }
    EXPECT_EQ(y.dtype(), mixed ? kBFloat16 : kFloat32) << (mixed ? "mixed" : "float32");
    EXPECT_EQ(rm.dtype(), kFloat32);
    sum(y.to(kFloat32)).backward();
    ASSERT_TRUE(w.grad().defined());
    EXPECT_EQ(w.grad().dtype(), kFloat32);
    outs[mixed] = y.to(kFloat32).cpu();
    wgrads[mixed] = w.grad().cpu();
  }
  EXPECT_TRUE(all_close(outs[1], outs[0], 3e-2, 2e-2));
  EXPECT_TRUE(all_close(wgrads[1], wgrads[0], 0.5, 2e-2));  // sums of 2048 bf16 values per channel
}
#endif

#ifdef WICK_WITH_CUDA
// The vectorized kernels (cuda::set_batch_norm_vectorized): spatial sizes
// that take packs of 8, 4, 2 and 1 values, every dtype (16-bit with float32
// parameters, the mixed kernels), training and eval, against the CPU; an x
// that starts one value off alignment takes single values and still agrees.
TEST(CudaNorm, BatchNormVectorized) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::batch_norm_vectorized, cuda::set_batch_norm_vectorized);
  const test::SwitchScope restore_mixed(cuda::batch_norm_mixed, cuda::set_batch_norm_mixed);
  cuda::set_batch_norm_vectorized(true);
  cuda::set_batch_norm_mixed(true);
  const std::vector<Shape> shapes = {{4, 6, 8, 8}, {3, 5, 14, 14}, {2, 3, 2, 5}, {2, 4, 7, 7},
                                     {8, 6},       {64, 3, 16, 16}, {1, 8, 16, 16}};
  for (DType dt : {kFloat64, kFloat32, kBFloat16, kFloat16}) {
    const bool half = dt == kFloat16 || dt == kBFloat16;
    const double t = dt == kFloat64 ? 1e-10 : dt == kFloat32 ? 3e-5 : dt == kFloat16 ? 4e-2 : 0.24;
    for (const Shape& s : shapes)
      for (bool training : {true, false}) {
        SCOPED_TRACE(str(dt, " ", shape_str(s), training ? " train" : " eval"));
        const NormArgs a = make_args(s, half ? kFloat32 : dt, true, true, 95);
        // Device inputs: x and gy in dt, the parameters float32 for 16-bit x.
        auto dx = [&](const Tensor& v) { return half ? v.to(kCuda).to(dt) : v; };
        NormArgs d{dx(a.x), a.w, a.b, a.rm, a.rv, dx(a.gy)};
        NormArgs r = half ? NormArgs{ref(d.x), ref(a.w), ref(a.b), ref(a.rm), ref(a.rv), ref(d.gy)} : a;
        auto f = [&](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv) {
          return batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5);
        };
        const Result g = run(f, d, kCuda), c = run(f, r, Device(kCPU));
        Result g64;
        for (const Tensor& v : g.t) g64.t.push_back(half ? ref(v) : v);
        expect_same(g64, c, t);
      }
  }
  // x and gy one value past an aligned start (packs of 1), and two values past it (8-byte packs of 2).
  const NormArgs a = make_args({4, 6, 8, 8}, kFloat32, true, true, 96);
  auto f = [](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv) {
    return batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
  };
  for (int64_t shift : {1, 2}) {
    SCOPED_TRACE(str("storage offset ", shift));
    auto shifted = [shift](const Tensor& v) {
      Tensor flat = empty({v.numel() + shift}, TensorOptions(v.dtype()).device(v.device()));
      Tensor view = flat.narrow(0, shift, v.numel()).view(v.sizes());
      view.copy_(v);
      return view;
    };
    expect_same(run(f, a, kCuda, shifted), run(f, a, Device(kCPU)), 3e-5);
  }
}
#endif

#ifdef WICK_WITH_CUDA
// batch_norm_relu's fused epilogue on the device (cuda::set_batch_norm_relu_fused),
// scalar and on packs: relu(bn(x) + residual) and every gradient against the
// CPU (float32, float64), and bf16 activations with float32 parameters (the
// mixed kernels) against the float64 CPU on the same values.
TEST(CudaNorm, BatchNormRelu) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::batch_norm_relu_fused, cuda::set_batch_norm_relu_fused);
  const test::SwitchScope restore_vec(cuda::batch_norm_vectorized, cuda::set_batch_norm_vectorized);
  const test::SwitchScope restore_mixed(cuda::batch_norm_mixed, cuda::set_batch_norm_mixed);
  cuda::set_batch_norm_relu_fused(true);
  cuda::set_batch_norm_mixed(true);
  for (bool vec : {false, true}) {
    cuda::set_batch_norm_vectorized(vec);
    for (const Shape& s : std::vector<Shape>{{4, 6, 8, 8}, {3, 5, 7, 7}, {8, 6}})
      for (bool residual : {false, true})
        for (DType dt : {kFloat64, kFloat32, kBFloat16, kFloat16}) {
          SCOPED_TRACE(str(dt, " ", shape_str(s), residual ? " residual" : "", vec ? " packs" : ""));
          const bool half = dt == kBFloat16 || dt == kFloat16;
          const NormArgs a = make_args(s, half ? kFloat32 : dt, true, true, 97);
          const Tensor r0 = normal(s, half ? kFloat32 : dt, 98);
          auto dx = [&](const Tensor& v) { return half ? v.to(kCuda).to(dt) : v; };
          NormArgs d{dx(a.x), a.w, a.b, a.rm, a.rv, dx(a.gy)};
          const Tensor rd = dx(r0);
          NormArgs c = half ? NormArgs{ref(d.x), ref(a.w), ref(a.b), ref(a.rm), ref(a.rv), ref(d.gy)} : a;
          const Tensor rc = half ? ref(rd) : r0;
          // The residual's gradient rides along as the op's output of a second call.
          auto f = [&](const Tensor& rr) {
            return [&, rr](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv) {
              return batch_norm_relu(x, rm, rv, w, b, true, 0.1, 1e-5,
                                     residual ? rr.to(x.device()).to(x.dtype()) : Tensor());
            };
          };
          const Result g = run(f(rd), d, kCuda), cpu = run(f(rc), c, Device(kCPU));
          Result g64;
          for (const Tensor& v : g.t) g64.t.push_back(half ? ref(v) : v);
          const double t = dt == kFloat64 ? 1e-10 : dt == kFloat32 ? 3e-5 : dt == kFloat16 ? 4e-2 : 0.24;
          expect_same(g64, cpu, t);
          // The residual's gradient: the relu's mask times gy, on the device and the CPU.
          if (residual) {
            auto grad_r = [&](const Device& dev, const NormArgs& args, const Tensor& r) {
              Tensor rl = r.to(dev).detach().requires_grad_(true);
              Tensor y = batch_norm_relu(args.x.to(dev), Tensor(), Tensor(), args.w.to(dev), args.b.to(dev), true,
                                         0.1, 1e-5, rl);
              sum(mul(y, args.gy.to(dev))).backward();
              return half ? ref(rl.grad()) : rl.grad().cpu();
            };
            EXPECT_TRUE(all_close(grad_r(kCuda, d, rd), grad_r(Device(kCPU), c, rc), t, t)) << "residual grad";
          }
        }
    // Eval mode (the running statistics normalize), float32 and bf16, with a residual.
    for (DType dt : {kFloat32, kBFloat16}) {
      SCOPED_TRACE(str(dt, " eval", vec ? " packs" : ""));
      const bool half = dt == kBFloat16;
      const Shape s = {4, 6, 8, 8};
      const NormArgs a = make_args(s, kFloat32, true, true, 99);
      const Tensor r0 = normal(s, kFloat32, 100);
      auto dx = [&](const Tensor& v) { return half ? v.to(kCuda).to(dt) : v; };
      const NormArgs d{dx(a.x), a.w, a.b, a.rm, a.rv, dx(a.gy)};
      const NormArgs c = half ? NormArgs{ref(d.x), ref(a.w), ref(a.b), ref(a.rm), ref(a.rv), ref(d.gy)} : a;
      const Tensor rd = dx(r0), rc = half ? ref(rd) : r0;
      auto f = [&](const Tensor& rr) {
        return [&, rr](const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv) {
          return batch_norm_relu(x, rm, rv, w, b, false, 0.1, 1e-5, rr.to(x.device()).to(x.dtype()));
        };
      };
      const Result g = run(f(rd), d, kCuda), cpu = run(f(rc), c, Device(kCPU));
      Result g64;
      for (const Tensor& v : g.t) g64.t.push_back(half ? ref(v) : v);
      expect_same(g64, cpu, half ? 0.24 : 3e-5);
    }
    // relu at exactly zero: w = 0 makes bn(x) = b exactly, and residual = -b makes every pre-activation 0, so
    // the output and every gradient (x, w, b, the residual) must be exactly 0, as relu'(0) = 0 in PyTorch.
    for (DType dt : {kFloat32, kBFloat16}) {
      SCOPED_TRACE(str(dt, " zero pre-activation", vec ? " packs" : ""));
      const Shape s = {2, 3, 8, 8};
      const auto o = TensorOptions(kFloat32).device(kCuda);
      const Tensor b0 = normal({3}, kFloat32, 101).to(kCuda).to(dt).to(kFloat32);  // representable in dt
      Tensor x = normal(s, kFloat32, 102).to(kCuda).to(dt).detach().requires_grad_(true);
      Tensor w = zeros({3}, o).requires_grad_(true), b = b0.detach().requires_grad_(true);
      Tensor r = neg(b0).view({1, 3, 1, 1}).expand(s).contiguous().to(dt).requires_grad_(true);
      Tensor y = batch_norm_relu(x, Tensor(), Tensor(), w, b, true, 0.1, 1e-5, r);
      sum(mul(y, normal(s, kFloat32, 103).to(kCuda).to(dt))).backward();
      for (const Tensor& v : {y.detach(), x.grad(), w.grad(), b.grad(), r.grad()}) {
        ASSERT_TRUE(v.defined());
        EXPECT_EQ(max(abs(v.to(kFloat32))).item(), 0.0);
      }
    }
  }
}
#endif

TEST(CudaNorm, GradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  auto on_gpu = [](std::function<Tensor(const tensor_list&)> f) {
    return [f](const tensor_list& in) {
      tensor_list g;
      for (const Tensor& t : in) g.push_back(t.defined() ? t.to(kCuda) : t);
      Tensor out = f(g);
      EXPECT_TRUE(out.is_cuda());
      return out.to(kCPU);
    };
  };
  Tensor x = wick::test::rand_f64({3, 4, 2, 3}, 1);
  Tensor w = wick::test::rand_f64({4}, 2), b = wick::test::rand_f64({4}, 3);
  const Tensor rm = mul(wick::test::rand_f64({4}, 4, false), 0.1);
  const Tensor rv = add(abs(wick::test::rand_f64({4}, 5, false)), 0.5);
  auto bn_train = [](const tensor_list& t) { return batch_norm(t[0], Tensor(), Tensor(), t[1], t[2], true, 0.1, 1e-5); };
  auto bn_eval = [rm, rv](const tensor_list& t) {
    return batch_norm(t[0], rm.to(kCuda), rv.to(kCuda), t[1], t[2], false, 0.1, 1e-5);
  };
  auto gn = [](const tensor_list& t) { return group_norm(t[0], 2, t[1], t[2], 1e-5); };
  for (const auto& f : {std::function<Tensor(const tensor_list&)>(bn_train), std::function<Tensor(const tensor_list&)>(bn_eval),
                        std::function<Tensor(const tensor_list&)>(gn)}) {
    EXPECT_TRUE(gradcheck(on_gpu(f), {x, w, b}));
    EXPECT_TRUE(gradgradcheck(on_gpu(f), {x, w, b}));
  }
}

TEST(CudaNorm, ParametersOnAnotherDeviceAreErrors) {
  WICK_SKIP_WITHOUT_CUDA();
  const TensorOptions cpu32 = TensorOptions(kFloat32);
  Tensor x = ones({2, 3, 4, 4}, TensorOptions(kFloat32).device(kCuda));
  Tensor rm = zeros({3}, cpu32), rv = ones({3}, cpu32);
  EXPECT_WICK_ERROR(batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1, 1e-5), "running_mean is on");
  EXPECT_WICK_ERROR(batch_norm(x, rm.to(kCuda), rv, Tensor(), Tensor(), false, 0.1, 1e-5), "running_var is on");
  EXPECT_WICK_ERROR(batch_norm(x, Tensor(), Tensor(), ones({3}, cpu32), Tensor(), true, 0.1, 1e-5), "weight is on");
  EXPECT_WICK_ERROR(group_norm(x, 3, Tensor(), zeros({3}, cpu32), 1e-5), "bias is on");
  EXPECT_WICK_ERROR(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false, 0.1, 1e-5),
                    "running_mean and running_var must be defined");
  EXPECT_WICK_ERROR(group_norm(x, 2), "divisible by num_groups");
}
