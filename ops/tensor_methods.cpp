// Tensor methods that forward to the free-function ops (x.sum(), x.exp(), ...).
#include "ops/elementwise.h"
#include "ops/reduction.h"

namespace wick {

Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const { return wick::sum(*this, dims, keepdim); }
Tensor Tensor::neg() const { return wick::neg(*this); }
Tensor& Tensor::add_(const Tensor& other, const Scalar& alpha) { return wick::add_(*this, other, alpha); }
Tensor& Tensor::add_(const Scalar& other) { return wick::add_(*this, other); }
Tensor& Tensor::sub_(const Tensor& other, const Scalar& alpha) { return wick::sub_(*this, other, alpha); }
Tensor& Tensor::mul_(const Tensor& other) { return wick::mul_(*this, other); }
Tensor& Tensor::mul_(const Scalar& other) { return wick::mul_(*this, other); }
Tensor& Tensor::div_(const Tensor& other) { return wick::div_(*this, other); }
Tensor& Tensor::div_(const Scalar& other) { return wick::div_(*this, other); }

}  // namespace wick
