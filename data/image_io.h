// Image files: PNG/JPEG/BMP/... in with stb_image, PNG out with
// stb_image_write, and make_grid to tile samples into one picture for
// reports (torchvision.utils.make_grid / save_image).
//
// Layouts: a decoded image is uint8 [H, W, C] (the file's layout); the
// transforms and models work on float [C, H, W] in [0, 1]. image_to_float
// and image_to_uint8 convert between the two (torchvision's ToTensor and
// the conversion save_image does: floor(255 v + 0.5) after clamping to [0, 1]).
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace wick::data {

// Decodes an image file into uint8 [H, W, C]. channels = 0 keeps the file's
// channel count; 1..4 converts (gray, gray+alpha, RGB, RGBA).
Tensor read_image(const std::string& path, int channels = 0);

// Writes a PNG. Accepts uint8 [H, W, C] or [H, W], or a floating tensor
// [C, H, W] or [H, W] with values in [0, 1] (clamped); C is 1, 2, 3 or 4.
void write_png(const std::string& path, const Tensor& image);

// uint8 [H, W, C] or [H, W] -> float32 [C, H, W] / 255.
Tensor image_to_float(const Tensor& image);
// float [C, H, W] (or [H, W]) in [0, 1] -> uint8 [H, W, C].
Tensor image_to_uint8(const Tensor& image);

// Tiles images [N, C, H, W] into one [C, rows * (H + padding) + padding,
// cols * (W + padding) + padding] image, cols = min(nrow, N) per row, filled
// with pad_value between tiles (torchvision.utils.make_grid; unlike it,
// one-channel images stay one-channel). Any dtype; the result has x's dtype.
Tensor make_grid(const Tensor& images, int64_t nrow = 8, int64_t padding = 2, double pad_value = 0.0);

}  // namespace wick::data
