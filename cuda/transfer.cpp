// Copies across devices (cuda/kernels/copy.h: copy_across_devices): host to
// device, device to host, device to device. The bytes move in the source's
// dtype and layout; the conversion, broadcast and strided scatter run on the
// GPU (cuda::copy), so every dtype pair works, float16/bfloat16 included,
// and the host side only ever sees contiguous same-dtype memcpys.
//
//   host -> device: contiguous source staged through a pinned buffer and
//     copied asynchronously (cuda/pinned.h); the host may free its tensor
//     at once. Non-contiguous sources are made contiguous on the CPU first.
//   device -> host: cudaMemcpyAsync then a stream synchronize, so the CPU
//     may read the result as soon as this returns.
//   device -> device: cudaMemcpyPeerAsync of the contiguous source, ordered
//     after the destination stream's pending work and waited for.
#include <cstring>

#include "cuda/kernels/copy.h"
#include "cuda/pinned.h"
#include "cuda/runtime.h"
#include "ops/cpu/fill.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

size_t nbytes_of(const Tensor& t) { return static_cast<size_t>(t.numel()) * t.element_size(); }

bool same_plain_layout(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.sizes() == b.sizes() && a.is_contiguous() && b.is_contiguous();
}

// Contiguous copy of t on its own device, no autograd (t itself when already contiguous).
Tensor contiguous_here(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor c = empty(t.sizes(), TensorOptions(t.dtype()).device(t.device()));
  if (t.is_cpu())
    cpu::copy(c, t);
  else
    copy(c, t);
  return c;
}

// dst (CUDA, contiguous) <- src (CPU, contiguous), same dtype and size.
void host_to_device(const Tensor& dst, const Tensor& src) {
  const size_t n = nbytes_of(src);
  DeviceGuard guard(dst.device().index);
  cudaStream_t stream = current_stream();
  if (n <= kMaxPinnedStaging) {
    void* staging = pinned_acquire(n);
    std::memcpy(staging, src.data_ptr_raw(), n);
    const cudaError_t err = cudaMemcpyAsync(dst.data_ptr_raw(), staging, n, cudaMemcpyHostToDevice, stream);
    pinned_release(staging, stream);
    WICK_CUDA_CHECK(err);
  } else {
    // From pageable memory the call returns once the driver has staged the
    // source, so the caller may free it; the device side is stream-ordered.
    WICK_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr_raw(), src.data_ptr_raw(), n, cudaMemcpyHostToDevice, stream));
  }
}

// dst (CPU, contiguous) <- src (CUDA, contiguous), same dtype and size; synchronous.
void device_to_host(const Tensor& dst, const Tensor& src) {
  DeviceGuard guard(src.device().index);
  cudaStream_t stream = current_stream();
  WICK_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr_raw(), src.data_ptr_raw(), nbytes_of(src), cudaMemcpyDeviceToHost,
                                  stream));
  WICK_CUDA_CHECK(cudaStreamSynchronize(stream));
}

// dst (CUDA device a, contiguous) <- src (CUDA device b, contiguous), same dtype and size.
void device_to_device(const Tensor& dst, const Tensor& src) {
  const int dd = dst.device().index, sd = src.device().index;
  {
    // dst may be a recycled block that queued kernels on its device still use.
    DeviceGuard guard(dd);
    WICK_CUDA_CHECK(cudaStreamSynchronize(current_stream()));
  }
  DeviceGuard guard(sd);
  cudaStream_t stream = current_stream();
  WICK_CUDA_CHECK(cudaMemcpyPeerAsync(dst.data_ptr_raw(), dd, src.data_ptr_raw(), sd, nbytes_of(src), stream));
  WICK_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace

void copy_across_devices(const Tensor& dst, const Tensor& src) {
  WICK_CHECK(dst.is_cuda() || src.is_cuda(), "cuda::copy_across_devices: neither tensor is on a CUDA device");
  if (dst.numel() == 0) return;
  if (dst.is_cuda() && src.is_cuda() && dst.device() == src.device()) {
    copy(dst, src);
    return;
  }
  if (dst.is_cuda()) {
    // From the host, or from another GPU: move src's bytes as they are, then
    // convert/broadcast/scatter on dst's device.
    const Tensor s = contiguous_here(src);
    const bool direct = same_plain_layout(dst, s);
    const Tensor landing = direct ? dst : empty(s.sizes(), TensorOptions(s.dtype()).device(dst.device()));
    if (s.is_cpu())
      host_to_device(landing, s);
    else
      device_to_device(landing, s);
    if (!direct) copy(dst, landing);
    return;
  }
  // To the host: convert/broadcast on the GPU into dst's dtype and shape, then one memcpy.
  Tensor staged = src;
  if (!same_plain_layout(dst, src)) {
    staged = empty(dst.sizes(), TensorOptions(dst.dtype()).device(src.device()));
    copy(staged, src);
  }
  if (dst.is_contiguous()) {
    device_to_host(dst, staged);
  } else {
    Tensor host = empty(dst.sizes(), TensorOptions(dst.dtype()));
    device_to_host(host, staged);
    cpu::copy(dst, host);
  }
}

}  // namespace wick::cuda
