// safetensors files (the format of Hugging Face's `safetensors` library, used
// across the ecosystem for model weights): read and write a StateDict.
//
// Layout of a file:
//   8 bytes       N, the header length, unsigned little-endian
//   N bytes       a JSON object (UTF-8), padded with spaces:
//                   { "__metadata__": { "key": "value", ... },          (optional; strings only)
//                     "<name>": { "dtype": "F32", "shape": [2, 3],
//                                 "data_offsets": [begin, end] }, ... }
//   the rest      the data buffer: each tensor's elements in row-major order,
//                 little-endian, at [begin, end) relative to the buffer start.
// The buffer must be covered exactly: sorted by offset, each tensor starts
// where the previous ended and the last ends at the end of the file; a
// tensor's byte size is numel * element size.
//
// dtypes: F64 F32 F16 BF16 I64 I32 U8 BOOL map to wick's dtypes; I8, I16,
// U16, U32, U64 and the FP8 types have no wick dtype and are rejected with an
// error naming them. Every malformed file (truncated, bad JSON, bad offsets,
// a shape that disagrees with its byte size, duplicate names, ...) raises a
// wick::Error naming the file, and nothing is allocated before the sizes were
// checked against the file's real size.
//
// Writing: tensors go in StateDict order (a load returns them in that order),
// non-contiguous ones are written contiguously and CUDA ones are copied to the
// CPU. The write is atomic (io/file_util.h). wick adds one metadata entry,
// "wick.crc32": the CRC-32 (zlib's) of the data buffer as 8 hex digits; a
// reader that finds it verifies it, so a flipped bit in the data gives
// "checksum mismatch" instead of silently wrong weights. Other readers ignore
// it, since metadata is free-form.
#pragma once

#include <map>
#include <string>

#include "tensor/state_dict.h"

namespace wick::io {

using Metadata = std::map<std::string, std::string>;

// Writes `tensors` and `metadata` to `path` (atomically). `checksum` adds the
// "wick.crc32" metadata entry.
void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata = {},
                      bool checksum = true);

// Reads every tensor (CPU, in file order); fills `metadata` when given.
StateDict load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// Reads and validates only the header, returning its metadata.
Metadata load_safetensors_metadata(const std::string& path);

// The safetensors dtype name of a wick dtype ("F32", "BF16", "BOOL", ...).
const char* safetensors_dtype_name(DType dtype);

}  // namespace wick::io
