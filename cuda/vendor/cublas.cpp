// cuBLAS and cuBLASLt execution of a GemmArgs (see cublas.h).
//
// wick's matrices are row-major and cuBLAS's column-major. A row-major
// matrix X [r, c] with row stride ld is, read column-major, X^T [c, r] with
// the same ld. So the row-major product C = op(A) op(B) is computed as the
// column-major product C^T = op(B)^T op(A)^T: swap the operands (B first),
// swap M and N, and keep each operand's transpose flag (a row-major operand
// that is not transposed is, column-major, already the transpose it needs).
#include "cuda/vendor/cublas.h"

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>

#include "cuda/runtime.h"
#include "ops/creation.h"

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
  WICK_CHECK(v >= 0 && v <= INT_MAX, "cuda gemm (cuBLAS): ", what, " = ", v, " does not fit cuBLAS's 32-bit int");
  return static_cast<int>(v);
}

// The column-major view both libraries get (see the top of this file):
// C^T [N, M] = op(B)^T op(A)^T, with cuBLAS's A being wick's B.
struct ColumnMajor {
  int m, n, k;         // cuBLAS's M, N, K: wick's N, M, K
  int lda, ldb, ldc;   // wick's ldb, lda, ldc
  int batch;
};
ColumnMajor column_major(const GemmArgs& g) {
  return {as_int(g.N, "N"), as_int(g.M, "M"), as_int(g.K, "K"), as_int(g.ldb, "ldb"),
          as_int(g.lda, "lda"), as_int(g.ldc, "ldc"), as_int(g.batch, "batch")};
}

// alpha and beta as the libraries read them (host pointers to the scale
// type: double for float64, float otherwise) and the compute type.
struct Scales {
  explicit Scales(const GemmArgs& g)
      : f64(g.ab_dtype == kFloat64), af(static_cast<float>(g.alpha)), bf(static_cast<float>(g.beta)), ad(g.alpha),
        bd(g.beta) {}
  const void* alpha() const { return f64 ? static_cast<const void*>(&ad) : static_cast<const void*>(&af); }
  const void* beta() const { return f64 ? static_cast<const void*>(&bd) : static_cast<const void*>(&bf); }
  cublasComputeType_t compute() const { return f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F; }
  cudaDataType_t scale_type() const { return f64 ? CUDA_R_64F : CUDA_R_32F; }

  bool f64;
  float af, bf;
  double ad, bd;
};

// Scratch memory for one call, from wick's caching allocator on the current
// stream: calls on different streams (cuda/stream.h) never share it, and the
// allocator's stream order keeps it alive until the call's kernels are done.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // what cuBLAS itself takes on Hopper
Tensor workspace(int dev) {
  return empty({static_cast<int64_t>(kWorkspaceBytes)}, TensorOptions(kUInt8).device(Device(DeviceType::CUDA, dev)));
}

int checked_device(const char* op) {
  int dev = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&dev));
  WICK_CHECK(dev >= 0 && dev < kMaxDevices, op, ": device index ", dev, " out of range");
  return dev;
}

}  // namespace

void cublas_gemm(const GemmArgs& g) {
  check_gemm_args(g);
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  const ColumnMajor c = column_major(g);
  const int dev = checked_device("cublas_gemm");
  const cudaDataType_t tab = cuda_type(g.ab_dtype), tc = cuda_type(g.c_dtype);
  const Scales sc(g);

  Handles& hs = handles();
  std::lock_guard<std::mutex> lock(hs.mu);
  cublasHandle_t& h = hs.h[dev];
  if (h == nullptr) {
    WICK_CUBLAS_CHECK(cublasCreate(&h));
    // wick's GEMM contract: float32 accumulation, one rounding to the output type. cuBLAS otherwise
    // may sum split-K partials of a 16-bit product in 16 bits (several ulps off at K ~ 2000 on an H100).
    WICK_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION));
  }
  WICK_CUBLAS_CHECK(cublasSetStream(h, current_stream()));
  const Tensor ws = workspace(dev);  // cublasSetStream dropped the previous call's
  WICK_CUBLAS_CHECK(cublasSetWorkspace(h, ws.data_ptr_raw(), kWorkspaceBytes));
  // C^T [N, M] = op(B)^T [N, K] op(A)^T [K, M] in column-major terms.
  WICK_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      h, g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, c.m, c.n, c.k, sc.alpha(), g.B,
      tab, c.lda, static_cast<long long>(g.stride_b), g.A, tab, c.ldb, static_cast<long long>(g.stride_a), sc.beta(),
      g.C, tc, c.ldc, static_cast<long long>(g.stride_c), c.batch, sc.compute(), CUBLAS_GEMM_DEFAULT));
}

// ---------------------------------------------------------------------------
// cuBLASLt

namespace {

// The largest power of two (at most 256) dividing every matrix's address:
// the base pointer and, over a batch, the byte stride. cuBLASLt's heuristic
// assumes 256-byte alignment unless told less, and an algorithm picked for
// aligned operands may fail (or read wrongly) on a view that starts mid-row.
uint32_t alignment(const void* p, int64_t stride_elems, int64_t batch, size_t elem) {
  uint64_t bits = reinterpret_cast<uintptr_t>(p) | 256u;
  if (batch > 1) bits |= static_cast<uint64_t>(stride_elems) * elem;
  return static_cast<uint32_t>(bits & (~bits + 1));  // lowest set bit
}

// What a heuristic answer depends on.
using LtKey = std::tuple<int, int, int, int, int, int, int, int64_t, int64_t, int64_t, bool, bool, int, int, uint32_t,
                         uint32_t, uint32_t>;

struct LtState {
  std::mutex mu;  // guards the handles and the cache
  std::array<cublasLtHandle_t, kMaxDevices> h{};
  std::map<std::pair<int, LtKey>, cublasLtMatmulAlgo_t> algos;
};
LtState& lt_state() {
  static LtState* s = new LtState();  // never destroyed, like the cuBLAS handles
  return *s;
}

// Owners of the per-call descriptors (cheap to create, a few hundred ns each).
struct LtLayout {
  cublasLtMatrixLayout_t d = nullptr;
  LtLayout(cudaDataType_t t, int rows, int cols, int ld, int batch, int64_t stride) {
    WICK_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d, t, rows, cols, ld));
    if (batch > 1) {
      const int32_t b = batch;
      WICK_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(d, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &b, sizeof b));
      WICK_CUBLAS_CHECK(
          cublasLtMatrixLayoutSetAttribute(d, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    }
  }
  ~LtLayout() { cublasLtMatrixLayoutDestroy(d); }
  LtLayout(const LtLayout&) = delete;
  LtLayout& operator=(const LtLayout&) = delete;
};

struct LtDesc {
  cublasLtMatmulDesc_t d = nullptr;
  LtDesc(cublasComputeType_t compute, cudaDataType_t scale, bool ta, bool tb) {
    WICK_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d, compute, scale));
    const int32_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    WICK_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa));
    WICK_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb));
  }
  ~LtDesc() { cublasLtMatmulDescDestroy(d); }
  LtDesc(const LtDesc&) = delete;
  LtDesc& operator=(const LtDesc&) = delete;
};

struct LtPreference {
  cublasLtMatmulPreference_t d = nullptr;
  LtPreference(uint32_t align_a, uint32_t align_b, uint32_t align_c) {
    WICK_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&d));
    const uint64_t ws = kWorkspaceBytes;
    WICK_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(d, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    WICK_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                           sizeof align_a));
    WICK_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                           sizeof align_b));
    WICK_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                                           sizeof align_c));
    WICK_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c,
                                                           sizeof align_c));
    // Split-K partials summed in the compute type (float32) only, as cublas_gemm's math mode asks.
    const uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    WICK_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(d, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes,
                                                           sizeof schemes));
  }
  ~LtPreference() { cublasLtMatmulPreferenceDestroy(d); }
  LtPreference(const LtPreference&) = delete;
  LtPreference& operator=(const LtPreference&) = delete;
};

}  // namespace

void cublaslt_gemm(const GemmArgs& g) {
  check_gemm_args(g);
  if (g.M == 0 || g.N == 0 || g.batch == 0) return;
  const ColumnMajor c = column_major(g);
  const int dev = checked_device("cublaslt_gemm");
  const cudaDataType_t tab = cuda_type(g.ab_dtype), tc = cuda_type(g.c_dtype);
  const Scales sc(g);

  // cuBLAS's A is wick's B (c.m x c.k, or stored c.k x c.m when transposed), its B is wick's A.
  const bool ta = g.trans_b, tb = g.trans_a;
  LtLayout la(tab, ta ? c.k : c.m, ta ? c.m : c.k, c.lda, c.batch, g.stride_b);
  LtLayout lb(tab, tb ? c.n : c.k, tb ? c.k : c.n, c.ldb, c.batch, g.stride_a);
  LtLayout lc(tc, c.m, c.n, c.ldc, c.batch, g.stride_c);
  LtDesc desc(sc.compute(), sc.scale_type(), ta, tb);
  const size_t eab = dtype_size(g.ab_dtype), ec = dtype_size(g.c_dtype);
  const uint32_t align_a = alignment(g.B, g.stride_b, g.batch, eab), align_b = alignment(g.A, g.stride_a, g.batch, eab);
  const uint32_t align_c = alignment(g.C, g.stride_c, g.batch, ec);
  const LtKey key{c.m, c.n, c.k, c.lda, c.ldb, c.ldc, c.batch, g.stride_b, g.stride_a, g.stride_c, ta, tb,
                  static_cast<int>(g.ab_dtype), static_cast<int>(g.c_dtype), align_a, align_b, align_c};

  LtState& st = lt_state();
  std::lock_guard<std::mutex> lock(st.mu);
  cublasLtHandle_t& h = st.h[dev];
  if (h == nullptr) WICK_CUBLAS_CHECK(cublasLtCreate(&h));
  auto it = st.algos.find({dev, key});
  if (it == st.algos.end()) {
    LtPreference pref(align_a, align_b, align_c);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    WICK_CUBLAS_CHECK(
        cublasLtMatmulAlgoGetHeuristic(h, desc.d, la.d, lb.d, lc.d, lc.d, pref.d, 1, &result, &found));
    WICK_CHECK(found > 0, "cuda gemm (cuBLASLt): no algorithm for ", g.ab_dtype, " -> ", g.c_dtype, " M=", g.M,
               " N=", g.N, " K=", g.K, " batch=", g.batch, " (alignments ", align_a, "/", align_b, "/", align_c,
               " bytes); use WICK_CUDA_GEMM=cublas or wick");
    it = st.algos.emplace(std::make_pair(dev, key), result.algo).first;
  }
  const Tensor ws = workspace(dev);
  WICK_CUBLAS_CHECK(cublasLtMatmul(h, desc.d, sc.alpha(), g.B, la.d, g.A, lb.d, sc.beta(), g.C, lc.d, g.C, lc.d,
                                   &it->second, ws.data_ptr_raw(), kWorkspaceBytes, current_stream()));
}

}  // namespace wick::cuda::vendor
