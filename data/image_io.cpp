// Image files through stb_image / stb_image_write (Sean Barrett's public
// domain single-header libraries; Debian's libstb-dev). Their implementations
// are compiled here, once, with static linkage so that they can never clash
// with another copy in a program that links wick.
#include "data/image_io.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <vector>

#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace wick::data {

Tensor read_image(const std::string& path, int channels) {
  WICK_CHECK(channels >= 0 && channels <= 4, "read_image: channels must be 0 (as in the file) or 1..4, got ", channels);
  std::ifstream f(path, std::ios::binary);
  WICK_CHECK(f.good(), "read_image: cannot open ", path);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  WICK_CHECK(!bytes.empty(), "read_image: ", path, " is empty");
  WICK_CHECK(bytes.size() < (size_t(1) << 31), "read_image: ", path, " is too large (", bytes.size(), " bytes)");
  int w = 0, h = 0, c = 0;
  stbi_uc* pixels = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, channels);
  WICK_CHECK(pixels != nullptr, "read_image: cannot decode ", path, " (", stbi_failure_reason(),
             "); supported formats: PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PIC, PNM");
  const int out_c = channels ? channels : c;
  // The tensor takes ownership of stb's buffer: no copy.
  return from_blob(pixels, {h, w, out_c}, kUInt8, {}, [](void* p) { stbi_image_free(p); });
}

Tensor image_to_uint8(const Tensor& image) {
  WICK_CHECK(image.defined() && image.is_floating_point() && (image.dim() == 3 || image.dim() == 2),
             "image_to_uint8: expected a floating [C,H,W] or [H,W] tensor, got ",
             image.defined() ? str(image.dtype(), " ", shape_str(image.sizes())) : std::string("undefined"));
  Tensor chw = image.dim() == 2 ? image.unsqueeze(0) : image;
  // floor(255 v + 0.5), as torchvision's save_image.
  Tensor q = floor(add(mul(clamp(chw.detach().to(kFloat64), 0.0, 1.0), 255.0), 0.5));
  return q.permute({1, 2, 0}).to(kUInt8).contiguous();
}

Tensor image_to_float(const Tensor& image) {
  WICK_CHECK(image.defined() && image.dtype() == kUInt8 && (image.dim() == 3 || image.dim() == 2),
             "image_to_float: expected a uint8 [H,W,C] or [H,W] tensor, got ",
             image.defined() ? str(image.dtype(), " ", shape_str(image.sizes())) : std::string("undefined"));
  Tensor hwc = image.dim() == 2 ? image.unsqueeze(2) : image;
  return div(hwc.permute({2, 0, 1}).to(kFloat32), 255.0).contiguous();
}

void write_png(const std::string& path, const Tensor& image) {
  WICK_CHECK(image.defined(), "write_png: the image is undefined");
  WICK_CHECK(image.is_cpu(), "write_png: expected a CPU tensor, got one on ", image.device());
  Tensor hwc;
  if (image.dtype() == kUInt8) {
    WICK_CHECK(image.dim() == 2 || image.dim() == 3, "write_png: a uint8 image must be [H,W,C] or [H,W], got ",
               shape_str(image.sizes()));
    hwc = (image.dim() == 2 ? image.unsqueeze(2) : image).contiguous();
  } else {
    WICK_CHECK(image.is_floating_point(), "write_png: expected uint8 [H,W,C] or floating [C,H,W] in [0,1], got dtype ",
               image.dtype());
    WICK_CHECK(image.dim() == 2 || image.dim() == 3, "write_png: a floating image must be [C,H,W] or [H,W], got ",
               shape_str(image.sizes()));
    hwc = image_to_uint8(image);
  }
  const int64_t h = hwc.size(0), w = hwc.size(1), c = hwc.size(2);
  WICK_CHECK(c >= 1 && c <= 4, "write_png: expected 1 to 4 channels, got ", c, " (shape ", shape_str(image.sizes()),
             image.dtype() == kUInt8 ? ", read as [H,W,C])" : ", read as [C,H,W])");
  WICK_CHECK(h >= 1 && w >= 1 && h < (1 << 24) && w < (1 << 24), "write_png: bad image size ", h, "x", w);
  const int ok = stbi_write_png(path.c_str(), static_cast<int>(w), static_cast<int>(h), static_cast<int>(c),
                                hwc.data_ptr<uint8_t>(), static_cast<int>(w * c));
  WICK_CHECK(ok != 0, "write_png: cannot write ", path);
}

Tensor make_grid(const Tensor& images, int64_t nrow, int64_t padding, double pad_value) {
  WICK_CHECK(images.defined() && images.dim() == 4, "make_grid: expected images [N,C,H,W], got ",
             images.defined() ? shape_str(images.sizes()) : std::string("undefined"));
  WICK_CHECK(nrow >= 1, "make_grid: nrow must be at least 1, got ", nrow);
  WICK_CHECK(padding >= 0, "make_grid: padding must be >= 0, got ", padding);
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  WICK_CHECK(n >= 1, "make_grid: no images");
  const int64_t cols = std::min(nrow, n), rows = (n + cols - 1) / cols;
  const int64_t cell_h = h + padding, cell_w = w + padding;
  Tensor grid = full({c, rows * cell_h + padding, cols * cell_w + padding}, pad_value, images.dtype());
  Tensor src = images.detach();
  for (int64_t k = 0; k < n; ++k) {
    const int64_t r = k / cols, q = k % cols;
    Tensor cell = grid.narrow(1, r * cell_h + padding, h).narrow(2, q * cell_w + padding, w);
    cell.copy_(src[k]);
  }
  return grid;
}

}  // namespace wick::data
