// Shared by the optim tests: the fixed problem of tests/fixtures/gen_optim.py
// (three parameters, STEPS gradients each, parameter 2 has no gradient at
// step 2) and a runner that records the parameters after every step.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "optim/optim.h"
#include "support/test_util.h"

namespace wick::test {

constexpr int kSteps = 5;
constexpr int kNumParams = 3;

// Fresh leaf copies of the initial parameters, requiring grad.
inline std::vector<Tensor> initial_params(DType dtype = kFloat64) {
  std::vector<Tensor> ps;
  for (int i = 0; i < kNumParams; ++i)
    ps.push_back(fixture("optim/p" + std::to_string(i) + "_init").to(dtype).clone().requires_grad_());
  return ps;
}

// Parameter i's gradient at step t, or an undefined tensor when it has none.
inline Tensor fixture_grad(int i, int t, DType dtype) {
  static const Tensor has_grad = fixture("optim/has_grad");
  if (has_grad[t][i].item<int64_t>() == 0) return Tensor();
  return fixture("optim/p" + std::to_string(i) + "_grads")[t].to(dtype).clone();
}

// All parameters flattened and concatenated.
inline Tensor flat(const std::vector<Tensor>& ps) {
  std::vector<Tensor> parts;
  for (const Tensor& p : ps) parts.push_back(p.detach().reshape({-1}));
  return cat(parts);
}

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

// Runs kSteps steps with the fixture gradients; row t = parameters after step t.
inline Tensor trajectory(const MakeOptimizer& make, DType dtype = kFloat64) {
  std::vector<Tensor> ps = initial_params(dtype);
  std::unique_ptr<optim::Optimizer> opt = make(ps);
  std::vector<Tensor> rows;
  for (int t = 0; t < kSteps; ++t) {
    for (int i = 0; i < kNumParams; ++i) ps[i].set_grad(fixture_grad(i, t, dtype));
    opt->step();
    rows.push_back(flat(ps));
  }
  return stack(rows);
}

// Parameters 0 and 1 in group 0 with options g0, parameter 2 in group 1 with g1.
inline std::vector<optim::ParamGroup> two_groups(const std::vector<Tensor>& ps, optim::HyperParams g0,
                                                 optim::HyperParams g1) {
  return {optim::ParamGroup({ps[0], ps[1]}, std::move(g0)), optim::ParamGroup({ps[2]}, std::move(g1))};
}

}  // namespace wick::test
