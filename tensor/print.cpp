// Printing a tensor exactly as PyTorch's repr() does (torch 1.13,
// torch/_tensor_str.py, default print options: precision 4, threshold 1000,
// edgeitems 3, linewidth 80):
//
//   tensor([[ 1.5000, -2.0000],
//           [ 0.1250,     nan]], dtype=torch.float64, requires_grad=True)
//
// The algorithm, step by step as in _tensor_str.py:
//  1. Summarize when numel > threshold: each dim longer than 2 * edgeitems
//     shows its first and last edgeitems entries around "...".
//  2. A formatter looks at the values that will be shown. Integers and bools
//     print as Python would ("{}"); floats choose one of three modes from the
//     nonzero finite values: integer-valued ("1., 2."), scientific (when
//     max / min > 1000, max > 1e8, or — for non-integers — min < 1e-4),
//     or fixed with `precision` decimals. Every element is right-aligned to
//     the widest formatted value.
//  3. Rows wrap to the line width; nested dims are separated by a comma,
//     (dims - 1) newlines and indentation to the opening bracket.
//  4. Suffixes (size for empty tensors, dtype when not the default, device,
//     grad_fn / requires_grad) follow, on a new line when the last line would
//     pass the line width.
// Elements are read in place through the strides, so printing a huge tensor
// touches only the entries it shows.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/node.h"
#include "tensor/tensor.h"

namespace wick {

namespace {

constexpr int kPrecision = 4;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;
constexpr int64_t kLineWidth = 80;

// IEEE half and bfloat16 bit patterns to float (printing must not depend on
// the CPU kernels, which do not support these dtypes).
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  float mag;
  if (exp == 0) mag = std::ldexp(static_cast<float>(mant), -24);  // zero / subnormal
  else if (exp == 31) mag = mant ? NAN : INFINITY;
  else mag = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  float out = mag;
  if (sign) out = -out;
  return out;
}
float bfloat16_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Reads element values of a CPU tensor by storage offset (in elements).
class Reader {
 public:
  explicit Reader(const Tensor& t)
      : dtype_(t.dtype()), base_(static_cast<const char*>(t.storage()->data())), size_(dtype_size(t.dtype())) {}
  double as_double(int64_t off) const {
    const char* p = base_ + off * static_cast<int64_t>(size_);
    switch (dtype_) {
      case kBool: return load<bool>(p);
      case kUInt8: return load<uint8_t>(p);
      case kInt32: return load<int32_t>(p);
      case kInt64: return static_cast<double>(load<int64_t>(p));
      case kFloat16: return half_to_float(load<uint16_t>(p));
      case kBFloat16: return bfloat16_to_float(load<uint16_t>(p));
      case kFloat32: return load<float>(p);
      case kFloat64: return load<double>(p);
    }
    return 0;
  }
  int64_t as_int(int64_t off) const {
    const char* p = base_ + off * static_cast<int64_t>(size_);
    switch (dtype_) {
      case kBool: return load<bool>(p);
      case kUInt8: return load<uint8_t>(p);
      case kInt32: return load<int32_t>(p);
      case kInt64: return load<int64_t>(p);
      default: return static_cast<int64_t>(as_double(off));
    }
  }

 private:
  template <typename T>
  static T load(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  DType dtype_;
  const char* base_;
  size_t size_;
};

// Python's float formatting for the three modes ("{:.4f}", "{:.4e}", "{:.0f}").
// glibc's printf rounds the exact binary value like Python does; only the
// spelling of non-finite values differs ("-nan").
std::string fmt_double(double v, char conv, int precision) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[512];
  const char spec[] = {'%', '.', '*', conv, '\0'};
  std::snprintf(buf, sizeof buf, spec, precision, v);
  return buf;
}

enum class Kind { Bool, Int, Float };

class Formatter {
 public:
  Formatter(Kind kind, const Reader& r, const std::vector<int64_t>& offsets) : kind_(kind), reader_(r) {
    if (kind_ != Kind::Float) {
      for (int64_t off : offsets) width_ = std::max(width_, format_raw(off).size());
      return;
    }
    std::vector<double> vals;  // nonzero finite
    for (int64_t off : offsets) {
      const double v = r.as_double(off);
      if (std::isfinite(v) && v != 0) vals.push_back(v);
    }
    if (vals.empty()) return;  // int mode, width 1
    double lo = std::abs(vals[0]), hi = lo;
    for (double v : vals) {
      lo = std::min(lo, std::abs(v));
      hi = std::max(hi, std::abs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    sci_mode_ = hi / lo > 1000.0 || hi > 1.0e8 || (!int_mode_ && lo < 1.0e-4);
    for (double v : vals) {
      if (sci_mode_) width_ = std::max(width_, fmt_double(v, 'e', kPrecision).size());
      else if (int_mode_) width_ = std::max(width_, fmt_double(v, 'f', 0).size() + 1);
      else width_ = std::max(width_, fmt_double(v, 'f', kPrecision).size());
    }
  }

  size_t width() const { return width_; }

  // The element at `off`, right-aligned to the common width.
  std::string format(int64_t off) const {
    std::string s = format_raw(off);
    if (s.size() < width_) s.insert(0, width_ - s.size(), ' ');
    return s;
  }

 private:
  std::string format_raw(int64_t off) const {
    switch (kind_) {
      case Kind::Bool: return reader_.as_int(off) ? "True" : "False";
      case Kind::Int: return std::to_string(reader_.as_int(off));
      case Kind::Float: break;
    }
    const double v = reader_.as_double(off);
    if (sci_mode_) return fmt_double(v, 'e', kPrecision);
    if (int_mode_) return fmt_double(v, 'f', 0) + (std::isfinite(v) ? "." : "");
    return fmt_double(v, 'f', kPrecision);
  }

  Kind kind_;
  const Reader& reader_;
  bool int_mode_ = true;
  bool sci_mode_ = false;
  size_t width_ = 1;
};

// The indices of dim d that are shown: all, or the first and last edgeitems
// (-1 marks the "..." between them).
std::vector<int64_t> shown_indices(int64_t n, bool summarize) {
  std::vector<int64_t> idx;
  if (summarize && n > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
    idx.push_back(-1);
    for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
  } else {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  }
  return idx;
}

class Printer {
 public:
  Printer(const Tensor& t, bool summarize) : t_(t), summarize_(summarize) {}

  // Storage offsets of every shown element, in order.
  std::vector<int64_t> shown_offsets() const {
    std::vector<int64_t> out;
    collect(0, t_.offset(), out);
    return out;
  }

  std::string str(const Formatter& f, int64_t indent) const { return sub_str(f, 0, t_.offset(), indent); }

 private:
  void collect(int64_t d, int64_t off, std::vector<int64_t>& out) const {
    if (d == t_.dim()) {
      out.push_back(off);
      return;
    }
    for (int64_t i : shown_indices(t_.size(d), summarize_))
      if (i >= 0) collect(d + 1, off + i * t_.stride(d), out);
  }

  // The sub-tensor at dims [d, ndim) starting at storage offset `off`.
  std::string sub_str(const Formatter& f, int64_t d, int64_t off, int64_t indent) const {
    const int64_t ndim = t_.dim();
    if (ndim == 0) return f.format(off);
    const std::vector<int64_t> idx = shown_indices(t_.size(d), summarize_);
    std::string out = "[";
    if (d == ndim - 1) {
      // A row: elements wrap after `per_line` entries (width + ", ").
      const int64_t elem_len = static_cast<int64_t>(f.width()) + 2;
      const int64_t per_line = std::max<int64_t>(1, (kLineWidth - indent) / elem_len);
      for (size_t k = 0; k < idx.size(); ++k) {
        if (k > 0) out += k % per_line == 0 ? ",\n" + std::string(indent + 1, ' ') : ", ";
        out += idx[k] < 0 ? " ..." : f.format(off + idx[k] * t_.stride(d));
      }
    } else {
      const std::string sep = "," + std::string(ndim - d - 1, '\n') + std::string(indent + 1, ' ');
      for (size_t k = 0; k < idx.size(); ++k) {
        if (k > 0) out += sep;
        out += idx[k] < 0 ? "..." : sub_str(f, d + 1, off + idx[k] * t_.stride(d), indent + 1);
      }
    }
    return out + "]";
  }

  const Tensor& t_;
  bool summarize_;
};

// Python's str(tuple(shape)): "(0,)", "(0, 3)", "()".
std::string shape_tuple(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + (s.size() == 1 ? ",)" : ")");
}

// Appends ", suffix" or ",\n<indent>suffix" like _add_suffixes.
std::string add_suffixes(const std::string& body, const std::vector<std::string>& suffixes, int64_t indent) {
  std::string out = body;
  const size_t nl = body.rfind('\n');
  int64_t last_line_len = static_cast<int64_t>(body.size()) -
                          (nl == std::string::npos ? -1 : static_cast<int64_t>(nl)) + 1;
  for (const std::string& s : suffixes) {
    const int64_t len = static_cast<int64_t>(s.size());
    if (last_line_len + len + 2 > kLineWidth) {
      out += ",\n" + std::string(indent, ' ') + s;
      last_line_len = indent + len;
    } else {
      out += ", " + s;
      last_line_len += len + 2;
    }
  }
  return out + ")";
}

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  const std::string prefix = "tensor(";
  const int64_t indent = static_cast<int64_t>(prefix.size());
  Tensor t = detach();
  if (!t.is_cpu()) t = t.to(kCPU);
  const DType dt = t.dtype();
  std::vector<std::string> suffixes;
  if (!is_cpu()) suffixes.push_back("device='" + device().str() + "'");
  const bool default_dtype_shown = dt == default_dtype() || dt == kInt64 || dt == kBool;

  std::string body;
  if (t.numel() == 0) {
    // No elements to tell an int64 tensor from a float one: the dtype is
    // shown unless it is the default float dtype; the shape unless 1-d.
    if (t.dim() != 1) suffixes.push_back("size=" + shape_tuple(t.sizes()));
    if (dt != default_dtype()) suffixes.push_back(std::string("dtype=torch.") + dtype_name(dt));
    body = "[]";
  } else {
    if (!default_dtype_shown) suffixes.push_back(std::string("dtype=torch.") + dtype_name(dt));
    const Kind kind = dt == kBool ? Kind::Bool : is_floating(dt) ? Kind::Float : Kind::Int;
    const Reader reader(t);
    const Printer printer(t, t.numel() > kThreshold);
    const Formatter formatter(kind, reader, printer.shown_offsets());
    body = printer.str(formatter, indent);
  }
  if (grad_fn()) suffixes.push_back("grad_fn=<" + grad_fn()->name() + ">");
  else if (requires_grad()) suffixes.push_back("requires_grad=True");
  return add_suffixes(prefix + body, suffixes, indent);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace wick
