#include "io/safetensors.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_set>

#include "io/file_util.h"
#include "ops/creation.h"

namespace wick::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors IO assumes a little-endian host (the format is little-endian)");

namespace {

using json = nlohmann::json;

// Hugging Face's reader refuses headers above 100 MB; so do we, so that a
// corrupt length cannot make us allocate gigabytes.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
constexpr const char* kCrcKey = "wick.crc32";

struct DTypeEntry {
  const char* name;
  DType dtype;
};
constexpr DTypeEntry kDTypes[] = {
    {"F64", kFloat64}, {"F32", kFloat32}, {"F16", kFloat16}, {"BF16", kBFloat16},
    {"I64", kInt64},   {"I32", kInt32},   {"U8", kUInt8},    {"BOOL", kBool},
};
// Valid safetensors dtypes that wick has no dtype for.
constexpr const char* kUnsupported[] = {"I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3",
                                        "F6_E3M2", "F4", "C64"};

// One tensor as the header describes it.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;  // byte offsets into the data buffer
};

struct Header {
  std::vector<Entry> entries;  // sorted by offset (file order)
  Metadata metadata;
  uint64_t data_start = 0;  // file offset of the data buffer
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

// zlib's crc32 takes 32-bit lengths: feed large buffers in pieces.
uint32_t crc32_update(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const size_t chunk = std::min<size_t>(n, 1u << 30);
    crc = static_cast<uint32_t>(::crc32(crc, p, static_cast<uInt>(chunk)));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

std::string shape_text(const json& shape) { return shape.dump(); }

Header read_header(std::FILE* f, const std::string& path, uint64_t file_size) {
  const std::string where = "load_safetensors: " + path;
  WICK_CHECK(file_size >= 8, where, " is truncated: ", file_size,
             " bytes, fewer than the 8-byte header length (not a safetensors file?)");
  unsigned char len_bytes[8];
  WICK_CHECK(std::fread(len_bytes, 1, 8, f) == 8, where, ": read failed");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  WICK_CHECK(n <= file_size - 8, where, " is truncated or corrupt: the header length is ", n,
             " bytes but the file holds only ", file_size - 8, " bytes after it");
  WICK_CHECK(n <= kMaxHeaderBytes, where, " is corrupt: header length ", n, " exceeds the ", kMaxHeaderBytes,
             "-byte limit");
  WICK_CHECK(n >= 2, where, " is corrupt: header length ", n, " is too short for a JSON object");
  std::string text(n, '\0');
  WICK_CHECK(std::fread(text.data(), 1, n, f) == n, where, ": read failed");
  WICK_CHECK(text[0] == '{', where, " is corrupt: the header does not start with '{' (not a safetensors file?)");

  // Parse, noting duplicate top-level names (a JSON parser keeps only the last).
  std::unordered_set<std::string> seen;
  std::string duplicate;
  auto on_event = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::key && depth == 1 && duplicate.empty()) {
      std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second) duplicate = key;
    }
    return true;
  };
  json h;
  try {
    h = json::parse(text, on_event);
  } catch (const json::exception& e) {
    WICK_FAIL(where, " is corrupt: the header is not valid JSON: ", e.what());
  }
  WICK_CHECK(h.is_object(), where, " is corrupt: the header is not a JSON object");
  WICK_CHECK(duplicate.empty(), where, " is corrupt: tensor '", duplicate, "' appears twice in the header");

  Header out;
  out.data_start = 8 + n;
  const uint64_t data_size = file_size - out.data_start;
  for (const auto& [name, v] : h.items()) {
    if (name == "__metadata__") {
      WICK_CHECK(v.is_object(), where, " is corrupt: __metadata__ is not an object");
      for (const auto& [k, s] : v.items()) {
        WICK_CHECK(s.is_string(), where, " is corrupt: metadata '", k, "' is not a string");
        out.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    const std::string what = where + ": tensor '" + name + "'";
    WICK_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), what,
               " needs an object with dtype, shape and data_offsets");
    const json& dt = v["dtype"];
    const json& shape = v["shape"];
    const json& offs = v["data_offsets"];
    WICK_CHECK(dt.is_string(), what, ": dtype is not a string");
    const std::string dts = dt.get<std::string>();
    std::optional<DType> dtype;
    for (const auto& e : kDTypes)
      if (dts == e.name) dtype = e.dtype;
    if (!dtype) {
      for (const char* u : kUnsupported)
        WICK_CHECK(dts != u, what, " has dtype ", dts,
                   ", which wick does not support (supported: F64 F32 F16 BF16 I64 I32 U8 BOOL)");
      WICK_FAIL(what, " has unknown dtype '", dts, "'");
    }
    WICK_CHECK(shape.is_array(), what, ": shape is not an array");
    Entry e{name, *dtype, {}, 0, 0};
    uint64_t numel = 1;
    for (const json& d : shape) {
      WICK_CHECK(d.is_number_unsigned() && d.get<uint64_t>() <= uint64_t(INT64_MAX), what, ": bad shape ",
                 shape_text(shape));
      const uint64_t dv = d.get<uint64_t>();
      WICK_CHECK(!__builtin_mul_overflow(numel, dv, &numel), what, ": shape ", shape_text(shape), " is too large");
      e.shape.push_back(static_cast<int64_t>(dv));
    }
    uint64_t nbytes = 0;
    WICK_CHECK(!__builtin_mul_overflow(numel, dtype_size(*dtype), &nbytes) && numel <= uint64_t(INT64_MAX), what,
               ": shape ", shape_text(shape), " is too large");
    WICK_CHECK(offs.is_array() && offs.size() == 2 && offs[0].is_number_unsigned() && offs[1].is_number_unsigned(),
               what, ": data_offsets must be two non-negative integers, got ", offs.dump());
    e.begin = offs[0].get<uint64_t>();
    e.end = offs[1].get<uint64_t>();
    WICK_CHECK(e.begin <= e.end, what, ": data_offsets [", e.begin, ", ", e.end, "] are reversed");
    WICK_CHECK(e.end - e.begin == nbytes, what, ": shape ", shape_text(shape), " of ", dts, " needs ", nbytes,
               " bytes but data_offsets [", e.begin, ", ", e.end, "] span ", e.end - e.begin);
    out.entries.push_back(std::move(e));
  }

  // The entries must tile the data buffer exactly.
  std::stable_sort(out.entries.begin(), out.entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  uint64_t pos = 0;
  for (const Entry& e : out.entries) {
    WICK_CHECK(e.begin >= pos, where, " is corrupt: tensor '", e.name, "' at [", e.begin, ", ", e.end,
               ") overlaps the previous tensor, which ends at ", pos);
    WICK_CHECK(e.begin == pos, where, " is corrupt: a gap of ", e.begin - pos, " bytes before tensor '", e.name,
               "' (the data must be packed)");
    pos = e.end;
  }
  WICK_CHECK(pos <= data_size, where, " is truncated: the header describes ", pos,
             " bytes of tensor data but the file holds ", data_size);
  WICK_CHECK(pos == data_size, where, " is corrupt: ", data_size - pos,
             " bytes after the last tensor are not described by the header");
  return out;
}

// Opens `path` and returns it with its size.
std::pair<FilePtr, uint64_t> open_for_read(const std::string& path) {
  FilePtr f(std::fopen(path.c_str(), "rb"));
  WICK_CHECK(f != nullptr, "load_safetensors: cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  WICK_CHECK(::fstat(::fileno(f.get()), &st) == 0 && S_ISREG(st.st_mode), "load_safetensors: ", path,
             " is not a regular file");
  return {std::move(f), static_cast<uint64_t>(st.st_size)};
}

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.name;
  WICK_FAIL("safetensors: dtype ", dtype, " has no safetensors name");
}

void save_safetensors(const std::string& path, const StateDict& tensors, const Metadata& metadata, bool checksum) {
  // Contiguous CPU copies first: the checksum goes into the header, which precedes the data.
  std::vector<Tensor> data;
  data.reserve(tensors.size());
  // Metadata first, as the reference writer does (filled in once the checksum is known).
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = nlohmann::ordered_json::object();
  uint64_t offset = 0;
  uint32_t crc = static_cast<uint32_t>(::crc32(0, nullptr, 0));
  for (const auto& [name, t] : tensors) {
    WICK_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    WICK_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved and cannot name a tensor");
    Tensor c = contiguous_cpu(t);
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    if (checksum && nbytes) crc = crc32_update(crc, c.data_ptr_raw(), nbytes);
    header[name] = {{"dtype", safetensors_dtype_name(c.dtype())},
                     {"shape", std::vector<int64_t>(c.sizes().begin(), c.sizes().end())},
                     {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(std::move(c));
  }
  Metadata md = metadata;
  if (checksum) md[kCrcKey] = hex32(crc);
  if (md.empty())
    header.erase("__metadata__");
  else
    header["__metadata__"] = md;
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::exception& e) {  // names or metadata that are not UTF-8
    WICK_FAIL("save_safetensors: ", path, ": cannot encode the header: ", e.what());
  }
  // Pad with spaces so that the data buffer starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');

  AtomicFileWriter w(path, "save_safetensors");
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(uint64_t(text.size()) >> (8 * i));
  w.write(len_bytes, 8);
  w.write(text);
  for (const Tensor& c : data) w.write(c.data_ptr_raw(), static_cast<size_t>(c.numel()) * c.element_size());
  w.commit();
}

StateDict load_safetensors(const std::string& path, Metadata* metadata) {
  auto [f, size] = open_for_read(path);
  Header h = read_header(f.get(), path, size);
  // The data buffer follows the header directly; read it in file order.
  StateDict out;
  uint32_t crc = static_cast<uint32_t>(::crc32(0, nullptr, 0));
  for (const Entry& e : h.entries) {
    Tensor t = empty(e.shape, TensorOptions(e.dtype));
    const size_t nbytes = static_cast<size_t>(e.end - e.begin);
    if (nbytes) {
      WICK_CHECK(std::fread(t.data_ptr_raw(), 1, nbytes, f.get()) == nbytes, "load_safetensors: ", path,
                 " is truncated: tensor '", e.name, "' could not be read in full");
      crc = crc32_update(crc, t.data_ptr_raw(), nbytes);
    }
    if (e.dtype == kBool) {
      // A C++ bool must hold 0 or 1; any nonzero byte means true.
      auto* b = static_cast<unsigned char*>(t.data_ptr_raw());
      for (size_t i = 0; i < nbytes; ++i) b[i] = b[i] != 0;
    }
    out.insert(e.name, std::move(t));
  }
  auto it = h.metadata.find(kCrcKey);
  if (it != h.metadata.end()) {
    const std::string& stored = it->second;
    WICK_CHECK(stored.size() == 8 && stored.find_first_not_of("0123456789abcdef") == std::string::npos,
               "load_safetensors: ", path, " is corrupt: malformed ", kCrcKey, " '", stored, "'");
    WICK_CHECK(stored == hex32(crc), "load_safetensors: ", path,
               " is corrupt: checksum mismatch (the header records CRC-32 ", stored, ", the data has ", hex32(crc),
               ")");
  }
  if (metadata) *metadata = std::move(h.metadata);
  return out;
}

Metadata load_safetensors_metadata(const std::string& path) {
  auto [f, size] = open_for_read(path);
  return read_header(f.get(), path, size).metadata;
}

}  // namespace wick::io
