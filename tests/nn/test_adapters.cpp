// Parameter-efficient and conditional layers: LoRA / LoRALinear, the
// bottleneck Adapter, and the mixture-of-experts layer (explicit and learned
// routing, load-balancing loss). Closed forms, freezing, merge, gradchecks,
// clone, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "nn/adapter.h"
#include "nn/lora.h"
#include "nn/moe.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

// ---- LoRA ----------------------------------------------------------------------

TEST(LoRALinear, StartsAsTheBaseLayerAndFreezesIt) {
  auto base = std::make_shared<nn::Linear>(6, 4);
  nn::LoRALinear lora(base, 2, 8.0);
  EXPECT_EQ(lora.base.get(), base.get());  // wraps, does not copy
  EXPECT_FALSE(base->weight.requires_grad());
  EXPECT_EQ(lora.state_dict().keys(),
            (std::vector<std::string>{"base.weight", "base.bias", "lora.lora_A", "lora.lora_B"}));
  EXPECT_EQ(lora.num_parameters(/*only_trainable=*/true), 2 * 6 + 4 * 2);
  EXPECT_EQ(lora.lora->lora_B.abs().sum().item(), 0.0);
  EXPECT_GT(lora.lora->lora_A.abs().sum().item(), 0.0);
  Tensor x = rand_f64({3, 6}, 1, false).to(kFloat32);
  EXPECT_TRUE(all_close(lora.forward(x), base->forward(x), 0, 0));
  // Gradients reach A and B, never the frozen base.
  (lora.forward(x) * x.narrow(1, 0, 4)).sum().backward();
  EXPECT_FALSE(base->weight.grad().defined());
  EXPECT_FALSE(base->bias.grad().defined());
  EXPECT_TRUE(lora.lora->lora_B.grad().defined());
  EXPECT_GT(lora.lora->lora_B.grad().abs().sum().item(), 0.0);
}

TEST(LoRALinear, ClosedFormAndMerge) {
  nn::LoRALinear lora(5, 3, 2, /*alpha=*/6.0);
  lora.to(kFloat64);
  {
    NoGradGuard ng;
    lora.lora->lora_B.copy_(rand_f64({3, 2}, 2, false));
  }
  Tensor x = rand_f64({4, 5}, 3, false);
  const Tensor& W = lora.base->weight;
  const Tensor& A = lora.lora->lora_A;
  const Tensor& B = lora.lora->lora_B;
  EXPECT_DOUBLE_EQ(lora.lora->scaling(), 3.0);
  Tensor ref = matmul(x, W.t()) + lora.base->bias + matmul(matmul(x, A.t()), B.t()) * 3.0;
  Tensor y = lora.forward(x);
  EXPECT_TRUE(all_close(y, ref, 1e-13, 0));
  Tensor W0 = W.detach().clone();
  lora.merge();
  EXPECT_TRUE(lora.is_merged());
  EXPECT_TRUE(all_close(W, W0 + matmul(B, A) * 3.0, 1e-14, 0));
  EXPECT_TRUE(all_close(lora.forward(x), y, 1e-13, 0));
  lora.merge();  // idempotent
  EXPECT_TRUE(all_close(lora.forward(x), y, 1e-13, 0));
  lora.unmerge();
  EXPECT_FALSE(lora.is_merged());
  EXPECT_TRUE(all_close(W, W0, 1e-14, 0));
  EXPECT_TRUE(all_close(lora.forward(x), y, 1e-13, 0));
}

TEST(LoRALinear, Gradcheck) {
  nn::LoRALinear lora(4, 3, 2, 2.0);
  lora.to(kFloat64);
  {
    NoGradGuard ng;
    lora.lora->lora_B.copy_(rand_f64({3, 2}, 4, false));
  }
  Tensor x = rand_f64({2, 4}, 5);
  EXPECT_TRUE(gradcheck([&](const tensor_list&) { return lora.forward(x); },
                        {x, lora.lora->lora_A, lora.lora->lora_B}));
}

TEST(LoRALinear, CloneBuildsItsOwnFrozenBase) {
  auto base = std::make_shared<nn::Linear>(4, 4);
  auto lora = std::make_shared<nn::LoRALinear>(base, 2, 1.0, 0.5);
  auto c = nn::clone(lora);
  EXPECT_NE(c->base.get(), base.get());
  EXPECT_FALSE(c->base->weight.requires_grad());
  EXPECT_TRUE(c->lora->lora_A.requires_grad());
  Tensor x = rand_f64({2, 4}, 6, false).to(kFloat32);
  lora->eval();
  c->eval();  // dropout off
  EXPECT_TRUE(all_close(c->forward(x), lora->forward(x), 0, 0));
  {
    NoGradGuard ng;
    c->base->weight.add_(1.0);
  }
  EXPECT_FALSE(all_close(c->forward(x), lora->forward(x), 1e-4, 0));
}

TEST(LoRALinear, Errors) {
  EXPECT_WICK_ERROR(nn::LoRALinear(4, 4, 0), "rank must be positive");
  EXPECT_WICK_ERROR(nn::LoRALinear(nullptr, 2), "base Linear is null");
  EXPECT_WICK_ERROR(nn::LoRA(4, 4, 2, 1.0, 1.0), "dropout");
  nn::LoRA delta(4, 3, 2);
  EXPECT_WICK_ERROR(delta.forward(zeros({2, 5})), "expected input [..., 4]");
}

// ---- Adapter ---------------------------------------------------------------------

TEST(Adapter, IdentityAtInitThenResidualMLP) {
  nn::Adapter ad(6, 2, "relu", 0.5);
  ad.to(kFloat64);
  Tensor x = rand_f64({3, 4, 6}, 7, false);
  EXPECT_TRUE(all_close(ad.forward(x), x, 0, 0));
  EXPECT_EQ(ad.up->weight.abs().sum().item(), 0.0);
  {
    NoGradGuard ng;
    ad.up->weight.copy_(rand_f64({6, 2}, 8, false));
    ad.up->bias.copy_(rand_f64({6}, 9, false));
  }
  Tensor h = relu(matmul(x, ad.down->weight.t()) + ad.down->bias);
  Tensor ref = x + (matmul(h, ad.up->weight.t()) + ad.up->bias) * 0.5;
  EXPECT_TRUE(all_close(ad.forward(x), ref, 1e-14, 0));
  EXPECT_EQ(ad.num_parameters(), 6 * 2 + 2 + 2 * 6 + 6);
}

TEST(Adapter, GradcheckCloneErrors) {
  nn::Adapter ad(4, 3, "gelu");
  ad.to(kFloat64);
  {
    NoGradGuard ng;
    ad.up->weight.copy_(rand_f64({4, 3}, 10, false));
  }
  Tensor x = rand_f64({2, 4}, 11);
  EXPECT_TRUE(gradcheck([&](const tensor_list&) { return ad.forward(x); }, {x, ad.down->weight, ad.up->weight}));
  auto c = nn::clone(std::make_shared<nn::Adapter>(ad));
  EXPECT_TRUE(all_close(c->forward(x), ad.forward(x), 0, 0));
  EXPECT_WICK_ERROR(nn::Adapter(4, 0), "must be positive");
  EXPECT_WICK_ERROR(nn::Adapter(4, 2, "tanh"), "unknown activation");
  EXPECT_WICK_ERROR(ad.forward(zeros({2, 3}, kFloat64)), "expected input [..., 4]");
}

// ---- Mixture of experts ---------------------------------------------------------

namespace {

std::shared_ptr<nn::MixtureOfExperts> f64_moe(int64_t dim, int64_t hidden, int64_t experts, int64_t k) {
  auto m = std::make_shared<nn::MixtureOfExperts>(dim, hidden, experts, k, "gelu");
  m->to(kFloat64);
  return m;
}

}  // namespace

TEST(MixtureOfExperts, ExplicitIndexPerExample) {
  auto moe = f64_moe(4, 6, 3, 1);
  EXPECT_EQ(moe->state_dict().keys().front(), "experts.0.fc1.weight");
  EXPECT_EQ(moe->state_dict().keys().back(), "router.weight");
  Tensor x = rand_f64({4, 5, 4}, 12, false);
  Tensor idx = tensor({2, 0, 2, 1}, Shape{4}).to(kInt64);
  Tensor y = moe->forward(x, idx);
  ASSERT_EQ(y.sizes(), x.sizes());
  const int64_t want[] = {2, 0, 2, 1};
  for (int64_t b = 0; b < 4; ++b)
    EXPECT_TRUE(all_close(y.select(0, b), moe->experts[want[b]]->forward(x.select(0, b)), 1e-14, 0)) << b;
  // Per-token indices [B, T] work too.
  Tensor tok_idx = tensor({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1}, Shape{4, 5}).to(kInt64);
  Tensor yt = moe->forward(x, tok_idx);
  EXPECT_TRUE(all_close(yt.select(0, 1).select(0, 0), moe->experts[2]->forward(x.select(0, 1).select(0, 0)), 1e-14, 0));
  // Only the experts that were used get gradients.
  Tensor only01 = tensor({0, 1, 0, 1}, Shape{4}).to(kInt64);
  moe->forward(x, only01).sum().backward();
  EXPECT_TRUE(moe->experts[0]->fc1->weight.grad().defined());
  EXPECT_TRUE(moe->experts[1]->fc1->weight.grad().defined());
  EXPECT_FALSE(moe->experts[2]->fc1->weight.grad().defined());
  EXPECT_FALSE(moe->router->weight.grad().defined());
}

TEST(MixtureOfExperts, Top1RouterClosedForm) {
  auto moe = f64_moe(4, 5, 3, 1);
  Tensor x = rand_f64({2, 3, 4}, 13, false);
  nn::MoEOutput r = moe->route(x);
  Tensor xf = x.reshape({6, 4});
  Tensor probs = softmax(matmul(xf, moe->router->weight.t()), -1);
  EXPECT_TRUE(all_close(r.router_probs, probs, 1e-14, 0));
  auto p = probs.tolist<double>();
  auto yf = r.output.reshape({6, 4});
  for (int64_t n = 0; n < 6; ++n) {
    int64_t best = 0;
    for (int64_t e = 1; e < 3; ++e)
      if (p[n * 3 + e] > p[n * 3 + best]) best = e;
    EXPECT_EQ(r.expert_index.reshape({-1}).tolist<int64_t>()[n], best);
    Tensor ref = moe->experts[best]->forward(xf.select(0, n)) * p[n * 3 + best];
    EXPECT_TRUE(all_close(yf.select(0, n), ref, 1e-14, 0)) << n;
  }
}

TEST(MixtureOfExperts, Top2RenormalizedGatesAndAuxLoss) {
  auto moe = f64_moe(4, 5, 4, 2);
  Tensor x = rand_f64({7, 4}, 14, false);
  nn::MoEOutput r = moe->route(x);
  ASSERT_EQ(r.expert_index.sizes(), Shape({7, 2}));
  auto p = r.router_probs.tolist<double>();
  auto idx = r.expert_index.tolist<int64_t>();
  auto gates = r.gates.tolist<double>();
  std::vector<double> count(4, 0.0), mean_p(4, 0.0);
  for (int64_t n = 0; n < 7; ++n) {
    const int64_t a = idx[n * 2], b = idx[n * 2 + 1];
    EXPECT_GE(p[n * 4 + a], p[n * 4 + b]);
    const double ga = p[n * 4 + a] / (p[n * 4 + a] + p[n * 4 + b]);
    EXPECT_NEAR(gates[n * 2], ga, 1e-14);
    EXPECT_NEAR(gates[n * 2] + gates[n * 2 + 1], 1.0, 1e-14);
    Tensor ref = moe->experts[a]->forward(x.select(0, n)) * ga + moe->experts[b]->forward(x.select(0, n)) * (1 - ga);
    EXPECT_TRUE(all_close(r.output.select(0, n), ref, 1e-14, 0)) << n;
    count[a] += 1;
    count[b] += 1;
    for (int64_t e = 0; e < 4; ++e) mean_p[e] += p[n * 4 + e] / 7.0;
  }
  double aux = 0.0;
  for (int64_t e = 0; e < 4; ++e) aux += count[e] / 14.0 * mean_p[e];
  EXPECT_NEAR(r.aux_loss.item(), 4.0 * aux, 1e-14);
  // forward(x) keeps the auxiliary loss; it trains the router.
  Tensor y = moe->forward(x);
  EXPECT_TRUE(all_close(y, r.output, 0, 0));
  moe->last_aux_loss.backward();
  EXPECT_GT(moe->router->weight.grad().abs().sum().item(), 0.0);
}

TEST(MixtureOfExperts, UniformRouterHasAuxLossOne) {
  auto moe = f64_moe(3, 4, 5, 1);
  {
    NoGradGuard ng;
    moe->router->weight.zero_();
  }
  EXPECT_NEAR(moe->route(rand_f64({6, 3}, 15, false)).aux_loss.item(), 1.0, 1e-14);
}

// Expert cloning: every expert a copy of one dense MLP gives the dense output.
TEST(MixtureOfExperts, LoadExpertFromDense) {
  auto moe = f64_moe(4, 6, 3, 2);
  nn::Linear fc1(4, 6), fc2(6, 4);
  fc1.to(kFloat64);
  fc2.to(kFloat64);
  for (int64_t e = 0; e < 3; ++e) moe->load_expert(e, fc1, fc2);
  Tensor x = rand_f64({2, 3, 4}, 16, false);
  Tensor dense = fc2.forward(gelu(fc1.forward(x)));
  EXPECT_TRUE(all_close(moe->forward(x), dense, 1e-13, 0));  // top-2 gates sum to 1
  EXPECT_TRUE(all_close(moe->forward(x, tensor({1, 2}, Shape{2}).to(kInt64)), dense, 1e-14, 0));
  nn::Linear wrong(4, 5);
  EXPECT_WICK_ERROR(moe->load_expert(0, wrong, fc2), "load_expert: expected fc1");
  EXPECT_WICK_ERROR(moe->load_expert(3, fc1, fc2), "out of range");
}

TEST(MixtureOfExperts, Gradcheck) {
  auto moe = f64_moe(3, 4, 3, 2);
  Tensor x = rand_f64({4, 3}, 17);
  auto fn = [&](const tensor_list&) {
    nn::MoEOutput r = moe->route(x);
    return tensor_list{r.output, r.aux_loss};
  };
  EXPECT_TRUE(gradcheck(fn, {x, moe->router->weight, moe->experts[1]->fc2->weight}));
  Tensor idx = tensor({0, 2, 2, 1}, Shape{4}).to(kInt64);
  EXPECT_TRUE(gradcheck([&](const tensor_list&) { return moe->forward(x, idx); }, {x, moe->experts[2]->fc1->weight}));
}

TEST(MixtureOfExperts, CloneAndErrors) {
  auto moe = f64_moe(4, 5, 3, 1);
  auto c = nn::clone(moe);
  Tensor x = rand_f64({3, 4}, 18, false);
  EXPECT_TRUE(all_close(c->forward(x), moe->forward(x), 0, 0));
  EXPECT_NE(c->experts[0].get(), moe->experts[0].get());
  EXPECT_WICK_ERROR(nn::MixtureOfExperts(4, 5, 3, 4), "top_k must be in [1, num_experts = 3]");
  EXPECT_WICK_ERROR(moe->forward(x, tensor({0, 3, 1}, Shape{3}).to(kInt64)), "values must be in [0, 3)");
  EXPECT_WICK_ERROR(moe->forward(x, tensor({0, 1}, Shape{2}).to(kInt64)), "must match the leading dims");
  EXPECT_WICK_ERROR(moe->forward(x, zeros({3})), "int64");
  EXPECT_WICK_ERROR(moe->route(zeros({3, 5}, kFloat64)), "expected input [..., 4]");
}
