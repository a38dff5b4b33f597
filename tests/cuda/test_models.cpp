// Whole models on CUDA against the same models on the CPU, in float64: a few
// AdamW steps of a tiny GPT (learned positions, then RoPE) must give the same
// losses and parameters on both devices. This is the integration check that
// every op a GPT training step uses (embedding, layer_norm, linear, GELU,
// attention, cross entropy, AdamW, gradient clipping) has a CUDA kernel and
// agrees with the CPU. Skips without a GPU.
#include <gtest/gtest.h>

#include "models/gpt.h"
#include "ops/copy.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"

using namespace wick;

namespace {

const Device kCuda("cuda");

void expect_gpt_steps_match(models::GPTPositional pos) {
  models::GPTConfig c;
  c.vocab_size = 23;
  c.context_length = 16;
  c.depth = 2;
  c.width = 16;
  c.heads = 2;
  c.positional = pos;
  manual_seed(3);
  auto cpu_model = std::make_shared<models::GPT>(c);
  manual_seed(3);
  auto gpu_model = std::make_shared<models::GPT>(c);
  cpu_model->to(Device(kCPU), kFloat64);
  gpu_model->to(kCuda, kFloat64);
  optim::AdamW cpu_opt(cpu_model->parameters(), {.lr = 1e-2});
  optim::AdamW gpu_opt(gpu_model->parameters(), {.lr = 1e-2});
  Generator g(4);
  for (int step = 0; step < 3; ++step) {
    Tensor tokens = randint(0, c.vocab_size, {3, 12}, TensorOptions(kInt64), &g);
    cpu_opt.zero_grad();
    Tensor lc = cpu_model->loss(tokens);
    lc.backward();
    const double nc = optim::clip_grad_norm_(cpu_model->parameters(), 1.0).item();
    cpu_opt.step();
    gpu_opt.zero_grad();
    Tensor lg = gpu_model->loss(tokens.to(kCuda));
    ASSERT_TRUE(lg.is_cuda());
    lg.backward();
    const double ng = optim::clip_grad_norm_(gpu_model->parameters(), 1.0).item();
    gpu_opt.step();
    EXPECT_NEAR(lg.item(), lc.item(), 1e-10) << "step " << step;
    EXPECT_NEAR(ng, nc, 1e-9) << "step " << step;
  }
  const auto pc = cpu_model->parameters(), pg = gpu_model->parameters();
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i) EXPECT_TRUE(test::all_close(pg[i].cpu(), pc[i], 1e-9, 1e-9)) << i;
}

}  // namespace

TEST(CudaModels, GptLearnedPositionsTrainsLikeTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_gpt_steps_match(models::GPTPositional::Learned);
}

TEST(CudaModels, GptRopeTrainsLikeTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  expect_gpt_steps_match(models::GPTPositional::Rope);
}
