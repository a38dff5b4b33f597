// cuDNN's fused flash attention as the vendor alternate of wick's attention
// kernels (cuda/kernels/attention.h), selected with
// cuda::set_attention_backend(AttentionBackend::Cudnn) or
// WICK_CUDA_ATTENTION=cudnn. It is the single SDPA node of cuDNN 9's backend
// graph API (CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR and
// ..._SDPA_BWD_DESCRIPTOR): one operation per graph, the engine of cuDNN's
// heuristic (mode A) whose execution plan finalizes first, the plan cached
// per (direction, dtype, N, L, S, head dim, device), its workspace from
// wick's caching allocator. q [N, L, E] is cuDNN's [1, N, L, E] (heads as
// N), the log-sum-exp statistics its float32 "stats" [1, N, L, 1], which is
// wick's lse layout, so either backward reads either forward's lse.
//
// What cuDNN 9.19's backend API takes: 16-bit inputs, no mask, no causal
// masking (the node has no attribute for it before cuDNN's score-modifier
// subgraphs), E == Ev a multiple of 8 up to 128, 16-byte aligned contiguous
// tensors, sm_80+. Other requests run wick's kernels (cuda::attention_*),
// as convolution geometries cuDNN cannot take do. A backward node that
// cuDNN refuses to build a plan for (reported for cuDNN <= 9.20) makes
// cudnn_attention_backward return false, once per shape, and wick's
// backward runs on cuDNN's forward statistics.
//
// Written without a GPU at hand: tests/cuda/test_attention.cpp
// (CudaAttentionCudnn.*) holds it to wick's kernels on a lent one. Plain C++
// header; in a build without cuDNN the functions throw wick::Error.
#pragma once

#include <cstddef>

#include "tensor/tensor.h"

namespace wick::cuda::vendor {

// Whether cuDNN's SDPA node takes these inputs (see above); false in a build
// without cuDNN.
bool cudnn_attention_eligible(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal);

// out [N, L, E] and lse [N * L] (float32) as cuda::attention_forward, for
// eligible inputs. wick::Error naming cuDNN's status when no engine runs them.
void cudnn_attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                             double scale);

// dq, dk, dv as cuda::attention_backward (undefined ones are computed into
// scratch and dropped), for eligible inputs; false, computing nothing, when
// cuDNN builds no backward plan for the shape.
bool cudnn_attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q, const Tensor& k,
                              const Tensor& v, double scale, const Tensor& out, const Tensor& dout, const Tensor& lse);

// Plans cached so far (forward and backward, including the backward shapes
// cuDNN refused); 0 without cuDNN.
size_t cudnn_attention_plan_count();

}  // namespace wick::cuda::vendor
