// CUDA elementwise kernels (cuda/kernels/elementwise.cu) against the CPU
// kernels, the reference: every UnaryOp / BinaryOp / UnaryGradOp for every
// dtype (float16/bfloat16 against the float32 CPU result of the same rounded
// inputs), odd sizes (not multiples of the vector width), broadcasting with
// 0-stride expanded views, non-contiguous inputs and outputs (transposed,
// sliced with a step), empty and 0-d tensors, CPU scalars with CUDA tensors,
// NaN propagation, the error cases, and gradcheck in float64 through ops
// running on the GPU. Skips cleanly without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"
#include "ops/view.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/elementwise.h"
#endif

using namespace wick;
using wick::test::all_close;
using wick::test::all_equal;

namespace {

const Device kCuda("cuda");

bool is_half(DType dt) { return dt == kFloat16 || dt == kBFloat16; }
// The CPU reference computes 16-bit floats in float32.
DType cpu_dtype(DType dt) { return is_half(dt) ? kFloat32 : dt; }

// Sample values (float64 on the CPU) for an op on dtype dt: small integers
// for integer dtypes, 0/1 for bool; for floats standard normals rounded to
// quarters (so comparisons see ties), made positive for log-like domains.
enum class Domain { Any, Positive, Unit };
Tensor sample(const Shape& shape, DType dt, uint64_t seed, Domain dom = Domain::Any) {
  Generator g(seed);
  Tensor v = randn(shape, TensorOptions(kFloat64), &g);
  if (dt == kBool) return gt(v, 0.0).to(kFloat64);
  if (dt == kUInt8) return floor(mul(abs(v), 4.0));
  if (!is_floating(dt)) {
    Tensor r = round(mul(v, 3.0));
    return dom == Domain::Any ? r : add(abs(r), 1.0);
  }
  Tensor r = div(round(mul(v, 8.0)), 4.0);
  if (dom == Domain::Positive) return add(abs(r), 0.125);
  if (dom == Domain::Unit) return mul(tanh(r), 0.9);
  return r;
}

// The sample in dtype dt on both devices: the CPU copy in cpu_dtype(dt),
// holding exactly the values of the CUDA one (16-bit rounding included).
struct Pair {
  Tensor cpu, gpu;
};
Pair both(const Tensor& values, DType dt) {
  Tensor gpu = values.to(kCuda).to(dt);
  return {gpu.to(cpu_dtype(dt)).to(kCPU), gpu};
}

// Compares a CUDA result with the CPU one; 16-bit floats after rounding the
// CPU result to the same 16-bit type (on the device), with a 1-2 ulp margin.
::testing::AssertionResult matches(const Tensor& gpu, const Tensor& cpu, DType dt) {
  if (!gpu.is_cuda()) return ::testing::AssertionFailure() << "result not on CUDA: " << gpu.device();
  Tensor got = gpu.dtype() == cpu.dtype() ? gpu.to(kCPU) : gpu.to(kFloat32).to(kCPU);
  Tensor want = cpu;
  if (is_half(gpu.dtype())) want = cpu.to(kCuda).to(gpu.dtype()).to(kFloat32).to(kCPU);
  if (!is_floating(dt) || gpu.dtype() == kBool) return all_equal(got, want.to(got.dtype()));
  switch (gpu.dtype()) {
    case kFloat64: return all_close(got, want, 1e-12, 1e-12);
    case kFloat32: return all_close(got, want, 2e-6, 4e-6);
    case kFloat16: return all_close(got, want, 2e-3, 2e-3);
    default: return all_close(got, want, 1e-2, 1.6e-2);  // bfloat16: 8 mantissa bits
  }
}

#ifdef WICK_WITH_CUDA
const std::vector<DType> kAllDTypes = {kBool, kUInt8, kInt32, kInt64, kFloat16, kBFloat16, kFloat32, kFloat64};

// The layouts every op runs on: {name, make(view of a fresh tensor)}.
struct Layout {
  std::string name;
  Shape base;                                // shape of the tensor allocated
  std::function<Tensor(const Tensor&)> view; // the view the op sees
};
std::vector<Layout> layouts() {
  return {
      {"contiguous 5x1031", {5, 1031}, [](const Tensor& t) { return t; }},
      {"odd 3x37", {3, 37}, [](const Tensor& t) { return t; }},
      {"transposed", {37, 6}, [](const Tensor& t) { return t.t(); }},
      {"sliced step 3", {4, 50}, [](const Tensor& t) { return slice(t, 1, 1, 48, 3); }},
      {"offset by one (misaligned)", {1, 1030}, [](const Tensor& t) { return slice(t, 1, 1, std::nullopt); }},
      {"empty", {0, 7}, [](const Tensor& t) { return t; }},
      {"0-d", {}, [](const Tensor& t) { return t; }},
  };
}

using cpu::BinaryOp;
using cpu::UnaryGradOp;
using cpu::UnaryOp;

bool unary_bool_out(UnaryOp op) {
  return op == UnaryOp::IsNan || op == UnaryOp::IsInf || op == UnaryOp::IsFinite || op == UnaryOp::LogicalNot;
}
Domain unary_domain(UnaryOp op) {
  switch (op) {
    case UnaryOp::Log: case UnaryOp::Sqrt: case UnaryOp::Rsqrt: case UnaryOp::Reciprocal: return Domain::Positive;
    case UnaryOp::Log1p: return Domain::Unit;
    default: return Domain::Any;
  }
}
bool binary_bool_out(BinaryOp op) { return static_cast<int>(op) >= static_cast<int>(BinaryOp::Eq); }
#endif

}  // namespace

#ifdef WICK_WITH_CUDA

TEST(CudaElementwise, EveryUnaryOpEveryDTypeEveryLayout) {
  WICK_SKIP_WITHOUT_CUDA();
  for (int o = 0; o <= static_cast<int>(UnaryOp::NormalPdf); ++o) {
    const auto op = static_cast<UnaryOp>(o);
    const double p0 = op == UnaryOp::LeakyRelu ? 0.02 : op == UnaryOp::Softplus ? 1.5 : 0;
    const double p1 = op == UnaryOp::Softplus ? 2.0 : 0;  // threshold hit by part of the samples
    for (DType dt : kAllDTypes) {
      for (const Layout& l : layouts()) {
        SCOPED_TRACE("op " + std::to_string(o) + " dtype " + dtype_name(dt) + " layout " + l.name);
        Pair x = both(sample(l.base, dt, 100 + o, unary_domain(op)), dt);
        Tensor xc = l.view(x.cpu), xg = l.view(x.gpu);
        const DType out_dt = unary_bool_out(op) ? kBool : dt;
        Tensor oc = empty(xc.sizes(), TensorOptions(unary_bool_out(op) ? kBool : cpu_dtype(dt)));
        Tensor og = empty(xg.sizes(), TensorOptions(out_dt).device(kCuda));
        bool cpu_threw = false;
        try {
          cpu::unary(op, oc, xc, p0, p1);
        } catch (const Error&) {
          cpu_threw = true;
        }
        if (cpu_threw) {  // same contract: the op is not defined for this dtype
          EXPECT_THROW(cuda::unary(op, og, xg, p0, p1), Error);
          continue;
        }
        cuda::unary(op, og, xg, p0, p1);
        EXPECT_TRUE(matches(og, oc, dt));
      }
    }
  }
}

TEST(CudaElementwise, UnaryIntoNonContiguousOutputAndInPlace) {
  WICK_SKIP_WITHOUT_CUDA();
  Pair x = both(sample({33, 17}, kFloat32, 7), kFloat32);
  // out is a transposed view: written with its own strides.
  Tensor og = empty({17, 33}, TensorOptions(kFloat32).device(kCuda)).t();
  Tensor oc = empty({33, 17}, TensorOptions(kFloat32));
  cuda::unary(UnaryOp::Tanh, og, x.gpu, 0, 0);
  cpu::unary(UnaryOp::Tanh, oc, x.cpu, 0, 0);
  EXPECT_TRUE(matches(og, oc, kFloat32));
  // out aliasing the input (in-place ops).
  Tensor g = x.gpu.clone();
  cuda::unary(UnaryOp::Exp, g, g, 0, 0);
  cpu::unary(UnaryOp::Exp, oc, x.cpu, 0, 0);
  EXPECT_TRUE(matches(g, oc, kFloat32));
}

TEST(CudaElementwise, EveryBinaryOpEveryDTypeWithBroadcasting) {
  WICK_SKIP_WITHOUT_CUDA();
  // {a shape, b shape}: equal, row x column broadcast, a 0-stride expanded
  // view, 0-d with a tensor, empty.
  struct Shapes {
    std::string name;
    Shape a, b;
    bool expand_b;
  };
  const std::vector<Shapes> cases = {{"equal", {7, 131}, {7, 131}, false},
                                     {"row x col", {5, 1}, {1, 39}, false},
                                     {"expanded", {6, 41}, {41}, true},
                                     {"0-d", {}, {3, 9}, false},
                                     {"empty", {0, 4}, {1, 4}, false}};
  for (int o = 0; o <= static_cast<int>(BinaryOp::LogicalXor); ++o) {
    const auto op = static_cast<BinaryOp>(o);
    for (DType dt : kAllDTypes) {
      for (const Shapes& s : cases) {
        SCOPED_TRACE("op " + std::to_string(o) + " dtype " + dtype_name(dt) + " shapes " + s.name);
        Tensor av = sample(s.a, dt, 200 + o), bv = sample(s.b, dt, 300 + o);
        if (op == BinaryOp::Pow && !is_floating(dt)) bv = dt == kBool ? bv : abs(bv);  // ints: small exponents
        if (op == BinaryOp::Pow && is_floating(dt)) av = add(abs(av), 0.5);           // real results
        if (op == BinaryOp::Div && is_floating(dt)) bv = add(abs(bv), 0.25);
        Pair a = both(av, dt), b = both(bv, dt);
        Tensor bc = b.cpu, bg = b.gpu;
        if (s.expand_b) {  // stride 0 over the rows
          bc = bc.expand({s.a[0], s.b[0]});
          bg = bg.expand({s.a[0], s.b[0]});
        }
        const Shape shape = broadcast_shapes(s.a, bc.sizes(), "test");
        const DType out_dt = binary_bool_out(op) ? kBool : dt;
        Tensor oc = empty(shape, TensorOptions(binary_bool_out(op) ? kBool : cpu_dtype(dt)));
        Tensor og = empty(shape, TensorOptions(out_dt).device(kCuda));
        bool cpu_threw = false;
        try {
          cpu::binary(op, oc, a.cpu, bc);
        } catch (const Error&) {
          cpu_threw = true;
        }
        if (cpu_threw) {
          EXPECT_THROW(cuda::binary(op, og, a.gpu, bg), Error);
          continue;
        }
        cuda::binary(op, og, a.gpu, bg);
        EXPECT_TRUE(matches(og, oc, dt));
      }
    }
  }
}

TEST(CudaElementwise, IntegerSemanticsWrapAndPow) {
  WICK_SKIP_WITHOUT_CUDA();
  // Wrapping arithmetic and integer pow (negative exponents truncate).
  Tensor a = from_vector(std::vector<int64_t>{INT32_MAX, INT32_MIN, -3, -1, 1, 2, 7, 0}, Shape{8}).to(kInt32);
  Tensor b = from_vector(std::vector<int64_t>{1, -1, 3, -3, -2, 31, 2, 0}, Shape{8}).to(kInt32);
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Pow}) {
    Tensor oc = empty({8}, TensorOptions(kInt32)), og = empty({8}, TensorOptions(kInt32).device(kCuda));
    cpu::binary(op, oc, a, b);
    cuda::binary(op, og, a.to(kCuda), b.to(kCuda));
    EXPECT_TRUE(all_equal(og.to(kCPU), oc)) << static_cast<int>(op);
  }
  Tensor oc = empty({8}, TensorOptions(kInt32)), og = empty({8}, TensorOptions(kInt32).device(kCuda));
  cpu::unary(UnaryOp::Abs, oc, a);  // abs(INT_MIN) = INT_MIN
  cuda::unary(UnaryOp::Abs, og, a.to(kCuda));
  EXPECT_TRUE(all_equal(og.to(kCPU), oc));
}

TEST(CudaElementwise, NaNPropagation) {
  WICK_SKIP_WITHOUT_CUDA();
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  Tensor x = from_vector(std::vector<double>{nan, 1.0, -2.0, inf, -inf, 0.0, -0.0, nan}, Shape{8});
  Tensor y = from_vector(std::vector<double>{0.0, nan, 3.0, 1.0, nan, -0.0, 0.0, nan}, Shape{8});
  for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor xg = x.to(kCuda).to(dt), yg = y.to(kCuda).to(dt);
    Tensor xc = x.to(cpu_dtype(dt)), yc = y.to(cpu_dtype(dt));
    EXPECT_TRUE(matches(minimum(xg, yg), minimum(xc, yc), dt));
    EXPECT_TRUE(matches(maximum(xg, yg), maximum(xc, yc), dt));
    EXPECT_TRUE(matches(relu(xg), relu(xc), dt));
    EXPECT_TRUE(matches(clamp(xg, -1.0, 2.0), clamp(xc, -1.0, 2.0), dt));
    EXPECT_TRUE(matches(clamp(xg, yg, Tensor()), clamp(xc, yc, Tensor()), dt));  // NaN bound -> NaN
    EXPECT_TRUE(matches(isnan(xg), isnan(xc), dt));
    EXPECT_TRUE(matches(isinf(xg), isinf(xc), dt));
    EXPECT_TRUE(matches(isfinite(xg), isfinite(xc), dt));
    EXPECT_TRUE(matches(sign(xg), sign(xc), dt));
  }
}

TEST(CudaElementwise, UnaryBackwardEveryOp) {
  WICK_SKIP_WITHOUT_CUDA();
  for (int o = 0; o <= static_cast<int>(UnaryGradOp::Softplus); ++o) {
    const auto op = static_cast<UnaryGradOp>(o);
    const double p0 = op == UnaryGradOp::Softplus ? 1.5 : 0, p1 = op == UnaryGradOp::Softplus ? 2.0 : 0;
    for (DType dt : {kFloat32, kFloat64, kFloat16, kBFloat16}) {
      for (bool broadcast_grad : {false, true}) {
        SCOPED_TRACE("op " + std::to_string(o) + " " + dtype_name(dt) + (broadcast_grad ? " broadcast" : ""));
        Pair s = both(sample({9, 67}, dt, 40 + o), dt);
        Pair g = both(sample(broadcast_grad ? Shape{67} : Shape{9, 67}, dt, 50 + o), dt);
        Tensor oc = empty({9, 67}, TensorOptions(cpu_dtype(dt)));
        Tensor og = empty({9, 67}, TensorOptions(dt).device(kCuda));
        cpu::unary_backward(op, oc, g.cpu, s.cpu, p0, p1);
        cuda::unary_backward(op, og, g.gpu, s.gpu, p0, p1);
        EXPECT_TRUE(matches(og, oc, dt));
      }
    }
  }
}

TEST(CudaElementwise, WhereClampLerpKernels) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : kAllDTypes) {
    SCOPED_TRACE(dtype_name(dt));
    Pair c = both(sample({4, 1}, kBool, 1), kBool);
    Pair a = both(sample({4, 29}, dt, 2), dt), b = both(sample({29}, dt, 3), dt);
    Tensor oc = empty({4, 29}, TensorOptions(cpu_dtype(dt))), og = empty({4, 29}, TensorOptions(dt).device(kCuda));
    cpu::where(oc, c.cpu, a.cpu, b.cpu);
    cuda::where(og, c.gpu, a.gpu, b.gpu);
    EXPECT_TRUE(matches(og, oc, dt));
    if (dt == kBool) continue;
    cpu::clamp(oc, a.cpu, Scalar(-1.25), Scalar(0.5));
    cuda::clamp(og, a.gpu, Scalar(-1.25), Scalar(0.5));
    EXPECT_TRUE(matches(og, oc, dt));
    cpu::clamp(oc, a.cpu, std::nullopt, Scalar(1));
    cuda::clamp(og, a.gpu, std::nullopt, Scalar(1));
    EXPECT_TRUE(matches(og, oc, dt));
    Pair lo = both(sample({29}, dt, 4), dt), hi = both(sample({4, 1}, dt, 5), dt);
    cpu::clamp(oc, a.cpu, lo.cpu, hi.cpu);  // lo > hi in places: gives hi
    cuda::clamp(og, a.gpu, lo.gpu, hi.gpu);
    EXPECT_TRUE(matches(og, oc, dt));
    cpu::clamp(oc, a.cpu, lo.cpu, Tensor());
    cuda::clamp(og, a.gpu, lo.gpu, Tensor());
    EXPECT_TRUE(matches(og, oc, dt));
    if (!is_floating(dt)) continue;
    Pair w = both(sample({4, 29}, dt, 6), dt);
    cpu::lerp(oc, a.cpu, b.cpu, w.cpu);
    cuda::lerp(og, a.gpu, b.gpu, w.gpu);
    EXPECT_TRUE(matches(og, oc, dt));
  }
}

#endif  // WICK_WITH_CUDA

// ---- through the ops: wiring, scalars, devices, autograd ---------------------

TEST(CudaElementwiseOps, OpsRunOnTheDeviceAndMatchTheCpu) {
  WICK_SKIP_WITHOUT_CUDA();
  // sample() gives float64 values: convert to the dtype under test.
  Tensor a = sample({6, 35}, kFloat32, 11).to(kFloat32), b = sample({35}, kFloat32, 12).to(kFloat32);
  Tensor ag = a.to(kCuda), bg = b.to(kCuda);
  auto check = [](const Tensor& g, const Tensor& c) { EXPECT_TRUE(matches(g, c, c.dtype())); };
  check(add(ag, bg), add(a, b));
  check(sub(ag, bg, 2), sub(a, b, 2));
  check(mul(ag, 3.5), mul(a, 3.5));
  check(div(ag, add(abs(bg), 1.0)), div(a, add(abs(b), 1.0)));
  check(rsub(ag, 1), rsub(a, 1));
  check(pow(abs(ag), 1.5), pow(abs(a), 1.5));
  check(gelu(ag), gelu(a));
  check(gelu(ag, "tanh"), gelu(a, "tanh"));
  check(silu(ag), silu(a));
  check(softplus(ag, 2.0, 1.0), softplus(a, 2.0, 1.0));
  check(leaky_relu(ag, 0.1), leaky_relu(a, 0.1));
  check(where(gt(ag, 0.0), ag, 0.5), where(gt(a, 0.0), a, 0.5));
  check(masked_fill(ag, lt(ag, 0.0), -7), masked_fill(a, lt(a, 0.0), -7));
  check(lerp(ag, bg, 0.3), lerp(a, b, 0.3));
  check(lerp(ag, bg, 0.8), lerp(a, b, 0.8));
  check(clamp_min(ag, 0.25), clamp_min(a, 0.25));
  check(eq(ag, 0.25), eq(a, 0.25));
  // Integer ops and promotion: int tensor + float scalar -> float.
  Tensor i = sample({4, 9}, kInt64, 13).to(kInt64);
  check(add(i.to(kCuda), 1.5), add(i, 1.5));
  check(div(i.to(kCuda), 2), div(i, 2));
  check(mul(i.to(kCuda), i.to(kCuda)), mul(i, i));
  // float16 through the ops (the CPU has no float16: compare in float32).
  Tensor h = ag.to(kFloat16);
  Tensor r = add(mul(h, 2.0), 1);
  EXPECT_EQ(r.dtype(), kFloat16);
  EXPECT_TRUE(r.is_cuda());
  EXPECT_TRUE(all_close(r.to(kFloat32).to(kCPU), add(mul(h.to(kFloat32).to(kCPU), 2.0), 1), 1e-2, 1e-3));
}

#ifdef WICK_WITH_CUDA
// A float32 operand beside a float16/bfloat16 one (cuda::binary_reads_mixed):
// add/sub/mul/div read both as they are into a float32 result, bit for bit
// what casting the 16-bit operand first gives (the conversion is exact);
// either order, broadcast, a transposed view, in place, gradients of each
// operand's dtype. The raw kernel is called too (the op layer would hide a
// fallback to the cast), and the ops it does not take still promote.
TEST(CudaElementwiseOps, MixedFloat32And16BitOperands) {
  WICK_SKIP_WITHOUT_CUDA();
  const test::SwitchScope restore(cuda::binary_mixed, cuda::set_binary_mixed);
  cuda::set_binary_mixed(false);
  EXPECT_FALSE(cuda::binary_reads_mixed(BinaryOp::Add, kFloat32, kFloat32, kBFloat16));
  cuda::set_binary_mixed(true);
  const Tensor x = sample({37, 65}, kFloat32, 31).to(kFloat32).to(kCuda);
  for (DType half : {kBFloat16, kFloat16}) {
    SCOPED_TRACE(testing::Message() << half);
    const Tensor h = add(abs(sample({37, 65}, kFloat32, 32).to(kFloat32)), 0.5).to(kCuda).to(half);
    const Tensor hrow = sample({65}, kFloat32, 33).to(kFloat32).to(kCuda).to(half);
    const Tensor ht = sample({65, 37}, kFloat32, 34).to(kFloat32).to(kCuda).to(half).t();  // strided
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
      EXPECT_TRUE(cuda::binary_reads_mixed(op, kFloat32, kFloat32, half));
      EXPECT_TRUE(cuda::binary_reads_mixed(op, kFloat32, half, kFloat32));
      Tensor out = empty({37, 65}, TensorOptions(kFloat32).device(kCuda));
      cuda::binary(op, out, h, x);
      Tensor want = empty({37, 65}, TensorOptions(kFloat32).device(kCuda));
      cuda::binary(op, want, h.to(kFloat32), x);
      EXPECT_TRUE(all_equal(out.to(kCPU), want.to(kCPU))) << "raw kernel, op " << static_cast<int>(op);
    }
    EXPECT_FALSE(cuda::binary_reads_mixed(BinaryOp::Pow, kFloat32, kFloat32, half));
    EXPECT_FALSE(cuda::binary_reads_mixed(BinaryOp::Add, half, kFloat32, half));
    EXPECT_FALSE(cuda::binary_reads_mixed(BinaryOp::Add, kFloat32, kBFloat16, kFloat16));
    auto same = [](const Tensor& got, const Tensor& want) {
      EXPECT_EQ(got.dtype(), kFloat32);
      EXPECT_TRUE(all_equal(got.to(kCPU), want.to(kCPU)));
    };
    same(add(x, h), add(x, h.to(kFloat32)));
    same(add(h, x), add(h.to(kFloat32), x));
    same(sub(x, hrow), sub(x, hrow.to(kFloat32)));
    same(mul(hrow, x), mul(hrow.to(kFloat32), x));
    same(div(x, h), div(x, h.to(kFloat32)));
    same(div(ht, x), div(ht.to(kFloat32), x));
    same(add(x.t(), ht.t()), add(x.t(), ht.t().to(kFloat32)));  // a transposed float32 view
    same(maximum(x, h), maximum(x, h.to(kFloat32)));  // not a mixed kernel: promoted by a cast
    Tensor y = x.clone();
    add_(y, hrow);
    same(y, add(x, hrow.to(kFloat32)));
    // Gradients come back in each operand's own dtype.
    const Tensor xg = x.clone().requires_grad_(), hg = h.clone().requires_grad_();
    sum(mul(xg, hg)).backward();
    EXPECT_EQ(hg.grad().dtype(), half);
    EXPECT_EQ(xg.grad().dtype(), kFloat32);
    same(xg.grad(), h.to(kFloat32));
    EXPECT_TRUE(all_equal(hg.grad().to(kFloat32).to(kCPU), x.to(half).to(kFloat32).to(kCPU)));
  }
}
#endif  // WICK_WITH_CUDA

TEST(CudaElementwiseOps, InPlaceOps) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor a = sample({5, 12}, kFloat32, 21).to(kFloat32), b = sample({12}, kFloat32, 22).to(kFloat32);
  Tensor ag = a.to(kCuda).clone(), ac = a.clone();
  add_(ag, b.to(kCuda));
  add_(ac, b);
  mul_(ag, 0.5);
  mul_(ac, 0.5);
  exp_(ag);
  exp_(ac);
  clamp_(ag, 0.5, 2.0);
  clamp_(ac, 0.5, 2.0);
  EXPECT_TRUE(matches(ag, ac, kFloat32));
  // A transposed (non-contiguous) self.
  Tensor tg = a.to(kCuda).clone().t(), tc = a.clone().t();
  sub_(tg, 1);
  sub_(tc, 1);
  EXPECT_TRUE(matches(tg, tc, kFloat32));
  // An integer self with a float result is an error, as on the CPU.
  Tensor ig = sample({3}, kInt32, 23).to(kInt32).to(kCuda);
  EXPECT_WICK_ERROR(div_(ig, 2), "can't be cast");
  Tensor f = zeros({4}, TensorOptions(kFloat32).device(kCuda));
  fill_(f, 2.5);
  EXPECT_TRUE(all_equal(f.to(kCPU), full({4}, 2.5, TensorOptions(kFloat32))));
}

TEST(CudaElementwiseOps, CpuScalarWithCudaTensor) {
  WICK_SKIP_WITHOUT_CUDA();
  // PyTorch's rule: a 0-d CPU tensor combines with CUDA tensors; the result
  // is on the GPU. A CPU tensor with dims does not. Each step is checked on
  // its own, so a kernel error names the expression that raised it.
  Tensor x = sample({3, 5}, kFloat32, 31).to(kFloat32);  // sample() gives float64 values
  Tensor xg = x.to(kCuda);
  Tensor s = scalar_tensor(2.5, TensorOptions(kFloat32));
  Tensor s64 = scalar_tensor(-1.5, TensorOptions(kFloat64));
  Tensor r, r2, r3, r4, r5, r6, r7;
  EXPECT_NO_THROW(r = mul(xg, s));
  EXPECT_TRUE(matches(r, mul(x, s), kFloat32));
  EXPECT_NO_THROW(r2 = sub(s, xg));  // the scalar first: the result is still on the GPU
  EXPECT_TRUE(matches(r2, sub(s, x), kFloat32));
  // A float64 CPU scalar with a float32 CUDA tensor: float32 (0-d has lower priority).
  EXPECT_NO_THROW(r3 = add(xg, s64));
  EXPECT_EQ(r3.dtype(), kFloat32);
  EXPECT_TRUE(matches(r3, add(x, s64), kFloat32));
  EXPECT_NO_THROW(r5 = sub(s64, xg));  // a float64 scalar first
  EXPECT_TRUE(matches(r5, sub(s64, x), kFloat32));
  // With a float16 CUDA tensor (the scalar is converted by the kernel).
  Tensor xh = xg.to(kFloat16);
  EXPECT_NO_THROW(r4 = mul(xh, s));
  EXPECT_EQ(r4.dtype(), kFloat16);
  EXPECT_TRUE(all_close(r4.to(kFloat32).to(kCPU), mul(xh.to(kFloat32).to(kCPU), 2.5), 1e-2, 1e-3));
  EXPECT_NO_THROW(r6 = where(gt(xg, 0.0), xg, s));
  EXPECT_TRUE(matches(r6, where(gt(x, 0.0), x, s), kFloat32));
  EXPECT_NO_THROW(r7 = where(gt(xg, 0.0), s64, xg));  // the scalar as the first value
  EXPECT_TRUE(matches(r7, where(gt(x, 0.0), s64, x), kFloat32));
  Tensor mh = xh.clone();
  EXPECT_NO_THROW(masked_fill_(mh, gt(xg, 0.0), 7.0));  // a float16 self: the fill value is a float32 CPU scalar
  EXPECT_TRUE(all_equal(mh.to(kFloat32).to(kCPU), where(gt(x, 0.0), 7.0, xh.to(kFloat32).to(kCPU))));
  EXPECT_WICK_ERROR(add(xg, x), "expected all tensors on the same device, got cuda:0 and cpu");
  EXPECT_WICK_ERROR(add(x, xg), "expected all tensors on the same device, got cpu and cuda:0");
}

TEST(CudaElementwiseOps, GradcheckFloat64OnTheDevice) {
  WICK_SKIP_WITHOUT_CUDA();
  // gradcheck perturbs CPU float64 leaves; the function moves them to the
  // GPU, so the forward and the backward formulas (ops) run there.
  auto on_gpu = [](std::function<Tensor(const tensor_list&)> f) {
    return [f](const tensor_list& in) {
      tensor_list g;
      for (const Tensor& t : in) g.push_back(t.to(kCuda));
      Tensor out = f(g);
      EXPECT_TRUE(out.is_cuda());
      return out.to(kCPU);
    };
  };
  Tensor a = wick::test::rand_f64({3, 4}, 1), b = wick::test::rand_f64({4}, 2);
  Tensor p = add(abs(wick::test::rand_f64({3, 4}, 3, false)), 0.5).requires_grad_(true);
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return mul(add(t[0], t[1]), sub(t[0], t[1])); }), {a, b}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return div(t[0], add(mul(t[1], t[1]), 1.0)); }), {a, b}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return gelu(t[0]); }), {a}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return gelu(t[0], "tanh"); }), {a}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return tanh(t[0]); }), {a}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return sigmoid(t[0]); }), {a}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return silu(t[0]); }), {a}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return softplus(t[0], 2.0, 1.0); }), {a}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return pow(t[0], t[1]); }), {p, b}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return log(t[0]); }), {p}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return atan2(t[0], t[1]); }), {a, b}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return lerp(t[0], t[1], 0.3); }), {a, b}));
  EXPECT_TRUE(gradcheck(on_gpu([](const tensor_list& t) { return where(gt(t[0], 0.0), t[0], t[1]); }), {a, b}));
  EXPECT_TRUE(gradgradcheck(on_gpu([](const tensor_list& t) { return mul(tanh(t[0]), t[1]); }), {a, b}));
  // The fused activation backward (GradMode off in backward) on the device.
  Tensor x = wick::test::rand_f64({5, 6}, 4).to(kCuda).detach().requires_grad_(true);
  sum(gelu(x)).backward();
  Tensor xc = x.detach().to(kCPU).requires_grad_(true);
  sum(gelu(xc)).backward();
  EXPECT_TRUE(x.grad().is_cuda());
  EXPECT_TRUE(all_close(x.grad().to(kCPU), xc.grad(), 1e-12, 1e-12));
}
