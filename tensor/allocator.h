// CPU memory for tensor storage: a caching allocator with size classes.
//
// Blocks are 64-byte aligned (one cache line, the alignment AVX-512 loads
// prefer). Freed blocks are kept in a cache keyed by size class and handed out
// again, so a training loop whose tensors have the same sizes every step stops
// asking the system for memory after its first steps. See allocator.cpp for
// the size classes, the cache limit and the environment variables.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wick {

void* cpu_alloc(size_t nbytes);
void cpu_free(void* p);

// Counters of the CPU allocator, in bytes of blocks (sizes rounded up to their
// size class), like torch.cuda.memory_stats().
struct MemoryStats {
  int64_t current = 0;        // bytes in blocks held by live tensors
  int64_t peak = 0;           // high-water mark of `current` (since start or reset_peak_memory_stats)
  int64_t cached = 0;         // bytes in freed blocks kept for reuse
  int64_t system_allocs = 0;  // allocations requested from the system so far
};

MemoryStats memory_stats();
// peak = current.
void reset_peak_memory_stats();
// Gives every cached block back to the system (cached becomes 0).
void empty_cache();

// The most bytes the cache may hold (the least recently freed blocks go back to
// the system first). 0 disables caching. Default: WICK_CPU_CACHE_LIMIT, or 0
// when WICK_CPU_CACHE=0, or a quarter of the physical memory.
void set_cpu_cache_limit(int64_t bytes);
int64_t cpu_cache_limit();

}  // namespace wick
