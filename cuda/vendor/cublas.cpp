// cuBLAS execution of a GemmArgs (see cublas.h).
//
// wick's matrices are row-major and cuBLAS's column-major. A row-major
// matrix X [r, c] with row stride ld is, read column-major, X^T [c, r] with
// the same ld. So the row-major product C = op(A) op(B) is computed as the
// column-major product C^T = op(B)^T op(A)^T: swap the operands (B first),
// swap M and N, and keep each operand's transpose flag (a row-major operand
// that is not transposed is, column-major, already the transpose it needs).
#include "cuda/vendor/cublas.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <array>
#include <climits>
#include <mutex>

#include "cuda/runtime.h"

namespace wick::cuda::vendor {

namespace {

const char* status_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

#define WICK_CUBLAS_CHECK(expr)                                                                       \
  do {                                                                                                \
    cublasStatus_t _s = (expr);                                                                       \
    WICK_CHECK(_s == CUBLAS_STATUS_SUCCESS, "cuBLAS error ", status_name(_s), " (", static_cast<int>(_s), \
               ") from ", #expr, " at ", __FILE__, ":", __LINE__);                                    \
  } while (0)

constexpr int kMaxDevices = 64;

struct Handles {
  std::mutex mu;  // a handle is not safe to use from two threads at once
  std::array<cublasHandle_t, kMaxDevices> h{};
};
Handles& handles() {
  // Never destroyed: cublasDestroy at process exit would race the CUDA
  // runtime's own teardown.
  static Handles* hs = new Handles();
  return *hs;
}

cudaDataType_t cuda_type(DType d) {
  switch (d) {
    case DType::Float32: return CUDA_R_32F;
    case DType::Float64: return CUDA_R_64F;
    case DType::Float16: return CUDA_R_16F;
    case DType::BFloat16: return CUDA_R_16BF;
    default: WICK_FAIL("cublas_gemm: unsupported dtype ", d);
  }
}

int as_int(int64_t v, const char* what) {
  WICK_CHECK(v >= 0 && v <= INT_MAX, "cublas_gemm: ", what, " = ", v, " does not fit cuBLAS's 32-bit int");
  return static_cast<int>(v);
}

}  // namespace

void cublas_gemm(const GemmArgs& g) {
  check_gemm_args(g);
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  const int m = as_int(g.N, "N"), n = as_int(g.M, "M"), k = as_int(g.K, "K");
  const int lda = as_int(g.ldb, "ldb"), ldb = as_int(g.lda, "lda"), ldc = as_int(g.ldc, "ldc");
  const int batch = as_int(g.batch, "batch");
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  WICK_CHECK(dev >= 0 && dev < kMaxDevices, "cublas_gemm: device index ", dev, " out of range");
  const cudaDataType_t tab = cuda_type(g.ab_dtype), tc = cuda_type(g.c_dtype);
  const bool f64 = g.ab_dtype == kFloat64;
  const cublasComputeType_t compute = f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
  const float af = static_cast<float>(g.alpha), bf = static_cast<float>(g.beta);
  const double ad = g.alpha, bd = g.beta;
  const void* alpha = f64 ? static_cast<const void*>(&ad) : static_cast<const void*>(&af);
  const void* beta = f64 ? static_cast<const void*>(&bd) : static_cast<const void*>(&bf);

  Handles& hs = handles();
  std::lock_guard<std::mutex> lock(hs.mu);
  cublasHandle_t& h = hs.h[dev];
  if (h == nullptr) WICK_CUBLAS_CHECK(cublasCreate(&h));
  WICK_CUBLAS_CHECK(cublasSetStream(h, current_stream()));
  // C^T [N, M] = op(B)^T [N, K] op(A)^T [K, M] in column-major terms.
  WICK_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      h, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, alpha, g.B, tab, lda,
      static_cast<long long>(g.stride_b), g.A, tab, ldb, static_cast<long long>(g.stride_a), beta, g.C, tc, ldc,
      static_cast<long long>(g.stride_c), batch, compute, CUBLAS_GEMM_DEFAULT));
}

}  // namespace wick::cuda::vendor
