// The training trajectory of tests/fixtures/gen_resnet.py's sgd_* cases,
// run by wick: a torchvision-structured bottleneck ResNet (ImageNet stem,
// width 2, one block per stage, 10 classes) loaded with torch's initial
// state, then 4 steps of SGD (lr 0.1, momentum 0.9, weight decay 1e-4) on
// cross entropy of one fixed batch in train mode, as bench_cuda_models
// trains ResNet-50. Shared by tests/models/test_resnet.cpp (CPU) and
// tests/cuda/test_models.cpp (CUDA).
#pragma once

#include <string>
#include <vector>

#include "models/resnet.h"
#include "ops/copy.h"
#include "ops/loss.h"
#include "optim/sgd.h"
#include "support/test_util.h"

namespace wick::test {

struct ResNetTrajectory {
  std::vector<double> losses;  // before each step's update
  StateDict final_state;       // on the CPU, in float64
};

inline ResNetTrajectory resnet_sgd_trajectory(const Device& device, DType dtype, const std::string& tag = "sgd_bottleneck") {
  models::ResNetOptions o;
  o.num_classes = 10;
  o.in_channels = 3;
  o.small_input = false;
  o.width = 2;
  models::ResNet net(models::ResNetBlock::Bottleneck, {1, 1, 1, 1}, o);
  const std::string p = "resnet/" + tag + "__";
  StateDict init;
  for (const auto& [k, t] : net.state_dict()) init.insert(k, fixture(p + k));
  net.to(kFloat64);
  net.load_state_dict(init);
  net.to(device, dtype);  // the running statistics' counts stay int64
  net.train();
  optim::SGDOptions so;
  so.lr = 0.1;
  so.momentum = 0.9;
  so.weight_decay = 1e-4;
  optim::SGD opt(net.parameters(), so);
  const Tensor x = fixture(p + "x").to(dtype).to(device), labels = fixture(p + "labels").to(device);
  const int64_t steps = fixture(p + "losses").numel();
  ResNetTrajectory r;
  for (int64_t s = 0; s < steps; ++s) {
    opt.zero_grad(true);
    Tensor loss = cross_entropy(net(x), labels);
    loss.backward();
    opt.step();
    r.losses.push_back(loss.item<double>());
  }
  for (const auto& [k, t] : net.state_dict()) r.final_state.insert(k, t.cpu().to(t.dtype() == kInt64 ? kInt64 : kFloat64));
  return r;
}

}  // namespace wick::test
