// The fused batch_norm kernels of ops/cpu/batch_norm.cpp (forward with the
// running-statistics update, first-order backward) against
//   - a double-precision reference written here as plain loops over [N, C, S],
//   - the composed-of-ops backward formula of ops/nn.cpp (which runs when the
//     backward is recorded, create_graph=true),
// on odd shapes (M = 2 values per channel, S = 1, C = 33, ...), float32 and
// float64, training and eval, with and without weight / bias, non-contiguous
// inputs, gradients and running statistics, an empty batch, and with
// gradcheck / gradgradcheck in double. Tolerances are fixed per dtype below.
#include <cmath>
#include <vector>

#include "support/test_util.h"
#include "tensor/parallel.h"

using namespace wick;
using namespace wick::test;

namespace {

// Tolerance of a float32 / float64 kernel against the double reference.
double tol(DType dt) { return dt == kFloat32 ? 1e-4 : 1e-10; }

std::vector<double> to_vec(const Tensor& t) {
  Tensor c = t.detach().to(kFloat64).contiguous();
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

Tensor from_vec(const std::vector<double>& v, const Shape& s) {
  Tensor t = empty(s, TensorOptions(kFloat64));
  std::copy(v.begin(), v.end(), t.data_ptr<double>());
  return t;
}

// The reference: batch norm over x viewed as [N, C, S], every step in double.
struct Ref {
  Tensor y, gx, gw, gb, running_mean, running_var;
};

Ref reference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& g, const Tensor& rm0,
              const Tensor& rv0, bool training, double momentum, double eps) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / (N * C), M = N * S;
  const std::vector<double> xv = to_vec(x), gv = to_vec(g);
  const std::vector<double> wv = w.defined() ? to_vec(w) : std::vector<double>(C, 1.0);
  const std::vector<double> bv = b.defined() ? to_vec(b) : std::vector<double>(C, 0.0);
  std::vector<double> rm = rm0.defined() ? to_vec(rm0) : std::vector<double>(C, 0.0);
  std::vector<double> rv = rv0.defined() ? to_vec(rv0) : std::vector<double>(C, 1.0);
  std::vector<double> y(xv.size()), gx(xv.size()), gw(C), gb(C);
  auto at = [&](int64_t n, int64_t c, int64_t s) { return (n * C + c) * S + s; };
  for (int64_t c = 0; c < C; ++c) {
    double mean = 0, var = 0;
    if (training) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) mean += xv[at(n, c, s)];
      mean /= M;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t s = 0; s < S; ++s) var += (xv[at(n, c, s)] - mean) * (xv[at(n, c, s)] - mean);
      var /= M;
      rm[c] = (1 - momentum) * rm[c] + momentum * mean;
      rv[c] = (1 - momentum) * rv[c] + momentum * var * M / (M - 1);
    } else {
      mean = rm[c];
      var = rv[c];
    }
    const double rstd = 1 / std::sqrt(var + eps);
    double sg = 0, sgx = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = at(n, c, s);
        const double xh = (xv[i] - mean) * rstd;
        y[i] = xh * wv[c] + bv[c];
        sg += gv[i];
        sgx += gv[i] * xh;
      }
    gb[c] = sg;
    gw[c] = sgx;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = at(n, c, s);
        const double xh = (xv[i] - mean) * rstd;
        gx[i] = training ? wv[c] * rstd * (gv[i] - sg / M - xh * sgx / M) : wv[c] * rstd * gv[i];
      }
  }
  return {from_vec(y, x.sizes()), from_vec(gx, x.sizes()), from_vec(gw, {C}), from_vec(gb, {C}),
          from_vec(rm, {C}), from_vec(rv, {C})};
}

void expect_close(const Tensor& got, const Tensor& want, double atol, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what;
  EXPECT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_TRUE(all_close(got.detach().to(kFloat64), want, atol, atol)) << what;
}

// Runs batch_norm on x (optionally weight / bias) with running statistics and
// checks output, running statistics and the fused (create_graph=false) and
// composed (create_graph=true) gradients against the reference.
void check_case(const Shape& shape, DType dt, bool training, bool with_w, bool with_b, uint64_t seed) {
  const int64_t C = shape[1];
  const std::string what = shape_str(shape) + (dt == kFloat32 ? " f32" : " f64") + (training ? " train" : " eval") +
                           (with_w ? " w" : "") + (with_b ? " b" : "");
  Tensor x = randn_t(shape, dt, seed);
  Tensor w = with_w ? randn_t({C}, dt, seed + 1) : Tensor();
  Tensor b = with_b ? randn_t({C}, dt, seed + 2) : Tensor();
  Tensor g = randn_t(shape, dt, seed + 3, false);
  Tensor rm = randn_t({C}, dt, seed + 4, false);
  Tensor rv = add(rand(Shape{C}, TensorOptions(dt)), 0.5);
  const Ref ref = reference(x, w, b, g, rm, rv, training, 0.1, 1e-5);

  Tensor y = batch_norm(x, rm, rv, w, b, training, 0.1, 1e-5);
  const double t = tol(dt);
  expect_close(y, ref.y, t, what + " y");
  expect_close(rm, ref.running_mean, t, what + " running_mean");
  expect_close(rv, ref.running_var, t, what + " running_var");

  tensor_list inputs{x};
  if (with_w) inputs.push_back(w);
  if (with_b) inputs.push_back(b);
  const tensor_list fused = autograd::grad({y}, inputs, {g}, /*retain_graph=*/true, /*create_graph=*/false);
  const tensor_list composed = autograd::grad({y}, inputs, {g}, /*retain_graph=*/true, /*create_graph=*/true);
  const Tensor want[] = {ref.gx, with_w ? ref.gw : ref.gb, ref.gb};
  for (size_t i = 0; i < inputs.size(); ++i) {
    expect_close(fused[i], want[i], t * 10, what + " fused grad " + std::to_string(i));
    expect_close(composed[i], want[i], t * 10, what + " composed grad " + std::to_string(i));
  }
}

const DType kDtypes[] = {kFloat32, kFloat64};

}  // namespace

TEST(BatchNormKernels, TrainingMatchesReferenceOnOddShapes) {
  const Shape shapes[] = {{1, 1, 1, 2}, {5, 7, 3, 3}, {2, 33, 9, 1}, {16, 32, 14, 14}, {6, 5}, {3, 4, 17}};
  uint64_t seed = 1;
  for (DType dt : kDtypes)
    for (const Shape& s : shapes) check_case(s, dt, /*training=*/true, true, true, seed += 10);
}

TEST(BatchNormKernels, LargeChannelLastShape) {
  // The shape of ResNet-18's first stage in the benchmark (64 x 32 x 28 x 28).
  check_case({64, 32, 28, 28}, kFloat32, /*training=*/true, true, true, 7);
}

TEST(BatchNormKernels, EvalMatchesReference) {
  const Shape shapes[] = {{1, 1, 1, 2}, {5, 7, 3, 3}, {2, 33, 9, 1}, {1, 3}};
  uint64_t seed = 500;
  for (DType dt : kDtypes)
    for (const Shape& s : shapes) check_case(s, dt, /*training=*/false, true, true, seed += 10);
}

TEST(BatchNormKernels, WeightOrBiasAbsent) {
  uint64_t seed = 900;
  for (DType dt : kDtypes)
    for (bool training : {true, false})
      for (auto [w, b] : {std::pair{false, false}, {true, false}, {false, true}})
        check_case({4, 3, 5, 2}, dt, training, w, b, seed += 10);
}

TEST(BatchNormKernels, NonContiguousInputGradAndRunningStats) {
  for (DType dt : kDtypes) {
    // x as a [N, C, H, W] view of a [C, N, W, H] tensor: no dim is contiguous.
    Tensor base = randn_t({3, 4, 5, 6}, dt, 11, false);
    Tensor x = base.permute({1, 0, 3, 2}).detach().requires_grad_();
    ASSERT_FALSE(x.is_contiguous());
    Tensor w = randn_t({3}, dt, 12), b = randn_t({3}, dt, 13);
    Tensor gt = randn_t({4, 3, 5, 6}, dt, 15, false).transpose(2, 3);  // [4, 3, 6, 5], strided
    ASSERT_FALSE(gt.is_contiguous());
    // Running statistics as every other element of a [6] buffer.
    Tensor rm_buf = zeros({6}, TensorOptions(dt)), rv_buf = ones({6}, TensorOptions(dt));
    Tensor rm = rm_buf.slice(0, 0, 6, 2), rv = rv_buf.slice(0, 0, 6, 2);
    ASSERT_FALSE(rm.is_contiguous());
    const Ref ref = reference(x, w, b, gt, rm, rv, true, 0.3, 1e-5);
    const uint64_t v0 = rm.version();
    Tensor y = batch_norm(x, rm, rv, w, b, true, 0.3, 1e-5);
    EXPECT_GT(rm.version(), v0);
    expect_close(y, ref.y, tol(dt), "noncontig y");
    expect_close(rm, ref.running_mean, tol(dt), "noncontig running_mean");
    expect_close(rv, ref.running_var, tol(dt), "noncontig running_var");
    EXPECT_EQ(rm_buf[1].item<double>(), 0.0) << "the elements between the strided view are untouched";
    const tensor_list gr = autograd::grad({y}, {x, w, b}, {gt});
    expect_close(gr[0], ref.gx, tol(dt) * 10, "noncontig gx");
    expect_close(gr[1], ref.gw, tol(dt) * 10, "noncontig gw");
    expect_close(gr[2], ref.gb, tol(dt) * 10, "noncontig gb");
  }
}

TEST(BatchNormKernels, EmptyBatch) {
  for (DType dt : kDtypes) {
    Tensor x = zeros({0, 3, 4}, TensorOptions(dt)).requires_grad_();
    Tensor w = randn_t({3}, dt, 21), b = randn_t({3}, dt, 22);
    Tensor rm = randn_t({3}, dt, 23, false), rv = ones({3}, TensorOptions(dt));
    const Tensor rm0 = rm.clone(), rv0 = rv.clone();
    Tensor y = batch_norm(x, rm, rv, w, b, /*training=*/true, 0.1, 1e-5);
    EXPECT_EQ(y.sizes(), (Shape{0, 3, 4}));
    EXPECT_TRUE(all_close(rm, rm0, 0, 0)) << "an empty batch leaves the running statistics alone";
    EXPECT_TRUE(all_close(rv, rv0, 0, 0));
    const tensor_list gr = autograd::grad({y}, {x, w, b}, {zeros({0, 3, 4}, TensorOptions(dt))});
    EXPECT_EQ(gr[0].sizes(), (Shape{0, 3, 4}));
    EXPECT_TRUE(all_close(gr[1], zeros({3}, TensorOptions(dt)), 0, 0)) << "a sum over no values";
    EXPECT_TRUE(all_close(gr[2], zeros({3}, TensorOptions(dt)), 0, 0));
    // Zero channels: nothing to compute, no error.
    Tensor y0 = batch_norm(zeros({4, 0, 2}, TensorOptions(dt)), {}, {}, {}, {}, true);
    EXPECT_EQ(y0.sizes(), (Shape{4, 0, 2}));
  }
}

TEST(BatchNormKernels, SameResultForOneAndTwoThreads) {
  // A thread owns whole channels: the sums must not depend on the team size.
  const int saved = get_num_threads();
  auto run = [](int threads) {
    set_num_threads(threads);
    Tensor x = randn_t({32, 8, 16, 16}, kFloat32, 31);
    Tensor w = randn_t({8}, kFloat32, 32), b = randn_t({8}, kFloat32, 33);
    Tensor y = batch_norm(x, {}, {}, w, b, true);
    tensor_list gr = autograd::grad({y}, {x, w, b}, {randn_t({32, 8, 16, 16}, kFloat32, 34, false)});
    gr.push_back(y.detach());
    return gr;
  };
  const tensor_list one = run(1), two = run(2);
  set_num_threads(saved);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(all_close(one[i], two[i], 0, 0)) << i;
}

TEST(BatchNormKernels, GradcheckAndGradgradcheck) {
  auto train = [](const tensor_list& in) { return batch_norm(in[0], {}, {}, in[1], in[2], true); };
  EXPECT_TRUE(gradcheck(train, {rand_f64({5, 3, 2, 2}, 41), rand_f64({3}, 42), rand_f64({3}, 43)}));
  EXPECT_TRUE(gradcheck(train, {rand_f64({2, 3, 1, 1}, 44), rand_f64({3}, 45), rand_f64({3}, 46)}));
  Tensor rm = rand_f64({3}, 47, false), rv = add(rand_f64({3}, 48, false), 1.0);
  auto eval = [&](const tensor_list& in) { return batch_norm(in[0], rm, rv, in[1], in[2], false); };
  EXPECT_TRUE(gradcheck(eval, {rand_f64({2, 3, 3}, 49), rand_f64({3}, 50), rand_f64({3}, 51)}));
  // Second derivatives go through the composed formula.
  EXPECT_TRUE(gradgradcheck(train, {rand_f64({4, 3, 2}, 52), rand_f64({3}, 53), rand_f64({3}, 54)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return batch_norm(in[0], {}, {}, {}, {}, true); },
                            {noncontig_f64({3, 2}, 55)}));
  EXPECT_TRUE(gradgradcheck(eval, {rand_f64({2, 3, 3}, 56), rand_f64({3}, 57), rand_f64({3}, 58)}));
}

TEST(BatchNormKernels, CreateGraphSecondDerivativeMatchesFirstOrder) {
  // The gradient computed with create_graph (composed) equals the fused one,
  // and is itself differentiable: d/dx sum(gx^2) exists and is finite.
  Tensor x = randn_t({6, 4, 3, 3}, kFloat64, 61);
  Tensor w = randn_t({4}, kFloat64, 62), b = randn_t({4}, kFloat64, 63);
  Tensor y = batch_norm(x, {}, {}, w, b, true);
  Tensor g = randn_t({6, 4, 3, 3}, kFloat64, 64, false);
  const tensor_list first = autograd::grad({y}, {x}, {g}, /*retain_graph=*/true, /*create_graph=*/false);
  const tensor_list graph = autograd::grad({y}, {x}, {g}, /*retain_graph=*/true, /*create_graph=*/true);
  EXPECT_TRUE(all_close(first[0], graph[0].detach(), 1e-12, 1e-10));
  ASSERT_TRUE(graph[0].requires_grad());
  const tensor_list second = autograd::grad({sum(mul(graph[0], graph[0]))}, {x, w});
  EXPECT_TRUE(std::isfinite(sum(abs(second[0])).item<double>()));
  EXPECT_TRUE(std::isfinite(sum(abs(second[1])).item<double>()));
}

TEST(BatchNormKernels, ErrorsUnchanged) {
  EXPECT_WICK_ERROR(batch_norm(zeros({1, 3, 1}, kFloat32), {}, {}, {}, {}, true),
                    "batch_norm: expected more than 1 value per channel when training, got input of shape [1,3,1]");
  EXPECT_WICK_ERROR(batch_norm(zeros({4, 3}, kFloat32), ones({3}, kFloat32), {}, {}, {}, false),
                    "batch_norm: running_mean and running_var must be defined in evaluation mode");
  EXPECT_WICK_ERROR(batch_norm(zeros({4, 3}, kFloat32), {}, {}, ones({3}, kFloat64), {}, true),
                    "batch_norm: weight has dtype");
}

// batch_norm_relu: relu(batch_norm(x) + residual) in the forward kernel's
// output pass, against the composed ops: outputs, running statistics and
// every gradient (x, weight, bias, residual), training and eval, with and
// without a residual and parameters, float32 and float64, a non-contiguous
// residual, NaN propagation; gradcheck and gradgradcheck in double; errors.
namespace {

tensor_list bn_relu_pass(bool fused, const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& r0,
                         const Tensor& rm0, const Tensor& rv0, bool training, const Tensor& g) {
  Tensor x = x0.detach().requires_grad_(true);
  Tensor w = w0.defined() ? w0.detach().requires_grad_(true) : Tensor();
  Tensor b = b0.defined() ? b0.detach().requires_grad_(true) : Tensor();
  Tensor r = r0.defined() ? r0.detach().requires_grad_(true) : Tensor();
  Tensor rm = rm0.defined() ? rm0.clone() : Tensor(), rv = rv0.defined() ? rv0.clone() : Tensor();
  Tensor y;
  if (fused) {
    y = batch_norm_relu(x, rm, rv, w, b, training, 0.2, 1e-5, r);
  } else {
    y = batch_norm(x, rm, rv, w, b, training, 0.2, 1e-5);
    y = relu(r.defined() ? add(y, r) : y);
  }
  y.backward(g);
  auto grad = [](const Tensor& t) { return t.defined() ? t.grad() : Tensor(); };
  return {y.detach(), grad(x), grad(w), grad(b), grad(r), rm, rv};
}

}  // namespace

TEST(BatchNormKernels, BatchNormReluEqualsTheComposedOps) {
  const char* names[] = {"y", "gx", "gw", "gb", "g_residual", "running_mean", "running_var"};
  uint64_t seed = 300;
  for (DType dt : {kFloat32, kFloat64})
    for (const Shape& s : {Shape{4, 3, 5, 5}, Shape{2, 6, 7}, Shape{8, 5}})
      for (bool training : {true, false})
        for (bool residual : {false, true})
          for (bool affine : {false, true}) {
            SCOPED_TRACE(str(dt, " ", shape_str(s), training ? " train" : " eval", residual ? " residual" : "",
                             affine ? " affine" : ""));
            const int64_t C = s[1];
            const Tensor x = randn_t(s, dt, seed++, false);
            const Tensor w = affine ? randn_t({C}, dt, seed++, false) : Tensor();
            const Tensor b = affine ? randn_t({C}, dt, seed++, false) : Tensor();
            const Tensor r = residual ? randn_t(s, dt, seed++, false) : Tensor();
            const Tensor rm = randn_t({C}, dt, seed++, false), rv = add(abs(randn_t({C}, dt, seed++, false)), 0.5);
            const Tensor g = randn_t(s, dt, seed++, false);
            const tensor_list f = bn_relu_pass(true, x, w, b, r, rm, rv, training, g);
            const tensor_list c = bn_relu_pass(false, x, w, b, r, rm, rv, training, g);
            // The same operations in the same order, each rounded in the dtype.
            for (size_t i = 0; i < f.size(); ++i) {
              ASSERT_EQ(f[i].defined(), c[i].defined()) << names[i];
              if (f[i].defined()) EXPECT_TRUE(all_close(f[i], c[i], 1e-6, 1e-6)) << names[i];
            }
            EXPECT_GT(sum(eq(f[0], 0.0)).item<double>(), 0) << "some outputs clipped";
          }
  // A non-contiguous residual, and NaN propagating through the relu.
  Tensor x = randn_t({4, 3, 2, 2}, kFloat64, 320, false);
  Tensor r = randn_t({4, 2, 2, 3}, kFloat64, 321, false).permute({0, 3, 1, 2});
  ASSERT_FALSE(r.is_contiguous());
  EXPECT_TRUE(all_close(batch_norm_relu(x, {}, {}, {}, {}, true, 0.1, 1e-5, r),
                        relu(add(batch_norm(x, {}, {}, {}, {}, true), r)), 1e-12, 1e-12));
  Tensor rn = zeros({4, 3, 2, 2}, kFloat64);
  rn.view({-1}).narrow(0, 5, 1).fill_(std::nan(""));
  Tensor yn = batch_norm_relu(x, {}, {}, {}, {}, true, 0.1, 1e-5, rn);
  EXPECT_TRUE(std::isnan(yn.view({-1}).narrow(0, 5, 1).item<double>()));
}

TEST(BatchNormKernels, BatchNormReluGradcheckAndErrors) {
  auto f = [](const tensor_list& in) { return batch_norm_relu(in[0], {}, {}, in[1], in[2], true, 0.1, 1e-5, in[3]); };
  // Values away from relu's kink: the finite differences see one side of it.
  Tensor x = rand_f64({4, 3, 2, 2}, 330), w = rand_f64({3}, 331), b = rand_f64({3}, 332);
  Tensor r = rand_f64({4, 3, 2, 2}, 333);
  EXPECT_TRUE(gradcheck(f, {x, w, b, r}));
  EXPECT_TRUE(gradgradcheck(f, {x, w, b, r}));
  auto nores = [](const tensor_list& in) { return batch_norm_relu(in[0], {}, {}, in[1], in[2], true); };
  EXPECT_TRUE(gradcheck(nores, {rand_f64({5, 2, 3}, 334), rand_f64({2}, 335), rand_f64({2}, 336)}));
  EXPECT_WICK_ERROR(batch_norm_relu(zeros({4, 3, 2}), {}, {}, {}, {}, true, 0.1, 1e-5, zeros({4, 3, 1})),
                    "batch_norm_relu: the residual must have the input's shape");
  EXPECT_WICK_ERROR(batch_norm_relu(zeros({1, 3, 1}), {}, {}, {}, {}, true),
                    "batch_norm_relu: expected more than 1 value per channel when training");
}
