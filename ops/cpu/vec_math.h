// Vectorized float transcendentals over arrays: exp, log, tanh, sigmoid, erf.
//
// Each function computes y[i] = f(x[i]) for i < n, serially (callers split
// work across threads); y may alias x exactly (in place), no other overlap.
// One algorithm per function (range reduction + minimax polynomial, see
// vec_math.cpp) is compiled three times: AVX-512, AVX2+FMA and portable
// scalar C++. The plain entry points pick the best one this CPU supports
// at run time (__builtin_cpu_supports), so the library is correct whether or
// not it was compiled with -march=native.
//
// Accuracy against the correctly rounded result, measured over ~8M sampled
// floats of every magnitude (tests/ops/test_vec_math.cpp): exp, log, tanh
// within 1 ulp, sigmoid and erf within 2 ulp, identical in every ISA variant
// up to FMA contraction. Special values follow libm:
// exp(-inf)=0, exp(x>88.72)=inf, denormal results are produced (no flush to
// zero), log(0)=-inf, log(x<0)=NaN, log(inf)=inf, tanh(+-inf)=+-1,
// sigmoid(-inf)=0, sigmoid(inf)=1, erf(+-inf)=+-1, NaN in -> NaN out.
#pragma once

#include <cstdint>

namespace wick::cpu {

void exp_array(const float* x, float* y, int64_t n);
void log_array(const float* x, float* y, int64_t n);
void tanh_array(const float* x, float* y, int64_t n);
void sigmoid_array(const float* x, float* y, int64_t n);  // 1 / (1 + exp(-x))
void erf_array(const float* x, float* y, int64_t n);

// Fused activations on the same machinery (one pass, no temporaries):
void gelu_array(const float* x, float* y, int64_t n);       // x Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
void gelu_tanh_array(const float* x, float* y, int64_t n);  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
void silu_array(const float* x, float* y, int64_t n);       // x sigmoid(x)
// dx[i] = g[i] * f'(x[i]) for the three above; dx may alias g or x.
void gelu_backward_array(const float* g, const float* x, float* dx, int64_t n);
void gelu_tanh_backward_array(const float* g, const float* x, float* dx, int64_t n);
void silu_backward_array(const float* g, const float* x, float* dx, int64_t n);

// The instruction sets the functions above are compiled for. The plain
// functions use vec_math_isa(); the overloads taking a VecIsa run exactly
// that variant (tests compare them; calling one the CPU lacks is an error).
enum class VecIsa { Scalar, Avx2, Avx512 };
VecIsa vec_math_isa();                    // the best one this CPU supports
bool vec_math_supported(VecIsa isa);
const char* vec_isa_name(VecIsa isa);     // "scalar", "avx2", "avx512"

void exp_array(const float* x, float* y, int64_t n, VecIsa isa);
void log_array(const float* x, float* y, int64_t n, VecIsa isa);
void tanh_array(const float* x, float* y, int64_t n, VecIsa isa);
void sigmoid_array(const float* x, float* y, int64_t n, VecIsa isa);
void erf_array(const float* x, float* y, int64_t n, VecIsa isa);

}  // namespace wick::cpu
