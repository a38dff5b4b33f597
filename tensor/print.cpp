// Printing, in PyTorch's format: tensor([[1.0000, 2.0000]], dtype=float64, requires_grad=True)
#include <cmath>
#include <iomanip>
#include <sstream>

#include "autograd/node.h"
#include "tensor/tensor.h"

namespace wick {

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  Tensor c = detach().to(kCPU).to(kFloat64).contiguous();
  std::vector<double> v = c.tolist<double>();
  os << "tensor(";
  std::function<void(int64_t, int64_t)> rec = [&](int64_t d, int64_t off) {
    if (d == dim()) {
      os << v[off];
      return;
    }
    os << "[";
    int64_t stride = 1;
    for (int64_t k = d + 1; k < dim(); ++k) stride *= size(k);
    for (int64_t i = 0; i < size(d); ++i) {
      if (i) os << ", ";
      rec(d + 1, off + i * stride);
    }
    os << "]";
  };
  rec(0, 0);
  if (dtype() != kFloat32 && dtype() != kInt64 && dtype() != kBool) os << ", dtype=" << dtype_name(dtype());
  if (grad_fn()) os << ", grad_fn=<" << grad_fn()->name() << ">";
  else if (requires_grad()) os << ", requires_grad=True";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace wick
