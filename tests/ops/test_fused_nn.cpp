// The fused CPU kernels of ops/cpu/nn.cpp and ops/cpu/loss.cpp against the
// composed-of-ops formulas they replace: softmax / log_softmax backward,
// layer_norm / rms_norm backward (input, weight and bias gradients) and the
// fused cross entropy (forward and backward).
//
// A first-order backward (create_graph=false) runs the fused kernel; the same
// graph differentiated with create_graph=true runs the composed formula, so
// comparing the two compares the kernels with their readable references.
// Sizes 1, 7, 33, 257, dims other than the last, non-contiguous inputs,
// empty tensors, float and double; gradcheck / gradgradcheck in double.
#include <cmath>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

double tol(DType dt) { return dt == kFloat32 ? 2e-5 : 1e-11; }

// Gradients of y w.r.t. inputs for upstream g: {fused, composed}.
std::pair<tensor_list, tensor_list> both_paths(const Tensor& y, const tensor_list& inputs, const Tensor& g) {
  tensor_list fused = autograd::grad({y}, inputs, {g}, /*retain_graph=*/true, /*create_graph=*/false);
  tensor_list composed = autograd::grad({y}, inputs, {g}, /*retain_graph=*/true, /*create_graph=*/true);
  for (auto& t : composed) t = t.detach();
  return {fused, composed};
}

void expect_paths_agree(const Tensor& y, const tensor_list& inputs, const Tensor& g, double atol,
                        const std::string& what) {
  auto [f, c] = both_paths(y, inputs, g);
  ASSERT_EQ(f.size(), c.size());
  for (size_t i = 0; i < f.size(); ++i) {
    EXPECT_EQ(f[i].sizes(), inputs[i].sizes()) << what << " input " << i;
    EXPECT_TRUE(all_close(f[i], c[i], atol, atol)) << what << " input " << i;
  }
}

const DType kDtypes[] = {kFloat32, kFloat64};
const int64_t kCols[] = {1, 7, 33, 257};

}  // namespace

// ---------------------------------------------------------------------------
// softmax / log_softmax backward

TEST(FusedSoftmax, BackwardMatchesComposedLastDim) {
  for (DType dt : kDtypes) {
    for (int64_t n : kCols) {
      for (bool log : {false, true}) {
        Tensor x = randn_t({5, n}, dt, n);
        Tensor y = log ? log_softmax(x, 1) : softmax(x, -1);
        Tensor g = randn_t({5, n}, dt, n + 100, false);
        expect_paths_agree(y, {x}, g, tol(dt), std::string(log ? "log_softmax" : "softmax") + " n=" +
                                                   std::to_string(n));
      }
    }
  }
}

TEST(FusedSoftmax, BackwardMatchesComposedOtherDims) {
  // Inner strides of 1, 7, 33 and 257 (more than one column block of 64).
  for (DType dt : kDtypes) {
    for (int64_t n : kCols) {
      for (int64_t d : {0, 1}) {
        for (bool log : {false, true}) {
          Tensor x = randn_t({3, 5, n}, dt, 7 * n + d);
          Tensor y = log ? log_softmax(x, d) : softmax(x, d);
          Tensor g = randn_t({3, 5, n}, dt, 9 * n + d, false);
          expect_paths_agree(y, {x}, g, tol(dt), "dim " + std::to_string(d) + " n=" + std::to_string(n));
        }
      }
    }
  }
}

TEST(FusedSoftmax, NonContiguousAndBroadcastGradients) {
  for (bool log : {false, true}) {
    Tensor base = randn_t({33, 7}, kFloat64, 3);
    Tensor x = base.t();  // [7, 33], non-contiguous
    Tensor y = log ? log_softmax(x, 1) : softmax(x, 0);
    // A non-contiguous upstream gradient, and an expanded one.
    Tensor g = randn_t({33, 7}, kFloat64, 4, false).t();
    expect_paths_agree(y, {base}, g, 1e-11, "non-contiguous");
    expect_paths_agree(y, {base}, randn_t({1, 33}, kFloat64, 5, false).expand({7, 33}), 1e-11, "expanded grad");
  }
}

TEST(FusedSoftmax, ScalarAndEmpty) {
  for (bool log : {false, true}) {
    Tensor s = randn_t({}, kFloat64, 1);
    Tensor ys = log ? log_softmax(s, 0) : softmax(s, 0);
    expect_paths_agree(ys, {s}, scalar_tensor(2.0, kFloat64), 0, "0-d");
    for (Shape shape : {Shape{0, 5}, Shape{5, 0}}) {
      Tensor e = randn_t(shape, kFloat32, 1);
      Tensor ye = log ? log_softmax(e, 1) : softmax(e, 1);
      auto gx = autograd::grad({ye}, {e}, {zeros(shape, kFloat32)});
      EXPECT_EQ(gx[0].sizes(), shape);
    }
  }
}

TEST(FusedSoftmax, GradcheckAndGradgradcheck) {
  for (int64_t d : {0, 1, 2}) {
    EXPECT_TRUE(gradcheck([d](const tensor_list& in) { return softmax(in[0], d); }, {rand_f64({3, 7, 2}, 1)}));
    EXPECT_TRUE(gradcheck([d](const tensor_list& in) { return log_softmax(in[0], d); }, {rand_f64({3, 7, 2}, 2)}));
  }
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return softmax(in[0], 0); }, {rand_f64({7, 3}, 3)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& in) { return log_softmax(in[0], 1); }, {noncontig_f64({3, 7}, 4)}));
}

// ---------------------------------------------------------------------------
// layer_norm / rms_norm backward

TEST(FusedNorm, BackwardMatchesComposed) {
  for (DType dt : kDtypes) {
    for (int64_t n : kCols) {
      for (bool rms : {false, true}) {
        for (int affine = 0; affine < 3; ++affine) {  // none, weight, weight + bias
          Tensor x = randn_t({2, 5, n}, dt, n);
          Tensor w = affine >= 1 ? randn_t({n}, dt, n + 1) : Tensor();
          Tensor b = affine == 2 && !rms ? randn_t({n}, dt, n + 2) : Tensor();
          Tensor y = rms ? rms_norm(x, {n}, w) : layer_norm(x, {n}, w, b);
          tensor_list in{x};
          if (w.defined()) in.push_back(w);
          if (b.defined()) in.push_back(b);
          Tensor g = randn_t({2, 5, n}, dt, n + 3, false);
          // n = 1: layer_norm's xhat is 0 and its input gradient cancels exactly.
          expect_paths_agree(y, in, g, dt == kFloat32 ? 1e-4 : 1e-10,
                             std::string(rms ? "rms_norm" : "layer_norm") + " n=" + std::to_string(n) +
                                 " affine=" + std::to_string(affine));
        }
      }
    }
  }
}

TEST(FusedNorm, MultiDimNormalizedShapeNonContiguousAndOnlyParamGrads) {
  Tensor base = randn_t({3, 4, 5}, kFloat64, 1);
  Tensor x = base.transpose(0, 2);  // [5, 4, 3], non-contiguous
  Tensor w = randn_t({4, 3}, kFloat64, 2), b = randn_t({4, 3}, kFloat64, 3);
  Tensor g = randn_t({5, 4, 3}, kFloat64, 4, false);
  expect_paths_agree(layer_norm(x, {4, 3}, w, b), {base, w, b}, g, 1e-10, "layer_norm [4,3]");
  expect_paths_agree(rms_norm(x, {4, 3}, w), {base, w}, g, 1e-10, "rms_norm [4,3]");
  // Only the parameters need gradients.
  Tensor xc = randn_t({6, 7}, kFloat64, 5, false);
  Tensor w7 = randn_t({7}, kFloat64, 6), b7 = randn_t({7}, kFloat64, 7);
  expect_paths_agree(layer_norm(xc, {7}, w7, b7), {w7, b7}, randn_t({6, 7}, kFloat64, 8, false), 1e-10,
                     "params only");
  expect_paths_agree(layer_norm(xc, {7}, w7, b7), {b7}, randn_t({6, 7}, kFloat64, 9, false), 1e-10, "bias only");
  // Bias without weight.
  Tensor xb = randn_t({6, 7}, kFloat64, 10);
  expect_paths_agree(layer_norm(xb, {7}, Tensor(), b7), {xb, b7}, randn_t({6, 7}, kFloat64, 11, false), 1e-10,
                     "bias without weight");
}

TEST(FusedNorm, ParamGradsAreDeterministicAcrossThreadCounts) {
  // Many rows: several partial-sum blocks.
  Tensor x = randn_t({1000, 257}, kFloat32, 1);
  Tensor w = randn_t({257}, kFloat32, 2), b = randn_t({257}, kFloat32, 3);
  Tensor g = randn_t({1000, 257}, kFloat32, 4, false);
  const int saved = get_num_threads();
  tensor_list r1, r2;
  set_num_threads(1);
  r1 = autograd::grad({layer_norm(x, {257}, w, b)}, {x, w, b}, {g});
  set_num_threads(2);
  r2 = autograd::grad({layer_norm(x, {257}, w, b)}, {x, w, b}, {g});
  set_num_threads(saved);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(all_equal(r1[i], r2[i])) << i;
  expect_paths_agree(layer_norm(x, {257}, w, b), {x, w, b}, g, 5e-4, "1000 rows");
}

TEST(FusedNorm, EmptyBatch) {
  for (bool rms : {false, true}) {
    Tensor x = randn_t({0, 5}, kFloat64, 1);
    Tensor w = randn_t({5}, kFloat64, 2), b = randn_t({5}, kFloat64, 3);
    Tensor y = rms ? rms_norm(x, {5}, w) : layer_norm(x, {5}, w, b);
    tensor_list in = rms ? tensor_list{x, w} : tensor_list{x, w, b};
    auto gr = autograd::grad({y}, in, {zeros({0, 5}, kFloat64)});
    EXPECT_EQ(gr[0].sizes(), (Shape{0, 5}));
    EXPECT_TRUE(all_equal(gr[1], zeros({5}, kFloat64)));
    if (!rms) EXPECT_TRUE(all_equal(gr[2], zeros({5}, kFloat64)));
  }
}

TEST(FusedNorm, GradcheckAndGradgradcheck) {
  auto ln = [](const tensor_list& in) { return layer_norm(in[0], {7}, in[1], in[2]); };
  auto rn = [](const tensor_list& in) { return rms_norm(in[0], {7}, in[1]); };
  EXPECT_TRUE(gradcheck(ln, {rand_f64({3, 7}, 1), rand_f64({7}, 2), rand_f64({7}, 3)}));
  EXPECT_TRUE(gradcheck(rn, {rand_f64({2, 3, 7}, 4), rand_f64({7}, 5)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& in) { return layer_norm(in[0], {3, 2}); }, {noncontig_f64({3, 2}, 6)}));
  EXPECT_TRUE(gradgradcheck(ln, {rand_f64({2, 7}, 7), rand_f64({7}, 8), rand_f64({7}, 9)}));
  EXPECT_TRUE(gradgradcheck(rn, {rand_f64({2, 7}, 10), rand_f64({7}, 11)}));
}

// ---------------------------------------------------------------------------
// cross_entropy (class-index targets)

namespace {

// Targets in [0, C) with every third one set to `ignore` (when asked).
Tensor targets(const Shape& s, int64_t C, uint64_t seed, bool with_ignored, int64_t ignore = -100) {
  Generator g(seed);
  Tensor t = randint(0, C, s, TensorOptions(kInt64), &g).contiguous();
  if (with_ignored) {
    int64_t* p = t.data_ptr<int64_t>();
    for (int64_t i = 0; i < t.numel(); i += 3) p[i] = ignore;
  }
  return t;
}

const Reduction kReds[] = {Reduction::None, Reduction::Mean, Reduction::Sum};

}  // namespace

TEST(FusedCrossEntropy, MatchesComposedReference) {
  // A class weight that requires grad takes the composed path (log_softmax +
  // gather + smoothing sum): the readable reference. Without weight, a
  // weight of ones is the same loss.
  for (DType dt : kDtypes) {
    for (int64_t C : kCols) {
      for (const Shape& ts : {Shape{6}, Shape{3, 4}}) {
        Shape xs = ts;
        xs.insert(xs.begin() + 1, C);
        for (bool weighted : {false, true}) {
          for (double eps : {0.0, 0.15}) {
            for (Reduction red : kReds) {
              Tensor x = randn_t(xs, dt, C + ts.size());
              Tensor t = targets(ts, C, C, /*with_ignored=*/true);
              Tensor w = weighted ? add(rand(Shape{C}, TensorOptions(dt)), 0.5) : Tensor();
              Tensor wref = (weighted ? w : ones({C}, dt)).detach();
              wref.requires_grad_();
              Tensor fused = cross_entropy(x, t, w, -100, red, eps);
              Tensor ref = cross_entropy(x, t, wref, -100, red, eps);
              const std::string what = "C=" + std::to_string(C) + " nd=" + std::to_string(xs.size()) +
                                       " w=" + std::to_string(weighted) + " eps=" + std::to_string(eps);
              EXPECT_TRUE(all_close(fused, ref, tol(dt) * 5, tol(dt) * 5)) << what;
              Tensor g = red == Reduction::None ? randn_t(ts, dt, 5, false) : scalar_tensor(1.5, dt);
              Tensor gf = autograd::grad({fused}, {x}, {g}, /*retain_graph=*/true)[0];
              Tensor gr = autograd::grad({ref}, {x}, {g})[0];
              EXPECT_TRUE(all_close(gf, gr, tol(dt), tol(dt))) << what;
              expect_paths_agree(fused, {x}, g, tol(dt), what);
            }
          }
        }
      }
    }
  }
}

TEST(FusedCrossEntropy, MatchesLogSoftmaxNll) {
  Tensor x = randn_t({9, 33}, kFloat64, 1);
  Tensor t = targets({9}, 33, 2, true, 5);
  Tensor w = add(rand(Shape{33}, TensorOptions(kFloat64)), 0.5);
  for (Reduction red : kReds) {
    Tensor a = cross_entropy(x, t, w, 5, red);
    Tensor b = nll_loss(log_softmax(x, 1), t, w, 5, red);
    EXPECT_TRUE(all_close(a, b, 1e-12, 1e-12));
  }
}

TEST(FusedCrossEntropy, UnbatchedNonContiguousInt32AndEmpty) {
  // Unbatched [C] with a 0-d target.
  Tensor xu = randn_t({7}, kFloat64, 1);
  Tensor tu = tensor({int64_t{3}}, Shape{});
  for (Reduction red : kReds) {
    Tensor f = cross_entropy(xu, tu, {}, -100, red, 0.1);
    EXPECT_EQ(f.dim(), 0);
    Tensor wref = ones({7}, kFloat64);
    wref.requires_grad_();
    EXPECT_TRUE(all_close(f, cross_entropy(xu, tu, wref, -100, red, 0.1), 1e-12, 1e-12));
    expect_paths_agree(f, {xu}, scalar_tensor(0.7, kFloat64), 1e-12, "unbatched");
  }
  // Non-contiguous logits, int32 targets, [N, C, d].
  Tensor base = randn_t({4, 7, 3}, kFloat64, 2);
  Tensor x = base.transpose(0, 2);  // [3, 7, 4]
  Tensor t = targets({3, 4}, 7, 3, true).to(kInt32);
  Tensor wref = ones({7}, kFloat64);
  wref.requires_grad_();
  for (Reduction red : kReds) {
    Tensor f = cross_entropy(x, t, {}, -100, red, 0.2);
    EXPECT_TRUE(all_close(f, cross_entropy(x, t, wref, -100, red, 0.2), 1e-12, 1e-12));
    Tensor g = red == Reduction::None ? randn_t({3, 4}, kFloat64, 4, false) : scalar_tensor(1.0, kFloat64);
    expect_paths_agree(f, {base}, g, 1e-12, "non-contiguous");
  }
  // Empty batches.
  Tensor e = randn_t({0, 7}, kFloat32, 5);
  Tensor te = zeros({0}, kInt64);
  EXPECT_TRUE(std::isnan(cross_entropy(e, te).item()));
  EXPECT_EQ(cross_entropy(e, te, {}, -100, Reduction::Sum).item(), 0.0);
  Tensor ge = autograd::grad({cross_entropy(e, te, {}, -100, Reduction::Sum)}, {e})[0];
  EXPECT_EQ(ge.sizes(), (Shape{0, 7}));
}

TEST(FusedCrossEntropy, WeightRequiringGradKeepsItsGradient) {
  Tensor x = randn_t({4, 5}, kFloat64, 1);
  Tensor w = add(rand(Shape{5}, TensorOptions(kFloat64)), 0.5).detach();
  w.requires_grad_();
  Tensor t = targets({4}, 5, 2, false);
  auto gr = autograd::grad({cross_entropy(x, t, w, -100, Reduction::Sum, 0.1)}, {x, w});
  EXPECT_TRUE(gr[1].defined());
  EXPECT_GT(sum(abs(gr[1])).item(), 0.0);
}

TEST(FusedCrossEntropy, GradcheckAndGradgradcheck) {
  Tensor t = tensor({int64_t{0}, int64_t{6}, int64_t{-100}, int64_t{1}});
  Tensor w = add(rand_f64({7}, 1, false), 2.0);
  Tensor tk = targets({2, 3}, 7, 3, true);
  for (Reduction red : kReds) {
    for (double eps : {0.0, 0.25}) {
      EXPECT_TRUE(gradcheck([&](const tensor_list& in) { return cross_entropy(in[0], t, w, -100, red, eps); },
                            {rand_f64({4, 7}, 2)}));
      EXPECT_TRUE(gradcheck([&](const tensor_list& in) { return cross_entropy(in[0], tk, {}, -100, red, eps); },
                            {rand_f64({2, 7, 3}, 3)}));
    }
    EXPECT_TRUE(gradgradcheck([&](const tensor_list& in) { return cross_entropy(in[0], t, w, -100, red, 0.1); },
                              {rand_f64({4, 7}, 4)}));
    EXPECT_TRUE(gradgradcheck([&](const tensor_list& in) { return cross_entropy(in[0], tk, w, -100, red, 0.0); },
                              {rand_f64({2, 7, 3}, 5)}));
  }
}
