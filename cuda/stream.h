// CUDA streams and events for users: torch.cuda.Stream, torch.cuda.Event,
// `with torch.cuda.stream(s)` (StreamGuard) and Tensor.record_stream.
//
// wick queues every kernel, copy and vendor-library call for a device on
// that device's *current stream*: wick's own non-blocking stream per device
// (Stream::default_stream), or the stream a StreamGuard made current for the
// calling thread. Work on one stream runs in order; work on two streams may
// overlap and is ordered only by events (Event::record, Stream::wait_event,
// Stream::wait_stream) or by synchronizing.
//
//   cuda::Stream side(0);
//   {
//     cuda::StreamGuard g(side);          // ops in this scope queue on `side`
//     y = matmul(x, w);
//   }
//   cuda::Stream::current().wait_stream(side);   // back on the main stream: wait for y
//
// Memory. The caching allocator files a block under the stream current when
// it was allocated and reuses it only there. A tensor allocated on one
// stream and used on another must be recorded with record_stream(t, other)
// before its last reference dies (as in PyTorch); the allocator then holds
// its memory back until the work queued on `other` up to that point is done.
//
// Plain C++ header (no CUDA types): in a build without CUDA every
// constructor and action throws wick::Error saying so.
#pragma once

#include <memory>

namespace wick {
class Tensor;
}

namespace wick::cuda {

class Event;

class Stream {
 public:
  // A new stream on `device` (-1: the current device), non-blocking with
  // respect to the legacy default stream. Destroyed with its last copy.
  explicit Stream(int device = -1);
  // The stream wick queues on for `device` (-1: current) in this thread now.
  static Stream current(int device = -1);
  // wick's own stream of `device` (-1: current), the one used outside any StreamGuard.
  static Stream default_stream(int device = -1);

  int device() const;
  // Blocks until everything queued on the stream so far has finished.
  void synchronize() const;
  // Whether everything queued so far has finished (never blocks).
  bool query() const;
  // Work queued on this stream from now on waits for the work `e` captured
  // at its last record (a no-op for an event never recorded).
  void wait_event(const Event& e) const;
  // Work queued on this stream from now on waits for everything queued on `other` so far.
  void wait_stream(const Stream& other) const;
  // The cudaStream_t, for interop with other CUDA code.
  void* native_handle() const;

  bool operator==(const Stream& o) const { return native_handle() == o.native_handle(); }
  bool operator!=(const Stream& o) const { return !(*this == o); }

 private:
  struct Impl;
  explicit Stream(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

class Event {
 public:
  // enable_timing: elapsed_time works (timing events cost a little more to
  // record). The CUDA event is created at the first record, on the device of
  // the stream recorded.
  explicit Event(bool enable_timing = false);

  // Captures the work queued so far on `s` (default: the current stream of
  // the current device). Later records must use a stream of the same device.
  void record();
  void record(const Stream& s);
  // Whether the captured work has finished (true for an event never recorded; never blocks).
  bool query() const;
  // Blocks until the captured work has finished (returns at once if never recorded).
  void synchronize() const;
  // Milliseconds from this event to `end`, both recorded with timing enabled
  // and both finished (wick::Error otherwise, saying which).
  float elapsed_time(const Event& end) const;
  bool recorded() const;
  // The cudaEvent_t (nullptr before the first record).
  void* native_handle() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Makes `s` the current stream of its device, and its device the current
// device, for the calling thread until the guard dies; both are restored
// then. Guards nest.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& s);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream stream_;  // kept alive while it is current
  int device_ = 0, prev_device_ = 0;
  void* prev_stream_ = nullptr;  // this thread's previous current stream of device_ (nullptr: the default)
};

// Tells the caching allocator that t's memory is used on `s` too (see the
// top of this file). t must be a CUDA tensor; memory the allocator does not
// manage (a tensor wrapping foreign device memory) is left alone.
void record_stream(const Tensor& t, const Stream& s);

}  // namespace wick::cuda
