// The caching allocator's bookkeeping (cuda/allocator.h explains the design).
// Plain C++: compiled in every build so its tests run without a GPU.
#include "cuda/allocator.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "tensor/error.h"

namespace wick::cuda {

namespace {
size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

std::string fmt_bytes(int64_t b) {
  const double v = static_cast<double>(b);
  char buf[64];
  if (b < 1024)
    std::snprintf(buf, sizeof buf, "%lld bytes", static_cast<long long>(b));
  else if (v < 1024.0 * 1024)
    std::snprintf(buf, sizeof buf, "%.2f KiB", v / 1024);
  else if (v < 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.2f MiB", v / (1024.0 * 1024));
  else
    std::snprintf(buf, sizeof buf, "%.2f GiB", v / (1024.0 * 1024 * 1024));
  return buf;
}
}  // namespace

size_t CachingAllocator::round_size(size_t bytes) {
  return bytes < kMinBlock ? kMinBlock : round_up(bytes, kMinBlock);
}

size_t CachingAllocator::segment_size(size_t rounded) {
  return rounded <= kSmallRequest ? kSmallSegment : round_up(rounded, kLargeRound);
}

CachingAllocator::CachingAllocator(RawMemory raw, std::string name) : raw_(std::move(raw)), name_(std::move(name)) {}

CachingAllocator::~CachingAllocator() {
  // Only the free segments are ours to release; a live block belongs to a
  // tensor that outlived the allocator (static destruction order), and its
  // segment is left to the driver's teardown.
  std::lock_guard<std::mutex> lock(mu_);
  try {
    process_pending(/*wait=*/true);
  } catch (...) {  // a destructor must not throw; the pending blocks' segments stay with the driver
  }
  release_free_segments();
}

CachingAllocator::Block* CachingAllocator::find_free(size_t size, bool small, StreamId stream) {
  Pool& pool = pool_for(small);
  Block key;
  key.stream = stream;
  key.size = size;
  key.ptr = nullptr;
  auto it = pool.lower_bound(&key);
  if (it == pool.end() || (*it)->stream != stream) return nullptr;
  Block* b = *it;
  pool.erase(it);
  return b;
}

CachingAllocator::Block* CachingAllocator::new_segment(size_t size, bool small, StreamId stream, size_t request) {
  const size_t seg = segment_size(size);
  auto over_limit = [&] { return limit_ > 0 && stats_.reserved + static_cast<int64_t>(seg) > limit_; };
  void* p = nullptr;
  if (!over_limit()) p = raw_.alloc(seg);
  if (p == nullptr) {
    // Out of memory, by the limit or the device: wait for the blocks that
    // other streams still use, give the cache back, retry once.
    const bool by_limit = over_limit();
    process_pending(/*wait=*/true);
    release_free_segments();
    if (over_limit()) out_of_memory(request, size, "the memory limit would be exceeded");
    p = raw_.alloc(seg);
    if (p == nullptr) out_of_memory(request, size, by_limit ? "the memory limit would be exceeded" : "the device has no memory left");
  }
  ++stats_.num_device_allocs;
  stats_.reserved += static_cast<int64_t>(seg);
  auto* b = new Block;
  b->ptr = static_cast<char*>(p);
  b->size = seg;
  b->stream = stream;
  b->small = small;
  return b;
}

void* CachingAllocator::allocate(size_t bytes, StreamId stream) {
  if (bytes == 0) return nullptr;
  const size_t size = round_size(bytes);
  const bool small = size <= kSmallRequest;
  std::lock_guard<std::mutex> lock(mu_);
  if (!pending_.empty()) process_pending(/*wait=*/false);
  Block* b = find_free(size, small, stream);
  if (b == nullptr) b = new_segment(size, small, stream, bytes);

  // Split off the tail when it is worth a block of its own.
  const size_t rest = b->size - size;
  if (small ? rest >= kMinBlock : rest > kSmallRequest) {
    auto* tail = new Block;
    tail->ptr = b->ptr + size;
    tail->size = rest;
    tail->stream = b->stream;
    tail->small = b->small;
    tail->prev = b;
    tail->next = b->next;
    if (b->next) b->next->prev = tail;
    b->next = tail;
    b->size = size;
    pool_for(small).insert(tail);
    ++stats_.num_splits;
  }
  b->allocated = true;
  live_.emplace(b->ptr, b);
  stats_.allocated += static_cast<int64_t>(b->size);
  if (stats_.allocated > stats_.peak_allocated) stats_.peak_allocated = stats_.allocated;
  stats_.cached = stats_.reserved - stats_.allocated;
  return b->ptr;
}

void CachingAllocator::deallocate(void* p) {
  if (p == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  WICK_CHECK(it != live_.end(), "CachingAllocator(", name_, "): freeing pointer ", p,
             " that this allocator did not hand out (or freeing it twice)");
  Block* b = it->second;
  live_.erase(it);
  if (b->uses.empty()) {
    free_block(b);
    return;
  }
  // Used on other streams: free it once their work queued so far is done.
  PendingFree pf{b, {}};
  try {
    for (StreamId s : b->uses) pf.events.push_back(raw_.record_event(s));
  } catch (...) {
    // No event, no safe reuse: the block stays out of the pools for good (a
    // leak, counted as allocated) rather than risk a race. deallocate runs in
    // tensor destructors, so it does not rethrow.
    for (EventId e : pf.events) {
      try {
        raw_.event_destroy(e);
      } catch (...) {
      }
    }
    return;
  }
  b->uses.clear();
  pending_.push_back(std::move(pf));
}

bool CachingAllocator::record_stream(void* p, StreamId stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) return false;
  Block* b = it->second;
  WICK_CHECK(raw_.record_event && raw_.event_done && raw_.event_sync && raw_.event_destroy, "CachingAllocator(",
             name_, "): record_stream needs the device's event functions");
  if (stream != b->stream && std::find(b->uses.begin(), b->uses.end(), stream) == b->uses.end())
    b->uses.push_back(stream);
  return true;
}

size_t CachingAllocator::pending_frees() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_.size();
}

void CachingAllocator::process_pending(bool wait) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    bool done = true;
    for (EventId e : it->events) {
      if (wait) {
        raw_.event_sync(e);
      } else if (!raw_.event_done(e)) {
        done = false;
        break;
      }
    }
    if (!done) {
      ++it;
      continue;
    }
    for (EventId e : it->events) raw_.event_destroy(e);
    free_block(it->block);
    it = pending_.erase(it);
  }
}

void CachingAllocator::free_block(Block* b) {
  b->allocated = false;
  stats_.allocated -= static_cast<int64_t>(b->size);
  stats_.cached = stats_.reserved - stats_.allocated;

  Pool& pool = pool_for(b->small);
  // Merge with free neighbours: they are in the pool and leave it.
  if (b->prev && !b->prev->allocated) {
    Block* prev = b->prev;
    pool.erase(prev);
    prev->size += b->size;
    prev->next = b->next;
    if (b->next) b->next->prev = prev;
    delete b;
    b = prev;
  }
  if (b->next && !b->next->allocated) {
    Block* next = b->next;
    pool.erase(next);
    b->size += next->size;
    b->next = next->next;
    if (next->next) next->next->prev = b;
    delete next;
  }
  pool.insert(b);
}

void CachingAllocator::release_free_segments() {
  for (Pool* pool : {&small_pool_, &large_pool_}) {
    for (auto it = pool->begin(); it != pool->end();) {
      Block* b = *it;
      if (b->prev == nullptr && b->next == nullptr) {  // the whole segment is free
        raw_.free(b->ptr);
        ++stats_.num_device_frees;
        stats_.reserved -= static_cast<int64_t>(b->size);
        delete b;
        it = pool->erase(it);
      } else {
        ++it;
      }
    }
  }
  stats_.cached = stats_.reserved - stats_.allocated;
}

void CachingAllocator::out_of_memory(size_t request, size_t rounded, const char* why) {
  std::string device = "unknown";
  if (raw_.mem_info) {
    const auto [free_b, total_b] = raw_.mem_info();
    device = fmt_bytes(static_cast<int64_t>(free_b)) + " free of " + fmt_bytes(static_cast<int64_t>(total_b));
  }
  WICK_FAIL("CUDA out of memory on ", name_, ": tried to allocate ", fmt_bytes(static_cast<int64_t>(request)),
            " (a segment of ", fmt_bytes(static_cast<int64_t>(segment_size(rounded))), "); ", why, ". ",
            fmt_bytes(stats_.allocated), " allocated by tensors, ", fmt_bytes(stats_.cached), " cached, limit ",
            limit_ > 0 ? fmt_bytes(limit_) : std::string("none"), ", device ", device,
            ". Free tensors you no longer need, reduce the batch size, or raise cuda::set_memory_limit.");
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.peak_allocated = stats_.allocated;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  process_pending(/*wait=*/true);
  release_free_segments();
}

void CachingAllocator::set_limit(int64_t bytes) {
  WICK_CHECK(bytes >= 0, "cuda::set_memory_limit: the limit must be >= 0 bytes (0 = none), got ", bytes);
  std::lock_guard<std::mutex> lock(mu_);
  limit_ = bytes;
  if (limit_ > 0 && stats_.reserved > limit_) release_free_segments();
}

int64_t CachingAllocator::limit() const {
  std::lock_guard<std::mutex> lock(mu_);
  return limit_;
}

}  // namespace wick::cuda
