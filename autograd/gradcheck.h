// gradcheck: compares the analytical Jacobian (from autograd) with a
// numerical one from central differences, (f(x + eps) - f(x - eps)) / 2eps,
// for every input that requires grad. Inputs should be float64.
//
// gradgradcheck does the same for the gradient function itself
// (x -> d<f(x), v>/dx with a fixed random v), testing second derivatives.
//
// Both return true on success and throw wick::Error describing the first
// mismatch (output, input, element, numerical vs analytical) otherwise.
#pragma once

#include <functional>

#include "tensor/tensor.h"

namespace wick::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

using GradcheckFn = std::function<tensor_list(const tensor_list&)>;

bool gradcheck(const GradcheckFn& fn, const tensor_list& inputs, const GradcheckOptions& opt = {});
// Convenience: a function with one output.
bool gradcheck(const std::function<Tensor(const tensor_list&)>& fn, const tensor_list& inputs,
               const GradcheckOptions& opt = {});

bool gradgradcheck(const GradcheckFn& fn, const tensor_list& inputs, const GradcheckOptions& opt = {});
bool gradgradcheck(const std::function<Tensor(const tensor_list&)>& fn, const tensor_list& inputs,
                   const GradcheckOptions& opt = {});

}  // namespace wick::autograd

namespace wick {
using autograd::gradcheck;
using autograd::gradgradcheck;
}  // namespace wick
