// The CPU thread pool: OpenMP, sized by WICK_NUM_THREADS (default: all cores).
//
// parallel_for splits [begin, end) into contiguous chunks of at least `grain`
// iterations. Nested calls (a kernel inside a parallel region) run serially,
// so kernels never oversubscribe the cores.
#pragma once

#include <cstdint>
#include <functional>

namespace wick {

int get_num_threads();
void set_num_threads(int n);

// f(chunk_begin, chunk_end) on each chunk, possibly in parallel.
void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& f);

}  // namespace wick
