// The caching device allocator: why and how.
//
// cudaMalloc and cudaFree are slow (cudaFree synchronizes the whole device),
// and a training step frees and re-allocates the same tensor sizes thousands
// of times. So, like PyTorch's CUDACachingAllocator and MLX's buffer cache,
// wick never returns memory to the driver on a tensor's death: the block goes
// back to a free pool and serves the next request of a similar size.
//
//   request n bytes -> rounded size r = max(512, round_up(n, 512))
//   small pool (r <= 1 MiB): blocks carved out of 2 MiB segments
//   large pool (r >  1 MiB): segments of round_up(r, 2 MiB)
//   best fit: the smallest free block of the same stream with size >= r;
//     it is split when the rest is worth keeping (>= 512 B in the small
//     pool, > 1 MiB in the large pool: smaller remainders stay inside the
//     block as slack instead of fragmenting the pool)
//   free: the block is merged with its free neighbours in the same segment
//     (segments are contiguous cudaMalloc ranges, blocks a linked list), so
//     a fully free segment is again one block that empty_cache can release
//   out of memory (the limit or the driver says no): release every fully
//     free cached segment and try once more, then throw wick::Error with the
//     request, what is allocated, cached, the limit and the device's free/total
//
// Blocks are keyed by stream: a block allocated on stream S (the current
// stream at allocation) is only reused on S, where the stream's own ordering
// makes the reuse safe without events (the kernels that used it run before
// the ones that will). A block also used on another stream T must be told so
// (record_stream, behind cuda::record_stream in cuda/stream.h, like PyTorch's
// Tensor.record_stream): its free then records an event on each such T, and
// the block waits in a pending list until those events have completed
// (polled at every allocate; waited for by empty_cache and before an
// out-of-memory error), so T's last reads finish before S can reuse it.
//
// The bookkeeping (CachingAllocator) is plain C++ over an injected pair of
// raw allocate/free functions: tests drive it on the CPU with a fake device
// (tests/cuda/test_allocator.cpp), and the CUDA build plugs in cudaMalloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cuda/cuda.h"

namespace wick::cuda {

// A stream's identity for the pools (a cudaStream_t cast to an integer).
using StreamId = uintptr_t;
// An event's identity (a cudaEvent_t cast to an integer).
using EventId = uintptr_t;

// What the allocator asks of the device. `alloc` returns nullptr when the
// device has no memory (it must not throw for that); `mem_info` returns
// (free, total) bytes of the device, for error messages (may be empty).
// The event functions serve record_stream (they may be empty when it is never
// used): record an event now on a stream, ask whether it has completed
// (never blocking), wait for it, destroy it.
struct RawMemory {
  std::function<void*(size_t)> alloc;
  std::function<void(void*)> free;
  std::function<std::pair<size_t, size_t>()> mem_info;
  std::function<EventId(StreamId)> record_event;
  std::function<bool(EventId)> event_done;
  std::function<void(EventId)> event_sync;
  std::function<void(EventId)> event_destroy;
};

class CachingAllocator {
 public:
  static constexpr size_t kMinBlock = 512;               // granularity and smallest block
  static constexpr size_t kSmallRequest = 1 << 20;       // <= 1 MiB: small pool
  static constexpr size_t kSmallSegment = 2 << 20;       // small pool segments
  static constexpr size_t kLargeRound = 2 << 20;         // large segments are multiples of 2 MiB

  // `name` appears in error messages ("cuda:0").
  CachingAllocator(RawMemory raw, std::string name);
  ~CachingAllocator();  // releases every segment (blocks still held by tensors leak to the driver's teardown)
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Returns a block of at least `bytes` bytes usable on `stream` (nullptr for 0 bytes).
  void* allocate(size_t bytes, StreamId stream);
  // Gives back a block from allocate(); nullptr is ignored, a foreign pointer throws.
  void deallocate(void* p);
  // The live block at p is used on `stream` as well as its own: when it is
  // freed it waits for the work queued on `stream` until then (see the top of
  // this file). Recording its own stream, or a stream twice, changes nothing.
  // False when p is not a live block of this allocator (memory it does not
  // manage, which it never reuses either).
  bool record_stream(void* p, StreamId stream);
  // Freed blocks still waiting for other streams' events.
  size_t pending_frees() const;

  MemoryStats stats() const;
  void reset_peak();
  // Returns every fully free segment to the device.
  void empty_cache();
  // 0 = no limit. Lowering it below what is reserved releases the cache.
  void set_limit(int64_t bytes);
  int64_t limit() const;

  // The rounding rules (exposed for tests).
  static size_t round_size(size_t bytes);
  static size_t segment_size(size_t rounded);

 private:
  struct Block {
    char* ptr = nullptr;
    size_t size = 0;
    StreamId stream = 0;
    bool small = false;      // which pool
    bool allocated = false;
    Block* prev = nullptr;   // neighbours inside the same segment
    Block* next = nullptr;
    std::vector<StreamId> uses;  // other streams it was recorded on (record_stream)
  };
  struct PendingFree {  // a freed block and the events it waits for
    Block* block;
    std::vector<EventId> events;
  };
  struct BySize {  // pool order: stream, then size (best fit), then address
    bool operator()(const Block* a, const Block* b) const {
      if (a->stream != b->stream) return a->stream < b->stream;
      if (a->size != b->size) return a->size < b->size;
      return reinterpret_cast<uintptr_t>(a->ptr) < reinterpret_cast<uintptr_t>(b->ptr);
    }
  };
  using Pool = std::set<Block*, BySize>;

  Pool& pool_for(bool small) { return small ? small_pool_ : large_pool_; }
  Block* find_free(size_t size, bool small, StreamId stream);
  Block* new_segment(size_t size, bool small, StreamId stream, size_t request);
  void release_free_segments();  // caller holds mu_
  void free_block(Block* b);      // back to its pool, merged with free neighbours; caller holds mu_
  // Frees the pending blocks whose events have completed; with wait, waits
  // for every event and frees them all. Caller holds mu_.
  void process_pending(bool wait);
  [[noreturn]] void out_of_memory(size_t request, size_t rounded, const char* why);

  RawMemory raw_;
  std::string name_;
  mutable std::mutex mu_;
  Pool small_pool_, large_pool_;
  std::unordered_map<void*, Block*> live_;  // allocated blocks by address
  std::vector<PendingFree> pending_;        // freed, waiting for other streams (still counted as allocated)
  MemoryStats stats_;
  int64_t limit_ = 0;
};

// The device allocators (CUDA builds only; cuda/device_allocator.cpp).
// Allocates on device `device` for its current stream; throws wick::Error on
// out of memory or when no device is usable.
void* device_alloc(size_t bytes, int device);
void device_free(void* p, int device);
// CachingAllocator::record_stream on device `device`'s allocator.
bool device_record_stream(void* p, int device, StreamId stream);

}  // namespace wick::cuda
