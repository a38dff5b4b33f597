// FlashAttention-2 style forward of scaled_dot_product_attention for float16
// and bfloat16 on sm_80+ (contract: cuda/kernels/attention_fa2.h and
// attention.h; the general kernels, masks and the backward: attention.cu).
//
// Math (per slice n, query row i; scores in the log2 domain so the
// exponentials are exp2):
//   s_ij = log2(e) * scale * q_i . k_j             (causal: -inf for j > i; -inf for j >= S)
//   m_i  = max_j s_ij,  l_i = sum_j 2^(s_ij - m_i)  (online, one key tile at a time)
//   o_i  = sum_j 2^(s_ij - m_i) v_j / l_i,  lse_i = ln(2) m_i + ln(l_i)
// Work: 4 N L S D FLOPs (half of it causal) + N L S exp2; traffic: Q and O
// once, K and V once per 64-row query tile: N (L / 64) S 2 D elements.
//
// Design (Dao 2023, written from the paper's description):
//  - One CTA of 4 warps per (slice n, 64 query rows); warp w owns rows
//    16w..16w+15. CTAs are issued with the last (for causal: heaviest) query
//    tiles first.
//  - Q is staged once through shared memory with cp.async and held in
//    registers as mma.sync A fragments (ldmatrix.x4) for the whole loop.
//  - K and V stream through shared memory in tiles of 64 keys, double
//    buffered with cp.async (16-byte chunks, zero-filled past L or S): tile
//    t + 1 is in flight while tile t is computed.
//  - Tiles are [64, D] 16-bit rows with the 16-byte chunk c of row r stored
//    at chunk c ^ (r & 7): the 8 row addresses of one ldmatrix phase (8
//    consecutive rows, one chunk) land in 8 different 16-byte bank groups.
//  - S = Q K^T with mma.sync m16n8k16 (f32 accumulate): per warp 16 x 64
//    scores in 8 accumulator fragments (32 floats per thread); K fragments
//    by ldmatrix (K rows are B's columns), V fragments by ldmatrix.trans.
//  - Online softmax in float32 registers: each thread holds 2 rows (g and
//    g + 8 of its warp's 16) x 16 columns; row max over the 4 lanes of a quad
//    by __shfl_xor_sync; the row sum stays a per-thread partial (rescaled by
//    the same quad-uniform factor) and is reduced once in the epilogue.
//  - P is rounded to 16 bits and used as the A operand of P V straight from
//    the S accumulators: an m16n8k16 C fragment pair (columns 8b..8b+15) has
//    exactly the layout of an A fragment (k = 16), so P never touches shared
//    memory.
//  - Causal: key tiles entirely above the diagonal are never loaded; the
//    per-element mask runs only on tiles that cross the diagonal or S.
// Registers: Q fragments D/4, S 32, O D/2 floats per thread (D = 128: 16 +
// 32 + 64) — 128 threads with __launch_bounds__(128) leave room to spare.
// Shared memory: Q + 2 K + 2 V tiles = 5 * 64 * D * 2 bytes (40 / 80 KiB).
#include "cuda/kernels/attention_fa2.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cuda/kernels/device_types.cuh"
#include "cuda/runtime.h"

namespace wick::cuda {

namespace {

constexpr char kOp[] = "scaled_dot_product_attention";
constexpr int kBr = 64;  // query rows per CTA (16 per warp)
constexpr int kBc = 64;  // keys per tile
constexpr int kThreads = 128;

OptInSwitch& fa2_switch() {
  static OptInSwitch s("WICK_CUDA_ATTENTION_FA2");
  return s;
}

// Element offset of 16-byte chunk c of row r in a swizzled [64, kD] tile.
template <int kD>
__device__ __forceinline__ int swz(int r, int c) {
  return r * kD + ((c ^ (r & 7)) << 3);
}

__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronously; zero-filled when !valid (src is
// then not read).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

// A [64, kD] tile whose row 0 is at src (rows contiguous, kD elements apart)
// into the swizzled dst; rows >= rows_valid are zero.
template <int kD, typename T>
__device__ __forceinline__ void load_tile_async(T* __restrict__ dst, const T* __restrict__ src, int64_t rows_valid) {
  constexpr int kChunks = kD / 8;
#pragma unroll
  for (int idx = threadIdx.x; idx < 64 * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = idx % kChunks;
    const bool ok = r < rows_valid;
    cp_async16(dst + swz<kD>(r, c), ok ? src + r * kD + c * 8 : src, ok);
  }
}

__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c += a b, m16n8k16, a row-major 16 x 16, b column-major 16 x 8, c float.
template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats as a packed 16-bit pair (lo in the low half: the lower column).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
}

// Fragment coordinates (PTX ISA, mma.m16n8k16): lane = 4 g + t.
//   A (16 x 16): a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
//   B (16 x 8):  b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g)
//   C (16 x 8):  c0, c1 (g, 2t..2t+1), c2, c3 (g+8, 2t..2t+1)
template <typename T, int kD>
__global__ void __launch_bounds__(kThreads)
    fa2_forward_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v, T* __restrict__ out,
                       float* __restrict__ lse, int64_t L, int64_t S, float scale_log2, bool causal) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // the host takes this kernel on sm_80+ only
#else
  constexpr int kKB = kD / 16;   // k-blocks of Q K^T
  constexpr int kNB = kBc / 8;   // n-blocks (8 keys) of S
  constexpr int kPB = kBc / 16;  // k-blocks of P V
  constexpr int kOB = kD / 8;    // n-blocks (8 dims) of O
  constexpr int kTile = 64 * kD;
  static_assert(kKB % 2 == 0 && kOB % 2 == 0, "head dim must be a multiple of 32");
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* Qs = reinterpret_cast<T*>(smem_raw);
  T* Ks = Qs + kTile;      // 2 buffers
  T* Vs = Ks + 2 * kTile;  // 2 buffers

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int64_t qblocks = (L + kBr - 1) / kBr;
  const int64_t n = blockIdx.x / qblocks;
  const int64_t i0 = (qblocks - 1 - blockIdx.x % qblocks) * kBr;
  const T* kn = k + n * S * kD;
  const T* vn = v + n * S * kD;
  const int64_t jend = causal ? min(S, i0 + kBr) : S;  // keys past jend are masked for every row
  const int64_t ntiles = (jend + kBc - 1) / kBc;

  // Two copy groups: Q, then key tile 0 (empty when S == 0).
  load_tile_async<kD>(Qs, q + (n * L + i0) * kD, L - i0);
  cp_async_commit();
  if (ntiles > 0) {
    load_tile_async<kD>(Ks, kn, S);
    load_tile_async<kD>(Vs, vn, S);
  }
  cp_async_commit();
  cp_async_wait<1>();  // Q is in (tile 0 may still be in flight)
  __syncthreads();
  uint32_t qf[kKB][4];  // this warp's 16 Q rows as A fragments, for the whole loop
#pragma unroll
  for (int kb = 0; kb < kKB; ++kb) ldsm_x4(qf[kb], Qs + swz<kD>(16 * warp + (lane & 15), 2 * kb + (lane >> 4)));

  // Rows of this thread: i0 + 16 warp + g (+ 8).
  const int64_t row0 = i0 + 16 * warp + g;
  float o[kOB][4];
#pragma unroll
  for (int b = 0; b < kOB; ++b) o[b][0] = o[b][1] = o[b][2] = o[b][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};

  for (int64_t tile = 0; tile < ntiles; ++tile) {
    const int buf = static_cast<int>(tile & 1);
    const int64_t j0 = tile * kBc;
    if (tile + 1 < ntiles) {  // prefetch the next tile into the other buffer
      const int64_t jn = j0 + kBc;
      load_tile_async<kD>(Ks + (buf ^ 1) * kTile, kn + jn * kD, S - jn);
      load_tile_async<kD>(Vs + (buf ^ 1) * kTile, vn + jn * kD, S - jn);
      cp_async_commit();
      cp_async_wait<1>();  // all but the newest group: this tile is in
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const T* Kb = Ks + buf * kTile;
    const T* Vb = Vs + buf * kTile;

    // s = Q K^T (16 x 64 per warp).
    float s[kNB][4];
#pragma unroll
    for (int nb = 0; nb < kNB; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.f;
#pragma unroll
    for (int kp = 0; kp < kKB; kp += 2) {
#pragma unroll
      for (int nb = 0; nb < kNB; ++nb) {
        // Matrices: keys 8nb..8nb+7 x dims 16kp + (0, 8, 16, 24) .. +7.
        uint32_t b[4];
        ldsm_x4(b, Kb + swz<kD>(8 * nb + (lane & 7), 2 * kp + (lane >> 3)));
        mma16816<T>(s[nb], qf[kp], b[0], b[1]);
        mma16816<T>(s[nb], qf[kp + 1], b[2], b[3]);
      }
    }

    // Scale into the log2 domain; mask only the tiles that cross S or the diagonal.
    const bool need_mask = j0 + kBc > S || (causal && j0 + kBc - 1 > i0);
#pragma unroll
    for (int nb = 0; nb < kNB; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[nb][e] *= scale_log2;
        if (need_mask) {
          const int64_t j = j0 + 8 * nb + 2 * t + (e & 1), i = row0 + (e >> 1) * 8;
          if (j >= S || (causal && j > i)) s[nb][e] = -INFINITY;
        }
      }

    // Online softmax: new row max over the quad, rescale factors, p.
    float mx[2] = {m[0], m[1]};
#pragma unroll
    for (int nb = 0; nb < kNB; ++nb) {
      mx[0] = fmaxf(mx[0], fmaxf(s[nb][0], s[nb][1]));
      mx[1] = fmaxf(mx[1], fmaxf(s[nb][2], s[nb][3]));
    }
    float mu[2], alpha[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      // Every key so far masked: subtract 0, not -inf (p = 0, not NaN).
      mu[r] = mx[r] == -INFINITY ? 0.f : mx[r];
      alpha[r] = exp2f(m[r] - mu[r]);  // 0 when m was -inf (l, o are 0 then)
      m[r] = mx[r];
    }
    uint32_t pf[kPB][4];  // P as A fragments of P V
    float rs[2] = {0.f, 0.f};
#pragma unroll
    for (int nb = 0; nb < kNB; ++nb) {
      const float p0 = exp2f(s[nb][0] - mu[0]), p1 = exp2f(s[nb][1] - mu[0]);
      const float p2 = exp2f(s[nb][2] - mu[1]), p3 = exp2f(s[nb][3] - mu[1]);
      rs[0] += p0 + p1;
      rs[1] += p2 + p3;
      // C of keys 8nb.. is the k-half (nb & 1) of A block nb / 2: a0/a1 or a2/a3.
      pf[nb / 2][(nb & 1) * 2 + 0] = pack2<T>(p0, p1);
      pf[nb / 2][(nb & 1) * 2 + 1] = pack2<T>(p2, p3);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) l[r] = l[r] * alpha[r] + rs[r];
#pragma unroll
    for (int b = 0; b < kOB; ++b) {
      o[b][0] *= alpha[0];
      o[b][1] *= alpha[0];
      o[b][2] *= alpha[1];
      o[b][3] *= alpha[1];
    }

    // o += P V (16 x D per warp).
#pragma unroll
    for (int kb = 0; kb < kPB; ++kb) {
#pragma unroll
      for (int ob = 0; ob < kOB; ob += 2) {
        // Matrices (transposed): keys 16kb + (0, 8) x dims 8ob.., then 8(ob+1)..
        uint32_t b[4];
        ldsm_x4_trans(b, Vb + swz<kD>(16 * kb + (lane & 7) + ((lane >> 3) & 1) * 8, ob + (lane >> 4)));
        mma16816<T>(o[ob], pf[kb], b[0], b[1]);
        mma16816<T>(o[ob + 1], pf[kb], b[2], b[3]);
      }
    }
    __syncthreads();  // every warp is done with buffer buf before it is refilled
  }

  // Epilogue: full row sums, O / l (0 / 0 = NaN for a row with no key, as
  // the composed softmax), lse = ln 2 * m + ln l (-inf then).
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int64_t i = row0 + 8 * r;
    if (i >= L) continue;
    const float inv = 1.f / l[r];
    T* orow = out + (n * L + i) * kD;
#pragma unroll
    for (int b = 0; b < kOB; ++b)
      *reinterpret_cast<uint32_t*>(orow + 8 * b + 2 * t) = pack2<T>(o[b][2 * r] * inv, o[b][2 * r + 1] * inv);
    if (t == 0) lse[n * L + i] = m[r] * 0.69314718055994531f + logf(l[r]);
  }
#endif
}

template <typename T, int kD>
void launch(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v, int64_t N,
            int64_t L, int64_t S, bool causal, double scale) {
  constexpr size_t kSmem = size_t(5) * 64 * kD * sizeof(T);
  auto kernel = fa2_forward_kernel<T, kD>;
  const int64_t blocks = N * ((L + kBr - 1) / kBr);
  WICK_CHECK(blocks <= 0x7fffffff, kOp, ": too many query tiles for one launch (", blocks, ")");
  WICK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(kSmem)));
  kernel<<<static_cast<unsigned>(blocks), kThreads, kSmem, current_stream()>>>(
      static_cast<const T*>(q.data_ptr_raw()), static_cast<const T*>(k.data_ptr_raw()),
      static_cast<const T*>(v.data_ptr_raw()), static_cast<T*>(out.data_ptr_raw()),
      static_cast<float*>(lse.data_ptr_raw()), L, S, static_cast<float>(scale * 1.4426950408889634), causal);
  WICK_CUDA_CHECK_LAUNCH();
}

bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr_raw()) % 16 == 0; }

}  // namespace

void set_attention_fa2(bool on) { fa2_switch().set(on); }

bool attention_fa2() { return fa2_switch().on(); }

bool attention_fa2_eligible(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask) {
  if (mask.defined()) return false;
  const DType dt = q.dtype();
  if (!(dt == kFloat16 || dt == kBFloat16) || k.dtype() != dt || v.dtype() != dt) return false;
  if (!(q.is_cuda() && k.is_cuda() && v.is_cuda())) return false;
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2) return false;
  const int64_t E = q.size(-1);
  if (!(E == 64 || E == 128) || k.size(-1) != E || v.size(-1) != E) return false;
  if (!(q.is_contiguous() && k.is_contiguous() && v.is_contiguous())) return false;
  if (!(aligned16(q) && aligned16(k) && aligned16(v))) return false;  // cp.async moves 16-byte chunks
  return device_properties(q.device().index).major >= 8;
}

void attention_fa2_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                           bool causal, double scale) {
  WICK_CHECK(attention_fa2_eligible(q, k, v, Tensor()), kOp, ": internal: the FA2 kernel does not take ", q.dtype(),
             " with head dims ", q.size(-1), ", ", v.size(-1));
  WICK_CHECK(out.is_contiguous() && out.dtype() == q.dtype() && lse.dtype() == kFloat32 &&
                 reinterpret_cast<uintptr_t>(out.data_ptr_raw()) % 4 == 0,
             kOp, ": internal: out must be contiguous and 4-byte aligned, lse float32");
  const int64_t E = q.size(-1), L = q.size(-2), S = k.size(-2);
  if (L == 0 || q.numel() == 0) return;
  const int64_t N = q.numel() / (L * E);
  DeviceGuard guard(q.device().index);
  if (q.dtype() == kFloat16) {
    if (E == 64) launch<__half, 64>(out, lse, q, k, v, N, L, S, causal, scale);
    else launch<__half, 128>(out, lse, q, k, v, N, L, S, causal, scale);
  } else {
    if (E == 64) launch<__nv_bfloat16, 64>(out, lse, q, k, v, N, L, S, causal, scale);
    else launch<__nv_bfloat16, 128>(out, lse, q, k, v, N, L, S, causal, scale);
  }
}

}  // namespace wick::cuda
