// A FlashAttention-2 style forward for scaled_dot_product_attention on CUDA
// (mma.sync tensor cores, register-resident P, cp.async double-buffered K/V
// tiles), taken by cuda::attention_forward (cuda/kernels/attention.cu) for
// the inputs it is written for, by default (its tests passed on an H200 on
// 2026-11-27, forward 0.099 ms against the general kernel's 0.492 at bf16
// B8 H12 L1024 D64 causal); set_attention_fa2(false) or the environment
// variable WICK_CUDA_ATTENTION_FA2=0 sends every input to the general kernel. Same contract as attention_forward in
// cuda/kernels/attention.h: out [N, L, Ev] in q's dtype, lse [N * L] float32.
// The backwards in the same style (the mma.sync FA2 backward, the wgmma one
// on sm_90) are below; cuda::attention_backward (attention.cu) chooses.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace wick::cuda {

// Process-wide selection of this kernel (atomic; initially on, off when the
// environment has WICK_CUDA_ATTENTION_FA2=0).
void set_attention_fa2(bool on);
bool attention_fa2();

// Whether attention_fa2_forward takes these inputs: float16 / bfloat16 q, k,
// v (one dtype, contiguous, CUDA, 16-byte aligned), E == Ev in {64, 128}, no
// mask (causal or none), on an sm_80+ device.
bool attention_fa2_eligible(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask);

// out [N, L, Ev] (contiguous, q's dtype) and lse [N * L] (float32) for
// eligible inputs (attention_fa2_eligible); causal masks j > i (top-left).
void attention_fa2_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                           bool causal, double scale);

// 128 query rows per CTA (two 16-row mma fragments per warp, FA2's tile for
// head dim 64) instead of 64, for head dim 64 only: each K and V fragment
// read from shared memory feeds two mma's. ON by default since its tests
// (CudaAttentionFa2.*Rows128*) passed on an H100 (2026-11-27; bf16 B8 H12
// L1024 D64 forward 0.120 ms against 0.144 without causal, the same causal);
// on sm_90 the wgmma forward below runs first. set_attention_fa2_rows128(false)
// or WICK_CUDA_ATTENTION_FA2_ROWS128=0 turns it off for the process.
void set_attention_fa2_rows128(bool on);
bool attention_fa2_rows128();

// The forward on Hopper's warpgroup MMA (wgmma m64n64k16; sm_90, head dim
// 64; attention_fa2.cu, wgmma_forward_kernel): the 64-row kernel's tiles,
// masks and online softmax, its two products read from shared memory by the
// tensor cores (P from registers). Taken before the 128- and 64-row mma.sync
// kernels where it applies. ON by default since CudaAttentionFa2.Wgmma*
// passed on an H100 (2026-11-27; causal bf16 B8 H12 L1024 D64 forward 0.090
// ms against the mma.sync kernel's 0.096); set_attention_wgmma_forward(false)
// or WICK_CUDA_ATTENTION_WGMMA_FWD=0 turns it off.
void set_attention_wgmma_forward(bool on);
bool attention_wgmma_forward();

// The wgmma forward pipelined after FlashAttention-3 (the exponentials of
// key tile j overlap the product P_{j-1} V_{j-1}; bit for bit the serial
// kernel's result): off until a GPU has run CudaAttentionFa2.WgmmaPipelined
// (WICK_CUDA_ATTENTION_WGMMA_PIPE=1); applies where the wgmma forward does.
void set_attention_wgmma_pipelined(bool on);
bool attention_wgmma_pipelined();

// The lean wgmma forward (attention_fa2.cu, wgmma_forward_kernel's kLean):
// the scale folded into each exponent's fma and the row sums computed by the
// tensor cores as P times a tile of ones, for fewer instructions per score
// (the forward is issue-bound: Nsight Compute on an H200). Its lse is the
// log of the sum of the rounded P (within 2^-8 of the float32 sum's for
// bf16, 2^-11 for fp16). Applies where the wgmma forward does and the scale is
// positive, unless the pipelined forward is on. Off: its tests passed on an
// H200, but that lease's wall clock was host-bound and could not rank it
// (WICK_CUDA_ATTENTION_WGMMA_LEAN=1 for it).
// The counter: launches of it (tests).
void set_attention_wgmma_lean(bool on);
bool attention_wgmma_lean();
int64_t attention_wgmma_lean_launches();

// The warp-specialized wgmma forward (attention_fa2.cu,
// wgmma_forward_ws_kernel), after FlashAttention-3: a producer warp feeds K
// and V tiles by the bulk tensor copy engine (TMA) through a ring of stages
// on mbarriers to two consumer warpgroups of 64 query rows each, which share
// every tile; no copies, address arithmetic or CTA barriers on the
// consumers' path. Out and lse bit for bit the serial wgmma kernel's.
// Applies where the wgmma forward does, unless the pipelined one is on, and
// takes precedence over the lean one; an operand no tensor map describes (a
// broadcast dim of stride 0) runs the others. Off: CudaAttentionFa2.WgmmaWs*
// passed on an H200 (2026-11-28) but it timed 1.5% slower there
// (WICK_CUDA_ATTENTION_WGMMA_WS=1 for it).
// The counter: its launches.
void set_attention_wgmma_ws(bool on);
bool attention_wgmma_ws();
int64_t attention_wgmma_ws_launches();

// The wgmma forward with its Q, K and V tiles loaded by the bulk tensor copy
// engine (attention_fa2.cu, wgmma_forward_tma_kernel): one thread issues
// the next key tile's two boxes onto an mbarrier, so each key tile starts
// with one barrier wait instead of every thread's copies, a cp.async wait, a
// proxy fence and a CTA barrier, at the copies' kernel's occupancy. Out and
// lse bit for bit the serial kernel's (with the lean one on, the lean
// kernel's). Applies where the wgmma forward does, unless the pipelined or
// the warp-specialized one is on; an operand no tensor map describes (a
// broadcast dim of stride 0) runs the others. On since an H200 ran
// CudaAttentionFa2.WgmmaFwdTma* and timed it (2026-11-28: GPT-2's causal
// forward 20-30% shorter; WICK_CUDA_ATTENTION_WGMMA_FWD_TMA=0: the serial
// kernel). The counter: its launches.
void set_attention_wgmma_forward_tma(bool on);
bool attention_wgmma_forward_tma();
int64_t attention_wgmma_forward_tma_launches();

// The wgmma backward with its dQ product issued behind the dV and dK
// products instead of after a wait and a barrier (dK and dV bit for bit the
// serial kernel's): off until a GPU has run
// CudaAttentionFa2Backward.WgmmaPipelined (WICK_CUDA_ATTENTION_WGMMA_BWD_PIPE=1);
// applies where the wgmma backward does.
void set_attention_wgmma_backward_pipelined(bool on);
bool attention_wgmma_backward_pipelined();

// The wgmma backward staging each query tile's lse and D into shared memory
// by cp.async instead of loads that every staging thread waited for at the
// start of each tile (Nsight Compute on an H200: the backward's top stall,
// "long scoreboard"), with registers capped for 3 CTAs per SM instead of 2
// (168 per thread, 44 bytes spilled); dK and dV bit for bit the default
// kernel's. Applies
// where the wgmma backward does, unless the pipelined or the TMA one (on by
// default, which includes this staging) is on. Off: its tests passed on an
// H200, not yet timed apart from the host
// (WICK_CUDA_ATTENTION_WGMMA_BWD_ROWS_ASYNC=1 with _BWD_TMA=0 for it). The
// counter: its launches.
void set_attention_wgmma_backward_rows_async(bool on);
bool attention_wgmma_backward_rows_async();
int64_t attention_wgmma_backward_rows_async_launches();

// The wgmma backward adding each tile's dQ part into its float32 accumulator
// by the copy engine's bulk reduction (cp.reduce.async.bulk .add.f32: one
// request per warp and tile, from 4 KiB staged in shared memory) instead of
// each lane's float2 atomics, with the accumulator laid out in the wgmma
// accumulators' order per 64-row query tile, as FlashAttention-3 does; dK and
// dV bit for bit the default kernel's, dQ the same sums in another
// timing-dependent order. Applies where the wgmma backward does, with or
// without rows-async, unless the pipelined one is on. On by default since
// CudaAttentionFa2Backward.WgmmaDqBulk* passed on an H200 and it timed faster
// there (WICK_CUDA_ATTENTION_WGMMA_BWD_DQ_BULK=0: atomics). The counter: its
// launches.
void set_attention_wgmma_backward_dq_bulk(bool on);
bool attention_wgmma_backward_dq_bulk();
int64_t attention_wgmma_backward_dq_bulk_launches();

// The wgmma backward with its Q and dO tiles loaded by the bulk tensor copy
// engine (TMA, one thread issuing both boxes of the next query tile onto an
// mbarrier) and lse and D by cp.async reporting on the same barrier: each
// tile starts with one barrier wait instead of every thread's 16-byte copies,
// a cp.async wait, a proxy fence and a CTA barrier. dK and dV bit for bit the
// default kernel's. Applies where the wgmma backward does and tensor maps
// describe q and dout (not a broadcast dim of stride 0), with or without
// bulk dQ, unless the pipelined one is on; takes precedence over
// rows-async, whose row staging it includes. On by default since
// CudaAttentionFa2Backward.WgmmaTma* passed on an H200 and it timed faster
// there (WICK_CUDA_ATTENTION_WGMMA_BWD_TMA=0: the copies by every thread).
// The counter: its launches.
void set_attention_wgmma_backward_tma(bool on);
bool attention_wgmma_backward_tma();
int64_t attention_wgmma_backward_tma_launches();

// The wgmma kernels' grids in longest-processing-time-first order
// (attention_grid.h): the serial and lean forwards and every wgmma backward
// number their CTAs with the (batch, head) slices fastest within sections
// sized to keep their operands in L2, instead of slices slowest, so each
// section's heaviest causal blocks (the forward's last query rows, the
// backward's first keys) are dispatched before any of its lighter ones and
// the last wave holds the lightest (the TMA forward always does). Each CTA
// computes what it did: out, lse, dK and dV bit for bit, dQ the same parts
// summed in another order. Applies where those kernels do. On since an H200
// ran CudaAttentionFa2*.LptOrder* and timed it (2026-11-28: GPT-2's causal
// fwd+bwd 8% shorter; WICK_CUDA_ATTENTION_LPT=0: slices slowest, the
// backward's heaviest blocks last). The counter: the launches that took the
// order by this switch (not the TMA forward's). set_attention_lpt_section
// fixes the slices per section, at most the slices of a launch (tests:
// several sections on a few slices; 0, the default: from the L2 size).
void set_attention_lpt(bool on);
bool attention_lpt();
int64_t attention_lpt_launches();
void set_attention_lpt_section(int64_t slices);
int64_t attention_lpt_section();

// The backward in the same style (attention_fa2.cu, "backward"): dK/dV and
// dQ by two kernels on mma.sync with P and dS register-resident, no atomics
// (deterministic, like the general backward). Taken by
// cuda::attention_backward for inputs attention_fa2_eligible takes when
// selected, at head dim 64, and at 128 with set_attention_fa2_backward_hd128
// (below).
// ON by default since 2026-11-28 (its tests passed on an H100 and on the
// H200 leases; 0.392 ms against the general backward's 1.195 for GPT-2's
// causal forward + backward on the H100). On sm_90 the wgmma backward below
// takes head dim 64 before it, on its own switch, so this serves the GPUs
// before Hopper. set_attention_fa2_backward(false) or
// WICK_CUDA_ATTENTION_FA2_BWD=0 runs the general backward instead.
void set_attention_fa2_backward(bool on);
bool attention_fa2_backward_selected();
// That backward at head dim 128 too, where every GPU otherwise runs the
// general tensor-core backward (the wgmma backward takes head dim 64 only),
// on devices whose shared memory holds its tiles (97 KiB; the fused dQ below
// takes 105 and runs only where that fits, else the two kernels). Off until a GPU has run CudaAttentionFa2Backward.HeadDim128*
// and timed it (WICK_CUDA_ATTENTION_FA2_BWD_HD128=1). Taken off on
// 2026-11-27 after missing the float64 CPU check at head dim 128 by
// 0.05-0.07 on one bfloat16 shape per test; scripts/attention_rounding_model.py
// shows that any backward rounding as these kernels (and the general one)
// do misses that check as often there (attention_fa2.cu, fa2_bwd_hd128_switch).
// The counter: the backwards it ran.
void set_attention_fa2_backward_hd128(bool on);
bool attention_fa2_backward_hd128();
int64_t attention_fa2_backward_hd128_launches();

// The backward's fused variant (FA2's own scheme): when dq and dk or dv are
// wanted, the dK/dV kernel also adds each (query tile, key tile) pair's
// ds K into a float32 dQ accumulator with atomics, instead of a second
// kernel recomputing s and dp (5 tile products per pair instead of 7; the
// order of dQ's float32 sums then depends on timing, so dq may differ in its
// last bits from run to run, as PyTorch's flash backward). The head dims of
// the FA2 backward. OFF by default (its tests passed at head dim 64 on an
// H100, 2026-11-27); set_attention_fa2_backward_fused(true) or
// WICK_CUDA_ATTENTION_FA2_BWD_FUSED=1 (with the FA2 backward selected).
void set_attention_fa2_backward_fused(bool on);
bool attention_fa2_backward_fused();

// The fused backward on Hopper's warpgroup MMA (wgmma m64n64k16; sm_90, head
// dim 64; attention_fa2.cu, wgmma_bwd_kernel): the same algorithm, masks and
// atomics as the fused variant above, its five tile products read from
// shared memory by the tensor cores. Taken before the mma.sync variants
// where it applies (dq and dk or dv wanted), whether or not the FA2
// backward is selected. ON by default since CudaAttentionFa2Backward.Wgmma*
// passed on an H100 (2026-11-27; causal bf16 B8 H12 L1024 D64 forward +
// backward 0.329 ms against 1.195 with the general backward, PyTorch SDPA
// 0.255-0.278); set_attention_wgmma_backward(false) or
// WICK_CUDA_ATTENTION_WGMMA_BWD=0 turns it off.
void set_attention_wgmma_backward(bool on);
bool attention_wgmma_backward();

// Whether cuda::attention_backward hands inputs like q (that
// attention_fa2_backward_eligible takes) to attention_fa2_backward: the FA2
// backward selected, or the wgmma backward on for q's head dim and device.
bool attention_fa2_backward_wanted(const Tensor& q);

// Whether attention_fa2_backward takes these: q, k, v, mask as
// attention_fa2_eligible; dout like q, contiguous and 16-byte aligned; each of
// dq, dk, dv undefined or contiguous like q, k, v and 4-byte aligned.
bool attention_fa2_backward_eligible(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q,
                                     const Tensor& k, const Tensor& v, const Tensor& mask, const Tensor& dout);

// dq [N, L, E], dk [N, S, E], dv [N, S, E] (any may be undefined: not
// computed) from dout [N, L, E], the forward's lse [N * L] and
// D = rowsum(dout * out) [N * L] (both float32), for eligible inputs. Every
// row of dk and dv is written (zeros for keys no query attends to).
void attention_fa2_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q, const Tensor& k,
                            const Tensor& v, bool causal, double scale, const Tensor& dout, const Tensor& lse,
                            const Tensor& D);

}  // namespace wick::cuda
