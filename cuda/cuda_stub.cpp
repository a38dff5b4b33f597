// cuda/cuda.h in a build without the CUDA backend (WICK_CUDA=OFF or no nvcc):
// no device is ever available, and actions that need one say why not.
#include "cuda/cuda.h"
#include "cuda/stream.h"

#include "tensor/error.h"

namespace wick::cuda {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  WICK_FAIL(what, ": wick was built without CUDA (WICK_CUDA=OFF or nvcc not found when configuring); "
                  "rebuild with -DWICK_CUDA=ON on a machine with the CUDA toolkit");
}
}  // namespace

bool is_available() { return false; }
int device_count() { return 0; }
bool is_built() { return false; }
int current_device() { no_cuda("cuda::current_device"); }
void set_device(int) { no_cuda("cuda::set_device"); }
std::string device_name(int) { no_cuda("cuda::device_name"); }
void synchronize() {}
MemoryStats memory_stats(int) { return {}; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
void set_memory_limit(int64_t, int) { no_cuda("cuda::set_memory_limit"); }
int64_t memory_limit(int) { return 0; }

// cuda/stream.h: nothing can be constructed, so the members are unreachable.
struct Stream::Impl {};
struct Event::Impl {};
Stream::Stream(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Stream::Stream(int) { no_cuda("cuda::Stream"); }
Stream Stream::current(int) { no_cuda("cuda::Stream::current"); }
Stream Stream::default_stream(int) { no_cuda("cuda::Stream::default_stream"); }
int Stream::device() const { no_cuda("cuda::Stream::device"); }
void Stream::synchronize() const { no_cuda("cuda::Stream::synchronize"); }
bool Stream::query() const { no_cuda("cuda::Stream::query"); }
void Stream::wait_event(const Event&) const { no_cuda("cuda::Stream::wait_event"); }
void Stream::wait_stream(const Stream&) const { no_cuda("cuda::Stream::wait_stream"); }
void* Stream::native_handle() const { no_cuda("cuda::Stream::native_handle"); }
Event::Event(bool) { no_cuda("cuda::Event"); }
void Event::record() { no_cuda("cuda::Event::record"); }
void Event::record(const Stream&) { no_cuda("cuda::Event::record"); }
bool Event::query() const { no_cuda("cuda::Event::query"); }
void Event::synchronize() const { no_cuda("cuda::Event::synchronize"); }
float Event::elapsed_time(const Event&) const { no_cuda("cuda::Event::elapsed_time"); }
bool Event::recorded() const { no_cuda("cuda::Event::recorded"); }
void* Event::native_handle() const { no_cuda("cuda::Event::native_handle"); }
StreamGuard::StreamGuard(const Stream& s) : stream_(s) { no_cuda("cuda::StreamGuard"); }
StreamGuard::~StreamGuard() = default;
void record_stream(const Tensor&, const Stream&) { no_cuda("cuda::record_stream"); }

}  // namespace wick::cuda
