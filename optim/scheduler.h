// Learning-rate schedulers, as torch.optim.lr_scheduler. A scheduler wraps an
// optimizer (which must outlive it) and writes each group's lr; call step()
// once after each optimizer.step(). Step t = last_epoch() counts the
// scheduler steps taken (0 after construction, when the lr at t = 0 is set).
//
// Every schedule here is a closed form lr(t) per group from that group's base
// lr (its lr when the scheduler was built), so a restored scheduler continues
// exactly:
//   StepLR              base * gamma^floor(t / step_size)
//   CosineAnnealingLR   eta_min + (base - eta_min) (1 + cos(pi t / T_max)) / 2
//   LinearWarmupCosine  base (f + (1 - f) t / W)                          t < W
//                       eta_min + (base - eta_min) (1 + cos(pi (t-W) / (T-W))) / 2
//                                                                   W <= t <= T
//                       eta_min                                           t > T
//   OneCycleLR          Smith & Topin (2017), torch's phases (below).
// (PyTorch computes StepLR and CosineAnnealingLR recursively from the previous
// lr; the values agree to rounding.)
//
// state_dict: "last_epoch" (0-d int64) and "base_lrs" (float64 [groups]). The
// schedule's configuration comes from the constructor, as in the code that
// built it the first time.
#pragma once

#include <string>
#include <vector>

#include "optim/optimizer.h"
#include "tensor/state_dict.h"

namespace wick::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  const std::string& name() const { return name_; }
  // t += 1, then every group's lr = lr(t).
  void step();
  // The lr of each group set by the last step (or the constructor).
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() const { return optimizer_; }

  StateDict state_dict() const;
  // Restores t and the base lrs and writes lr(t) into the groups.
  void load_state_dict(const StateDict& sd);

 protected:
  LRScheduler(Optimizer& optimizer, std::string name);
  // Sets t = 0 and writes lr(0); derived constructors call it last.
  void start();
  // The lr of group `g` at step t.
  virtual double lr_at(size_t g, int64_t t) const = 0;
  // Writes lr = lr_at(g, t) into group g (OneCycleLR also sets the momentum).
  virtual void apply(ParamGroup& group, size_t g, int64_t t, double lr);

 private:
  // Computes lr(t) for every group (a schedule may reject t), then writes.
  void go_to(int64_t t);

  Optimizer& optimizer_;
  std::string name_;
  std::vector<double> base_lrs_, last_lr_;
  int64_t last_epoch_ = 0;
};

// Multiplies the lr by gamma every step_size steps.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1);

 protected:
  double lr_at(size_t g, int64_t t) const override;

 private:
  int64_t step_size_;
  double gamma_;
};

// Half a cosine from the base lr down to eta_min over T_max steps (and back up
// over the next T_max, as PyTorch's).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0);

 protected:
  double lr_at(size_t g, int64_t t) const override;

 private:
  int64_t t_max_;
  double eta_min_;
};

// The recipe of most self-supervised papers (SimCLR, BYOL, MAE, DINO): a linear
// warm-up from warmup_start_factor * base to base over warmup_steps, then a
// cosine down to eta_min at total_steps, where it stays.
class LinearWarmupCosine : public LRScheduler {
 public:
  LinearWarmupCosine(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps,
                     double warmup_start_factor = 0.0, double eta_min = 0.0);

 protected:
  double lr_at(size_t g, int64_t t) const override;

 private:
  int64_t warmup_, total_;
  double start_factor_, eta_min_;
};

struct OneCycleOptions {
  double pct_start = 0.3;             // fraction of the steps spent increasing the lr
  std::string anneal_strategy = "cos";  // "cos" or "linear"
  bool cycle_momentum = true;         // momentum (SGD, LARS) or beta1 (Adam, Lion) runs inversely to the lr
  double base_momentum = 0.85;
  double max_momentum = 0.95;
  double div_factor = 25;             // initial lr = max_lr / div_factor
  double final_div_factor = 1e4;      // final lr = initial lr / final_div_factor
  bool three_phase = false;           // a third phase anneals back to the initial lr first
};

// The 1cycle policy (Smith & Topin, 2017) as torch.optim.lr_scheduler.OneCycleLR:
// the lr goes from max_lr / div_factor up to max_lr over pct_start of the
// total_steps, then down to initial / final_div_factor; total_steps steps are
// allowed. The groups' own lr is ignored: max_lr has one value per group or
// one for all.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, std::vector<double> max_lr, int64_t total_steps, OneCycleOptions options = {});
  OneCycleLR(Optimizer& optimizer, double max_lr, int64_t total_steps, OneCycleOptions options = {})
      : OneCycleLR(optimizer, std::vector<double>{max_lr}, total_steps, options) {}

 protected:
  double lr_at(size_t g, int64_t t) const override;
  void apply(ParamGroup& group, size_t g, int64_t t, double lr) override;

 private:
  // Phases as in PyTorch: each anneals the lr between two of the group's
  // levels (initial = max_lr / div_factor, max = max_lr, min = initial /
  // final_div_factor) and the momentum between base and max, ending at
  // end_step (fractional, as PyTorch computes it).
  enum class Level { Initial, Max, Min };
  struct Phase {
    double end_step;
    Level start_lr, end_lr;
    bool start_max_momentum, end_max_momentum;
  };
  // The phase containing step t and the fraction of it done.
  std::pair<const Phase*, double> locate(int64_t t) const;
  double anneal(double start, double end, double pct) const;
  double level(size_t g, Level l) const;

  std::vector<double> max_lrs_;
  int64_t total_steps_;
  OneCycleOptions opt_;
  std::vector<Phase> phases_;
  std::string momentum_name_;  // "momentum", "beta1", or empty when not cycling
};

}  // namespace wick::optim
