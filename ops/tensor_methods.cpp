// Tensor methods that forward to the free-function ops (x.sum(), x.exp(), ...).
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/nn.h"
#include "ops/reduction.h"

namespace wick {

Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const { return wick::sum(*this, dims, keepdim); }
Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const { return wick::mean(*this, dims, keepdim); }
Tensor Tensor::exp() const { return wick::exp(*this); }
Tensor Tensor::log() const { return wick::log(*this); }
Tensor Tensor::abs() const { return wick::abs(*this); }
Tensor Tensor::sqrt() const { return wick::sqrt(*this); }
Tensor Tensor::neg() const { return wick::neg(*this); }
Tensor Tensor::pow(const Scalar& e) const { return wick::pow(*this, e); }
Tensor Tensor::matmul(const Tensor& other) const { return wick::matmul(*this, other); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const { return wick::argmax(*this, dim, keepdim); }
Tensor Tensor::softmax(int64_t dim) const { return wick::softmax(*this, dim); }
Tensor Tensor::log_softmax(int64_t dim) const { return wick::log_softmax(*this, dim); }
Tensor& Tensor::fill_(const Scalar& v) { return wick::fill_(*this, v); }
Tensor& Tensor::zero_() { return wick::zero_(*this); }
Tensor& Tensor::add_(const Tensor& other, const Scalar& alpha) { return wick::add_(*this, other, alpha); }
Tensor& Tensor::add_(const Scalar& other) { return wick::add_(*this, other); }
Tensor& Tensor::sub_(const Tensor& other, const Scalar& alpha) { return wick::sub_(*this, other, alpha); }
Tensor& Tensor::mul_(const Tensor& other) { return wick::mul_(*this, other); }
Tensor& Tensor::mul_(const Scalar& other) { return wick::mul_(*this, other); }
Tensor& Tensor::div_(const Tensor& other) { return wick::div_(*this, other); }
Tensor& Tensor::div_(const Scalar& other) { return wick::div_(*this, other); }

}  // namespace wick
