// The CPU thread pool: OpenMP, one team, sized by WICK_NUM_THREADS.
//
// parallel_for splits [begin, end) into at most get_num_threads() contiguous
// chunks of at least `grain` iterations and runs them on the OpenMP team.
// It runs f(begin, end) on the calling thread, with no fork, when
//   - the range holds at most `grain` iterations (tiny loops pay nothing:
//     parallel_for is a template, so this test and the call are inlined),
//   - the thread count is 1,
//   - it is called inside a parallel region (a kernel inside a kernel's
//     chunk): nested calls run serially, so the cores are never oversubscribed,
//   - the calling thread is marked serial (SerialScope below): the DataLoader's
//     worker threads run their kernels serially, since every thread that
//     forks gets its own OpenMP team and k workers x n threads would
//     oversubscribe the n cores the training loop is already using.
// An exception thrown by f on any thread is rethrown on the caller (the
// first one, if several threads throw).
//
// The thread count: WICK_NUM_THREADS if set; otherwise the number of cores
// this process may run on (sched_getaffinity), lowered to OMP_NUM_THREADS
// when that is set and smaller. OpenMP's own default (used by any bare
// `#pragma omp parallel`) is set to the same count, so neither can exceed it.
#pragma once

#include <algorithm>
#include <cstdint>

namespace wick {

int get_num_threads();
// Sets the team size of every later parallel_for (and OpenMP's default).
void set_num_threads(int n);

// Threads a kernel starting here may use: 1 inside a parallel region or on a
// serial thread, get_num_threads() otherwise. Kernels that size their work
// split by the team should ask this rather than get_num_threads().
int available_threads();
// True inside a parallel_for chunk (or any OpenMP parallel region).
bool in_parallel_region();

// Marks the calling thread serial: its parallel_for calls run on it alone.
void set_thread_serial(bool serial);
bool thread_is_serial();

// RAII: the calling thread is serial while the scope lives.
class SerialScope {
 public:
  SerialScope() : previous_(thread_is_serial()) { set_thread_serial(true); }
  ~SerialScope() { set_thread_serial(previous_); }
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  bool previous_;
};

namespace detail {
// A non-owning reference to the chunk function (no std::function, so no heap
// allocation per call for lambdas capturing more than two references).
struct ChunkRef {
  const void* object;
  void (*call)(const void* object, int64_t begin, int64_t end);
};
void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, ChunkRef f);
}  // namespace detail

// f(chunk_begin, chunk_end) on each chunk, possibly in parallel.
template <typename F>
inline void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  if (end <= begin) return;
  if (end - begin <= std::max<int64_t>(grain, 1)) {
    f(begin, end);
    return;
  }
  detail::parallel_for_impl(begin, end, grain,
                            {&f, [](const void* o, int64_t b, int64_t e) { (*static_cast<const F*>(o))(b, e); }});
}

}  // namespace wick
