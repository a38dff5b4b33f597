// EMA of parameters (see ema.h).
#include "optim/ema.h"

#include "autograd/grad_mode.h"
#include "ops/elementwise.h"

namespace wick::optim {

namespace {

// Pairs two name-ordered lists; `what` is "parameter" or "buffer".
void pair_by_name(const std::vector<std::pair<std::string, Tensor>>& src,
                  const std::vector<std::pair<std::string, Tensor>>& dst, const char* what,
                  std::vector<Tensor>& src_out, std::vector<Tensor>& dst_out) {
  WICK_CHECK(src.size() == dst.size(), "EMA: the source has ", src.size(), " ", what, "s, the target ", dst.size());
  for (size_t i = 0; i < src.size(); ++i) {
    WICK_CHECK(src[i].first == dst[i].first, "EMA: ", what, " ", i, " is '", src[i].first, "' in the source but '",
               dst[i].first, "' in the target");
    WICK_CHECK(src[i].second.sizes() == dst[i].second.sizes(), "EMA: ", what, " '", src[i].first, "' has shape ",
               shape_str(src[i].second.sizes()), " in the source but ", shape_str(dst[i].second.sizes()),
               " in the target");
    src_out.push_back(src[i].second);
    dst_out.push_back(dst[i].second);
  }
}

}  // namespace

EMA::EMA(const nn::Module& source, nn::Module& target) {
  pair_by_name(source.named_parameters(), target.named_parameters(), "parameter", source_params_, target_params_);
  pair_by_name(source.named_buffers(), target.named_buffers(), "buffer", source_buffers_, target_buffers_);
  for (const Tensor& t : target_params_)
    WICK_CHECK(t.is_floating_point(), "EMA: target parameters must be floating point, got ", t.dtype());
}

EMA::EMA(std::vector<Tensor> source, std::vector<Tensor> target)
    : source_params_(std::move(source)), target_params_(std::move(target)) {
  WICK_CHECK(source_params_.size() == target_params_.size(), "EMA: ", source_params_.size(), " source tensors but ",
             target_params_.size(), " target tensors");
  for (size_t i = 0; i < source_params_.size(); ++i) {
    const Tensor &s = source_params_[i], &t = target_params_[i];
    WICK_CHECK(s.defined() && t.defined(), "EMA: tensor ", i, " is undefined");
    WICK_CHECK(s.sizes() == t.sizes(), "EMA: tensor ", i, " has shape ", shape_str(s.sizes()), " in the source but ",
               shape_str(t.sizes()), " in the target");
    WICK_CHECK(t.is_floating_point(), "EMA: target tensor ", i, " must be floating point, got ", t.dtype());
    WICK_CHECK(!s.is_same(t), "EMA: tensor ", i, " is the same tensor in the source and the target");
  }
}

void EMA::update(double decay) {
  WICK_CHECK(decay >= 0 && decay <= 1, "EMA: decay must be in [0, 1], got ", decay);
  NoGradGuard no_grad;
  for (size_t i = 0; i < target_params_.size(); ++i) {
    Tensor t = target_params_[i].detach();
    t.mul_(decay).add_(source_params_[i].detach(), 1 - decay);
  }
  for (size_t i = 0; i < target_buffers_.size(); ++i) {
    Tensor t = target_buffers_[i].detach();
    t.copy_(source_buffers_[i]);
  }
}

void EMA::copy_source() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < target_params_.size(); ++i) {
    Tensor t = target_params_[i].detach();
    t.copy_(source_params_[i]);
  }
  for (size_t i = 0; i < target_buffers_.size(); ++i) {
    Tensor t = target_buffers_[i].detach();
    t.copy_(source_buffers_[i]);
  }
}

}  // namespace wick::optim
