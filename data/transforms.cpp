// Image transforms (see data/transforms.h for the conventions).
//
// Resampling:
//   resize   separable: out = Wy @ img @ Wx^T. Row o of W [out, in] holds the
//            weights of the input pixels for output pixel o. Plain bilinear:
//            source s = (o + 0.5) in/out - 0.5 clamped at 0, weights
//            (1 - frac, frac) on floor(s) and its right neighbour (the edge
//            pixel repeats). Antialiased, when shrinking (scale = in/out > 1):
//            the triangle filter 1 - |t| is stretched to t = (j + 0.5 -
//            centre) / scale with centre = (o + 0.5) scale, and each row is
//            normalized to sum 1 (PyTorch's _upsample_bilinear2d_aa, PIL).
//   affine   inverse mapping: each output pixel centre (x, y), taken relative
//            to the image centre, is sent through the inverse of
//            translate . scale . shear . rotate and sampled bilinearly; the
//            matrix is torchvision's _get_inverse_affine_matrix, the pixel
//            convention grid_sample's with align_corners = false.
//   blur     two 1-D passes (rows, then columns) with reflect indexing
//            (... 2 1 | 0 1 2 ... n-1 | n-2 ...), equal to the 2-D
//            convolution with the outer-product kernel.
#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numbers>
#include <utility>

#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/linalg.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/sort.h"
#include "tensor/parallel.h"

namespace wick::data {

namespace {

// ---- checks ----

void check_image(const std::string& op, const Tensor& img) {
  WICK_CHECK(img.defined(), op, ": the image is undefined");
  WICK_CHECK(img.dim() >= 3, op, ": expected an image [C,H,W] or a batch [...,C,H,W], got shape ",
             shape_str(img.sizes()));
  WICK_CHECK(img.dtype() == kFloat32 || img.dtype() == kFloat64, op, ": expected a float32 or float64 image, got ",
             img.dtype(), " (image_to_float converts a decoded uint8 image)");
  WICK_CHECK(img.is_cpu(), op, ": expected a CPU tensor, got one on ", img.device());
  WICK_CHECK(img.size(-1) >= 1 && img.size(-2) >= 1, op, ": the image is empty, shape ", shape_str(img.sizes()));
}

int64_t height(const Tensor& img) { return img.size(img.dim() - 2); }
int64_t width(const Tensor& img) { return img.size(img.dim() - 1); }
int64_t channels(const Tensor& img) { return img.size(img.dim() - 3); }

void check_prob(const char* op, double p) { WICK_CHECK(p >= 0 && p <= 1, op, ": p must be in [0, 1], got ", p); }

void check_range(const char* op, const char* what, std::array<double, 2> r, bool positive) {
  WICK_CHECK(r[0] <= r[1], op, ": ", what, " must be (min, max) with min <= max, got (", r[0], ", ", r[1], ")");
  WICK_CHECK(!positive || r[0] > 0, op, ": ", what, " must be positive, got (", r[0], ", ", r[1], ")");
}

// Calls f.template operator()<T>() with T the image's element type.
template <typename F>
void dispatch_float(DType dt, F&& f) {
  if (dt == kFloat32)
    f.template operator()<float>();
  else
    f.template operator()<double>();
}

// ---- scalar draws (see the top comment of transforms.h) ----

std::array<uint32_t, 4> next_block(Generator& g) {
  uint64_t block;
  {
    std::lock_guard<std::mutex> lock(g.mutex());
    block = g.advance(1);
  }
  const uint64_t seed = g.seed();
  return philox4x32({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0},
                    {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

uint64_t bits64(uint32_t hi, uint32_t lo) { return (static_cast<uint64_t>(hi) << 32) | lo; }

// In [0, 1).
double uniform01(Generator& g) {
  auto w = next_block(g);
  return static_cast<double>(bits64(w[0], w[1]) >> 11) * 0x1.0p-53;
}

double uniform(Generator& g, double lo, double hi) { return lo + (hi - lo) * uniform01(g); }

// In [lo, hi), hi > lo.
int64_t randint(Generator& g, int64_t lo, int64_t hi) {
  auto w = next_block(g);
  return lo + static_cast<int64_t>(bits64(w[0], w[1]) % static_cast<uint64_t>(hi - lo));
}

double standard_normal(Generator& g) {
  auto w = next_block(g);
  const double u1 = static_cast<double>(bits64(w[0], w[1]) >> 11) * 0x1.0p-53;
  const double u2 = static_cast<double>(bits64(w[2], w[3]) >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log1p(-u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// log of a Gamma(a, 1) draw. Marsaglia and Tsang (2000) for a >= 1; for
// a < 1, Gamma(a) = Gamma(a + 1) U^(1/a), kept in log space.
double log_gamma_draw(double a, Generator& g) {
  if (a < 1) return log_gamma_draw(a + 1, g) + std::log1p(-uniform01(g)) / a;
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = standard_normal(g);
    double v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = 1 - uniform01(g);  // (0, 1]
    if (u < 1 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v)))
      return std::log(d) + std::log(v);
  }
}

// Python's round (half to even), as torchvision uses.
int64_t py_round(double v) { return static_cast<int64_t>(std::nearbyint(v)); }

double deg2rad(double d) { return d * std::numbers::pi / 180.0; }

// ---- resampling kernels ----

// The inverse of the affine map, taking output points (relative to the image
// centre) to input points: torchvision's _get_inverse_affine_matrix with
// centre (0, 0) and its angle convention (clockwise on the screen), hence -angle.
std::array<double, 6> inverse_affine(double angle, std::array<double, 2> translate, double scale,
                                     std::array<double, 2> shear) {
  const double rot = deg2rad(-angle), sx = deg2rad(shear[0]), sy = deg2rad(shear[1]);
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  std::array<double, 6> m = {d / scale, -b / scale, 0, -c / scale, a / scale, 0};
  m[2] = m[0] * -translate[0] + m[1] * -translate[1];
  m[5] = m[3] * -translate[0] + m[4] * -translate[1];
  return m;
}

// Resize weights [out, in] (see the top comment).
std::vector<double> resize_weights(int64_t in, int64_t out, bool antialias) {
  std::vector<double> w(static_cast<size_t>(out * in), 0.0);
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t o = 0; o < out; ++o) {
    double* row = w.data() + o * in;
    if (antialias && scale > 1.0) {
      const double centre = (static_cast<double>(o) + 0.5) * scale;
      const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(centre - scale)));
      const int64_t hi = std::min<int64_t>(in, static_cast<int64_t>(std::ceil(centre + scale)) + 1);
      double total = 0;
      for (int64_t j = lo; j < hi; ++j) {
        const double t = std::abs((static_cast<double>(j) + 0.5 - centre) / scale);
        const double v = t < 1.0 ? 1.0 - t : 0.0;
        row[j] = v;
        total += v;
      }
      for (int64_t j = lo; j < hi; ++j) row[j] /= total;
    } else {
      const double s = std::max(0.0, (static_cast<double>(o) + 0.5) * scale - 0.5);
      const int64_t i0 = std::min<int64_t>(static_cast<int64_t>(s), in - 1);
      const int64_t i1 = std::min<int64_t>(i0 + 1, in - 1);
      const double frac = std::min(s - static_cast<double>(i0), 1.0);
      row[i0] += 1.0 - frac;
      row[i1] += frac;
    }
  }
  return w;
}

// Planes per parallel chunk: threads only pay off from ~64K pixels per chunk
// (a 28x28 or 224x224 image per worker thread is cheaper done in one piece).
int64_t plane_grain(int64_t h, int64_t w) {
  return std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, h * w));
}

// Reflection of index i into [0, n): ... 2 1 | 0 1 ... n-1 | n-2 ...
int64_t reflect(int64_t i, int64_t n) {
  if (n == 1) return 0;
  const int64_t period = 2 * (n - 1);
  i = std::abs(i) % period;
  return i < n ? i : period - i;
}

template <typename T>
void blur_planes(const T* src, T* dst, int64_t planes, int64_t h, int64_t w, const std::vector<double>& kx,
                 const std::vector<double>& ky) {
  const int64_t rx = static_cast<int64_t>(kx.size()) / 2, ry = static_cast<int64_t>(ky.size()) / 2;
  parallel_for(0, planes, plane_grain(h, w), [&](int64_t p0, int64_t p1) {
    std::vector<double> tmp(static_cast<size_t>(h * w));
    for (int64_t p = p0; p < p1; ++p) {
      const T* in = src + p * h * w;
      T* out = dst + p * h * w;
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          double acc = 0;
          for (int64_t b = 0; b < static_cast<int64_t>(kx.size()); ++b)
            acc += kx[b] * static_cast<double>(in[i * w + reflect(j + b - rx, w)]);
          tmp[i * w + j] = acc;
        }
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j) {
          double acc = 0;
          for (int64_t a = 0; a < static_cast<int64_t>(ky.size()); ++a)
            acc += ky[a] * tmp[reflect(i + a - ry, h) * w + j];
          out[i * w + j] = static_cast<T>(acc);
        }
    }
  });
}

std::vector<double> gaussian_kernel1d(int64_t size, double sigma) {
  std::vector<double> k(static_cast<size_t>(size));
  const double half = static_cast<double>(size - 1) * 0.5;
  double total = 0;
  for (int64_t i = 0; i < size; ++i) {
    const double x = (static_cast<double>(i) - half) / sigma;
    k[i] = std::exp(-0.5 * x * x);
    total += k[i];
  }
  for (double& v : k) v /= total;
  return k;
}

// One output pixel's bilinear taps: up to 4 (index, weight) pairs inside the image.
struct Taps {
  int64_t index[4];
  double weight[4];
  int n = 0;
  double inside = 0;  // sum of the in-bounds weights
};

template <typename T>
void warp_planes(const T* src, T* dst, int64_t planes, int64_t h, int64_t w, const std::vector<Taps>& taps,
                 double fill) {
  parallel_for(0, planes, plane_grain(h, w), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* in = src + p * h * w;
      T* out = dst + p * h * w;
      for (int64_t k = 0; k < h * w; ++k) {
        const Taps& t = taps[k];
        double acc = (1.0 - t.inside) * fill;
        for (int q = 0; q < t.n; ++q) acc += t.weight[q] * static_cast<double>(in[t.index[q]]);
        out[k] = static_cast<T>(acc);
      }
    }
  });
}

}  // namespace

// ===========================================================================
// Functional ops
// ===========================================================================

Tensor crop(const Tensor& img, const Box& box) {
  check_image("crop", img);
  const int64_t h = height(img), w = width(img), d = img.dim();
  WICK_CHECK(box.height >= 1 && box.width >= 1 && box.top >= 0 && box.left >= 0 && box.top + box.height <= h &&
                 box.left + box.width <= w,
             "crop: box (top ", box.top, ", left ", box.left, ", height ", box.height, ", width ", box.width,
             ") is not inside the ", h, "x", w, " image");
  return img.narrow(d - 2, box.top, box.height).narrow(d - 1, box.left, box.width);
}

Tensor center_crop(const Tensor& img, std::array<int64_t, 2> size) {
  check_image("center_crop", img);
  const int64_t h = height(img), w = width(img);
  WICK_CHECK(size[0] >= 1 && size[1] >= 1 && size[0] <= h && size[1] <= w, "center_crop: cannot cut ", size[0], "x",
             size[1], " from a ", h, "x", w, " image");
  return crop(img, {py_round(static_cast<double>(h - size[0]) / 2.0), py_round(static_cast<double>(w - size[1]) / 2.0),
                    size[0], size[1]});
}

Tensor resize(const Tensor& img, std::array<int64_t, 2> size, bool antialias) {
  check_image("resize", img);
  WICK_CHECK(size[0] >= 1 && size[1] >= 1, "resize: the size must be positive, got ", size[0], "x", size[1]);
  const int64_t h = height(img), w = width(img);
  const TensorOptions opt(img.dtype());
  Tensor wy = from_vector(resize_weights(h, size[0], antialias), Shape{size[0], h}, opt);
  Tensor wx = from_vector(resize_weights(w, size[1], antialias), Shape{size[1], w}, opt);
  return matmul(matmul(wy, img), wx.t());
}

Tensor resized_crop(const Tensor& img, const Box& box, std::array<int64_t, 2> size, bool antialias) {
  return resize(crop(img, box), size, antialias);
}

Tensor hflip(const Tensor& img) {
  check_image("hflip", img);
  return flip(img, {img.dim() - 1});
}

Tensor vflip(const Tensor& img) {
  check_image("vflip", img);
  return flip(img, {img.dim() - 2});
}

Tensor affine(const Tensor& img, double angle, std::array<double, 2> translate, double scale,
              std::array<double, 2> shear, double fill) {
  check_image("affine", img);
  WICK_CHECK(scale > 0, "affine: scale must be positive, got ", scale);
  WICK_CHECK(std::isfinite(angle) && std::isfinite(translate[0]) && std::isfinite(translate[1]) &&
                 std::abs(shear[0]) < 90 && std::abs(shear[1]) < 90,
             "affine: angle and translation must be finite and shears in (-90, 90) degrees");
  const std::array<double, 6> m = inverse_affine(angle, translate, scale, shear);
  const int64_t h = height(img), w = width(img);
  std::vector<Taps> taps(static_cast<size_t>(h * w));
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j) {
      // Output pixel centre relative to the image centre, mapped back, in
      // source pixel-index coordinates.
      const double x = static_cast<double>(j) + 0.5 - 0.5 * static_cast<double>(w);
      const double y = static_cast<double>(i) + 0.5 - 0.5 * static_cast<double>(h);
      const double u = m[0] * x + m[1] * y + m[2] + 0.5 * static_cast<double>(w) - 0.5;
      const double v = m[3] * x + m[4] * y + m[5] + 0.5 * static_cast<double>(h) - 0.5;
      const double fu = std::floor(u), fv = std::floor(v);
      const int64_t u0 = static_cast<int64_t>(fu), v0 = static_cast<int64_t>(fv);
      const double du = u - fu, dv = v - fv;
      Taps& t = taps[i * w + j];
      const int64_t cu[4] = {u0, u0 + 1, u0, u0 + 1}, cv[4] = {v0, v0, v0 + 1, v0 + 1};
      const double cw[4] = {(1 - du) * (1 - dv), du * (1 - dv), (1 - du) * dv, du * dv};
      for (int q = 0; q < 4; ++q)
        if (cu[q] >= 0 && cu[q] < w && cv[q] >= 0 && cv[q] < h && cw[q] != 0) {
          t.index[t.n] = cv[q] * w + cu[q];
          t.weight[t.n++] = cw[q];
          t.inside += cw[q];
        }
    }
  Tensor src = img.detach().contiguous();
  Tensor out = empty(img.sizes(), TensorOptions(img.dtype()));
  const int64_t planes = img.numel() / (h * w);
  dispatch_float(img.dtype(),
                 [&]<typename T>() { warp_planes<T>(src.data_ptr<T>(), out.data_ptr<T>(), planes, h, w, taps, fill); });
  return out;
}

Tensor rotate(const Tensor& img, double angle, double fill) { return affine(img, angle, {0, 0}, 1.0, {0, 0}, fill); }

Tensor rgb_to_grayscale(const Tensor& img) {
  check_image("rgb_to_grayscale", img);
  const int64_t c = channels(img), d = img.dim();
  if (c == 1) return img.clone();
  WICK_CHECK(c == 3, "rgb_to_grayscale: expected 1 or 3 channels, got ", c);
  Tensor gray =
      add(add(mul(img.select(d - 3, 0), 0.2989), mul(img.select(d - 3, 1), 0.587)), mul(img.select(d - 3, 2), 0.114));
  return gray.unsqueeze(d - 3);
}

Tensor adjust_brightness(const Tensor& img, double factor) {
  check_image("adjust_brightness", img);
  WICK_CHECK(factor >= 0, "adjust_brightness: factor must be >= 0, got ", factor);
  return clamp(mul(img, factor), 0.0, 1.0);
}

Tensor adjust_contrast(const Tensor& img, double factor) {
  check_image("adjust_contrast", img);
  WICK_CHECK(factor >= 0, "adjust_contrast: factor must be >= 0, got ", factor);
  const int64_t c = channels(img), d = img.dim();
  WICK_CHECK(c == 1 || c == 3, "adjust_contrast: expected 1 or 3 channels, got ", c);
  Tensor m = mean(c == 3 ? rgb_to_grayscale(img) : img, {d - 3, d - 2, d - 1}, /*keepdim=*/true);
  return clamp(add(mul(img, factor), mul(m, 1.0 - factor)), 0.0, 1.0);
}

Tensor adjust_saturation(const Tensor& img, double factor) {
  check_image("adjust_saturation", img);
  WICK_CHECK(factor >= 0, "adjust_saturation: factor must be >= 0, got ", factor);
  const int64_t c = channels(img);
  if (c == 1) return img;  // gray images have no saturation (torchvision warns and returns them)
  WICK_CHECK(c == 3, "adjust_saturation: expected 1 or 3 channels, got ", c);
  return clamp(add(mul(img, factor), mul(rgb_to_grayscale(img), 1.0 - factor)), 0.0, 1.0);
}

Tensor gaussian_blur(const Tensor& img, std::array<int64_t, 2> kernel_size, std::array<double, 2> sigma) {
  check_image("gaussian_blur", img);
  for (int64_t k : kernel_size)
    WICK_CHECK(k >= 1 && k % 2 == 1, "gaussian_blur: kernel sizes must be odd and positive, got (", kernel_size[0],
               ", ", kernel_size[1], ")");
  WICK_CHECK(sigma[0] > 0 && sigma[1] > 0, "gaussian_blur: sigma must be positive, got (", sigma[0], ", ", sigma[1],
             ")");
  // kernel_size and sigma are (x, y), as torchvision's.
  const auto kx = gaussian_kernel1d(kernel_size[0], sigma[0]), ky = gaussian_kernel1d(kernel_size[1], sigma[1]);
  const int64_t h = height(img), w = width(img);
  Tensor src = img.detach().contiguous();
  Tensor out = empty(img.sizes(), TensorOptions(img.dtype()));
  dispatch_float(img.dtype(), [&]<typename T>() {
    blur_planes<T>(src.data_ptr<T>(), out.data_ptr<T>(), img.numel() / (h * w), h, w, kx, ky);
  });
  return out;
}

Tensor solarize(const Tensor& img, double threshold) {
  check_image("solarize", img);
  return where(ge(img, threshold), rsub(img, 1.0), img);
}

Tensor normalize_image(const Tensor& img, const std::vector<double>& mean_v, const std::vector<double>& std_v) {
  check_image("normalize_image", img);
  const int64_t c = channels(img);
  WICK_CHECK(mean_v.size() == std_v.size() && (static_cast<int64_t>(mean_v.size()) == c || mean_v.size() == 1),
             "normalize_image: expected ", c, " (or 1) means and stds for ", c, " channels, got ", mean_v.size(),
             " and ", std_v.size());
  for (double s : std_v) WICK_CHECK(s != 0, "normalize_image: a std is 0");
  const int64_t k = static_cast<int64_t>(mean_v.size());
  Tensor m = from_vector(mean_v, Shape{k, 1, 1}, TensorOptions(img.dtype()));
  Tensor s = from_vector(std_v, Shape{k, 1, 1}, TensorOptions(img.dtype()));
  return div(sub(img, m), s);
}

Tensor erase(const Tensor& img, const Box& box, const Tensor& value) {
  check_image("erase", img);
  WICK_CHECK(value.defined(), "erase: the value is undefined");
  Tensor out = img.detach().clone();
  Tensor region = crop(out, box);
  region.copy_(value);
  return out;
}

Tensor mask_patches(const Tensor& img, const Tensor& mask, int64_t patch_size, double fill) {
  check_image("mask_patches", img);
  WICK_CHECK(patch_size >= 1, "mask_patches: patch_size must be positive, got ", patch_size);
  const int64_t h = height(img), w = width(img);
  WICK_CHECK(h % patch_size == 0 && w % patch_size == 0, "mask_patches: the ", h, "x", w, " image does not split into ",
             patch_size, "x", patch_size, " patches");
  const int64_t gh = h / patch_size, gw = w / patch_size;
  WICK_CHECK(mask.defined() && mask.dim() >= 2 && mask.size(-2) == gh && mask.size(-1) == gw,
             "mask_patches: expected a mask [..., ", gh, ", ", gw, "], got ",
             mask.defined() ? shape_str(mask.sizes()) : std::string("undefined"));
  Shape lead(mask.sizes().begin(), mask.sizes().end() - 2);
  Shape grid = lead, expanded = lead, full_size = lead;
  grid.insert(grid.end(), {gh, 1, gw, 1});
  expanded.insert(expanded.end(), {gh, patch_size, gw, patch_size});
  full_size.insert(full_size.end(), {h, w});
  Tensor m = ne(mask, 0.0).reshape(grid).expand(expanded).reshape(full_size).unsqueeze(-3);
  return where(m, full_like(img, fill), img);
}

double sample_beta(double a, double b, Generator* gen) {
  WICK_CHECK(a > 0 && b > 0, "sample_beta: the parameters must be positive, got (", a, ", ", b, ")");
  Generator& g = gen ? *gen : default_generator();
  const double lx = log_gamma_draw(a, g), ly = log_gamma_draw(b, g);
  return 1.0 / (1.0 + std::exp(ly - lx));  // X / (X + Y)
}

// ===========================================================================
// Transforms
// ===========================================================================

Tensor Transform::operator()(const Tensor& img, Generator* gen, TransformTrace* trace) const {
  return apply(img, gen ? *gen : default_generator(), trace);
}

Tensor Transform::apply(const Tensor& img, Generator& gen, TransformTrace* trace) const {
  check_image(name(), img);
  TransformRecord rec;
  rec.transform = name();
  rec.input_size = {height(img), width(img)};
  Tensor out = transform(img, gen, rec);
  rec.output_size = {height(out), width(out)};
  if (trace) trace->push_back(std::move(rec));
  return out;
}

Tensor Transform::transform(const Tensor&, Generator&, TransformRecord&) const {
  WICK_FAIL(name(), ": a Transform must override transform() or apply()");
}

Compose::Compose(std::vector<TransformPtr> ts) : transforms(std::move(ts)) {
  for (size_t i = 0; i < transforms.size(); ++i)
    WICK_CHECK(transforms[i] != nullptr, "Compose: transform ", i, " is null");
}

Tensor Compose::apply(const Tensor& img, Generator& gen, TransformTrace* trace) const {
  Tensor x = img;
  for (const auto& t : transforms) x = t->apply(x, gen, trace);
  return x;
}

RandomApply::RandomApply(TransformPtr inner_, double p_) : inner(std::move(inner_)), p(p_) {
  WICK_CHECK(inner != nullptr, "RandomApply: the transform is null");
  check_prob("RandomApply", p);
}

Tensor RandomApply::apply(const Tensor& img, Generator& gen, TransformTrace* trace) const {
  check_image(name(), img);
  TransformRecord rec;
  rec.transform = name();
  rec.input_size = {height(img), width(img)};
  rec.applied = uniform01(gen) < p;
  if (trace) trace->push_back(rec);
  if (!rec.applied) {
    if (trace) trace->back().output_size = rec.input_size;
    return img;
  }
  const size_t at = trace ? trace->size() - 1 : 0;
  Tensor out = inner->apply(img, gen, trace);
  if (trace) (*trace)[at].output_size = {height(out), width(out)};
  return out;
}

Tensor Resize::transform(const Tensor& img, Generator&, TransformRecord&) const { return resize(img, size, antialias); }

Tensor CenterCrop::transform(const Tensor& img, Generator&, TransformRecord& rec) const {
  Tensor out = center_crop(img, size);
  rec.box = Box{py_round(static_cast<double>(height(img) - size[0]) / 2.0),
                py_round(static_cast<double>(width(img) - size[1]) / 2.0), size[0], size[1]};
  return out;
}

RandomResizedCrop::RandomResizedCrop(std::array<int64_t, 2> size_, std::array<double, 2> scale_,
                                     std::array<double, 2> ratio_, bool antialias_)
    : size(size_), scale(scale_), ratio(ratio_), antialias(antialias_) {
  WICK_CHECK(size[0] >= 1 && size[1] >= 1, "RandomResizedCrop: the size must be positive, got ", size[0], "x", size[1]);
  check_range("RandomResizedCrop", "scale", scale, true);
  check_range("RandomResizedCrop", "ratio", ratio, true);
}

Box RandomResizedCrop::sample_box(int64_t h, int64_t w, Generator& gen) const {
  const double area = static_cast<double>(h * w);
  const double log_r0 = std::log(ratio[0]), log_r1 = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * uniform(gen, scale[0], scale[1]);
    const double aspect = std::exp(uniform(gen, log_r0, log_r1));
    const int64_t cw = py_round(std::sqrt(target * aspect)), ch = py_round(std::sqrt(target / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      const int64_t top = randint(gen, 0, h - ch + 1), left = randint(gen, 0, w - cw + 1);
      return {top, left, ch, cw};
    }
  }
  // Fallback: the largest central crop whose ratio is within range.
  const double in_ratio = static_cast<double>(w) / static_cast<double>(h);
  int64_t cw = w, ch = h;
  if (in_ratio < ratio[0]) {
    ch = std::max<int64_t>(1, py_round(static_cast<double>(w) / ratio[0]));
  } else if (in_ratio > ratio[1]) {
    cw = std::max<int64_t>(1, py_round(static_cast<double>(h) * ratio[1]));
  }
  return {(h - ch) / 2, (w - cw) / 2, ch, cw};
}

Tensor RandomResizedCrop::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  const Box box = sample_box(height(img), width(img), gen);
  rec.box = box;
  return resized_crop(img, box, size, antialias);
}

RandomHorizontalFlip::RandomHorizontalFlip(double p_) : p(p_) { check_prob("RandomHorizontalFlip", p); }

Tensor RandomHorizontalFlip::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  rec.applied = uniform01(gen) < p;
  return rec.applied ? hflip(img) : img;
}

RandomRotation::RandomRotation(std::array<double, 2> degrees_, double fill_) : degrees(degrees_), fill(fill_) {
  check_range("RandomRotation", "degrees", degrees, false);
}

Tensor RandomRotation::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  rec.angle = uniform(gen, degrees[0], degrees[1]);
  return rotate(img, rec.angle, fill);
}

RandomAffine::RandomAffine(std::array<double, 2> degrees_, std::array<double, 2> translate_,
                           std::array<double, 2> scale_, std::array<double, 2> shear_, double fill_)
    : degrees(degrees_), translate(translate_), scale(scale_), shear(shear_), fill(fill_) {
  check_range("RandomAffine", "degrees", degrees, false);
  WICK_CHECK(translate[0] >= 0 && translate[0] <= 1 && translate[1] >= 0 && translate[1] <= 1,
             "RandomAffine: translate fractions must be in [0, 1], got (", translate[0], ", ", translate[1], ")");
  check_range("RandomAffine", "scale", scale, true);
  check_range("RandomAffine", "shear", shear, false);
}

Tensor RandomAffine::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  const double max_dx = translate[0] * static_cast<double>(width(img));
  const double max_dy = translate[1] * static_cast<double>(height(img));
  rec.angle = uniform(gen, degrees[0], degrees[1]);
  rec.translate = {static_cast<double>(py_round(uniform(gen, -max_dx, max_dx))),
                   static_cast<double>(py_round(uniform(gen, -max_dy, max_dy)))};
  rec.scale = uniform(gen, scale[0], scale[1]);
  rec.shear = {uniform(gen, shear[0], shear[1]), 0.0};
  return affine(img, rec.angle, rec.translate, rec.scale, rec.shear, fill);
}

ColorJitter::ColorJitter(double b, double c, double s) : brightness(b), contrast(c), saturation(s) {
  WICK_CHECK(b >= 0 && c >= 0 && s >= 0, "ColorJitter: the strengths must be >= 0, got (", b, ", ", c, ", ", s, ")");
}

Tensor ColorJitter::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  // A random order (Fisher-Yates), then the factors, as torchvision's get_params.
  rec.order = {0, 1, 2};
  for (int i = 2; i > 0; --i) std::swap(rec.order[i], rec.order[randint(gen, 0, i + 1)]);
  auto factor = [&](double strength) {
    return strength > 0 ? uniform(gen, std::max(0.0, 1.0 - strength), 1.0 + strength) : 1.0;
  };
  rec.brightness = factor(brightness);
  rec.contrast = factor(contrast);
  rec.saturation = factor(saturation);
  Tensor x = img;
  for (int op : rec.order) {
    if (op == 0 && brightness > 0) x = adjust_brightness(x, rec.brightness);
    if (op == 1 && contrast > 0) x = adjust_contrast(x, rec.contrast);
    if (op == 2 && saturation > 0) x = adjust_saturation(x, rec.saturation);
  }
  return x;
}

RandomGrayscale::RandomGrayscale(double p_) : p(p_) { check_prob("RandomGrayscale", p); }

Tensor RandomGrayscale::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  rec.applied = uniform01(gen) < p;
  if (!rec.applied) return img;
  Shape s = img.sizes();
  return rgb_to_grayscale(img).expand(s).contiguous();
}

GaussianBlur::GaussianBlur(int64_t k, std::array<double, 2> sigma_) : kernel_size(k), sigma(sigma_) {
  WICK_CHECK(k >= 1 && k % 2 == 1, "GaussianBlur: kernel_size must be odd and positive, got ", k);
  check_range("GaussianBlur", "sigma", sigma, true);
}

Tensor GaussianBlur::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  rec.sigma = uniform(gen, sigma[0], sigma[1]);
  return gaussian_blur(img, {kernel_size, kernel_size}, {rec.sigma, rec.sigma});
}

RandomSolarize::RandomSolarize(double threshold_, double p_) : threshold(threshold_), p(p_) {
  check_prob("RandomSolarize", p);
}

Tensor RandomSolarize::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  rec.threshold = threshold;
  rec.applied = uniform01(gen) < p;
  return rec.applied ? solarize(img, threshold) : img;
}

Normalize::Normalize(std::vector<double> mean_, std::vector<double> stddev_)
    : mean(std::move(mean_)), stddev(std::move(stddev_)) {
  WICK_CHECK(!mean.empty() && mean.size() == stddev.size(),
             "Normalize: expected as many means as stds (at least one), got ", mean.size(), " and ", stddev.size());
}

Tensor Normalize::transform(const Tensor& img, Generator&, TransformRecord&) const {
  return normalize_image(img, mean, stddev);
}

RandomErasing::RandomErasing(double p_, std::array<double, 2> scale_, std::array<double, 2> ratio_, double value_,
                             bool random_value_)
    : p(p_), scale(scale_), ratio(ratio_), value(value_), random_value(random_value_) {
  check_prob("RandomErasing", p);
  check_range("RandomErasing", "scale", scale, false);
  WICK_CHECK(scale[0] >= 0 && scale[1] <= 1, "RandomErasing: scale must lie in [0, 1], got (", scale[0], ", ", scale[1],
             ")");
  check_range("RandomErasing", "ratio", ratio, true);
}

Tensor RandomErasing::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  rec.applied = uniform01(gen) < p;
  if (!rec.applied) return img;
  const int64_t h = height(img), w = width(img), c = channels(img);
  const double area = static_cast<double>(h * w);
  const double log_r0 = std::log(ratio[0]), log_r1 = std::log(ratio[1]);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double erase_area = area * uniform(gen, scale[0], scale[1]);
    const double aspect = std::exp(uniform(gen, log_r0, log_r1));
    const int64_t eh = py_round(std::sqrt(erase_area * aspect)), ew = py_round(std::sqrt(erase_area / aspect));
    if (!(eh < h && ew < w)) continue;
    if (eh == 0 || ew == 0) break;  // nothing to erase
    rec.value = random_value ? randn({c, eh, ew}, TensorOptions(img.dtype()), &gen)
                             : full({c, 1, 1}, value, TensorOptions(img.dtype()));
    const int64_t top = randint(gen, 0, h - eh + 1), left = randint(gen, 0, w - ew + 1);
    rec.box = Box{top, left, eh, ew};
    return erase(img, *rec.box, rec.value);
  }
  rec.applied = false;  // no box fitted: the image is returned as it was
  return img;
}

RandomPatchMask::RandomPatchMask(int64_t patch_size_, double mask_ratio_, double fill_)
    : patch_size(patch_size_), mask_ratio(mask_ratio_), fill(fill_) {
  WICK_CHECK(patch_size >= 1, "RandomPatchMask: patch_size must be positive, got ", patch_size);
  WICK_CHECK(mask_ratio >= 0 && mask_ratio <= 1, "RandomPatchMask: mask_ratio must be in [0, 1], got ", mask_ratio);
}

Tensor RandomPatchMask::transform(const Tensor& img, Generator& gen, TransformRecord& rec) const {
  const int64_t h = height(img), w = width(img);
  WICK_CHECK(h % patch_size == 0 && w % patch_size == 0, "RandomPatchMask: the ", h, "x", w,
             " image does not split into ", patch_size, "x", patch_size, " patches");
  const int64_t gh = h / patch_size, gw = w / patch_size;
  rec.mask = random_masking(1, gh * gw, mask_ratio, &gen).mask.reshape({gh, gw}).to(img.dtype());
  return mask_patches(img, rec.mask, patch_size, fill);
}

MultiCrop::MultiCrop(std::vector<CropSpec> specs_, TransformPtr post_, std::array<double, 2> ratio_)
    : specs(std::move(specs_)), post(std::move(post_)), ratio(ratio_) {
  WICK_CHECK(!specs.empty(), "MultiCrop: no crop specs");
  for (const CropSpec& s : specs) {
    WICK_CHECK(s.size >= 1 && s.count >= 0, "MultiCrop: bad spec (size ", s.size, ", count ", s.count, ")");
    check_range("MultiCrop", "scale", s.scale, true);
  }
  check_range("MultiCrop", "ratio", ratio, true);
}

int64_t MultiCrop::num_crops() const {
  int64_t n = 0;
  for (const CropSpec& s : specs) n += s.count;
  return n;
}

std::vector<Tensor> MultiCrop::operator()(const Tensor& img, Generator* gen,
                                          std::vector<TransformTrace>* traces) const {
  Generator& g = gen ? *gen : default_generator();
  std::vector<Tensor> out;
  if (traces) traces->clear();
  for (const CropSpec& s : specs) {
    const RandomResizedCrop crop_t({s.size, s.size}, s.scale, ratio);
    for (int64_t k = 0; k < s.count; ++k) {
      TransformTrace t;
      TransformTrace* tp = traces ? &t : nullptr;
      Tensor x = crop_t.apply(img, g, tp);
      if (post) x = post->apply(x, g, tp);
      out.push_back(x);
      if (traces) traces->push_back(std::move(t));
    }
  }
  return out;
}

// ===========================================================================
// Coordinates
// ===========================================================================

Tensor map_to_input(const TransformTrace& trace, const Tensor& points) {
  WICK_CHECK(points.defined() && points.dim() == 2 && points.size(1) == 2,
             "map_to_input: expected points [K, 2] of (y, x), got ",
             points.defined() ? shape_str(points.sizes()) : std::string("undefined"));
  std::vector<double> p = points.tolist<double>();
  const size_t k = p.size() / 2;
  for (auto r = trace.rbegin(); r != trace.rend(); ++r) {
    const std::string& t = r->transform;
    const double in_h = static_cast<double>(r->input_size[0]), in_w = static_cast<double>(r->input_size[1]);
    const double out_h = static_cast<double>(r->output_size[0]), out_w = static_cast<double>(r->output_size[1]);
    if (t == "RandomResizedCrop" || t == "CenterCrop" || t == "Resize") {
      // Resampling keeps pixel centres aligned: u_in = u_out * in / out; then the crop offset.
      Box b = r->box.value_or(Box{0, 0, r->input_size[0], r->input_size[1]});
      const double sy = static_cast<double>(b.height) / out_h, sx = static_cast<double>(b.width) / out_w;
      for (size_t i = 0; i < k; ++i) {
        p[2 * i] = p[2 * i] * sy + static_cast<double>(b.top);
        p[2 * i + 1] = p[2 * i + 1] * sx + static_cast<double>(b.left);
      }
    } else if (t == "RandomHorizontalFlip") {
      if (r->applied)
        for (size_t i = 0; i < k; ++i) p[2 * i + 1] = in_w - p[2 * i + 1];
    } else if (t == "RandomRotation" || t == "RandomAffine" || t == "RandomTranslation") {
      const std::array<double, 6> m = inverse_affine(r->angle, r->translate, r->scale, r->shear);
      for (size_t i = 0; i < k; ++i) {
        const double x = p[2 * i + 1] - 0.5 * in_w, y = p[2 * i] - 0.5 * in_h;
        p[2 * i + 1] = m[0] * x + m[1] * y + m[2] + 0.5 * in_w;
        p[2 * i] = m[3] * x + m[4] * y + m[5] + 0.5 * in_h;
      }
    } else if (t != "RandomApply") {  // RandomApply's inner transform has its own record
      // Photometric transforms do not move pixels.
      WICK_CHECK(t == "ColorJitter" || t == "RandomGrayscale" || t == "GaussianBlur" || t == "RandomSolarize" ||
                     t == "Normalize" || t == "RandomErasing" || t == "RandomPatchMask",
                 "map_to_input: does not know how ", t, " moves pixels");
      WICK_CHECK(r->input_size == r->output_size, "map_to_input: ", t, " changed the image size");
    }
  }
  return from_vector(p, Shape{static_cast<int64_t>(k), 2}, TensorOptions(kFloat64));
}

Tensor grid_to_input(const TransformTrace& trace, int64_t grid_h, int64_t grid_w) {
  WICK_CHECK(!trace.empty(), "grid_to_input: the trace is empty");
  WICK_CHECK(grid_h >= 1 && grid_w >= 1, "grid_to_input: the grid must be positive, got ", grid_h, "x", grid_w);
  const double h = static_cast<double>(trace.back().output_size[0]),
               w = static_cast<double>(trace.back().output_size[1]);
  std::vector<double> pts;
  pts.reserve(static_cast<size_t>(2 * grid_h * grid_w));
  for (int64_t i = 0; i < grid_h; ++i)
    for (int64_t j = 0; j < grid_w; ++j) {
      pts.push_back((static_cast<double>(i) + 0.5) * h / static_cast<double>(grid_h));
      pts.push_back((static_cast<double>(j) + 0.5) * w / static_cast<double>(grid_w));
    }
  return map_to_input(trace, from_vector(pts, Shape{grid_h * grid_w, 2}, TensorOptions(kFloat64)))
      .reshape({grid_h, grid_w, 2});
}

// ===========================================================================
// Batch-level mixing and masking
// ===========================================================================

namespace {

// Labels [N] -> one-hot [N, K]; soft targets [N, K] pass through.
Tensor soft_targets(const char* op, const Tensor& y, int64_t n, int64_t k, DType dt) {
  WICK_CHECK(y.defined(), op, ": the targets are undefined");
  if (!y.is_floating_point()) {
    WICK_CHECK(y.dim() == 1 && y.size(0) == n, op, ": expected integer labels [", n, "], got ", shape_str(y.sizes()));
    Tensor l = y.to(kInt64);
    if (n > 0)
      WICK_CHECK(min(l).item<int64_t>() >= 0 && max(l).item<int64_t>() < k, op, ": labels must be in [0, ", k, ")");
    return one_hot(l, k).to(dt);
  }
  WICK_CHECK(y.dim() == 2 && y.size(0) == n && y.size(1) == k, op, ": expected soft targets [", n, ", ", k, "], got ",
             shape_str(y.sizes()));
  return y.to(dt);
}

void check_mix(const char* op, const Tensor& x, int64_t num_classes, double alpha) {
  WICK_CHECK(x.defined() && x.is_floating_point() && x.dim() >= 1, op, ": expected a floating batch [N, ...]");
  WICK_CHECK(num_classes >= 1, op, ": num_classes must be positive, got ", num_classes);
  WICK_CHECK(alpha > 0, op, ": alpha must be positive, got ", alpha);
}

}  // namespace

MixResult mixup(const Tensor& x, const Tensor& y, int64_t num_classes, double alpha, Generator* gen) {
  check_mix("mixup", x, num_classes, alpha);
  Generator& g = gen ? *gen : default_generator();
  const int64_t n = x.size(0);
  Tensor targets = soft_targets("mixup", y, n, num_classes, x.dtype());
  MixResult r;
  r.lambda = sample_beta(alpha, alpha, &g);
  r.index = randperm(n, {}, &g);
  Tensor xd = x.detach();
  r.x = add(mul(xd, r.lambda), mul(index_select(xd, 0, r.index), 1.0 - r.lambda));
  r.y = add(mul(targets, r.lambda), mul(index_select(targets, 0, r.index), 1.0 - r.lambda));
  return r;
}

MixResult cutmix(const Tensor& x, const Tensor& y, int64_t num_classes, double alpha, Generator* gen) {
  check_mix("cutmix", x, num_classes, alpha);
  WICK_CHECK(x.dim() == 4, "cutmix: expected images [N,C,H,W], got ", shape_str(x.sizes()));
  Generator& g = gen ? *gen : default_generator();
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  WICK_CHECK(h >= 1 && w >= 1, "cutmix: the images are empty");
  Tensor targets = soft_targets("cutmix", y, n, num_classes, x.dtype());
  MixResult r;
  const double lam = sample_beta(alpha, alpha, &g);
  r.index = randperm(n, {}, &g);
  const int64_t cx = randint(g, 0, w), cy = randint(g, 0, h);
  const double half = 0.5 * std::sqrt(1.0 - lam);
  const int64_t hw = static_cast<int64_t>(half * static_cast<double>(w));
  const int64_t hh = static_cast<int64_t>(half * static_cast<double>(h));
  const int64_t x1 = std::max<int64_t>(cx - hw, 0), x2 = std::min<int64_t>(cx + hw, w);
  const int64_t y1 = std::max<int64_t>(cy - hh, 0), y2 = std::min<int64_t>(cy + hh, h);
  r.box = Box{y1, x1, y2 - y1, x2 - x1};
  r.x = x.detach().clone();
  if (y2 > y1 && x2 > x1) {
    Tensor dst = r.x.narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1);
    dst.copy_(index_select(x.detach(), 0, r.index).narrow(2, y1, y2 - y1).narrow(3, x1, x2 - x1));
  }
  r.lambda = 1.0 - static_cast<double>((x2 - x1) * (y2 - y1)) / static_cast<double>(w * h);
  r.y = add(mul(targets, r.lambda), mul(index_select(targets, 0, r.index), 1.0 - r.lambda));
  return r;
}

PatchMask random_masking(int64_t batch, int64_t num_patches, double mask_ratio, Generator* gen) {
  WICK_CHECK(batch >= 0 && num_patches >= 1, "random_masking: expected batch >= 0 and num_patches >= 1, got ", batch,
             " and ", num_patches);
  WICK_CHECK(mask_ratio >= 0 && mask_ratio <= 1, "random_masking: mask_ratio must be in [0, 1], got ", mask_ratio);
  const int64_t keep = static_cast<int64_t>(static_cast<double>(num_patches) * (1.0 - mask_ratio));
  Tensor noise = rand({batch, num_patches}, TensorOptions(kFloat64), gen);
  Tensor shuffle = argsort(noise, 1);
  PatchMask m;
  m.ids_restore = argsort(shuffle, 1);
  m.ids_keep = shuffle.narrow(1, 0, keep).contiguous();
  Tensor in_order = cat({zeros({batch, keep}), ones({batch, num_patches - keep})}, 1);
  m.mask = gather(in_order, 1, m.ids_restore);
  return m;
}

}  // namespace wick::data
