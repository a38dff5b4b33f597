// Streams and events (cuda/stream.h) and the current stream every CUDA file
// launches on (current_stream(), cuda/runtime.h).
//
// The current stream of a device is per thread: a thread-local table of
// overrides set by StreamGuard, falling back to wick's own stream of the
// device (one per device for the process, created on first use and never
// destroyed: tensors freed during static destruction may still queue work).
#include "cuda/stream.h"

#include <array>
#include <mutex>

#include "cuda/allocator.h"
#include "cuda/cuda.h"
#include "cuda/runtime.h"
#include "tensor/tensor.h"

namespace wick::cuda {

namespace {

constexpr int kMaxDevices = 64;

int resolve(int device, const char* what) {
  WICK_CHECK(is_available(), what, ": no CUDA device is available on this machine");
  const int d = device < 0 ? current_device() : device;
  WICK_CHECK(d < device_count() && d < kMaxDevices, what, ": device index ", d, " out of range (", device_count(),
             " device(s) visible)");
  return d;
}

cudaStream_t default_stream_of(int dev) {
  static std::array<std::once_flag, kMaxDevices> once;
  static std::array<cudaStream_t, kMaxDevices> streams{};
  std::call_once(once[dev], [&] {
    DeviceGuard guard(dev);
    WICK_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[dev], cudaStreamNonBlocking));
  });
  return streams[dev];
}

// This thread's StreamGuard streams, per device (nullptr: the default).
thread_local std::array<cudaStream_t, kMaxDevices> t_current{};

}  // namespace

cudaStream_t current_stream() {
  const int dev = current_device();
  const cudaStream_t s = t_current[dev];
  return s != nullptr ? s : default_stream_of(dev);
}

// ---- Stream -------------------------------------------------------------------

struct Stream::Impl {
  cudaStream_t stream = nullptr;
  int device = 0;
  bool owned = false;  // created by Stream(device): destroyed with the last handle
  ~Impl() {
    if (owned) cudaStreamDestroy(stream);  // a destructor must not throw; work still queued completes first
  }
};

Stream::Stream(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Stream::Stream(int device) : impl_(std::make_shared<Impl>()) {
  impl_->device = resolve(device, "cuda::Stream");
  DeviceGuard guard(impl_->device);
  WICK_CUDA_CHECK(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking));
  impl_->owned = true;
}

Stream Stream::current(int device) {
  auto impl = std::make_shared<Impl>();
  impl->device = resolve(device, "cuda::Stream::current");
  const cudaStream_t s = t_current[impl->device];
  impl->stream = s != nullptr ? s : default_stream_of(impl->device);
  return Stream(std::move(impl));
}

Stream Stream::default_stream(int device) {
  auto impl = std::make_shared<Impl>();
  impl->device = resolve(device, "cuda::Stream::default_stream");
  impl->stream = default_stream_of(impl->device);
  return Stream(std::move(impl));
}

int Stream::device() const { return impl_->device; }

void Stream::synchronize() const { WICK_CUDA_CHECK(cudaStreamSynchronize(impl_->stream)); }

bool Stream::query() const {
  const cudaError_t err = cudaStreamQuery(impl_->stream);
  if (err == cudaErrorNotReady) return false;
  WICK_CUDA_CHECK(err);
  return true;
}

void Stream::wait_event(const Event& e) const {
  if (!e.recorded()) return;
  DeviceGuard guard(impl_->device);
  WICK_CUDA_CHECK(cudaStreamWaitEvent(impl_->stream, static_cast<cudaEvent_t>(e.native_handle()), 0));
}

void Stream::wait_stream(const Stream& other) const {
  if (other == *this) return;
  Event e;
  e.record(other);
  wait_event(e);  // the event may die now: CUDA keeps what the wait needs
}

void* Stream::native_handle() const { return impl_->stream; }

// ---- Event --------------------------------------------------------------------

struct Event::Impl {
  cudaEvent_t event = nullptr;
  int device = -1;
  bool timing = false;
  ~Impl() {
    if (event != nullptr) cudaEventDestroy(event);
  }
};

Event::Event(bool enable_timing) : impl_(std::make_shared<Impl>()) { impl_->timing = enable_timing; }

void Event::record() { record(Stream::current()); }

void Event::record(const Stream& s) {
  DeviceGuard guard(s.device());
  if (impl_->event == nullptr) {
    WICK_CUDA_CHECK(cudaEventCreateWithFlags(&impl_->event, impl_->timing ? cudaEventDefault : cudaEventDisableTiming));
    impl_->device = s.device();
  }
  WICK_CHECK(impl_->device == s.device(), "cuda::Event::record: the event belongs to cuda:", impl_->device,
             " and cannot record a stream of cuda:", s.device(), "; use one event per device");
  WICK_CUDA_CHECK(cudaEventRecord(impl_->event, static_cast<cudaStream_t>(s.native_handle())));
}

bool Event::recorded() const { return impl_->event != nullptr; }

bool Event::query() const {
  if (impl_->event == nullptr) return true;
  const cudaError_t err = cudaEventQuery(impl_->event);
  if (err == cudaErrorNotReady) return false;
  WICK_CUDA_CHECK(err);
  return true;
}

void Event::synchronize() const {
  if (impl_->event != nullptr) WICK_CUDA_CHECK(cudaEventSynchronize(impl_->event));
}

float Event::elapsed_time(const Event& end) const {
  WICK_CHECK(impl_->timing && end.impl_->timing,
             "cuda::Event::elapsed_time: both events need Event(/*enable_timing=*/true)");
  WICK_CHECK(recorded() && end.recorded(), "cuda::Event::elapsed_time: both events must be recorded first");
  WICK_CHECK(query() && end.query(),
             "cuda::Event::elapsed_time: the events' work has not finished yet; call synchronize() on the end event");
  float ms = 0.f;
  WICK_CUDA_CHECK(cudaEventElapsedTime(&ms, impl_->event, end.impl_->event));
  return ms;
}

void* Event::native_handle() const { return impl_->event; }

// ---- StreamGuard --------------------------------------------------------------

StreamGuard::StreamGuard(const Stream& s) : stream_(s), device_(s.device()) {
  prev_device_ = current_device();
  if (prev_device_ != device_) set_device(device_);
  prev_stream_ = t_current[device_];
  t_current[device_] = static_cast<cudaStream_t>(s.native_handle());
}

StreamGuard::~StreamGuard() {
  t_current[device_] = static_cast<cudaStream_t>(prev_stream_);
  if (prev_device_ != device_) cudaSetDevice(prev_device_);  // a destructor must not throw
}

// ---- record_stream ------------------------------------------------------------

void record_stream(const Tensor& t, const Stream& s) {
  WICK_CHECK(t.defined() && t.is_cuda(), "cuda::record_stream: expected a CUDA tensor, got ",
             t.defined() ? t.device().str() : std::string("an undefined tensor"));
  WICK_CHECK(t.device().index == s.device(), "cuda::record_stream: the tensor is on ", t.device().str(),
             " but the stream on cuda:", s.device());
  if (!t.storage() || t.storage()->data() == nullptr) return;  // no memory (an empty tensor)
  device_record_stream(t.storage()->data(), s.device(), reinterpret_cast<StreamId>(s.native_handle()));
}

}  // namespace wick::cuda
