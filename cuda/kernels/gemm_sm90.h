// The Hopper wgmma GEMM (gemm_sm90.cu), internal to the CUDA GEMM: gemm()
// runs it for GemmBackend::Wgmma. Plain C++ header.
#pragma once

#include <cstdint>

#include "cuda/kernels/gemm.h"

namespace wick::cuda {

// Whether device `device` runs the wgmma kernel (compute capability 9.0).
bool wgmma_supported(int device);

// Whether the wgmma products run the TMA kernel (the default), whose options
// the switches below select; false under WICK_CUDA_WGMMA=cpasync (the first
// kernel, kept for comparison), where none of them applies.
bool wgmma_tma_kernel();

// g (float16/bfloat16 inputs, any transposes and strides) on the current
// device and stream; wick::Error when the device is not sm_90.
void gemm_wgmma(const GemmArgs& g);

// Broadcasts g.bias (if any) into C's rows and clears it, so that a kernel
// reading beta * C computes the same (gemm.cu).
void materialize_bias(GemmArgs& g);

// Whether the TMA kernel reads an aligned MN-major operand (A transposed, B
// not) in place through transposed descriptors instead of copying it K-major
// first. ON by default since CudaGemm.AlignedMnMajorOperands passed in both
// settings on an H200 (2026-11-27; bf16 4096^3 685 TFLOP/s, 0.88x cuBLAS,
// against 525 without); WICK_CUDA_WGMMA_MN=0 turns it off for the process,
// the setter (process-wide) lets tests run both.
void set_wgmma_mn_major(bool on);
bool wgmma_mn_major();

// Stream-K for the TMA kernel (cuda/kernels/gemm_sm90_plan.h): a product of batch 1
// with fewer 128 x 256 output tiles than the device has SMs and a long K (the
// weight gradients of linear layers: dW = dY^T X over all the tokens) is
// shared among up to one CTA per SM, each taking an equal run of k steps
// across tile boundaries; a fixup kernel sums the partial tiles in a fixed
// order (deterministic). The plan weighs it against the grid it replaces,
// 192-wide tiles included (plan_stream_k_for). ON by default since its tests
// (CudaGemm.StreamK) passed on an H200 with the rewritten fixup (2026-11-28;
// bf16 768x768x8192 0.62x cuBLAS against 0.31x); WICK_CUDA_GEMM_STREAMK=0
// turns it off for the process, the setter (process-wide) lets tests run both.
void set_wgmma_stream_k(bool on);
bool wgmma_stream_k();

// 128 x 192 tiles for the TMA kernel where its grid of 128 x 256 tiles would
// leave much of the last wave idle (choose_tile_n in gemm_sm90_plan.h: GPT-2's
// products with 768 or 2304 output columns at 8192 tokens). ON by default
// since CudaGemm.NarrowTiles passed on an H100 (2026-11-27; 8192x768x3072
// 0.67x -> 0.79x cuBLAS, 8192x768x2304 0.65x -> 0.77x);
// WICK_CUDA_WGMMA_N192=0 turns it off for the process.
void set_wgmma_narrow_tiles(bool on);
bool wgmma_narrow_tiles();

// Persistent tiles for the TMA kernel (gemm_sm90_plan.h, PersistentTiles):
// min(tiles, SMs) CTAs walk the output tiles in turn, so that the producer
// loads the next tile's operands while the consumers store the current one,
// where stream-K is not planned. ON by default since CudaGemm.PersistentTiles
// passed on an H100 (2026-11-27; with 192-wide tiles where chosen: the GPT-2
// shapes 0.59-0.83x cuBLAS against 0.25-0.67x before);
// WICK_CUDA_GEMM_PERSISTENT=0 turns it off for the process.
void set_wgmma_persistent(bool on);
bool wgmma_persistent();

// The TMA kernel's epilogue through shared memory and the TMA store engine
// (gemm_tma_kernel's comment) for 16-bit C that the product only writes
// (beta = 0 or a bias), where C's layout allows a tensor map (16-byte aligned,
// row and batch strides of whole 16 bytes): the consumer warpgroups stage
// 64 x 64 boxes in shared memory and go on while the copy engine writes them,
// instead of 4-byte stores from every thread. Expected to matter where K is
// short (GPT-2's K = 768 forward products: ~12 k steps per tile against one
// tile's stores). Rows must also be whole 16 bytes (N % 8 == 0; make_c_map).
// ON by default since CudaGemm.TmaStoreEpilogue passed on an H200
// (2026-11-28; GPT-2's K = 768 forwards 0.90-0.94x cuBLAS against
// 0.63-0.66x); WICK_CUDA_GEMM_TMA_STORE=0 turns it off for the process, the
// setter (process-wide) lets tests run both.
void set_wgmma_tma_store(bool on);
bool wgmma_tma_store();
// How many products this process has run with that epilogue (for tests: the
// path they mean to check really ran).
int64_t wgmma_tma_store_products();

// Cluster split-K (gemm_sm90_plan.h, plan_cluster_k): where stream-K would
// run a batch-1 product, each output tile's k steps split over the CTAs of one
// thread-block cluster, whose partial tiles are added through distributed
// shared memory in the GEMM kernel itself (rank order: the same bits every
// run) instead of a float32 workspace in global memory and a fixup kernel.
// Off until a GPU has run CudaGemm.ClusterSplitK and timed it
// (WICK_CUDA_GEMM_CLUSTER_K=1). wgmma_cluster_k_splits: the cluster size the
// plan takes for C [M, N] with inner dim K on the current device (0: none;
// the switch aside); the counter: products that ran it.
void set_wgmma_cluster_k(bool on);
bool wgmma_cluster_k();
int64_t wgmma_cluster_k_products();
int wgmma_cluster_k_splits(int64_t M, int64_t N, int64_t K);

// Stream-K's float32 partials kept in L2 for the fixup: the GEMM kernel
// stores them with an L2 evict_last policy, the fixup reads them with
// evict_first and discards each line once summed (no write-back to DRAM). On
// an H200 (2026-11-28) the fixup of GPT-2's 768 x 768 weight gradient took 12
// of the product's 40 us under Nsight Compute, reading its 17 MB of partials
// at an L2 hit rate of 24%. The same sums in the same order: the same bits.
// Written without a GPU: off until one has run CudaGemm.StreamKL2Hints and
// timed it (WICK_CUDA_GEMM_SK_L2=1). The counter: products that took it.
void set_wgmma_stream_k_l2(bool on);
bool wgmma_stream_k_l2();
int64_t wgmma_stream_k_l2_products();

// Stream-K's fixup fused into the GEMM kernel: launched cooperatively (every
// CTA resident), the kernel's CTAs store their partials, meet at a grid
// barrier, and each then sums an equal share of the split tiles' elements
// (while the partials are still in L2), instead of a second kernel that
// reads them back (on an H200, 2026-11-28: the fixup took 12 of the 40 us of
// GPT-2's 768 x 768 x 8192 weight gradient). The same sums in the same
// order: the same bits as the fixup kernel. Takes the place of the L2 hints
// (set_wgmma_stream_k_l2) where both are on. Written without a GPU: off
// until one has run CudaGemm.StreamKFusedFixup and timed it
// (WICK_CUDA_GEMM_SK_FUSED=1). The counter: products that ran it (a device
// that refuses the cooperative launch runs the fixup kernel instead).
void set_wgmma_stream_k_fused(bool on);
bool wgmma_stream_k_fused();
int64_t wgmma_stream_k_fused_products();

// 64-row tiles for the TMA kernel where M <= 64 (one consumer warpgroup per
// CTA, 64 x 256 tiles): a 128-row tile there multiplies as many zero rows as
// real ones (ResNet's 64-channel convolutions and their weight gradients: a
// quarter of its forward FLOPs; a linear layer over a few tokens). Not with
// stream-K or 192-wide tiles. ON by default since CudaGemm.Rows64Tiles passed
// on an H200 (2026-11-28: wick's kernel; the test's cuBLAS rows needed a
// looser bound, see check_case); WICK_CUDA_GEMM_ROWS64=0 turns it off for the
// process, the setter (process-wide) lets tests run both. The counter:
// products run with it (for tests).
void set_wgmma_rows64(bool on);
bool wgmma_rows64();
int64_t wgmma_rows64_products();

}  // namespace wick::cuda
