// CPU memory for tensor storage: 64-byte aligned blocks (one cache line, and
// the alignment AVX-512 loads prefer). A caching allocator with size classes
// replaces this in the fast-kernels work; the interface stays.
#pragma once

#include <cstddef>

namespace wick {

void* cpu_alloc(size_t nbytes);
void cpu_free(void* p);

}  // namespace wick
