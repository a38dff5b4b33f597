// Linear algebra ops: checks, output shapes, dispatch to the CPU kernels
// (ops/cpu/linalg.cpp, ops/cpu/gemm.cpp) or the CUDA GEMM
// (cuda/kernels/gemm.cu; float32/64 and float16/bfloat16 there) or the CUDA
// eigensolver (cuda/kernels/linalg.cu), and backward formulas.
//
// Every matrix product (matmul, mm, bmm, mv, dot, addmm) goes through one
// differentiable primitive, batched_matmul(a, b): a = [..., M, K] and
// b = [..., K, N] with broadcast batch dims, out = [batch..., M, N]. Its
// backward is
//   dA = sum_to(G @ B^T, A.shape),   dB = sum_to(A^T @ G, B.shape)
// written with the same primitive on transposed views, so higher-order
// gradients come free. The public ops reduce every case to it with views
// only (unsqueeze for 1-D operands, the batch dims of A folded into its rows
// when B is a matrix), so the view ops' backward handles the reshaping and
// no operand is ever copied: the kernels read any strides.
//
// Under autocast (autograd/autocast.h) matmul, mm, bmm, mv and addmm run in
// the scope's low-precision dtype.
//
// eigh has no gradient: when the input requires grad, the eigenvalues and
// eigenvectors are returned as plain tensors that do not require grad.
#include "ops/linalg.h"

#include "autograd/autocast.h"
#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/linalg.h"
#include "ops/creation.h"
#include "ops/elementwise.h"

#ifdef WICK_WITH_CUDA
#include "cuda/kernels/gemm.h"
#include "cuda/kernels/linalg.h"
#endif

namespace wick {

using autograd::Ctx;
using autograd::SavedTensor;

namespace {

Shape batch_of(const Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end() - 2); }

// Device, backend and dtype checks shared by the products.
void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  WICK_CHECK(a.defined() && b.defined(), op, ": undefined tensor");
  WICK_CHECK(a.device() == b.device(), op, ": expected both operands on the same device, got ", a.device(), " and ",
             b.device());
  WICK_CHECK(a.dtype() == b.dtype(), op, ": expected both operands to have the same dtype, got ", a.dtype(), " and ",
             b.dtype());
  const DType d = a.dtype();
#ifdef WICK_WITH_CUDA
  if (a.is_cuda()) {
    WICK_CHECK(d == kFloat32 || d == kFloat64 || d == kFloat16 || d == kBFloat16, op, ": dtype ", d,
               " is not supported on ", a.device(), " (float32, float64, float16, bfloat16)");
    return;
  }
#endif
  WICK_CHECK(a.is_cpu(), op, ": no kernel for device ", a.device(), " in this build");
  WICK_CHECK(d == kUInt8 || d == kInt32 || d == kInt64 || d == kFloat32 || d == kFloat64, op, ": dtype ", d,
             " is not supported");
}

void check_inner(const char* op, const Tensor& a, const Tensor& b, int64_t ka, int64_t kb) {
  WICK_CHECK(ka == kb, op, ": inner dimensions differ: ", shape_str(a.sizes()), " @ ", shape_str(b.sizes()), " (", ka,
             " != ", kb, ")");
}

// True when a's leading dims and its row dim merge into one strided dim, so
// a.view({-1, K}) needs no copy (size-1 dims do not constrain).
bool rows_foldable(const Tensor& a) {
  int64_t prev = -1;
  for (int64_t d = 0; d < a.dim() - 1; ++d) {
    if (a.size(d) == 1) continue;
    if (prev >= 0 && a.stride(prev) != a.stride(d) * a.size(d)) return false;
    prev = d;
  }
  return true;
}

// out = alpha * a @ b + beta * out on the operands' device (shapes and dtypes checked).
// bias (CUDA only): a contiguous [N] vector of out's dtype that the GEMM adds
// as beta * bias[n] in place of beta * out (cuda::GemmArgs::bias).
void run_batched_gemm(const Tensor& out, const Tensor& a, const Tensor& b, const Scalar& alpha, const Scalar& beta,
                      const Tensor& bias = Tensor()) {
#ifdef WICK_WITH_CUDA
  if (out.is_cuda()) {
    cuda::batched_gemm(out, a, b, alpha, beta, cuda::GemmBackend::Default, bias);
    return;
  }
#endif
  WICK_CHECK(!bias.defined(), "run_batched_gemm: a bias vector is for CUDA products");
  cpu::batched_gemm(out, a, b, alpha, beta);
}

// The product primitive (see the file comment); operands are checked.
Tensor batched_matmul(const Tensor& a, const Tensor& b, const char* node_name) {
  Shape shape = broadcast_shapes(batch_of(a), batch_of(b), node_name);
  shape.push_back(a.size(a.dim() - 2));
  shape.push_back(b.size(b.dim() - 1));
  Tensor out = empty(shape, TensorOptions(a.dtype()).device(a.device()));
  run_batched_gemm(out, a, b, 1, 0);
  if (autograd::needs_grad({a, b})) {
    autograd::record(node_name, {a, b}, {out},
                     [sa = SavedTensor(a), sb = SavedTensor(b), node_name](const Ctx& c) {
                       Tensor ga, gb;
                       const Tensor& g = c.grad();
                       if (c.needs_input_grad(0)) {
                         Tensor av = sa.unpack();
                         ga = sum_to(batched_matmul(g, sb.unpack().mT(), node_name), av.sizes());
                       }
                       if (c.needs_input_grad(1)) {
                         Tensor bv = sb.unpack();
                         gb = sum_to(batched_matmul(sa.unpack().mT(), g, node_name), bv.sizes());
                       }
                       return tensor_list{ga, gb};
                     });
  }
  return out;
}

// a, b >= 2-D, inner dims checked.
Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  if (a.dim() > 2 && b.dim() == 2 && rows_foldable(a)) {
    // [batch..., M, K] @ [K, N] is one [batch*M, K] @ [K, N] product; then
    // the weight gradient A^T @ G is one product too, not a sum of batches.
    Shape out_shape = a.sizes();
    out_shape.back() = b.size(1);
    const int64_t rows = numel_of(batch_of(a)) * a.size(-2);
    return batched_matmul(a.view({rows, a.size(-1)}), b, "MmBackward").view(out_shape);
  }
  const Shape ba = batch_of(a), bb = batch_of(b);
  bool ok = true;
  for (size_t i = 1; i <= std::min(ba.size(), bb.size()); ++i) {
    const int64_t x = ba[ba.size() - i], y = bb[bb.size() - i];
    ok = ok && (x == y || x == 1 || y == 1);
  }
  WICK_CHECK(ok, "matmul: batch dimensions cannot be broadcast: ", shape_str(a.sizes()), " @ ", shape_str(b.sizes()),
             " (", shape_str(ba), " vs ", shape_str(bb), ")");
  return batched_matmul(a, b, a.dim() == 2 && b.dim() == 2 ? "MmBackward" : "BmmBackward");
}

void check_triangle_input(const char* op, const Tensor& x) {
  WICK_CHECK(x.defined(), op, ": undefined tensor");
#ifdef WICK_WITH_CUDA
  WICK_CHECK(x.is_cpu() || x.is_cuda(), op, ": no kernel for device ", x.device(), " in this build");
#else
  WICK_CHECK(x.is_cpu(), op, ": no kernel for device ", x.device(), " in this build");
#endif
  WICK_CHECK(x.dim() >= 2, op, ": input tensor must have at least 2 dimensions, got ", shape_str(x.sizes()));
}

Tensor triangle(const Tensor& x, int64_t k, bool lower) {
  const char* op = lower ? "tril" : "triu";
  check_triangle_input(op, x);
  Tensor out;
  if (x.is_cpu()) {
    out = empty(x.sizes(), TensorOptions(x.dtype()).device(x.device()));
    cpu::triangle(out, x, k, lower);
  } else {
    // Other devices: where(col - row <= k (tril) or >= k (triu), x, 0), with
    // the [rows, cols] mask broadcast over the batch dims.
    NoGradGuard ng;
    const TensorOptions io = TensorOptions(kInt64).device(x.device());
    const Tensor d = sub(arange(x.size(-1), io).unsqueeze(0), arange(x.size(-2), io).unsqueeze(1));
    out = where(lower ? le(d, k) : ge(d, k), x, Scalar(0)).contiguous();
  }
  if (autograd::needs_grad({x}))
    autograd::record(lower ? "TrilBackward" : "TriuBackward", {x}, {out},
                     [k, lower](const Ctx& c) { return tensor_list{triangle(c.grad(), k, lower)}; });
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// products

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (autocast::Cast ac{a, b}; ac) return matmul(ac.lower(a), ac.lower(b));
  check_operands("matmul", a, b);
  const int64_t da = a.dim(), db = b.dim();
  WICK_CHECK(da >= 1 && db >= 1, "matmul: both arguments need at least 1 dimension, got ", shape_str(a.sizes()),
             " and ", shape_str(b.sizes()));
  check_inner("matmul", a, b, a.size(da - 1), b.size(db == 1 ? 0 : db - 2));
  if (da == 1 && db == 1) return batched_matmul(a.unsqueeze(0), b.unsqueeze(1), "DotBackward").view({});
  // A 1-D operand becomes a row (left) or column (right) matrix; that dim is dropped from the result.
  if (db == 1) return matmul_nd(a, b.unsqueeze(1)).squeeze(-1);
  if (da == 1) return matmul_nd(a.unsqueeze(0), b).squeeze(-2);
  return matmul_nd(a, b);
}

Tensor mm(const Tensor& a, const Tensor& b) {
  if (autocast::Cast ac{a, b}; ac) return mm(ac.lower(a), ac.lower(b));
  check_operands("mm", a, b);
  WICK_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D tensors, got ", shape_str(a.sizes()), " and ",
             shape_str(b.sizes()));
  check_inner("mm", a, b, a.size(1), b.size(0));
  return batched_matmul(a, b, "MmBackward");
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  if (autocast::Cast ac{a, b}; ac) return bmm(ac.lower(a), ac.lower(b));
  check_operands("bmm", a, b);
  WICK_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, got ", shape_str(a.sizes()), " and ",
             shape_str(b.sizes()));
  WICK_CHECK(a.size(0) == b.size(0), "bmm: batch sizes differ: ", shape_str(a.sizes()), " @ ", shape_str(b.sizes()),
             " (", a.size(0), " != ", b.size(0), ")");
  check_inner("bmm", a, b, a.size(2), b.size(1));
  return batched_matmul(a, b, "BmmBackward");
}

Tensor mv(const Tensor& a, const Tensor& v) {
  if (autocast::Cast ac{a, v}; ac) return mv(ac.lower(a), ac.lower(v));
  check_operands("mv", a, v);
  WICK_CHECK(a.dim() == 2 && v.dim() == 1, "mv: expected a 2-D matrix and a 1-D vector, got ", shape_str(a.sizes()),
             " and ", shape_str(v.sizes()));
  check_inner("mv", a, v, a.size(1), v.size(0));
  return batched_matmul(a, v.unsqueeze(1), "MvBackward").squeeze(-1);
}

Tensor dot(const Tensor& a, const Tensor& b) {
  check_operands("dot", a, b);
  WICK_CHECK(a.dim() == 1 && b.dim() == 1, "dot: expected 1-D tensors, got ", shape_str(a.sizes()), " and ",
             shape_str(b.sizes()));
  WICK_CHECK(a.size(0) == b.size(0), "dot: sizes differ: ", shape_str(a.sizes()), " . ", shape_str(b.sizes()), " (",
             a.size(0), " != ", b.size(0), ")");
  return batched_matmul(a.unsqueeze(0), b.unsqueeze(1), "DotBackward").view({});
}

// Like torch.outer, this is a broadcast multiply (a[:, None] * b), so it
// promotes dtypes and accepts bool; no reduction is involved.
Tensor outer(const Tensor& a, const Tensor& b) {
  WICK_CHECK(a.defined() && b.defined(), "outer: undefined tensor");
  WICK_CHECK(a.dim() == 1 && b.dim() == 1, "outer: expected 1-D tensors, got ", shape_str(a.sizes()), " and ",
             shape_str(b.sizes()));
  return mul(a.unsqueeze(1), b);
}

Tensor addmm(const Tensor& c, const Tensor& a, const Tensor& b, const Scalar& beta, const Scalar& alpha) {
  if (autocast::Cast ac{a, b, c}; ac) return addmm(ac.lower(c), ac.lower(a), ac.lower(b), beta, alpha);
  check_operands("addmm", a, b);
  WICK_CHECK(c.defined(), "addmm: undefined tensor");
  WICK_CHECK(c.device() == a.device(), "addmm: expected all tensors on the same device, got ", c.device(), " and ",
             a.device());
  WICK_CHECK(c.dtype() == a.dtype(), "addmm: expected self and the operands to have the same dtype, got ", c.dtype(),
             " and ", a.dtype());
  WICK_CHECK(a.dim() == 2 && b.dim() == 2, "addmm: expected 2-D matrices, got ", shape_str(a.sizes()), " and ",
             shape_str(b.sizes()));
  check_inner("addmm", a, b, a.size(1), b.size(0));
  WICK_CHECK(is_floating(a.dtype()) || (!alpha.is_floating() && !beta.is_floating()),
             "addmm: for integral input tensors, alpha and beta must not be floating point numbers");
  const Shape shape{a.size(0), b.size(1)};
  bool broadcastable = c.dim() <= 2;
  for (int64_t i = 1; broadcastable && i <= c.dim(); ++i)
    broadcastable = c.size(-i) == 1 || c.size(-i) == shape[2 - i];
  WICK_CHECK(broadcastable, "addmm: self of shape ", shape_str(c.sizes()), " cannot be broadcast to the product's shape ",
             shape_str(shape));
  Tensor out = empty(shape, TensorOptions(a.dtype()).device(a.device()));
  const bool beta_zero = beta.to_double() == 0;
  // A CUDA product takes a row-vector c (a linear layer's bias) into its epilogue: no broadcast copy of c into
  // out, no read of it back. Elsewhere c is copied into out and the product adds beta * out.
  bool bias_vector = false;
#ifdef WICK_WITH_CUDA
  bias_vector = out.is_cuda() && cuda::gemm_bias_epilogue() && !beta_zero && shape[1] > 1 && c.numel() == shape[1] &&
                (c.dim() == 1 || (c.dim() == 2 && c.size(0) == 1));
#endif
  Tensor bias;
  if (bias_vector) {
    NoGradGuard ng;
    bias = c.reshape({shape[1]}).contiguous();
  } else if (!beta_zero) {
    NoGradGuard ng;
    copy_(out, c);
  }
  run_batched_gemm(out, a, b, alpha, beta, bias);  // beta = 0: out's contents are ignored (NaN in c does not propagate)
  if (autograd::needs_grad({c, a, b})) {
    autograd::record(
        "AddmmBackward", {c, a, b}, {out},
        [sa = SavedTensor(a), sb = SavedTensor(b), sc = c.sizes(), beta, alpha](const Ctx& ctx) {
          const Tensor& g = ctx.grad();
          auto scaled = [](const Tensor& t, const Scalar& s) {
            return s.is_floating() || s.to_int() != 1 ? mul(t, s) : t;
          };
          Tensor gc, ga, gb;
          if (ctx.needs_input_grad(0)) gc = sum_to(scaled(g, beta), sc);
          if (ctx.needs_input_grad(1)) ga = scaled(batched_matmul(g, sb.unpack().mT(), "MmBackward"), alpha);
          if (ctx.needs_input_grad(2)) gb = scaled(batched_matmul(sa.unpack().mT(), g, "MmBackward"), alpha);
          return tensor_list{gc, ga, gb};
        });
  }
  return out;
}

// ---------------------------------------------------------------------------
// triangles

Tensor tril(const Tensor& x, int64_t k) { return triangle(x, k, /*lower=*/true); }
Tensor triu(const Tensor& x, int64_t k) { return triangle(x, k, /*lower=*/false); }

// ---------------------------------------------------------------------------
// eigh

// Only the lower triangle of x is read (torch.linalg.eigh's default
// UPLO='L'). Eigenvalues ascending; eigenvector j is column j of the second
// output, unit norm, with the sign chosen so that its largest-magnitude
// component (the first one, on ties) is positive. LAPACK (and so PyTorch)
// fixes no sign, so only the eigenvalues and the subspaces compare with it.
// Not differentiable: the outputs never require grad.
//
// CUDA inputs: the parallel Jacobi kernel of cuda/kernels/linalg.cu (same
// contract, in double too) when cuda::eigh_kernel() is on (set_eigh_kernel
// or WICK_CUDA_EIGH=1; off by default until it has run its tests on a GPU);
// otherwise the CPU solver, with x copied to the host and w, v copied back
// to x's device (a synchronizing round trip).
std::pair<Tensor, Tensor> eigh(const Tensor& x) {
  WICK_CHECK(x.defined(), "eigh: undefined tensor");
#ifdef WICK_WITH_CUDA
  WICK_CHECK(x.is_cpu() || x.is_cuda(), "eigh: no kernel for device ", x.device(), " in this build");
#else
  WICK_CHECK(x.is_cpu(), "eigh: no kernel for device ", x.device(), " in this build");
#endif
  WICK_CHECK(x.dtype() == kFloat32 || x.dtype() == kFloat64,
             "eigh: expected a floating dtype (float32 or float64), got ", x.dtype());
  WICK_CHECK(x.dim() >= 2 && x.size(-1) == x.size(-2), "eigh: expected a square matrix or a batch of them [..., n, n], got ",
             shape_str(x.sizes()));
#ifdef WICK_WITH_CUDA
  if (x.is_cuda() && !cuda::eigh_kernel()) {
    NoGradGuard ng;
    auto [w, v] = eigh(x.cpu());
    return {w.to(x.device()), v.to(x.device())};
  }
#endif
  Shape wshape(x.sizes().begin(), x.sizes().end() - 1);
  Tensor w = empty(wshape, TensorOptions(x.dtype()).device(x.device()));
  Tensor v = empty(x.sizes(), TensorOptions(x.dtype()).device(x.device()));
#ifdef WICK_WITH_CUDA
  const bool finite = x.is_cuda() ? cuda::eigh(w, v, x) : cpu::eigh(w, v, x);
#else
  const bool finite = cpu::eigh(w, v, x);
#endif
  WICK_CHECK(finite, "eigh: the input ", shape_str(x.sizes()), " contains non-finite values (NaN or Inf)");
  return {w, v};
}

}  // namespace wick
