// This machine's peak: FMA throughput (AVX2 and, where supported, AVX-512;
// one thread and all threads) and memory bandwidth (STREAM read / copy /
// triad on 64 MiB arrays, one thread and all threads). The probes live in
// bench/peak.h so other benchmarks report a fraction of these numbers.
//
//   bench_peak            prints the table
#include <cstdio>
#include <thread>

#include "peak.h"

int main() {
  using namespace wick::bench;
  const int all = std::max(1u, std::thread::hardware_concurrency());
  std::printf("FMA throughput, float (GFLOP/s; double is half)\n");
  std::printf("  %-8s %10s %10s\n", "isa", "1 thread", "all threads");
  std::printf("  %-8s %10.1f %10.1f   (%d threads)\n", "avx2", fma_gflops(false, 1), fma_gflops(false, all), all);
  if (has_avx512())
    std::printf("  %-8s %10.1f %10.1f\n", "avx512", fma_gflops(true, 1), fma_gflops(true, all));
  else
    std::printf("  %-8s %10s %10s\n", "avx512", "n/a", "n/a");
  std::printf("memory bandwidth (GB/s, 64 MiB arrays)\n");
  std::printf("  %-8s %10s %10s %10s\n", "threads", "read", "copy", "triad");
  for (int t : {1, all}) {
    const Bandwidth b = stream_gbs(t);
    std::printf("  %-8d %10.1f %10.1f %10.1f\n", t, b.read, b.copy, b.triad);
    if (all == 1) break;
  }
  return 0;
}
