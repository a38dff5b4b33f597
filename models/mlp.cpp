// Multi-layer perceptron (see mlp.h).
#include "models/mlp.h"

#include "nn/activation.h"
#include "nn/dropout.h"
#include "nn/linear.h"

namespace wick::models {

MLP::MLP(int64_t in, std::vector<int64_t> hid, int64_t out, std::string act, double p)
    : in_features(in), hidden(std::move(hid)), out_features(out), activation(std::move(act)), dropout(p) {
  WICK_CHECK(in > 0 && out > 0, "MLP: in_features and out_features must be positive, got ", in, " and ", out);
  for (int64_t h : hidden) WICK_CHECK(h > 0, "MLP: hidden widths must be positive, got ", shape_str(hidden));
  WICK_CHECK(p >= 0.0 && p < 1.0, "MLP: dropout must be in [0, 1), got ", p);
  nn::make_activation(activation);  // validates the name before building anything
  reset();
}

void MLP::reset() {
  auto seq = std::make_shared<nn::Sequential>();
  int64_t width = in_features;
  for (int64_t h : hidden) {
    seq->push_back(std::make_shared<nn::Linear>(width, h));
    seq->push_back(nn::make_activation(activation));
    if (dropout > 0.0) seq->push_back(std::make_shared<nn::Dropout>(dropout));
    width = h;
  }
  seq->push_back(std::make_shared<nn::Linear>(width, out_features));
  layers = register_module("layers", seq);
}

Tensor MLP::forward(const Tensor& x) { return layers->forward(x); }

}  // namespace wick::models
