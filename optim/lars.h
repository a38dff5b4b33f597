// LARS (You, Gitman & Ginsburg, 2017, "Large Batch Training of Convolutional
// Networks"), the optimizer of SimCLR, BYOL and Barlow Twins. Each parameter
// tensor gets its own learning rate from the ratio of its norm to its
// gradient's norm (the "trust ratio"), which keeps the update a fixed fraction
// eta of the weight whatever the layer's gradient scale:
//   trust = eta ||w|| / (||g|| + wd ||w||)       (1 when ||w|| or ||g|| is 0)
//   v = momentum v + lr trust (g + wd w)
//   w -= v                        (nesterov: w -= momentum v + lr trust (g + wd w))
// As in the paper (and SimCLR's and BYOL's implementations) the learning rate
// is inside the momentum buffer. A group with exclude = 1 gets neither trust
// ratio nor weight decay, i.e. plain momentum SGD; SimCLR/BYOL/Barlow Twins
// put biases and normalization parameters there (see split_by_ndim).
// State per parameter: momentum_buffer. Group options: lr, momentum,
// weight_decay, eta, nesterov, exclude.
#pragma once

#include <vector>

#include "optim/optimizer.h"

namespace wick::optim {

struct LARSOptions {
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 0.0;
  double eta = 1e-3;  // trust coefficient
  bool nesterov = false;
  bool exclude = false;  // no trust ratio and no weight decay for this group
};

class LARS : public Optimizer {
 public:
  LARS(std::vector<Tensor> params, LARSOptions options = {});
  LARS(std::vector<ParamGroup> groups, LARSOptions options = {});

 protected:
  void check_group(const ParamGroup& group, size_t index) const override;
  void update(Tensor& param, const Tensor& grad, StateDict& state, const ParamGroup& group) override;
};

}  // namespace wick::optim
