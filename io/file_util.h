// File plumbing shared by the io/ formats (npy, safetensors, checkpoints).
//
// Atomic writes. A file is never written in place: AtomicFileWriter fills
// `<path>.tmp.<pid>` in the same directory, and commit() flushes it, fsyncs
// it, renames it over `<path>` (rename(2) is atomic within one file system)
// and fsyncs the directory so that the rename itself is durable. A process
// killed at any moment therefore leaves either the old file or the new one,
// never a mix; at worst a stray `*.tmp.<pid>` file remains, which readers
// ignore. A writer destroyed without commit() (an exception, an early return)
// removes its temporary file.
//
// Tensor bytes. The formats store elements in row-major order, so a tensor is
// written from a contiguous CPU copy. contiguous_cpu() makes one for every
// dtype, float16/bfloat16 included (the CPU copy kernels reject those), by
// moving element-sized byte blocks.
#pragma once

#include <cstdio>
#include <string>

#include "tensor/tensor.h"

namespace wick::io {

class AtomicFileWriter {
 public:
  // Creates `<path>.tmp.<pid>`. `op` names the caller in error messages.
  AtomicFileWriter(std::string path, std::string op);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t nbytes);
  void write(const std::string& bytes) { write(bytes.data(), bytes.size()); }
  // Flush, fsync, rename over the final path, fsync the directory.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  std::string path_, tmp_, op_;
  std::FILE* file_ = nullptr;
};

// The elements of `t` in row-major order as a contiguous, detached CPU tensor
// of the same dtype (`t` itself, detached, when it already is one).
Tensor contiguous_cpu(const Tensor& t);

}  // namespace wick::io
