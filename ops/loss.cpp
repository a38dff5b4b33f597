// Losses and similarity functions: checks, and compositions of ops (their
// gradients, including higher-order ones, come from the ops), with CPU
// kernels where a composition would be awkward or wasteful: the class-index
// target validation of nll_loss / cross_entropy and the fused, stable
// binary cross entropy with logits (whose backward is written with ops).
//
// Reductions follow PyTorch: Mean of a class-index loss divides by the sum of
// the class weights of the non-ignored targets; every other Mean divides by
// the number of elements (the probability-target cross entropy by the number
// of samples N * d1 * ...). An empty Mean is NaN.
#include "ops/loss.h"

#include <optional>

#include "autograd/autocast.h"
#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/loss.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/loss.h"
#endif
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "ops/view.h"

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;

namespace {

void check_defined(const char* op, const Tensor& t, const char* name) {
  WICK_CHECK(t.defined(), op, ": ", name, " is undefined");
}

// float32/float64; on CUDA float16/bfloat16 too.
void check_float_input(const char* op, const Tensor& x) {
  check_defined(op, x, "input");
  const bool half = x.dtype() == kFloat16 || x.dtype() == kBFloat16;
  WICK_CHECK(x.dtype() == kFloat32 || x.dtype() == kFloat64 || (half && !x.is_cpu()), op,
             ": expected a floating input (float32 or float64), got ", x.dtype());
}

// The fused class-index kernels of the input's device.
namespace kern {
void class_target_weights(const Tensor& t_safe, const Tensor& wt, const Tensor& target, const Tensor& weight,
                          int64_t C, int64_t ignore_index, const char* op) {
#ifdef WICK_WITH_CUDA
  if (target.is_cuda()) return cuda::class_target_weights(t_safe, wt, target, weight, C, ignore_index, op);
#endif
  cpu::class_target_weights(t_safe, wt, target, weight, C, ignore_index, op);
}
void cross_entropy_forward(const Tensor& loss, const Tensor& lse, const Tensor& x, const Tensor& target,
                           const Tensor& weight, int64_t outer, int64_t C, int64_t inner, int64_t ignore_index,
                           double eps) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda()) return cuda::cross_entropy_forward(loss, lse, x, target, weight, outer, C, inner, ignore_index, eps);
#endif
  WICK_CHECK(loss.dtype() == x.dtype(), "cross_entropy: ", loss.dtype(), " loss beside ", x.dtype(),
             " logits is a CUDA form (autocast's); the CPU kernel takes one dtype");
  cpu::cross_entropy_forward(loss, lse, x, target, weight, outer, C, inner, ignore_index, eps);
}
void cross_entropy_backward(const Tensor& gx, const Tensor& g, double scale, const Tensor& x, const Tensor& lse,
                            const Tensor& target, const Tensor& weight, int64_t outer, int64_t C, int64_t inner,
                            int64_t ignore_index, double eps) {
#ifdef WICK_WITH_CUDA
  if (x.is_cuda())
    return cuda::cross_entropy_backward(gx, g, scale, x, lse, target, weight, outer, C, inner, ignore_index, eps);
#endif
  cpu::cross_entropy_backward(gx, g, scale, x, lse, target, weight, outer, C, inner, ignore_index, eps);
}
}  // namespace kern

// Every defined tensor on `x`'s device (a clear error, not a kernel reading another device's memory).
void check_same_device(const char* op, const Tensor& x, std::initializer_list<const Tensor*> ts) {
  for (const Tensor* t : ts)
    WICK_CHECK(!t->defined() || t->device() == x.device(), op, ": expected all tensors on ", x.device(), ", got ",
               t->device());
}

Tensor apply_reduction(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::None: return loss;
    case Reduction::Sum: return sum(loss);
    case Reduction::Mean: return mean(loss);
  }
  WICK_FAIL("loss: unknown reduction");
}

// The class-weight tensor of a class-index or probability loss: [C], input's dtype.
// want: the weight's dtype, the input's unless the mixed cross entropy's float32 beside 16-bit logits.
void check_class_weight(const char* op, const Tensor& weight, int64_t C, const Tensor& input,
                        std::optional<DType> want = {}) {
  if (!weight.defined()) return;
  WICK_CHECK(weight.dim() == 1 && weight.size(0) == C, op, ": weight has shape ", shape_str(weight.sizes()),
             " but expected [", C, "] (one weight per class) for input of shape ", shape_str(input.sizes()));
  WICK_CHECK(weight.dtype() == want.value_or(input.dtype()), op, ": weight has dtype ", weight.dtype(),
             " but input has dtype ", input.dtype());
}

// Per-element pieces of a class-index loss on log-probabilities `logp`
// (class dim 1, or 0 for an unbatched [C] input):
//   loss[i] = -wt[i] * logp[i, target[i]],  wt[i] = weight[target[i]] (1
//   without weight), 0 where target[i] == ignore_index.
struct ClassTargetLoss {
  Tensor loss;  // target's shape, differentiable w.r.t. logp
  Tensor wt;    // target's shape, constant
};

// Dtype and shape checks of a class-index target against logits/log-probabilities.
void check_class_target(const char* op, const Tensor& logp, const Tensor& target, const Tensor& weight,
                        std::optional<DType> weight_dtype = {}) {
  check_defined(op, target, "target");
  check_same_device(op, logp, {&target, &weight});
  WICK_CHECK(target.dtype() == kInt64 || target.dtype() == kInt32, op,
             ": expected class-index targets of dtype int64 (or int32), got ", target.dtype());
  WICK_CHECK(logp.dim() >= 1, op, ": input must have at least 1 dim, got a 0-d tensor");
  const int64_t cd = logp.dim() == 1 ? 0 : 1;
  if (logp.dim() == 1) {
    WICK_CHECK(target.dim() == 0, op, ": an unbatched input of shape ", shape_str(logp.sizes()),
               " needs a 0-d target, got shape ", shape_str(target.sizes()));
  } else {
    WICK_CHECK(target.dim() >= 1 && target.size(0) == logp.size(0), op, ": target has shape ",
               shape_str(target.sizes()), " but input has batch size ", logp.size(0));
    Shape expect = logp.sizes();
    expect.erase(expect.begin() + 1);
    WICK_CHECK(target.sizes() == expect, op, ": target has shape ", shape_str(target.sizes()), " but expected ",
               shape_str(expect), " for input of shape ", shape_str(logp.sizes()), " (classes at dim 1)");
  }
  check_class_weight(op, weight, logp.size(cd), logp, weight_dtype);
}

ClassTargetLoss class_target_loss(const char* op, const Tensor& logp, const Tensor& target, const Tensor& weight,
                                  int64_t ignore_index) {
  check_class_target(op, logp, target, weight);
  const int64_t cd = logp.dim() == 1 ? 0 : 1;
  const int64_t C = logp.size(cd);
  Tensor t_safe = empty(target.sizes(), TensorOptions(kInt64).device(target.device()));
  Tensor wt = empty(target.sizes(), TensorOptions(logp.dtype()).device(logp.device()));
  kern::class_target_weights(t_safe, wt, target, weight, C, ignore_index, op);
  Tensor picked = squeeze(gather(logp, cd, unsqueeze(t_safe, cd)), cd);
  return {neg(mul(picked, wt)), wt};
}

Tensor nll_impl(const char* op, const Tensor& logp, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                Reduction reduction) {
  auto [loss, wt] = class_target_loss(op, logp, target, weight, ignore_index);
  switch (reduction) {
    case Reduction::None: return loss;
    case Reduction::Sum: return sum(loss);
    case Reduction::Mean: return div(sum(loss), sum(wt));
  }
  WICK_FAIL(op, ": unknown reduction");
}

Tensor cross_entropy_composed(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                              Reduction reduction, double eps);

// The buffer cross entropy's fused backward writes the logits' gradient
// into: like x, except that on CUDA with cuda::cross_entropy_16bit, [N, C]
// logits whose rows are not a whole number of 16 bytes get rows padded to
// 16 bytes (the same values through a strided view): the head's backward
// GEMMs (dX = dlogits W, dW = dlogits^T X) read it through the wgmma
// kernel's TMA loads, which need 16-byte strides, instead of copying it into
// aligned rows first (GPT-2: 8192 x 50257 logits, two copies of 823 MB).
Tensor logits_grad_buffer(const Tensor& x, int64_t inner) {
  const TensorOptions o = TensorOptions(x.dtype()).device(x.device());
#ifdef WICK_WITH_CUDA
  const int64_t esz = static_cast<int64_t>(dtype_size(x.dtype())), align = 16 / esz;
  if (x.is_cuda() && cuda::cross_entropy_16bit() && x.dim() == 2 && inner == 1 && x.size(1) % align != 0) {
    const int64_t Cp = (x.size(1) + align - 1) / align * align;
    return empty({x.size(0), Cp}, o).narrow(1, 0, x.size(1));
  }
#else
  (void)inner;
#endif
  return empty(x.sizes(), o);
}

// Cross entropy with class-index targets in one fused kernel (ops/cpu/loss.cpp):
// per row the logsumexp and the loss, no log_softmax tensor. The recorded
// backward runs the fused kernel for a first-order backward and, under
// create_graph, the same gradient written with ops:
//   gx = (softmax(x) a - target_dist) * g,  a = (1-eps) wt + eps W / C (0 if ignored),
//   target_dist[c] = (1-eps) wt [c == t] + eps w_c / C (0 if ignored).
// loss_dtype: the loss's (and the class weight's) dtype: the input's, or
// float32 beside 16-bit CUDA logits (autocast with cuda::cross_entropy_16bit:
// the kernels read the logits as they are, compute in float32 and return the
// gradient in the logits' dtype, rounded once: what casting the logits to
// float32 first gives, without the float32 copies).
Tensor cross_entropy_fused(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                           Reduction reduction, double eps, DType loss_dtype) {
  const char* op = "cross_entropy";
  check_class_target(op, input, target, weight, loss_dtype);
  const int64_t cd = input.dim() == 1 ? 0 : 1;
  const int64_t C = input.size(cd);
  const int64_t outer = cd == 0 ? 1 : input.size(0);
  const int64_t inner = outer * C == 0 ? 0 : input.numel() / (outer * C);
  const TensorOptions opt = TensorOptions(loss_dtype).device(input.device());

  Tensor t64, wt, out, lse;
  double wsum = 0.0;  // Mean: the summed target weights (the divisor)
  {
    NoGradGuard ng;
    // Validates the targets (the error names the op) and gives the weights per target.
    Tensor t_safe = empty(target.sizes(), TensorOptions(kInt64).device(target.device()));
    wt = empty(target.sizes(), opt);
    kern::class_target_weights(t_safe, wt, target, weight, C, ignore_index, op);
    t64 = target.to(kInt64).contiguous();
    Tensor loss = empty(target.sizes(), opt);
    lse = empty(target.sizes(), opt);
    const Tensor wc = weight.defined() ? weight.contiguous() : Tensor();
    kern::cross_entropy_forward(loss, lse, input.contiguous(), t64, wc, outer, C, inner, ignore_index, eps);
    switch (reduction) {
      case Reduction::None: out = loss; break;
      case Reduction::Sum: out = sum(loss); break;
      case Reduction::Mean: {
        Tensor ws = sum(wt);
        wsum = ws.item();  // float16 sums are read through float32
        out = div(sum(loss), ws);
        break;
      }
    }
  }
  if (autograd::needs_grad({input})) {
    const Tensor wc = weight.defined() ? weight.detach().contiguous() : Tensor();
    autograd::record(
        "CrossEntropyBackward", {input}, {out},
        [sx = SavedTensor(input), t64, wt, wc, lse, reduction, wsum, ignore_index, eps, cd, outer, C,
         inner](const Ctx& c) {
          const Tensor x = sx.unpack();
          const double scale = reduction == Reduction::Mean ? 1.0 / wsum : 1.0;
          if (!autograd::GradMode::is_enabled()) {
            Tensor gx = logits_grad_buffer(x, inner);
            kern::cross_entropy_backward(gx, c.grad().to(lse.dtype()).contiguous(), scale, x.contiguous(), lse, t64,
                                        wc, outer, C, inner, ignore_index, eps);
            return tensor_list{gx};
          }
          // Recorded (create_graph): the same gradient with ops; the target
          // distribution and the row coefficients are constants. The mixed
          // form runs it on the logits cast to the loss's float32 (a recorded
          // cast, so higher derivatives reach x) and casts the result back.
          const Tensor xm = x.dtype() == lse.dtype() ? x : x.to(lse.dtype());
          const TensorOptions mo = TensorOptions(xm.dtype()).device(xm.device());
          Tensor a, dist;
          {
            NoGradGuard ng;
            Tensor valid = ne(t64, Scalar(ignore_index)).to(xm.dtype());
            Tensor t_safe = masked_fill(t64, eq(t64, Scalar(ignore_index)), Scalar(int64_t{0}));
            const double W = wc.defined() ? sum(wc).item() : static_cast<double>(C);
            a = add(mul(wt, 1.0 - eps), mul(valid, eps * W / static_cast<double>(C)));
            dist = scatter(zeros(xm.sizes(), mo), cd, unsqueeze(t_safe, cd), unsqueeze(mul(wt, 1.0 - eps), cd));
            if (eps > 0) {
              Shape ws(xm.dim(), 1);
              ws[cd] = C;
              Tensor wcl = wc.defined() ? wc.reshape(ws) : ones(ws, mo);
              dist = add(dist, mul(mul(wcl, unsqueeze(valid, cd)), eps / static_cast<double>(C)));
            }
            a = unsqueeze(a, cd);
          }
          const Tensor& g = c.grad();
          Tensor gs = reduction == Reduction::None ? unsqueeze(g, cd) : mul(g, scale);
          Tensor gx = mul(sub(mul(softmax(xm, cd), a), dist), gs);
          return tensor_list{gx.dtype() == x.dtype() ? gx : gx.to(x.dtype())};
        });
  }
  return out;
}

// Softplus of -x, log(1 + exp(-x)), stable for both signs, written with ops.
Tensor softplus_neg(const Tensor& x) { return add(clamp_min(neg(x), 0.0), log1p(exp(neg(abs(x))))); }

}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                Reduction reduction) {
  if (autocast::Cast ac{input, target, weight}; ac)
    return nll_loss(ac.fp32(input), ac.fp32(target), ac.fp32(weight), ignore_index, reduction);
  check_float_input("nll_loss", input);
  return nll_impl("nll_loss", input, target, weight, ignore_index, reduction);
}

namespace {

// Whether autocast's cross entropy takes the mixed fused form (see above):
// 16-bit CUDA logits of [C] or [N, C, ...], class-index targets, and a class
// weight (float32 by then) that needs no gradient: the inputs the fused
// path below takes.
bool mixed_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight) {
#ifdef WICK_WITH_CUDA
  return cuda::cross_entropy_16bit() && input.defined() && input.is_cuda() &&
         (input.dtype() == kBFloat16 || input.dtype() == kFloat16) && input.dim() >= 1 && target.defined() &&
         !is_floating(target.dtype()) && target.sizes() != input.sizes() && input.size(input.dim() == 1 ? 0 : 1) > 0 &&
         !(weight.defined() && (autograd::needs_grad({weight}) || weight.dtype() != kFloat32));
#else
  (void)input, (void)target, (void)weight;
  return false;
#endif
}

Tensor cross_entropy_checked(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                             Reduction reduction, double label_smoothing, DType loss_dtype) {
  const char* op = "cross_entropy";
  check_float_input(op, input);
  check_defined(op, target, "target");
  check_same_device(op, input, {&target, &weight});
  WICK_CHECK(input.dim() >= 1, op, ": input must have at least 1 dim ([C] or [N, C, ...]), got a 0-d tensor");
  WICK_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, op,
             ": label_smoothing must be between 0.0 and 1.0, got ", label_smoothing);
  const int64_t cd = input.dim() == 1 ? 0 : 1;
  const int64_t C = input.size(cd);
  const double eps = label_smoothing;

  if (is_floating(target.dtype())) {
    // Class probabilities: loss = -sum_c w_c q_c log p_c with the smoothed
    // target q = (1 - eps) t + eps / C.
    WICK_CHECK(target.sizes() == input.sizes(), op, ": a floating target holds class probabilities and needs the "
               "input's shape ", shape_str(input.sizes()), ", got ", shape_str(target.sizes()));
    check_class_weight(op, weight, C, input);
    Tensor logp = log_softmax(input, cd);
    Tensor q = eps > 0 ? add(mul(target, 1.0 - eps), eps / static_cast<double>(C)) : target;
    Tensor prod = mul(logp, q);
    if (weight.defined()) {
      Shape ws(input.dim(), 1);
      ws[cd] = C;
      prod = mul(prod, weight.reshape(ws));
    }
    switch (reduction) {
      case Reduction::None: return neg(sum(prod, {cd}));
      case Reduction::Sum: return neg(sum(prod));
      case Reduction::Mean: {
        const double samples = static_cast<double>(C ? input.numel() / C : 0);
        return div(neg(sum(prod)), samples);  // 0 samples: 0 / 0 = NaN, like PyTorch
      }
    }
    WICK_FAIL(op, ": unknown reduction");
  }

  WICK_CHECK(target.sizes() != input.sizes(), op,
             ": a target with the input's shape holds class probabilities and must be floating, got ",
             target.dtype());
  // The fused kernel gives no gradient to the class weights; a weight that
  // requires grad (its label-smoothing term is differentiable) keeps the
  // composed path below.
  const bool weight_grad = weight.defined() && autograd::needs_grad({weight});
  if (!weight_grad && C > 0)
    return cross_entropy_fused(input, target, weight, ignore_index, reduction, eps, loss_dtype);
  WICK_CHECK(loss_dtype == input.dtype(), op, ": internal: the mixed form needs the fused path");
  return cross_entropy_composed(input, target, weight, ignore_index, reduction, eps);
}

}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     Reduction reduction, double label_smoothing) {
  if (autocast::Cast ac{input, target, weight}; ac) {
    // float32 math and a float32 loss. With cuda::cross_entropy_16bit the
    // fused kernels read 16-bit CUDA logits as they are (no float32 copy of
    // the logits or of their gradient); otherwise the logits are cast first.
    const Tensor w32 = ac.fp32(weight);
    if (mixed_cross_entropy(input, target, w32))
      return cross_entropy_checked(input, target, w32, ignore_index, reduction, label_smoothing, kFloat32);
    return cross_entropy(ac.fp32(input), ac.fp32(target), w32, ignore_index, reduction, label_smoothing);
  }
  return cross_entropy_checked(input, target, weight, ignore_index, reduction, label_smoothing, input.dtype());
}

namespace {

// Class-index cross entropy composed of ops: log_softmax, gather and the
// smoothing sum (the readable reference of the fused kernel).
Tensor cross_entropy_composed(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                              Reduction reduction, double eps) {
  const char* op = "cross_entropy";
  const int64_t cd = input.dim() == 1 ? 0 : 1;
  const int64_t C = input.size(cd);
  Tensor logp = log_softmax(input, cd);
  auto [loss, wt] = class_target_loss(op, logp, target, weight, ignore_index);
  Tensor nll;
  switch (reduction) {
    case Reduction::None: nll = loss; break;
    case Reduction::Sum: nll = sum(loss); break;
    case Reduction::Mean: nll = div(sum(loss), sum(wt)); break;
  }
  if (eps == 0.0) return nll;

  // Label smoothing with class indices (PyTorch's definition): the uniform
  // part is -sum_c w_c log p_c per sample, zero for ignored targets, reduced
  // like the nll term (Mean divides by the same summed target weights).
  Tensor lp = logp;
  if (weight.defined()) {
    Shape ws(input.dim(), 1);
    ws[cd] = C;
    lp = mul(logp, weight.reshape(ws));
  }
  Tensor smooth = masked_fill(neg(sum(lp, {cd})), eq(target, Scalar(ignore_index)), 0.0);
  switch (reduction) {
    case Reduction::None: break;
    case Reduction::Sum: smooth = sum(smooth); break;
    case Reduction::Mean: smooth = div(sum(smooth), sum(wt)); break;
  }
  return add(mul(nll, 1.0 - eps), mul(smooth, eps / static_cast<double>(C)));
}

}  // namespace

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight,
                                        const Tensor& pos_weight, Reduction reduction) {
  if (autocast::Cast ac{input, target, weight, pos_weight}; ac)
    return binary_cross_entropy_with_logits(ac.fp32(input), ac.fp32(target), ac.fp32(weight), ac.fp32(pos_weight),
                                            reduction);
  const char* op = "binary_cross_entropy_with_logits";
  check_float_input(op, input);
  check_defined(op, target, "target");
  check_same_device(op, input, {&target, &weight, &pos_weight});
  WICK_CHECK(target.sizes() == input.sizes(), op, ": target has shape ", shape_str(target.sizes()),
             " but input has shape ", shape_str(input.sizes()), " (they must be the same)");
  for (const auto& [p, name] : {std::pair{weight, "weight"}, std::pair{pos_weight, "pos_weight"}}) {
    if (!p.defined()) continue;
    check_defined(op, p, name);
    bool ok = p.dim() <= input.dim();
    for (int64_t i = 0; ok && i < p.dim(); ++i) {
      const int64_t ps = p.size(p.dim() - 1 - i), xs = input.size(input.dim() - 1 - i);
      ok = ps == 1 || ps == xs;
    }
    WICK_CHECK(ok, op, ": ", name, " of shape ", shape_str(p.sizes()), " cannot be broadcast to input of shape ",
               shape_str(input.sizes()));
  }

  const DType dt = input.dtype();
  Tensor out;
  {
    NoGradGuard ng;
    const Tensor pw = pos_weight.defined() ? pos_weight.to(dt) : Tensor();
    if (input.is_cpu()) {
      out = empty(input.sizes(), TensorOptions(dt).device(input.device()));
      cpu::bce_with_logits(out, input, target.to(dt), pw);
    } else {  // the same formula from elementwise ops: (1 - t) x + lw softplus(-x)
      const Tensor t = target.to(dt), sp = softplus_neg(input);
      out = add(mul(neg(sub(t, 1.0)), input), pw.defined() ? mul(add(mul(sub(pw, 1.0), t), 1.0), sp) : sp);
    }
    if (weight.defined()) out = mul(out, weight.to(dt));
  }
  if (autograd::needs_grad({input, target, weight, pos_weight})) {
    // l = w ((1 - t) x + lw sp),  sp = softplus(-x),  lw = 1 + (pw - 1) t
    //   dl/dx  = w (lw sigmoid(x) - pw t)        (w (sigmoid(x) - t) without pw)
    //   dl/dt  = w ((pw - 1) sp - x)             (-w x without pw)
    //   dl/dw  = (1 - t) x + lw sp,   dl/dpw = w t sp
    autograd::record(
        "BinaryCrossEntropyWithLogitsBackward", {input, target, weight, pos_weight}, {out},
        [sx = SavedTensor(input), st = SavedTensor(target), sw = SavedTensor(weight),
         sp_w = SavedTensor(pos_weight), dt](const Ctx& c) {
          Tensor x = sx.unpack(), t = st.unpack().to(dt), w = sw.unpack(), pw = sp_w.unpack();
          if (w.defined()) w = w.to(dt);
          if (pw.defined()) pw = pw.to(dt);
          const Tensor& g = c.grad();
          Tensor gw_ = w.defined() ? mul(g, w) : g;
          Tensor lw = pw.defined() ? add(mul(sub(pw, 1.0), t), 1.0) : Tensor();
          const bool need_sp = c.needs_input_grad(2) || c.needs_input_grad(3) || (pw.defined() && c.needs_input_grad(1));
          Tensor sp = need_sp ? softplus_neg(x) : Tensor();
          Tensor gx, gt, gweight, gpw;
          if (c.needs_input_grad(0)) {
            Tensor s = sigmoid(x);
            gx = mul(gw_, pw.defined() ? sub(mul(lw, s), mul(pw, t)) : sub(s, t));
          }
          if (c.needs_input_grad(1)) {
            gt = pw.defined() ? mul(gw_, sub(mul(sub(pw, 1.0), sp), x)) : neg(mul(gw_, x));
            gt = gt.to(st.unpack().dtype());
          }
          if (c.needs_input_grad(2)) {
            Tensor l = add(mul(rsub(t, 1.0), x), lw.defined() ? mul(lw, sp) : sp);
            gweight = sum_to(mul(g, l), w.sizes()).to(sw.unpack().dtype());
          }
          if (c.needs_input_grad(3)) gpw = sum_to(mul(mul(gw_, t), sp), pw.sizes()).to(sp_w.unpack().dtype());
          return tensor_list{gx, gt, gweight, gpw};
        });
  }
  return apply_reduction(out, reduction);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (autocast::Cast ac{input, target}; ac) return mse_loss(ac.fp32(input), ac.fp32(target), reduction);
  check_float_input("mse_loss", input);
  check_defined("mse_loss", target, "target");
  broadcast_shapes(input.sizes(), target.sizes(), "mse_loss");
  Tensor d = sub(input, target);
  return apply_reduction(mul(d, d), reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (autocast::Cast ac{input, target}; ac) return l1_loss(ac.fp32(input), ac.fp32(target), reduction);
  check_float_input("l1_loss", input);
  check_defined("l1_loss", target, "target");
  broadcast_shapes(input.sizes(), target.sizes(), "l1_loss");
  return apply_reduction(abs(sub(input, target)), reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  if (autocast::Cast ac{input, target}; ac) return smooth_l1_loss(ac.fp32(input), ac.fp32(target), reduction, beta);
  const char* op = "smooth_l1_loss";
  check_float_input(op, input);
  check_defined(op, target, "target");
  WICK_CHECK(beta >= 0.0, op, ": beta must be non-negative, got ", beta);
  broadcast_shapes(input.sizes(), target.sizes(), op);
  if (beta == 0.0) return l1_loss(input, target, reduction);
  Tensor d = sub(input, target);
  Tensor ad = abs(d);
  Tensor loss = where(lt(ad, beta), mul(mul(d, d), 0.5 / beta), sub(ad, 0.5 * beta));
  return apply_reduction(loss, reduction);
}

Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction, bool log_target) {
  if (autocast::Cast ac{input, target}; ac) return kl_div(ac.fp32(input), ac.fp32(target), reduction, log_target);
  const char* op = "kl_div";
  check_float_input(op, input);
  check_defined(op, target, "target");
  broadcast_shapes(input.sizes(), target.sizes(), op);
  Tensor loss;
  if (log_target) {
    loss = mul(exp(target), sub(target, input));
  } else {
    // xlogy(t, t) - t * input, with 0 log 0 = 0. The log sees 1 where t == 0
    // so that neither the value nor the gradient picks up log(0).
    Tensor zero = eq(target, 0.0);
    Tensor xlogy = where(zero, 0.0, mul(target, log(where(zero, 1.0, target))));
    loss = sub(xlogy, mul(target, input));
  }
  return apply_reduction(loss, reduction);
}

Tensor kl_div_batchmean(const Tensor& input, const Tensor& target, bool log_target) {
  Tensor total = kl_div(input, target, Reduction::Sum, log_target);
  return input.dim() == 0 ? total : div(total, static_cast<double>(input.size(0)));
}

Tensor cosine_similarity(const Tensor& a, const Tensor& b, int64_t dim, double eps) {
  if (autocast::Cast ac{a, b}; ac) return cosine_similarity(ac.fp32(a), ac.fp32(b), dim, eps);
  const char* op = "cosine_similarity";
  check_defined(op, a, "x1");
  check_defined(op, b, "x2");
  const DType dt = result_type(a, b);
  WICK_CHECK(is_floating(dt), op, ": expected floating inputs, got ", a.dtype(), " and ", b.dtype());
  const Shape shape = broadcast_shapes(a.sizes(), b.sizes(), op);
  const int64_t d = wrap_dim(dim, static_cast<int64_t>(shape.size()), op);
  Tensor x1 = a.to(dt).expand(shape), x2 = b.to(dt).expand(shape);
  // PyTorch 1.13: the squared norms are clamped to eps^2 *separately* and
  // outside autograd, i.e. x1.x2 / (max(|x1|, eps) max(|x2|, eps)), and the
  // gradient flows through the unclamped squared norms. s + (clamp(s) - s)
  // with the correction computed without grad reproduces both.
  auto clamped_sq_norm = [&](const Tensor& x) {
    Tensor s = sum(mul(x, x), {d}, /*keepdim=*/true);
    Tensor delta;
    {
      NoGradGuard ng;
      delta = sub(clamp_min(s, eps * eps), s);
    }
    return add(s, delta);
  };
  Tensor denom = rsqrt(mul(clamped_sq_norm(x1), clamped_sq_norm(x2)));
  return sum(mul(mul(x1, x2), denom), {d});
}

Tensor normalize(const Tensor& x, double p, int64_t dim, double eps) {
  check_float_input("normalize", x);
  const int64_t d = wrap_dim(dim, x.dim(), "normalize");
  return div(x, clamp_min(norm(x, p, {d}, /*keepdim=*/true), eps));
}

Tensor cdist(const Tensor& a, const Tensor& b, double p) {
  if (autocast::Cast ac{a, b}; ac) return cdist(ac.fp32(a), ac.fp32(b), p);
  const char* op = "cdist";
  check_float_input(op, a);
  check_float_input(op, b);
  WICK_CHECK(a.dim() >= 2 && b.dim() >= 2, op, ": expected inputs [..., P, M] and [..., R, M] with at least 2 dims, got ",
             shape_str(a.sizes()), " and ", shape_str(b.sizes()));
  WICK_CHECK(a.size(-1) == b.size(-1), op, ": x1 and x2 must have the same number of columns: ", shape_str(a.sizes()),
             " and ", shape_str(b.sizes()), " (", a.size(-1), " != ", b.size(-1), ")");
  WICK_CHECK(a.dtype() == b.dtype(), op, ": x1 has dtype ", a.dtype(), " but x2 has dtype ", b.dtype());
  WICK_CHECK(p >= 0.0, op, ": p must be non-negative, got ", p);
  // [..., P, 1, M] - [..., 1, R, M] -> [..., P, R, M]; batch dims broadcast.
  Tensor diff = sub(unsqueeze(a, -2), unsqueeze(b, -3));
  if (p == 0.0) return sum(ne(diff, 0.0), {-1}).to(a.dtype());  // number of differing coordinates
  return norm(diff, p, {-1});
}

}  // namespace wick
