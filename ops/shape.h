// Shape ops that copy: cat, stack, split/chunk, repeat, tile, pad, flip, roll.
#pragma once

#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace wick {

// Joins along an existing dim; all other dims must match. dtypes promote.
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Joins along a new dim; all shapes must match.
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Pieces of split_size along dim (the last may be smaller); views.
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
// Pieces of the given sizes (must sum to the dim's size); views.
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
// `chunks` pieces of ceil(size / chunks) (fewer if it does not divide); views.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
// torch.Tensor.repeat: tiles the tensor; repeats.size() >= x.dim().
Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats);
// torch.tile: like repeat, but fewer reps than dims are padded with 1s in front.
Tensor tile(const Tensor& x, const std::vector<int64_t>& reps);
// torch.nn.functional.pad: pads = (last_lo, last_hi, second_last_lo, ...);
// mode "constant" (value, negative pads crop) or "reflect".
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, const std::string& mode = "constant", double value = 0.0);
Tensor flip(const Tensor& x, const std::vector<int64_t>& dims);
// Rolls elements along dims (flattened if dims is empty) by shifts.
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims = {});

}  // namespace wick
