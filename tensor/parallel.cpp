#include "tensor/parallel.h"

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <thread>

#include "tensor/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace wick {

namespace {
int initial_threads() {
  if (const char* s = std::getenv("WICK_NUM_THREADS")) {
    int n = std::atoi(s);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}
int& num_threads_ref() {
  static int n = initial_threads();
  return n;
}
}  // namespace

int get_num_threads() { return num_threads_ref(); }

void set_num_threads(int n) {
  WICK_CHECK(n > 0, "set_num_threads: expected a positive count, got ", n);
  num_threads_ref() = n;
}

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& f) {
  if (end <= begin) return;
  int64_t n = end - begin;
  grain = std::max<int64_t>(grain, 1);
  int threads = get_num_threads();
#ifdef _OPENMP
  if (threads > 1 && n > grain && !omp_in_parallel()) {
    int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
    int64_t per = (n + chunks - 1) / chunks;
    // An exception may not leave an OpenMP region: keep the first, rethrow after.
    std::exception_ptr error;
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static, 1)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t b = begin + c * per;
      int64_t e = std::min(end, b + per);
      try {
        if (b < e) f(b, e);
      } catch (...) {
#pragma omp critical(wick_parallel_error)
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
    return;
  }
#endif
  (void)threads;
  f(begin, end);
}

}  // namespace wick
