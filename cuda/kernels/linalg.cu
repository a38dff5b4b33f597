// CUDA symmetric eigensolver (contract: cuda/kernels/linalg.h): parallel
// cyclic Jacobi, one thread block per matrix, in double for float32 and
// float64 alike.
//
// Math. A rotation J(p, q) with c = cos(phi), s = sin(phi) chosen so that the
// rotated A[p][q] is zero: theta = (a_qq - a_pp) / (2 a_pq), t = tan(phi) the
// smaller root of t^2 + 2 t theta - 1 = 0, c = 1 / sqrt(1 + t^2), s = t c;
// then A <- J^T A J, V <- V J, and the new diagonal is exactly
// a_pp - t a_pq, a_qq + t a_pq (Golub & Van Loan 8.5; Numerical Recipes 11.1,
// like cpu::eigh in ops/cpu/linalg.cpp, whose conventions this file keeps).
//
// Parallel ordering (Brent & Luk 1985). Rotations on disjoint index pairs
// commute, so n/2 of them can be applied at once. A sweep is the round-robin
// ("circle") tournament on m = n rounded up to even indices: m - 1 rounds of
// m / 2 disjoint pairs, every pair meeting exactly once per sweep (for odd n
// the extra index m - 1 = n is a bye: its pair sits the round out). Each
// round is three block-wide phases separated by __syncthreads:
//   1. one thread per pair reads a_pp, a_qq, a_pq and stores c, s and the
//      new diagonal pair (nothing writes A);
//   2. rows:    A[p][:], A[q][:] <- c A[p][:] - s A[q][:], s A[p][:] + c A[q][:]
//      (one thread per (pair, column); pairs own disjoint rows);
//   3. columns: A[:][p], A[:][q] likewise, and V's columns; the four entries
//      of each pair's own 2 x 2 block get their exact values instead
//      (diagonal as above, a_pq = a_qp = 0), which only that pair touches.
// Convergence as on the CPU: sweeps until ||offdiag(A)||_F <= 1e-15 ||A||_F
// (||.||_F of the symmetric input), after sweep 3 an a_pq below the rounding
// of both a_pp and a_qq is set to zero, not rotated. Quadratic convergence
// makes that 6-10 sweeps for random matrices with n <= 300 (20-26 when the
// eigenvalues come in large clusters, as measured with a host emulation of
// this kernel); a matrix still above the tolerance after kMaxSweeps = 64
// sweeps is reported (wick::Error), never returned silently. Finally the
// eigenvalues are ranked (ties by index: the CPU's stable sort), each column
// normalized and its sign fixed (largest |component|, the first on ties,
// positive), and written in the input's dtype.
//
// Work: a rotation updates 2 rows and 2 columns of A and 2 columns of V, 3
// flops per entry: 18 n flops, n (n - 1) / 2 rotations, so ~9 n^3 double
// flops per sweep. Memory: x is read once and w, v written once; all
// iterations stay on chip. Shared memory holds A and V padded to an odd row
// stride ld = n | 1 (a column walk hits distinct banks) plus 4 doubles per
// pair: 16 n ld + 16 (n + 1) bytes, i.e. n <= 119 in sm_90's 227 KiB and
// n <= 101 in sm_80's 163 KiB. Larger matrices run the same code on
// workspaces in global memory (one block per matrix still, launched in chunks
// of 4 blocks per SM that reuse the workspaces, so the scratch is bounded:
// correct for any n, L2-bound, slow for large n, where a multi-SM method such as tridiagonalization plus
// divide and conquer would be the next step). 3 (m - 1) block barriers per
// sweep make tiny matrices latency-bound; a block per matrix keeps batches of
// them busy on all SMs. Not yet timed on a GPU (fraction of peak unknown).
//
// The reference kernel below it is the CPU algorithm verbatim, one thread
// per matrix, for the tests.
#include "cuda/kernels/linalg.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cuda/kernels/block.cuh"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr int kMaxSweeps = 64;  // the CPU's cap; convergence takes ~10
constexpr int kMaxThreads = 512;
// Bits of the status word a launch returns.
constexpr int kNonFinite = 1;
constexpr int kNoConvergence = 2;

OptInSwitch& eigh_switch() {
  static OptInSwitch s("WICK_CUDA_EIGH", /*default_on=*/true);
  return s;
}

// Row stride of the working copies of A and V: odd, so that the threads of a
// warp walking down a column (stride ld doubles) hit distinct banks.
__host__ __device__ inline int64_t padded_ld(int64_t n) { return n | 1; }
// Pairs per round of the tournament on n (rounded up to even) indices.
__host__ __device__ inline int64_t pairs_of(int64_t n) { return (n + 1) / 2; }
// Doubles of one matrix's workspace: A, V, then c, s, new a_pp, new a_qq per pair.
__host__ __device__ inline int64_t workspace_doubles(int64_t n) {
  return 2 * n * padded_ld(n) + 4 * pairs_of(n);
}

template <typename T>
struct EighArgs {
  const T* x;             // input, matrix b at batch.offsets(b), entry (i, j) at i * rs + j * cs
  T* w;                   // [count, n]
  T* v;                   // [count, n, n]
  double* scratch;        // global workspaces (when not in shared memory), one per block
  int* status;            // kNonFinite | kNoConvergence, or-ed over the batch
  int64_t first;          // the launch's first matrix (the fast kernel's block i solves matrix first + i)
  int64_t count, n, rs, cs;
  StridedIndexer<1> batch;
};

template <typename T>
__device__ __forceinline__ int64_t matrix_offset(const EighArgs<T>& args, int64_t b) {
  int64_t off[1];
  args.batch.offsets(b, off);
  return off[0];
}

// The pair playing in slot k (0 <= k < m / 2) of round r (0 <= r < m - 1) of
// the circle schedule on m (even) indices: slot 0 holds index 0, slot
// j >= 1 holds 1 + (j - 1 + r) mod (m - 1), and slot k plays slot
// m - 1 - k. Returned with p < q.
template <typename I>
__device__ __forceinline__ void round_robin_pair(I k, I r, I m, I& p, I& q) {
  p = k == 0 ? I(0) : I(1 + (k - 1 + r) % (m - 1));
  q = I(1 + (m - 2 - k + r) % (m - 1));  // slot m - 1 - k >= m / 2 >= 1
  if (p > q) {
    const I tmp = p;
    p = q;
    q = tmp;
  }
}

// Whether a_pq is negligible next to both a_pp and a_qq (Numerical Recipes'
// test; the explicit round-to-nearest add keeps it a rounding test, no FMA).
__device__ __forceinline__ bool negligible(double app, double aqq, double apq) {
  const double g = 100 * fabs(apq);
  return __dadd_rn(fabs(app), g) == fabs(app) && __dadd_rn(fabs(aqq), g) == fabs(aqq);
}

// The rotation zeroing a_pq (a_pq != 0): c, s and t = s / c.
__device__ __forceinline__ void jacobi_rotation(double app, double aqq, double apq, double& c, double& s,
                                                double& t) {
  const double theta = (aqq - app) / (2 * apq);
  t = 1 / (fabs(theta) + hypot(theta, 1.0));  // hypot: theta^2 may overflow
  if (theta < 0) t = -t;
  c = 1 / sqrt(t * t + 1);
  s = t * c;
}

// Eigenvalue order: ascending, ties by index (the CPU's stable sort). NaN
// cannot reach here from finite input, but sorts last so that the ranks are
// always a permutation.
__device__ __forceinline__ bool ranks_before(double di, int64_t i, double dj, int64_t j) {
  const bool ni = isnan(di), nj = isnan(dj);
  if (ni != nj) return nj;
  if (!ni && di != dj) return di < dj;
  return i < j;
}

// ---------------------------------------------------------------------------
// The parallel kernel: one block per matrix. kShared: A, V and the pair
// parameters live in dynamic shared memory (then every index fits in int),
// else in the block's workspace in args.scratch (int64 indices).

template <typename T, bool kShared>
__global__ void __launch_bounds__(kMaxThreads) eigh_jacobi_kernel(EighArgs<T> args) {
  using I = std::conditional_t<kShared, int, int64_t>;
  extern __shared__ double smem[];
  const int64_t b = args.first + blockIdx.x;
  const I n = static_cast<I>(args.n), ld = static_cast<I>(padded_ld(args.n));
  const I np = static_cast<I>(pairs_of(args.n)), m = 2 * np;
  const I tid = static_cast<I>(threadIdx.x), nt = static_cast<I>(blockDim.x);
  double* a = kShared ? smem : args.scratch + static_cast<int64_t>(blockIdx.x) * workspace_doubles(args.n);
  double* vec = a + n * ld;
  double* pc = vec + n * ld;  // per pair: c, s, new a_pp, new a_qq
  double* ps = pc + np;
  double* pdp = ps + np;
  double* pdq = pdp + np;
  T* wout = args.w + b * args.n;
  T* vout = args.v + b * args.n * args.n;

  // Load: the symmetric matrix from the lower triangle, V = I, ||A||_F^2.
  const T* src = args.x + matrix_offset(args, b);
  bool ok = true;
  double f2 = 0;
  for (I e = tid; e < n * n; e += nt) {
    const I i = e / n, j = e - i * n;
    vec[i * ld + j] = i == j ? 1.0 : 0.0;
    if (j > i) continue;
    const double val = static_cast<double>(src[static_cast<int64_t>(i) * args.rs + static_cast<int64_t>(j) * args.cs]);
    ok = ok && isfinite(val);
    a[i * ld + j] = val;
    a[j * ld + i] = val;
    f2 += (i == j ? 1.0 : 2.0) * val * val;
  }
  if (__syncthreads_or(!ok)) {  // block-uniform
    const T nan = static_cast<T>(NAN);
    for (I e = tid; e < n; e += nt) wout[e] = nan;
    for (I e = tid; e < n * n; e += nt) vout[e] = nan;
    if (tid == 0) atomicOr(args.status, kNonFinite);
    return;
  }
  const double tol2 = 1e-30 * block_sum(f2);  // stop when ||offdiag||_F <= 1e-15 ||A||_F

  bool converged = false;
  for (int sweep = 0;; ++sweep) {
    double o = 0;
    for (I e = tid; e < n * n; e += nt) {
      const I i = e / n, j = e - i * n;
      if (j > i) o += 2 * a[i * ld + j] * a[i * ld + j];
    }
    // block_sum gives every thread the same bits (a xor butterfly over the
    // same partials), so the exit below is block-uniform.
    if (block_sum(o) <= tol2) {
      converged = true;
      break;
    }
    if (sweep == kMaxSweeps) break;
    for (I r = 0; r < m - 1; ++r) {
      // Phase 1: the rotation of each pair, from the current A.
      for (I k = tid; k < np; k += nt) {
        I p, q;
        round_robin_pair(k, r, m, p, q);
        if (q >= n) continue;  // the bye of odd n
        const double apq = a[p * ld + q], app = a[p * ld + p], aqq = a[q * ld + q];
        double c = 1, s = 0, dp = app, dq = aqq;  // identity: a_pq is zero or negligible
        if (apq != 0 && !(sweep > 3 && negligible(app, aqq, apq))) {
          double t;
          jacobi_rotation(app, aqq, apq, c, s, t);
          dp = app - t * apq;
          dq = aqq + t * apq;
        }
        pc[k] = c;
        ps[k] = s;
        pdp[k] = dp;
        pdq[k] = dq;
      }
      __syncthreads();
      // Phase 2: rows p and q of every pair (J^T A).
      for (I e = tid; e < np * n; e += nt) {
        const I k = e / n, j = e - k * n;
        I p, q;
        round_robin_pair(k, r, m, p, q);
        if (q >= n) continue;
        const double c = pc[k], s = ps[k];
        const double apj = a[p * ld + j], aqj = a[q * ld + j];
        a[p * ld + j] = c * apj - s * aqj;
        a[q * ld + j] = s * apj + c * aqj;
      }
      __syncthreads();
      // Phase 3: columns p and q of every pair (A J, V J); the pair's own
      // 2 x 2 block gets its exact values.
      for (I e = tid; e < np * n; e += nt) {
        const I k = e / n, i = e - k * n;
        I p, q;
        round_robin_pair(k, r, m, p, q);
        if (q >= n) continue;
        const double c = pc[k], s = ps[k];
        if (i == p) {
          a[p * ld + p] = pdp[k];
          a[p * ld + q] = 0;
        } else if (i == q) {
          a[q * ld + q] = pdq[k];
          a[q * ld + p] = 0;
        } else {
          const double aip = a[i * ld + p], aiq = a[i * ld + q];
          a[i * ld + p] = c * aip - s * aiq;
          a[i * ld + q] = s * aip + c * aiq;
        }
        const double vip = vec[i * ld + p], viq = vec[i * ld + q];
        vec[i * ld + p] = c * vip - s * viq;
        vec[i * ld + q] = s * vip + c * viq;
      }
      __syncthreads();
    }
  }
  if (!converged && tid == 0) atomicOr(args.status, kNoConvergence);

  // Sort and sign. The pair arrays are free now: column j of the output is
  // column order[j] of V times scale[j].
  double* scale = pc;                                         // n doubles (4 np >= 2 n)
  int64_t* order = reinterpret_cast<int64_t*>(pc + n);        // n int64
  for (I j = tid; j < n; j += nt) {
    const double dj = a[j * ld + j];
    I rank = 0;
    for (I i = 0; i < n; ++i) rank += ranks_before(a[i * ld + i], i, dj, j) ? 1 : 0;
    order[rank] = j;
  }
  __syncthreads();
  for (I j = tid; j < n; j += nt) {
    const I col = static_cast<I>(order[j]);
    double norm2 = 0, big = -1;
    I arg = 0;
    for (I i = 0; i < n; ++i) {
      const double e = vec[i * ld + col];
      norm2 += e * e;
      if (fabs(e) > big) big = fabs(e), arg = i;
    }
    scale[j] = (vec[arg * ld + col] < 0 ? -1.0 : 1.0) / sqrt(norm2);
    wout[j] = static_cast<T>(a[col * ld + col]);
  }
  __syncthreads();
  for (I e = tid; e < n * n; e += nt) {  // coalesced row-major writes
    const I i = e / n, j = e - i * n;
    vout[e] = static_cast<T>(vec[i * ld + static_cast<I>(order[j])] * scale[j]);
  }
}

// ---------------------------------------------------------------------------
// The reference: cpu::eigh's algorithm line for line, one thread per matrix,
// on a global scratch of 2 n^2 + n doubles per matrix (A, V, the order).

template <typename T>
__global__ void eigh_reference_kernel(EighArgs<T> args) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= args.count) return;
  const int64_t n = args.n;
  double* a = args.scratch + b * (2 * n * n + n);
  double* vec = a + n * n;
  int64_t* order = reinterpret_cast<int64_t*>(vec + n * n);
  T* wout = args.w + b * n;
  T* vout = args.v + b * n * n;
  const T* src = args.x + matrix_offset(args, b);

  bool ok = true;
  double frob2 = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      const double e = static_cast<double>(src[i * args.rs + j * args.cs]);
      ok = ok && isfinite(e);
      a[i * n + j] = a[j * n + i] = e;
    }
  if (!ok) {
    for (int64_t i = 0; i < n; ++i) wout[i] = static_cast<T>(NAN);
    for (int64_t i = 0; i < n * n; ++i) vout[i] = static_cast<T>(NAN);
    atomicOr(args.status, kNonFinite);
    return;
  }
  for (int64_t i = 0; i < n * n; ++i) {
    vec[i] = (i % (n + 1) == 0) ? 1.0 : 0.0;
    frob2 += a[i] * a[i];
  }
  const double tol2 = 1e-30 * frob2;
  bool converged = false;
  for (int sweep = 0;; ++sweep) {
    double off2 = 0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) off2 += 2 * a[p * n + q] * a[p * n + q];
    if (off2 <= tol2) {
      converged = true;
      break;
    }
    if (sweep == kMaxSweeps) break;
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0) continue;
        const double app = a[p * n + p], aqq = a[q * n + q];
        if (sweep > 3 && negligible(app, aqq, apq)) {
          a[p * n + q] = a[q * n + p] = 0;
          continue;
        }
        double c, s, t;
        jacobi_rotation(app, aqq, apq, c, s, t);
        for (int64_t k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + p] = app - t * apq;
        a[q * n + q] = aqq + t * apq;
        a[p * n + q] = a[q * n + p] = 0;
        for (int64_t k = 0; k < n; ++k) {  // V <- V J
          const double vkp = vec[k * n + p], vkq = vec[k * n + q];
          vec[k * n + p] = c * vkp - s * vkq;
          vec[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  if (!converged) atomicOr(args.status, kNoConvergence);
  // Stable insertion sort of the indices by eigenvalue, then normalize and sign.
  for (int64_t j = 0; j < n; ++j) {
    int64_t i = j;
    for (; i > 0 && ranks_before(a[j * n + j], j, a[order[i - 1] * n + order[i - 1]], order[i - 1]); --i)
      order[i] = order[i - 1];
    order[i] = j;
  }
  for (int64_t j = 0; j < n; ++j) {
    const int64_t col = order[j];
    wout[j] = static_cast<T>(a[col * n + col]);
    double norm2 = 0, big = -1;
    int64_t arg = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double e = vec[i * n + col];
      norm2 += e * e;
      if (fabs(e) > big) big = fabs(e), arg = i;
    }
    const double scale = (vec[arg * n + col] < 0 ? -1.0 : 1.0) / sqrt(norm2);
    for (int64_t i = 0; i < n; ++i) vout[i * n + j] = static_cast<T>(vec[i * n + col] * scale);
  }
}

// ---------------------------------------------------------------------------
// host side

// Threads for a block on one matrix: one per (pair, row) item of a rotation
// phase, rounded up to whole warps, at most kMaxThreads.
unsigned block_threads(int64_t n) {
  const int64_t items = pairs_of(n) * n;
  return static_cast<unsigned>(std::min<int64_t>(kMaxThreads, std::max<int64_t>(32, (items + 31) / 32 * 32)));
}

template <typename Kernel>
size_t dynamic_smem_limit(Kernel kernel, int device) {
  cudaFuncAttributes attr{};
  WICK_CUDA_CHECK(cudaFuncGetAttributes(&attr, kernel));
  const size_t optin = device_properties(device).sharedMemPerBlockOptin;
  return optin > attr.sharedSizeBytes ? optin - attr.sharedSizeBytes : 0;
}

// Matrices per launch on the global-memory path: a few blocks per SM, so
// that the workspaces (one per block, reused launch after launch on the same
// stream) stay bounded however large the batch.
int64_t global_chunk(int device) { return 4 * static_cast<int64_t>(device_properties(device).multiProcessorCount); }

// The fast kernel over the batch; `scratch` receives the global workspaces
// when it needs them (the caller keeps it alive until the stream is synchronized).
template <typename T>
void launch_fast(EighArgs<T> args, Tensor& scratch, const Device& device, cudaStream_t stream) {
  const int64_t n = args.n, count = args.count;
  const size_t smem = static_cast<size_t>(workspace_doubles(n)) * sizeof(double);
  const unsigned threads = block_threads(n);
  if (smem <= dynamic_smem_limit(eigh_jacobi_kernel<T, true>, device.index)) {
    if (smem > 48 * 1024)
      WICK_CUDA_CHECK(cudaFuncSetAttribute(eigh_jacobi_kernel<T, true>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(smem)));
    args.first = 0;
    eigh_jacobi_kernel<T, true><<<static_cast<unsigned>(count), threads, smem, stream>>>(args);
    WICK_CUDA_CHECK_LAUNCH();
    return;
  }
  const int64_t chunk = std::min(count, global_chunk(device.index));
  scratch = empty({chunk * workspace_doubles(n)}, TensorOptions(kFloat64).device(device));
  args.scratch = static_cast<double*>(scratch.data_ptr_raw());
  for (int64_t first = 0; first < count; first += chunk) {
    args.first = first;
    eigh_jacobi_kernel<T, false><<<static_cast<unsigned>(std::min(chunk, count - first)), threads, 0, stream>>>(args);
    WICK_CUDA_CHECK_LAUNCH();
  }
}

// The reference kernel: one thread per matrix, 2 n^2 + n doubles of scratch each.
template <typename T>
void launch_reference(EighArgs<T> args, Tensor& scratch, const Device& device, cudaStream_t stream) {
  constexpr unsigned kThreads = 64;
  const int64_t n = args.n;
  scratch = empty({args.count * (2 * n * n + n)}, TensorOptions(kFloat64).device(device));
  args.scratch = static_cast<double*>(scratch.data_ptr_raw());
  args.first = 0;
  const int64_t blocks = (args.count + kThreads - 1) / kThreads;
  eigh_reference_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(args);
  WICK_CUDA_CHECK_LAUNCH();
}

bool run_eigh(const Tensor& w, const Tensor& v, const Tensor& x, bool reference) {
  WICK_CHECK(x.is_cuda() && w.is_cuda() && v.is_cuda(), "cuda::eigh: expected CUDA tensors");
  WICK_CHECK(w.is_contiguous() && v.is_contiguous() && w.dtype() == x.dtype() && v.dtype() == x.dtype(),
             "cuda::eigh: w and v must be contiguous with x's dtype");
  const int64_t n = x.size(-1);
  const Shape batch(x.sizes().begin(), x.sizes().end() - 2);
  const int64_t count = numel_of(batch);
  if (count == 0 || n == 0) return true;
  WICK_CHECK(count <= 0x7fffffff, "eigh: a batch of ", count, " matrices exceeds the CUDA grid limit of 2^31 - 1");
  DeviceGuard guard(x.device().index);
  cudaStream_t stream = current_stream();
  Tensor status = empty({1}, TensorOptions(kInt32).device(x.device()));
  WICK_CUDA_CHECK(cudaMemsetAsync(status.data_ptr_raw(), 0, sizeof(int), stream));
  Tensor scratch;  // lives until the stream is synchronized below
  const Shape batch_strides(x.strides().begin(), x.strides().end() - 2);
  const StridedIndexer<1> ix = make_indexer<1>(batch, {batch_strides}, "eigh");
  WICK_DISPATCH_FLOAT(x.dtype(), "eigh", [&]<typename T>() {
    EighArgs<T> args;
    args.x = static_cast<const T*>(x.data_ptr_raw());
    args.w = static_cast<T*>(w.data_ptr_raw());
    args.v = static_cast<T*>(v.data_ptr_raw());
    args.scratch = nullptr;
    args.status = static_cast<int*>(status.data_ptr_raw());
    args.first = 0;
    args.count = count;
    args.n = n;
    args.rs = x.stride(-2);
    args.cs = x.stride(-1);
    args.batch = ix;
    if (reference)
      launch_reference<T>(args, scratch, x.device(), stream);
    else
      launch_fast<T>(args, scratch, x.device(), stream);
  });
  int flags = 0;
  WICK_CUDA_CHECK(cudaMemcpyAsync(&flags, status.data_ptr_raw(), sizeof(int), cudaMemcpyDeviceToHost, stream));
  WICK_CUDA_CHECK(cudaStreamSynchronize(stream));
  WICK_CHECK(!(flags & kNoConvergence), "eigh: the CUDA Jacobi solver did not converge within ", kMaxSweeps,
             " sweeps for some matrix of the input ", shape_str(x.sizes()), " (", x.dtype(), ")");
  return !(flags & kNonFinite);
}

}  // namespace

void set_eigh_kernel(bool on) { eigh_switch().set(on); }

bool eigh_kernel() { return eigh_switch().on(); }

bool eigh(const Tensor& w, const Tensor& v, const Tensor& x) { return run_eigh(w, v, x, /*reference=*/false); }

bool eigh_reference(const Tensor& w, const Tensor& v, const Tensor& x) {
  return run_eigh(w, v, x, /*reference=*/true);
}

}  // namespace wick::cuda
