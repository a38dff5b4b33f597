// nn layers against torch.nn 1.13 (tests/fixtures/gen_nn_layers.py): each
// layer is built, cast to float64, given torch's weights through
// load_state_dict (which also checks that the parameter names match), and its
// output and input gradient compared. Every differentiable layer is also
// gradchecked in float64 w.r.t. its input and parameters.
#include <cmath>

#include "nn/activation.h"
#include "nn/container.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/norm.h"
#include "nn/pooling.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

Tensor fx(const std::string& name) { return fixture("nn_layers/" + name); }

// torch's state_dict for `tag`, under the keys the wick module uses; fails the
// test when the key sets differ.
StateDict torch_state(const std::string& tag, const nn::Module& m) {
  StateDict sd;
  const StateDict own = m.state_dict();
  EXPECT_EQ(static_cast<int64_t>(own.size()), fx(tag + "__nkeys").item<int64_t>()) << tag << ": key count";
  for (const auto& [k, t] : own) {
    const std::string f = "nn_layers/" + tag + "__" + k;
    EXPECT_TRUE(has_fixture(f)) << tag << ": torch has no key '" << k << "'";
    if (has_fixture(f)) sd.insert(k, fixture(f));
  }
  return sd;
}

// Loads torch's weights into m (cast to float64), runs the fixture input and
// compares the output and, when `grad`, the input gradient.
void check_vs_torch(const std::string& tag, nn::Module& m, bool grad = true, double tol = 1e-10) {
  SCOPED_TRACE(tag);
  m.to(kFloat64);
  m.load_state_dict(torch_state(tag, m));
  Tensor x = fx(tag + "__x");
  if (grad) x.requires_grad_();
  Tensor y = m(x);
  EXPECT_TRUE(all_close(y, fx(tag + "__y"), tol, tol));
  if (grad) {
    Tensor gx = autograd::grad({y}, {x}, {fx(tag + "__g")})[0];
    EXPECT_TRUE(all_close(gx, fx(tag + "__gx"), tol, tol));
  }
}

// gradcheck of m's forward w.r.t. x and every parameter (perturbed in place).
void gradcheck_module(nn::Module& m, const Tensor& x, const autograd::GradcheckOptions& opt = {}) {
  m.to(kFloat64);
  tensor_list inputs{x};
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  EXPECT_TRUE(gradcheck([&](const tensor_list& in) { return m(in[0]); }, inputs, opt)) << m.name();
}

}  // namespace

// ---- Linear ----------------------------------------------------------------------

TEST(Linear, MatchesTorch) {
  nn::Linear a(5, 3), b(5, 3, false);
  check_vs_torch("linear", a);
  check_vs_torch("linear_nobias", b);
  EXPECT_FALSE(b.bias.defined());
  EXPECT_EQ(b.state_dict().size(), 1u);
}

TEST(Linear, ShapesAndGradcheck) {
  nn::Linear l(4, 3);
  EXPECT_EQ(l.weight.sizes(), (Shape{3, 4}));
  EXPECT_EQ(l.bias.sizes(), (Shape{3}));
  EXPECT_EQ(l.weight.dtype(), kFloat32);
  EXPECT_TRUE(l.weight.requires_grad() && l.weight.is_leaf());
  EXPECT_EQ(l(randn({2, 5, 4})).sizes(), (Shape{2, 5, 3}));
  EXPECT_EQ(l(randn({4})).sizes(), (Shape{3}));
  gradcheck_module(l, rand_f64({2, 4}));
  EXPECT_WICK_ERROR(l(randn({2, 5})), "Linear: expected input [..., 4]");
  EXPECT_EQ(l.extra_repr(), "in_features=4, out_features=3, bias=true");
}

// ---- Convolutions -------------------------------------------------------------------

TEST(Conv, MatchesTorch) {
  nn::Conv1d c1(4, 6, 3, 2, 1, 1, 2);
  check_vs_torch("conv1d", c1);
  nn::Conv2d c2(4, 6, {3, 2}, {2, 1}, {1, 0}, {1, 2}, 2);
  check_vs_torch("conv2d", c2);
  nn::Conv2d c3(3, 5, 3, 1, 1, 1, 1, false);
  check_vs_torch("conv2d_nobias", c3);
  nn::ConvTranspose2d t1(4, 6, 3, 2, 1, 1, 2);
  check_vs_torch("convt2d", t1);
  nn::ConvTranspose2d t2(3, 2, {2, 3}, {1, 2}, {0, 1}, 0, 1, true, {2, 1});
  check_vs_torch("convt2d_dil", t2);
}

TEST(Conv, WeightShapesGradcheckAndErrors) {
  nn::Conv2d c(4, 6, {3, 2}, 1, 0, 1, 2);
  EXPECT_EQ(c.weight.sizes(), (Shape{6, 2, 3, 2}));
  nn::ConvTranspose2d t(4, 6, 3, 1, 0, 0, 2);
  EXPECT_EQ(t.weight.sizes(), (Shape{4, 3, 3, 3}));
  nn::Conv1d c1(2, 3, 2, 1, 1);
  EXPECT_EQ(c1.weight.sizes(), (Shape{3, 2, 2}));

  nn::Conv2d g(2, 2, 2, 1, 1);
  gradcheck_module(g, rand_f64({1, 2, 3, 3}));
  nn::Conv1d g1(2, 2, 2, 2);
  gradcheck_module(g1, rand_f64({2, 2, 5}));
  nn::ConvTranspose2d gt(2, 2, 2, 2);
  gradcheck_module(gt, rand_f64({1, 2, 2, 2}));

  EXPECT_WICK_ERROR(nn::Conv2d(3, 4, 3, 1, 0, 1, 2), "in_channels (3) must be divisible by groups (2)");
  EXPECT_WICK_ERROR(nn::Conv2d(4, 4, 0), "kernel_size must be positive");
  EXPECT_WICK_ERROR(nn::ConvTranspose2d(4, 4, 3, 1, 0, 1), "output_padding must be smaller");
  nn::Conv2d c4(3, 4, 3);
  EXPECT_WICK_ERROR(c4(randn({1, 2, 5, 5})), "expected 3 input channels, got 2");
  EXPECT_WICK_ERROR(c4(randn({5, 5})), "Conv2d: expected a 3D (unbatched) or 4D (batched) input");
  EXPECT_EQ(c4(randn({3, 5, 5})).sizes(), (Shape{4, 3, 3}));
  EXPECT_EQ(nn::Conv2d(1, 32, 3, 2, 1, 1, 1, false).extra_repr(),
            "1, 32, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=false");
}

// ---- Normalization ----------------------------------------------------------------

TEST(Norm, LayerNormRMSNormGroupNormMatchTorch) {
  nn::LayerNorm ln({3, 4});
  check_vs_torch("layernorm", ln);
  nn::LayerNorm ln2({4}, 1e-3, false);
  check_vs_torch("layernorm_noaffine", ln2);
  EXPECT_TRUE(ln2.parameters().empty());
  nn::RMSNorm rms({3, 4});
  check_vs_torch("rmsnorm", rms);
  nn::GroupNorm gn(2, 6);
  check_vs_torch("groupnorm", gn);
}

TEST(Norm, InitGradcheckAndErrors) {
  nn::LayerNorm ln({4});
  EXPECT_TRUE(all_equal(ln.weight.detach(), ones({4})));
  EXPECT_TRUE(all_equal(ln.bias.detach(), zeros({4})));
  gradcheck_module(ln, rand_f64({2, 4}));
  nn::RMSNorm rms({4});
  gradcheck_module(rms, rand_f64({3, 4}));
  nn::GroupNorm gn(2, 4);
  gradcheck_module(gn, rand_f64({2, 4, 3}));
  EXPECT_WICK_ERROR(ln(randn({2, 5})), "LayerNorm: expected input with trailing shape [4]");
  EXPECT_WICK_ERROR(nn::GroupNorm(3, 4), "num_channels must be divisible by num_groups");
  EXPECT_WICK_ERROR(gn(randn({2, 3, 3})), "GroupNorm: expected input [N, 4, *]");
  EXPECT_WICK_ERROR(nn::LayerNorm(std::vector<int64_t>{}), "at least one dim");
}

// Three training steps (outputs, input gradients, running statistics), then eval.
void check_batchnorm(const std::string& tag, nn::Module& bn, const Tensor& nbt) {
  SCOPED_TRACE(tag);
  bn.to(kFloat64);
  bn.load_state_dict(torch_state(tag, bn));
  bn.train();
  for (int step = 0; step < 3; ++step) {
    const std::string p = tag + "__step" + std::to_string(step) + "_";
    Tensor x = fx(p + "x");
    x.requires_grad_();
    Tensor y = bn(x);
    EXPECT_TRUE(all_close(y, fx(p + "y"), 1e-10, 1e-10)) << step;
    EXPECT_TRUE(all_close(autograd::grad({y}, {x}, {fx(p + "g")})[0], fx(p + "gx"), 1e-10, 1e-10)) << step;
    EXPECT_TRUE(all_close(bn.buffer("running_mean"), fx(p + "running_mean"), 1e-12, 1e-10)) << step;
    EXPECT_TRUE(all_close(bn.buffer("running_var"), fx(p + "running_var"), 1e-12, 1e-10)) << step;
  }
  EXPECT_EQ(nbt.item<int64_t>(), 3);
  EXPECT_EQ(nbt.dtype(), kInt64);  // to(kFloat64) leaves integer buffers alone
  bn.eval();
  EXPECT_TRUE(all_close(bn(fx(tag + "__eval_x")), fx(tag + "__eval_y"), 1e-10, 1e-10));
  EXPECT_EQ(nbt.item<int64_t>(), 3);  // eval does not count batches
}

TEST(Norm, BatchNormRunningStatsAndEvalMatchTorch) {
  nn::BatchNorm1d a(3);
  check_batchnorm("bn1d", a, a.num_batches_tracked);
  nn::BatchNorm1d b(3, 1e-5, std::nullopt);  // cumulative moving average
  check_batchnorm("bn1d_seq", b, b.num_batches_tracked);
  nn::BatchNorm2d c(3, 1e-3, 0.3);
  check_batchnorm("bn2d", c, c.num_batches_tracked);
}

TEST(Norm, BatchNormBuffersGradcheckAndErrors) {
  nn::BatchNorm2d bn(3);
  auto names = bn.state_dict().keys();
  EXPECT_EQ(names, (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  EXPECT_EQ(bn.parameters().size(), 2u);
  gradcheck_module(bn, rand_f64({2, 3, 2, 2}));
  bn.reset_running_stats();
  EXPECT_TRUE(all_equal(bn.running_var, ones({3}, kFloat64)));
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 0);

  // Without running statistics: no buffers, batch statistics in eval too.
  nn::BatchNorm1d nt(2, 1e-5, 0.1, false, false);
  EXPECT_TRUE(nt.state_dict().empty());
  nt.eval();
  Tensor x = tensor({1.0f, 10.0f, 3.0f, 20.0f}, Shape{2, 2});
  EXPECT_TRUE(all_close(nt(x), tensor({-1.0f, -1.0f, 1.0f, 1.0f}, Shape{2, 2}), 1e-3, 1e-3));

  EXPECT_WICK_ERROR(bn(randn({2, 3, 4})), "BatchNorm2d: expected 4D input");
  EXPECT_WICK_ERROR(nn::BatchNorm1d(4)(randn({2, 3})), "expected 4 channels");
  EXPECT_WICK_ERROR(nn::BatchNorm1d(4, 1e-5, 1.5), "momentum must be in [0, 1]");
}

// ---- Embedding -------------------------------------------------------------------------

TEST(Embedding, MatchesTorchWithPaddingRow) {
  nn::Embedding e(10, 4, 2);
  // Freshly made: the padding row is zero.
  EXPECT_TRUE(all_equal(e.weight.detach()[2], zeros({4})));
  e.to(kFloat64);
  e.load_state_dict(torch_state("embedding", e));
  Tensor y = e(fx("embedding__x"));
  EXPECT_TRUE(all_close(y, fx("embedding__y"), 0, 0));
  Tensor gw = autograd::grad({y}, {e.weight}, {fx("embedding__g")})[0];
  EXPECT_TRUE(all_close(gw, fx("embedding__gw"), 1e-12, 1e-12));
  EXPECT_TRUE(all_equal(gw[2], zeros({4}, kFloat64)));
  // gradcheck w.r.t. the table (repeated indices accumulate).
  nn::Embedding small(4, 3);  // (a padding row has no gradient by design, so no padding_idx here)
  small.to(kFloat64);
  Tensor idx = from_vector<int64_t>({1, 3, 1, 0}, Shape{2, 2});
  EXPECT_TRUE(gradcheck([&](const tensor_list&) { return small(idx); }, {small.weight}));
}

TEST(Embedding, InitPretrainedAndErrors) {
  manual_seed(3);
  nn::Embedding e(2000, 50);
  Tensor w = e.weight.detach();
  EXPECT_NEAR(w.mean().item(), 0.0, 0.01);
  EXPECT_NEAR(w.pow(2).mean().item(), 1.0, 0.02);  // N(0, 1)
  EXPECT_EQ(nn::Embedding(5, 2, -1).padding_idx, 4);
  auto p = nn::Embedding::from_pretrained(tensor({1.0f, 2.0f, 3.0f, 4.0f}, Shape{2, 2}));
  EXPECT_FALSE(p->weight.requires_grad());
  EXPECT_TRUE(all_equal(p->forward(tensor({int64_t(1)})), tensor({3.0f, 4.0f}, Shape{1, 2})));
  EXPECT_WICK_ERROR(e(randn({3})), "Embedding: expected an integer index tensor");
  EXPECT_WICK_ERROR(nn::Embedding(3, 2, 3), "padding_idx must be within num_embeddings");
}

// ---- Dropout -------------------------------------------------------------------------------

TEST(Dropout, TrainScalesSurvivorsEvalIsIdentity) {
  nn::Dropout d(0.25);
  Tensor x = ones({100000});
  manual_seed(0);
  Tensor y = d(x);
  // Every element is either dropped (0) or scaled by 1 / (1 - p).
  EXPECT_TRUE(all(logical_or(eq(y, 0.0), lt(abs(sub(y, 1.0 / 0.75)), 1e-6))).item<bool>());
  EXPECT_NEAR(sum(eq(y, 0.0)).item() / 100000.0, 0.25, 0.01);
  d.eval();
  EXPECT_TRUE(d(x).is_same(x));
  d.train();
  EXPECT_TRUE(all_equal(nn::Dropout(1.0)(x), zeros({100000})));
  EXPECT_TRUE(all_equal(nn::Dropout(0.0)(x), x));
  EXPECT_WICK_ERROR(nn::Dropout(1.5), "between 0 and 1");
}

// ---- Pooling ---------------------------------------------------------------------------------

TEST(Pooling, MatchesTorch) {
  nn::MaxPool2d m1(3, 2, 1);
  check_vs_torch("maxpool", m1);
  nn::MaxPool2d m2({2, 3}, nn::IntPair(2, 1), 1, {2, 1}, true);
  check_vs_torch("maxpool_dil_ceil", m2);
  nn::AvgPool2d a1(3, 2, 1, false, false);
  check_vs_torch("avgpool", a1);
  nn::AvgPool2d a2(2, 3, 0, true);
  check_vs_torch("avgpool_ceil", a2);
  nn::AdaptiveAvgPool2d ad({2, 3});
  check_vs_torch("adaptive_avgpool", ad);
}

TEST(Pooling, GradcheckAndErrors) {
  nn::AvgPool2d a(2);
  gradcheck_module(a, rand_f64({1, 2, 4, 4}));
  nn::AdaptiveAvgPool2d ad(2);
  gradcheck_module(ad, rand_f64({1, 2, 5, 3}));
  EXPECT_EQ(nn::MaxPool2d(2)(randn({1, 1, 5, 5})).sizes(), (Shape{1, 1, 2, 2}));
  EXPECT_WICK_ERROR(nn::MaxPool2d(2, 2, 2), "padding should be non-negative and at most half");
  EXPECT_WICK_ERROR(nn::MaxPool2d(2)(randn({5, 5})), "MaxPool2d: expected a 3D");
}

// ---- Activations ------------------------------------------------------------------------------

TEST(Activation, MatchTorch) {
  std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>> acts = {
      {"relu", std::make_shared<nn::ReLU>()},
      {"leaky_relu", std::make_shared<nn::LeakyReLU>(0.2)},
      {"gelu", std::make_shared<nn::GELU>()},
      {"gelu_tanh", std::make_shared<nn::GELU>("tanh")},
      {"silu", std::make_shared<nn::SiLU>()},
      {"mish", std::make_shared<nn::Mish>()},
      {"elu", std::make_shared<nn::ELU>(0.7)},
      {"softplus", std::make_shared<nn::Softplus>(2.0, 5.0)},
      {"tanh", std::make_shared<nn::Tanh>()},
      {"sigmoid", std::make_shared<nn::Sigmoid>()},
      {"softmax", std::make_shared<nn::Softmax>(1)},
      {"log_softmax", std::make_shared<nn::LogSoftmax>(0)},
  };
  for (auto& [tag, m] : acts) {
    check_vs_torch("act_" + tag, *m);
    // Away from kinks (ReLU at 0), every activation passes gradcheck.
    gradcheck_module(*m, rand_f64({2, 3}, 7) * 2.0 + 0.01);
  }
  EXPECT_WICK_ERROR(nn::GELU("fast"), "approximate must be 'none' or 'tanh'");
  EXPECT_EQ(nn::make_activation("gelu_tanh")->extra_repr(), "approximate='tanh'");
  EXPECT_WICK_ERROR(nn::make_activation("swoosh"), "unknown activation 'swoosh'");
  // ELU's unused branch must not overflow into the gradient.
  Tensor big = tensor({100.0f, -1.0f});
  big.requires_grad_();
  nn::ELU elu;
  elu(big).sum().backward();
  EXPECT_TRUE(all_close(big.grad(), tensor({1.0f, std::exp(-1.0f)}, Shape{2}), 1e-6, 1e-6));
}

// ---- Containers and structural layers ----------------------------------------------------------

TEST(Container, SequentialMatchesTorchAndIndexes) {
  auto seq = std::make_shared<nn::Sequential>(nn::Sequential{
      std::make_shared<nn::Linear>(5, 8), std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(8, 2)});
  EXPECT_EQ(seq->state_dict().keys(), (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  check_vs_torch("sequential", *seq);
  EXPECT_EQ(seq->size(), 3u);
  EXPECT_EQ((*seq)[-1]->name(), "Linear");
  EXPECT_EQ(seq->at<nn::Linear>(2)->out_features, 2);
  EXPECT_WICK_ERROR(seq->at<nn::Linear>(1), "child 1 is a Tanh");
  EXPECT_WICK_ERROR((*seq)[3], "index 3 is out of range for 3 children");
  seq->push_back("head", std::make_shared<nn::Identity>());
  EXPECT_EQ(seq->named_children().back().first, "head");

  nn::Sequential named({{"fc", std::make_shared<nn::Linear>(2, 2)}, {"act", std::make_shared<nn::ReLU>()}});
  EXPECT_EQ(named.state_dict().keys(), (std::vector<std::string>{"fc.weight", "fc.bias"}));
  EXPECT_TRUE(all_equal(nn::Sequential()(ones({2})), ones({2})));
}

TEST(Container, ModuleListAndDict) {
  nn::ModuleList list{std::make_shared<nn::Linear>(2, 3), std::make_shared<nn::Linear>(3, 1)};
  list.push_back(std::make_shared<nn::ReLU>());
  EXPECT_EQ(list.size(), 3u);
  EXPECT_EQ(list.at<nn::Linear>(1)->in_features, 3);
  EXPECT_EQ(list.state_dict().keys(), (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"}));
  EXPECT_WICK_ERROR(list(ones({2})), "forward(Tensor) is not defined");

  nn::ModuleDict dict({{"enc", std::make_shared<nn::Linear>(2, 2)}, {"act", std::make_shared<nn::GELU>()}});
  EXPECT_TRUE(dict.contains("enc"));
  EXPECT_FALSE(dict.contains("dec"));
  EXPECT_EQ(dict.keys(), (std::vector<std::string>{"enc", "act"}));
  dict.insert("act", std::make_shared<nn::SiLU>());  // replaces in place
  EXPECT_EQ(dict["act"]->name(), "SiLU");
  EXPECT_EQ(dict.size(), 2u);
  EXPECT_WICK_ERROR(dict["dec"], "ModuleDict: no key 'dec'");
  EXPECT_WICK_ERROR(dict.insert("a.b", std::make_shared<nn::ReLU>()), "must be non-empty and contain no '.'");
}

TEST(Container, FlattenAndIdentity) {
  Tensor x = randn({2, 3, 4, 5});
  EXPECT_EQ(nn::Flatten()(x).sizes(), (Shape{2, 60}));
  EXPECT_EQ(nn::Flatten(0, 1)(x).sizes(), (Shape{6, 4, 5}));
  EXPECT_EQ(nn::Flatten(2)(x).sizes(), (Shape{2, 3, 20}));
  EXPECT_TRUE(nn::Identity()(x).is_same(x));
}
