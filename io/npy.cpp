#include "io/npy.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "io/file_util.h"
#include "ops/creation.h"

namespace wick::io {

namespace {

DType parse_descr(const std::string& d, const std::string& path) {
  if (d == "|b1") return kBool;
  if (d == "|u1") return kUInt8;
  if (d == "<i4") return kInt32;
  if (d == "<i8") return kInt64;
  if (d == "<f4") return kFloat32;
  if (d == "<f8") return kFloat64;
  WICK_FAIL("load_npy: ", path, ": unsupported dtype descriptor '", d,
            "' (supported: |b1 |u1 <i4 <i8 <f4 <f8)");
}

const char* descr_of(DType t) {
  switch (t) {
    case kBool: return "|b1";
    case kUInt8: return "|u1";
    case kInt32: return "<i4";
    case kInt64: return "<i8";
    case kFloat32: return "<f4";
    case kFloat64: return "<f8";
    default: WICK_FAIL("save_npy: dtype ", t, " is not supported");
  }
}

// Value of `key` in the header dict, as raw text up to the next top-level comma.
std::string header_field(const std::string& h, const std::string& key, const std::string& path) {
  size_t k = h.find("'" + key + "'");
  WICK_CHECK(k != std::string::npos, "load_npy: ", path, ": header has no '", key, "' field");
  size_t colon = h.find(':', k);
  WICK_CHECK(colon != std::string::npos, "load_npy: ", path, ": malformed header");
  size_t s = colon + 1;
  while (s < h.size() && h[s] == ' ') ++s;
  if (s < h.size() && h[s] == '(') {
    size_t e = h.find(')', s);
    WICK_CHECK(e != std::string::npos, "load_npy: ", path, ": malformed shape");
    return h.substr(s, e - s + 1);
  }
  size_t e = h.find_first_of(",}", s);
  return h.substr(s, e - s);
}

}  // namespace

Tensor load_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  WICK_CHECK(f.good(), "load_npy: cannot open ", path);
  char magic[8];
  f.read(magic, 8);
  WICK_CHECK(f.gcount() == 8 && std::memcmp(magic, "\x93NUMPY", 6) == 0, "load_npy: ", path,
             " is not a .npy file (bad magic)");
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    hlen = b[0] | (b[1] << 8);
  } else {
    WICK_CHECK(magic[6] == 2 || magic[6] == 3, "load_npy: ", path, ": unsupported format version ", int(magic[6]));
    unsigned char b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  }
  WICK_CHECK(f.good() && hlen < (1u << 20), "load_npy: ", path, ": truncated or oversized header");
  std::string header(hlen, '\0');
  f.read(header.data(), hlen);
  WICK_CHECK(static_cast<uint32_t>(f.gcount()) == hlen, "load_npy: ", path, ": truncated header");

  std::string descr = header_field(header, "descr", path);
  descr.erase(std::remove(descr.begin(), descr.end(), '\''), descr.end());
  DType dt = parse_descr(descr, path);
  bool fortran = header_field(header, "fortran_order", path).find("True") != std::string::npos;
  std::string shape_txt = header_field(header, "shape", path);
  WICK_CHECK(shape_txt.size() >= 2 && shape_txt.front() == '(' && shape_txt.back() == ')', "load_npy: ", path,
             ": bad shape ", shape_txt);
  Shape shape;
  int64_t numel = 1;
  {
    std::string inner = shape_txt.substr(1, shape_txt.size() - 2);
    std::stringstream ss(inner);
    std::string tok;
    while (std::getline(ss, tok, ',')) {
      size_t a = tok.find_first_not_of(' ');
      if (a == std::string::npos) continue;
      char* end = nullptr;
      long long v = std::strtoll(tok.c_str() + a, &end, 10);
      WICK_CHECK(end != tok.c_str() + a && v >= 0, "load_npy: ", path, ": bad shape ", shape_txt);
      // A corrupt shape must not overflow the element count.
      WICK_CHECK(v == 0 || numel <= std::numeric_limits<int64_t>::max() / 16 / v, "load_npy: ", path, ": shape ",
                 shape_txt, " is too large");
      numel *= v;
      shape.push_back(v);
    }
  }
  // Check the data is all there before allocating for it.
  const size_t nbytes = static_cast<size_t>(numel) * dtype_size(dt);
  const std::streamoff data_start = f.tellg();
  f.seekg(0, std::ios::end);
  const std::streamoff file_size = f.tellg();
  f.seekg(data_start);
  WICK_CHECK(data_start >= 0 && file_size >= data_start && static_cast<size_t>(file_size - data_start) >= nbytes,
             "load_npy: ", path, ": truncated data (expected ", nbytes, " bytes, the file holds ",
             file_size - data_start, ")");
  Shape storage_shape = shape;
  if (fortran) std::reverse(storage_shape.begin(), storage_shape.end());
  Tensor t = empty(storage_shape, TensorOptions(dt));
  if (nbytes) f.read(static_cast<char*>(t.data_ptr_raw()), static_cast<std::streamsize>(nbytes));
  WICK_CHECK(static_cast<size_t>(f.gcount()) == nbytes || nbytes == 0, "load_npy: ", path, ": truncated data (expected ",
             nbytes, " bytes)");
  if (dt == kBool) {
    // Any nonzero byte is true; a bool object must hold exactly 0 or 1.
    auto* b = static_cast<unsigned char*>(t.data_ptr_raw());
    for (size_t i = 0; i < nbytes; ++i) b[i] = b[i] != 0;
  }
  if (fortran && t.dim() > 1) {
    std::vector<int64_t> rev(t.dim());
    for (int64_t i = 0; i < t.dim(); ++i) rev[i] = t.dim() - 1 - i;
    t = contiguous_cpu(t.permute(rev));
  }
  return t;
}

void save_npy(const std::string& path, const Tensor& t_in) {
  WICK_CHECK(t_in.defined(), "save_npy: undefined tensor");
  const char* descr = descr_of(t_in.dtype());
  Tensor t = contiguous_cpu(t_in);
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape += std::to_string(t.size(i)) + (t.dim() == 1 ? "," : i + 1 < t.dim() ? ", " : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that magic (6) + version (2) + length (2) + header ends on a 64-byte boundary, as numpy does.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  WICK_CHECK(header.size() <= 0xffff, "save_npy: header too long for format 1.0 (", header.size(), " bytes)");
  AtomicFileWriter f(path, "save_npy");
  f.write("\x93NUMPY\x01\x00", 8);
  const uint16_t hl = static_cast<uint16_t>(header.size());
  const char b[2] = {static_cast<char>(hl & 0xff), static_cast<char>(hl >> 8)};
  f.write(b, 2);
  f.write(header);
  f.write(t.data_ptr_raw(), static_cast<size_t>(t.numel()) * t.element_size());
  f.commit();
}

}  // namespace wick::io
