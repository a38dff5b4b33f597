#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "tensor/random.h"

namespace wick::autograd {

namespace {

// Address of element `flat` (row-major index) of t, which may be strided.
double* element(const Tensor& t, int64_t flat) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += (flat % t.size(d)) * t.stride(d);
    flat /= t.size(d);
  }
  return t.data_ptr<double>() + off;
}

std::vector<double> flatten_outputs(const tensor_list& outs) {
  std::vector<double> v;
  for (const Tensor& o : outs) {
    if (!o.defined()) continue;
    auto x = o.detach().tolist<double>();
    v.insert(v.end(), x.begin(), x.end());
  }
  return v;
}

}  // namespace

bool gradcheck(const GradcheckFn& fn, const tensor_list& inputs, const GradcheckOptions& opt) {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad())
      WICK_CHECK(inputs[i].dtype() == kFloat64, "gradcheck: input ", i, " is ", inputs[i].dtype(),
                 "; use float64 inputs for finite differences");

  tensor_list outs = fn(inputs);
  std::vector<size_t> out_numel;
  for (const Tensor& o : outs) out_numel.push_back(o.defined() ? static_cast<size_t>(o.numel()) : 0);
  const size_t n_out = flatten_outputs(outs).size();

  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    const int64_t n_in = x.numel();
    // Numerical Jacobian, column by column: d out / d x[j].
    std::vector<std::vector<double>> num(n_in);
    for (int64_t j = 0; j < n_in; ++j) {
      double* p = element(x, j);
      const double orig = *p;
      std::vector<double> plus, minus;
      {
        NoGradGuard ng;
        *p = orig + opt.eps;
        plus = flatten_outputs(fn(inputs));
        *p = orig - opt.eps;
        minus = flatten_outputs(fn(inputs));
        *p = orig;
      }
      num[j].resize(n_out);
      for (size_t k = 0; k < n_out; ++k) num[j][k] = (plus[k] - minus[k]) / (2 * opt.eps);
    }
    // Analytical Jacobian, row by row: one backward per output element.
    size_t k = 0;
    for (size_t o = 0; o < outs.size(); ++o) {
      if (!outs[o].defined()) continue;
      for (size_t e = 0; e < out_numel[o]; ++e, ++k) {
        std::vector<double> row(n_in, 0.0);
        if (outs[o].requires_grad()) {
          Tensor seed = zeros(outs[o].sizes(), TensorOptions(outs[o].dtype()));
          *element(seed, static_cast<int64_t>(e)) = 1.0;
          tensor_list g = grad({outs[o]}, {x}, {seed}, /*retain_graph=*/true, /*create_graph=*/false,
                               /*allow_unused=*/true);
          if (g[0].defined()) row = g[0].tolist<double>();
        }
        for (int64_t j = 0; j < n_in; ++j) {
          const double a = row[j], n = num[j][k];
          WICK_CHECK(std::abs(a - n) <= opt.atol + opt.rtol * std::abs(n),
                     "gradcheck: Jacobian mismatch for output ", o, " with respect to input ", i, " at (output element ",
                     e, ", input element ", j, "): numerical ", n, " vs analytical ", a, " (atol ", opt.atol, ", rtol ",
                     opt.rtol, ")");
        }
      }
    }
  }
  return true;
}

bool gradcheck(const std::function<Tensor(const tensor_list&)>& fn, const tensor_list& inputs,
               const GradcheckOptions& opt) {
  return gradcheck(GradcheckFn([&](const tensor_list& in) { return tensor_list{fn(in)}; }), inputs, opt);
}

bool gradgradcheck(const GradcheckFn& fn, const tensor_list& inputs, const GradcheckOptions& opt) {
  // Random output-gradients v (fixed seed). Like PyTorch's gradgradcheck, v is
  // itself an input of the checked function, so the derivative of every
  // backward formula with respect to its incoming gradient is checked too.
  tensor_list outs = fn(inputs);
  Generator gen(1234);
  tensor_list all = inputs;
  std::vector<int> v_of_output(outs.size(), -1);
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!outs[i].defined() || !outs[i].requires_grad()) continue;
    v_of_output[i] = static_cast<int>(all.size());
    all.push_back(randn(outs[i].sizes(), TensorOptions(kFloat64), &gen).requires_grad_());
  }
  const size_t n_in = inputs.size();
  // (x, v) -> d<fn(x), v>/dx. Recorded (create_graph) when called in grad
  // mode, i.e. for the analytical pass; plain when finite differences call it.
  GradcheckFn grad_fn = [&](const tensor_list& in) {
    const bool create = GradMode::is_enabled();
    EnableGradGuard eg;
    tensor_list x(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n_in));
    tensor_list o = fn(x);
    tensor_list outs_used, vs_used, targets;
    for (size_t i = 0; i < o.size(); ++i)
      if (o[i].defined() && o[i].requires_grad() && v_of_output[i] >= 0) {
        outs_used.push_back(o[i]);
        vs_used.push_back(in[v_of_output[i]]);
      }
    for (const Tensor& t : x)
      if (t.defined() && t.requires_grad()) targets.push_back(t);
    tensor_list g = outs_used.empty() ? tensor_list(targets.size())
                                      : grad(outs_used, targets, vs_used, /*retain_graph=*/true, create,
                                             /*allow_unused=*/true);
    for (size_t i = 0; i < g.size(); ++i)
      if (!g[i].defined()) g[i] = zeros_like(targets[i]);
    return g;
  };
  return gradcheck(grad_fn, all, opt);
}

bool gradgradcheck(const std::function<Tensor(const tensor_list&)>& fn, const tensor_list& inputs,
                   const GradcheckOptions& opt) {
  return gradgradcheck(GradcheckFn([&](const tensor_list& in) { return tensor_list{fn(in)}; }), inputs, opt);
}

}  // namespace wick::autograd
