// Dropout layer (see dropout.h).
#include "nn/dropout.h"

#include <sstream>

#include "ops/nn.h"

namespace wick::nn {

Dropout::Dropout(double p_) : p(p_) {
  WICK_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability has to be between 0 and 1, but got ", p);
  reset();
}

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p == 0.0) return x;
  return dropout(x, p, true);
}

std::string Dropout::extra_repr() const {
  std::ostringstream s;
  s << "p=" << p;
  return s.str();
}

}  // namespace wick::nn
