// LR schedulers (see scheduler.h for the formulas).
#include "optim/scheduler.h"

#include <cmath>
#include <numbers>

#include "ops/creation.h"

namespace wick::optim {

// ---- LRScheduler -----------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer, std::string name) : optimizer_(optimizer), name_(std::move(name)) {
  for (const ParamGroup& g : optimizer_.param_groups()) base_lrs_.push_back(g.lr());
}

void LRScheduler::start() { go_to(0); }

void LRScheduler::step() { go_to(last_epoch_ + 1); }

void LRScheduler::apply(ParamGroup& group, size_t, int64_t, double lr) { group.set_lr(lr); }

void LRScheduler::go_to(int64_t t) {
  std::vector<ParamGroup>& groups = optimizer_.param_groups();
  WICK_CHECK(groups.size() == base_lrs_.size(), name_, ": the optimizer has ", groups.size(),
             " param groups but had ", base_lrs_.size(), " when the scheduler was built");
  std::vector<double> lrs(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) lrs[g] = lr_at(g, t);
  last_epoch_ = t;
  for (size_t g = 0; g < groups.size(); ++g) apply(groups[g], g, t, lrs[g]);
  last_lr_ = std::move(lrs);
}

StateDict LRScheduler::state_dict() const {
  StateDict sd;
  sd.insert("last_epoch", scalar_tensor(last_epoch_, kInt64));
  sd.insert("base_lrs", from_vector(base_lrs_, Shape{static_cast<int64_t>(base_lrs_.size())}, kFloat64));
  return sd;
}

void LRScheduler::load_state_dict(const StateDict& sd) {
  const std::string who = name_ + ".load_state_dict: ";
  for (const auto& [key, t] : sd)
    WICK_CHECK(key == "last_epoch" || key == "base_lrs", who, "unexpected key '", key, "'");
  WICK_CHECK(sd.contains("last_epoch") && sd.contains("base_lrs"), who, "missing key '",
             sd.contains("last_epoch") ? "base_lrs" : "last_epoch", "'");
  const Tensor& epoch = sd.at("last_epoch");
  const Tensor& base = sd.at("base_lrs");
  WICK_CHECK(epoch.dim() == 0 && epoch.dtype() == kInt64, who, "last_epoch must be a 0-d int64 tensor, got ",
             epoch.dtype(), " ", shape_str(epoch.sizes()));
  WICK_CHECK(base.dim() == 1 && base.dtype() == kFloat64, who, "base_lrs must be a 1-d float64 tensor, got ",
             base.dtype(), " ", shape_str(base.sizes()));
  WICK_CHECK(base.numel() == static_cast<int64_t>(optimizer_.param_groups().size()), who, "the state has ",
             base.numel(), " base lr(s) but the optimizer has ", optimizer_.param_groups().size(), " param group(s)");
  const int64_t t = epoch.item<int64_t>();
  WICK_CHECK(t >= 0, who, "invalid last_epoch ", t);
  const std::vector<double> saved = base.contiguous().tolist<double>();
  std::vector<double> old = base_lrs_;
  base_lrs_ = saved;
  try {
    go_to(t);
  } catch (...) {
    base_lrs_ = std::move(old);  // e.g. t beyond OneCycleLR's total_steps
    throw;
  }
}

// ---- StepLR ----------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma)
    : LRScheduler(optimizer, "StepLR"), step_size_(step_size), gamma_(gamma) {
  WICK_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  WICK_CHECK(gamma >= 0, "StepLR: gamma must be non-negative, got ", gamma);
  start();
}

double StepLR::lr_at(size_t g, int64_t t) const {
  return base_lrs()[g] * std::pow(gamma_, static_cast<double>(t / step_size_));
}

// ---- CosineAnnealingLR -----------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(optimizer, "CosineAnnealingLR"), t_max_(T_max), eta_min_(eta_min) {
  WICK_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be positive, got ", T_max);
  start();
}

double CosineAnnealingLR::lr_at(size_t g, int64_t t) const {
  const double x = std::numbers::pi * static_cast<double>(t) / static_cast<double>(t_max_);
  return eta_min_ + (base_lrs()[g] - eta_min_) * (1 + std::cos(x)) / 2;
}

// ---- LinearWarmupCosine ----------------------------------------------------

LinearWarmupCosine::LinearWarmupCosine(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps,
                                       double warmup_start_factor, double eta_min)
    : LRScheduler(optimizer, "LinearWarmupCosine"),
      warmup_(warmup_steps),
      total_(total_steps),
      start_factor_(warmup_start_factor),
      eta_min_(eta_min) {
  WICK_CHECK(total_steps > 0 && warmup_steps >= 0 && warmup_steps <= total_steps,
             "LinearWarmupCosine: need 0 <= warmup_steps <= total_steps and total_steps > 0, got warmup_steps ",
             warmup_steps, ", total_steps ", total_steps);
  WICK_CHECK(warmup_start_factor >= 0 && warmup_start_factor <= 1,
             "LinearWarmupCosine: warmup_start_factor must be in [0, 1], got ", warmup_start_factor);
  start();
}

double LinearWarmupCosine::lr_at(size_t g, int64_t t) const {
  const double base = base_lrs()[g];
  if (t < warmup_)
    return base * (start_factor_ + (1 - start_factor_) * static_cast<double>(t) / static_cast<double>(warmup_));
  if (t >= total_) return eta_min_;
  const double x = std::numbers::pi * static_cast<double>(t - warmup_) / static_cast<double>(total_ - warmup_);
  return eta_min_ + (base - eta_min_) * (1 + std::cos(x)) / 2;
}

// ---- OneCycleLR ------------------------------------------------------------

OneCycleLR::OneCycleLR(Optimizer& optimizer, std::vector<double> max_lr, int64_t total_steps, OneCycleOptions options)
    : LRScheduler(optimizer, "OneCycleLR"), max_lrs_(std::move(max_lr)), total_steps_(total_steps), opt_(options) {
  std::vector<ParamGroup>& groups = optimizer.param_groups();
  WICK_CHECK(total_steps > 0, "OneCycleLR: total_steps must be positive, got ", total_steps);
  WICK_CHECK(max_lrs_.size() == 1 || max_lrs_.size() == groups.size(), "OneCycleLR: got ", max_lrs_.size(),
             " max_lr values for ", groups.size(), " param groups");
  if (max_lrs_.size() == 1) max_lrs_.assign(groups.size(), max_lrs_[0]);
  WICK_CHECK(opt_.pct_start >= 0 && opt_.pct_start <= 1, "OneCycleLR: pct_start must be in [0, 1], got ",
             opt_.pct_start);
  WICK_CHECK(opt_.anneal_strategy == "cos" || opt_.anneal_strategy == "linear",
             "OneCycleLR: anneal_strategy must be 'cos' or 'linear', got '", opt_.anneal_strategy, "'");
  WICK_CHECK(opt_.div_factor > 0 && opt_.final_div_factor > 0, "OneCycleLR: div_factor and final_div_factor must be "
             "positive, got ", opt_.div_factor, " and ", opt_.final_div_factor);

  const double T = static_cast<double>(total_steps), pct = opt_.pct_start;
  if (opt_.three_phase)
    phases_ = {{pct * T - 1, Level::Initial, Level::Max, true, false},
               {2 * pct * T - 2, Level::Max, Level::Initial, false, true},
               {T - 1, Level::Initial, Level::Min, true, true}};
  else
    phases_ = {{pct * T - 1, Level::Initial, Level::Max, true, false}, {T - 1, Level::Max, Level::Min, false, true}};

  if (opt_.cycle_momentum) {
    const ParamGroup& g0 = groups.front();
    momentum_name_ = g0.has("momentum") ? "momentum" : g0.has("beta1") ? "beta1" : "";
    WICK_CHECK(!momentum_name_.empty(), "OneCycleLR: cycle_momentum needs an optimizer with a momentum or beta1 "
               "option; ", optimizer.name(), " has neither (set cycle_momentum = false)");
  }
  start();
}

double OneCycleLR::level(size_t g, Level l) const {
  const double initial = max_lrs_[g] / opt_.div_factor;
  return l == Level::Max ? max_lrs_[g] : l == Level::Initial ? initial : initial / opt_.final_div_factor;
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (opt_.anneal_strategy == "linear") return (end - start) * pct + start;
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
}

std::pair<const OneCycleLR::Phase*, double> OneCycleLR::locate(int64_t t) const {
  WICK_CHECK(t <= total_steps_, "OneCycleLR: tried to step ", t, " times; the schedule has total_steps = ",
             total_steps_);
  const double step = static_cast<double>(t);
  double start = 0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& p = phases_[i];
    if (step <= p.end_step || i + 1 == phases_.size()) return {&p, (step - start) / (p.end_step - start)};
    start = p.end_step;
  }
  return {nullptr, 0};  // unreachable: the last phase takes every remaining step
}

double OneCycleLR::lr_at(size_t g, int64_t t) const {
  auto [phase, pct] = locate(t);
  return anneal(level(g, phase->start_lr), level(g, phase->end_lr), pct);
}

void OneCycleLR::apply(ParamGroup& group, size_t g, int64_t t, double lr) {
  group.set_lr(lr);
  if (momentum_name_.empty()) return;
  auto [phase, pct] = locate(t);
  auto m = [&](bool at_max) { return at_max ? opt_.max_momentum : opt_.base_momentum; };
  group.set(momentum_name_, anneal(m(phase->start_max_momentum), m(phase->end_max_momentum), pct));
}

}  // namespace wick::optim
