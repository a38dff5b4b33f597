// CUDA fused optimizer steps (contracts: cuda/kernels/optim.h). Each kernel is
// the CPU reference loop of ops/cpu/optim.cpp with the segment chosen by
// blockIdx.y; one pass over memory per element (read p, g and the state,
// write p and the state). Compiled with -fmad=false (CMakeLists.txt).
#include "cuda/kernels/optim.h"

#include <algorithm>
#include <vector>

#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;
constexpr int64_t kMaxSegmentsPerLaunch = 65535;  // gridDim.y

template <typename T>
__device__ __forceinline__ T neg(T x) {
  return T(0) - x;  // as the CPU: -(+0) = +0
}
template <typename T>
__device__ __forceinline__ T maximum(T a, T b) {  // NaN if either is NaN
  return (a != a || b != b) ? a + b : (a > b ? a : b);
}
template <typename T>
__device__ __forceinline__ T sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}

template <typename T>
struct AdamJob {
  cpu::AdamSegment<T> s;
  cpu::AdamCoefs<T> c;
};
template <typename T>
struct SgdJob {
  cpu::SgdSegment<T> s;
};
template <typename T>
struct LionJob {
  cpu::LionSegment<T> s;
};

// kWd: 0 none, 1 L2 (added to the gradient), 2 decoupled (p *= decay).
template <typename T>
__global__ void adam_kernel(const AdamJob<T>* __restrict__ jobs, bool maximize, int wd, bool amsgrad) {
  const AdamJob<T> j = jobs[blockIdx.y];
  const auto& s = j.s;
  const auto& c = j.c;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < s.numel;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T g = maximize ? neg(s.grad[i]) : s.grad[i];
    T p = s.param[i];
    if (wd == 2) p = p * c.decay;
    if (wd == 1) g = g + p * c.wd;
    const T m = s.exp_avg[i] * c.beta1 + g * c.one_minus_beta1;
    const T v = s.exp_avg_sq[i] * c.beta2 + (g * g) * c.one_minus_beta2;
    s.exp_avg[i] = m;
    s.exp_avg_sq[i] = v;
    T second = v;
    if (amsgrad) {
      second = maximum(s.max_exp_avg_sq[i], v);
      s.max_exp_avg_sq[i] = second;
    }
    const T denom = sqrt(second) / c.bc2_sqrt + c.eps;
    s.param[i] = p + (m / denom) * c.step_size;
  }
}

template <typename T>
__global__ void sgd_kernel(const SgdJob<T>* __restrict__ jobs, cpu::SgdCoefs<T> c, bool maximize, bool has_wd,
                           bool has_momentum, bool nesterov) {
  const cpu::SgdSegment<T> s = jobs[blockIdx.y].s;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < s.numel;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T d = maximize ? neg(s.grad[i]) : s.grad[i];
    if (has_wd) d = d + s.param[i] * c.wd;
    if (has_momentum) {
      const T b = s.init_buffer ? d : s.momentum_buffer[i] * c.momentum + d * c.one_minus_dampening;
      s.momentum_buffer[i] = b;
      d = nesterov ? d + b * c.momentum : b;
    }
    s.param[i] = s.param[i] + d * c.neg_lr;
  }
}

template <typename T>
__global__ void lion_kernel(const LionJob<T>* __restrict__ jobs, cpu::LionCoefs<T> c, bool has_wd) {
  const cpu::LionSegment<T> s = jobs[blockIdx.y].s;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < s.numel;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    T p = s.param[i];
    if (has_wd) p = p * c.decay;
    const T g = s.grad[i], m = s.exp_avg[i];
    const T interp = m * c.beta1 + g * c.one_minus_beta1;
    s.param[i] = p + sign(interp) * c.neg_lr;
    s.exp_avg[i] = m * c.beta2 + g * c.one_minus_beta2;
  }
}

// Copies the jobs to the device and launches `launch(device_jobs, count, grid)`
// for each run of at most kMaxSegmentsPerLaunch segments.
template <typename Job, typename Launch>
void run_jobs(const Device& device, const std::vector<Job>& jobs, int64_t max_numel, const Launch& launch) {
  if (jobs.empty() || max_numel == 0) return;
  WICK_CHECK(device.is_cuda(), "cuda optimizer step: expected a CUDA device, got ", device);
  DeviceGuard guard(device.index);
  cudaStream_t stream = current_stream();
  const size_t bytes = jobs.size() * sizeof(Job);
  Tensor buf = empty({static_cast<int64_t>(bytes)}, TensorOptions(kUInt8).device(device));
  // Pageable source: the call returns once the bytes are staged, so `jobs` may go.
  WICK_CUDA_CHECK(cudaMemcpyAsync(buf.data_ptr_raw(), jobs.data(), bytes, cudaMemcpyHostToDevice, stream));
  const Job* d = static_cast<const Job*>(buf.data_ptr_raw());
  const unsigned gx = grid_for(max_numel, kThreads, 1024);
  for (size_t first = 0; first < jobs.size(); first += kMaxSegmentsPerLaunch) {
    const unsigned count = static_cast<unsigned>(std::min<size_t>(kMaxSegmentsPerLaunch, jobs.size() - first));
    launch(d + first, dim3(gx, count), stream);
    WICK_CUDA_CHECK_LAUNCH();
  }
}

// The jobs of `segs` (make(segment) each) and the largest segment.
template <typename Seg, typename Make>
auto jobs_of(std::span<const Seg> segs, const Make& make) {
  std::vector<decltype(make(segs[0]))> jobs;
  int64_t max_numel = 0;
  for (const Seg& s : segs) {
    jobs.push_back(make(s));
    max_numel = std::max(max_numel, s.numel);
  }
  return std::pair{jobs, max_numel};
}

template <typename T>
void adam_impl(const Device& device, std::span<const cpu::AdamSegment<T>> segs, const cpu::AdamHyper& h) {
  const auto [jobs, max_numel] = jobs_of(segs, [&](const cpu::AdamSegment<T>& s) {
    return AdamJob<T>{s, cpu::adam_coefs<T>(h, s.step)};
  });
  const int wd = h.weight_decay == 0 ? 0 : h.decoupled_weight_decay ? 2 : 1;
  run_jobs(device, jobs, max_numel, [&](const AdamJob<T>* d, dim3 grid, cudaStream_t stream) {
    adam_kernel<T><<<grid, kThreads, 0, stream>>>(d, h.maximize, wd, h.amsgrad);
  });
}

template <typename T>
void sgd_impl(const Device& device, std::span<const cpu::SgdSegment<T>> segs, const cpu::SgdHyper& h) {
  const auto [jobs, max_numel] = jobs_of(segs, [](const cpu::SgdSegment<T>& s) { return SgdJob<T>{s}; });
  const cpu::SgdCoefs<T> c = cpu::sgd_coefs<T>(h);
  run_jobs(device, jobs, max_numel, [&](const SgdJob<T>* d, dim3 grid, cudaStream_t stream) {
    sgd_kernel<T><<<grid, kThreads, 0, stream>>>(d, c, h.maximize, h.weight_decay != 0, h.momentum != 0, h.nesterov);
  });
}

template <typename T>
void lion_impl(const Device& device, std::span<const cpu::LionSegment<T>> segs, const cpu::LionHyper& h) {
  const auto [jobs, max_numel] = jobs_of(segs, [](const cpu::LionSegment<T>& s) { return LionJob<T>{s}; });
  const cpu::LionCoefs<T> c = cpu::lion_coefs<T>(h);
  run_jobs(device, jobs, max_numel, [&](const LionJob<T>* d, dim3 grid, cudaStream_t stream) {
    lion_kernel<T><<<grid, kThreads, 0, stream>>>(d, c, h.weight_decay != 0);
  });
}

}  // namespace

void adam_step(const Device& d, std::span<const cpu::AdamSegment<float>> s, const cpu::AdamHyper& h) {
  adam_impl(d, s, h);
}
void adam_step(const Device& d, std::span<const cpu::AdamSegment<double>> s, const cpu::AdamHyper& h) {
  adam_impl(d, s, h);
}
void sgd_step(const Device& d, std::span<const cpu::SgdSegment<float>> s, const cpu::SgdHyper& h) {
  sgd_impl(d, s, h);
}
void sgd_step(const Device& d, std::span<const cpu::SgdSegment<double>> s, const cpu::SgdHyper& h) {
  sgd_impl(d, s, h);
}
void lion_step(const Device& d, std::span<const cpu::LionSegment<float>> s, const cpu::LionHyper& h) {
  lion_impl(d, s, h);
}
void lion_step(const Device& d, std::span<const cpu::LionSegment<double>> s, const cpu::LionHyper& h) {
  lion_impl(d, s, h);
}

}  // namespace wick::cuda
