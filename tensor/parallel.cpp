#include "tensor/parallel.h"

#include <sched.h>

#include <cstdlib>
#include <exception>
#include <thread>

#include "tensor/error.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace wick {

namespace {

int env_count(const char* name) {
  if (const char* s = std::getenv(name)) {
    int n = std::atoi(s);
    if (n > 0) return n;
  }
  return 0;
}

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

int initial_threads() {
  if (int n = env_count("WICK_NUM_THREADS")) return n;
  int cores = usable_cores();
  if (int omp = env_count("OMP_NUM_THREADS")) return std::min(omp, cores);
  return cores;
}

void apply_to_openmp(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
  omp_set_dynamic(0);
#endif
  (void)n;
}

int& num_threads_ref() {
  static int n = [] {
    int t = initial_threads();
    apply_to_openmp(t);
    return t;
  }();
  return n;
}

// Read the environment when the library loads, on the main thread, so that
// OpenMP's default for that thread is set before any bare parallel region.
[[maybe_unused]] const int g_initialized = num_threads_ref();

thread_local bool t_serial = false;

}  // namespace

int get_num_threads() { return num_threads_ref(); }

void set_num_threads(int n) {
  WICK_CHECK(n > 0, "set_num_threads: expected a positive count, got ", n);
  num_threads_ref() = n;
  apply_to_openmp(n);
}

bool in_parallel_region() {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

void set_thread_serial(bool serial) { t_serial = serial; }
bool thread_is_serial() { return t_serial; }

int available_threads() { return (t_serial || in_parallel_region()) ? 1 : get_num_threads(); }

namespace detail {

void parallel_for_impl(int64_t begin, int64_t end, int64_t grain, ChunkRef f) {
  const int64_t n = end - begin;
  grain = std::max<int64_t>(grain, 1);
  const int threads = available_threads();
  if (threads <= 1 || n <= grain) {
    f.call(f.object, begin, end);
    return;
  }
#ifdef _OPENMP
  // Even chunks (sizes differ by at most one), each of at least `grain`.
  const int64_t chunks = std::min<int64_t>(threads, n / grain);
  if (chunks <= 1) {
    f.call(f.object, begin, end);
    return;
  }
  // An exception may not leave an OpenMP region: keep the first, rethrow after.
  std::exception_ptr error;
#pragma omp parallel for num_threads(static_cast<int>(chunks)) schedule(static, 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = begin + c * n / chunks;
    const int64_t e = begin + (c + 1) * n / chunks;
    try {
      f.call(f.object, b, e);
    } catch (...) {
#pragma omp critical(wick_parallel_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
#else
  f.call(f.object, begin, end);
#endif
}

}  // namespace detail

}  // namespace wick
