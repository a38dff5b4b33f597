// wick::optim in one include: optimizers, schedulers, clipping, EMA.
//
// A typical loop (AdamW without decay on biases and norms, warm-up + cosine):
//   optim::AdamW opt(optim::split_by_ndim(model->parameters(), {{"weight_decay", 0}}), {.lr = 1e-3});
//   optim::LinearWarmupCosine sched(opt, /*warmup_steps=*/500, /*total_steps=*/10000);
//   for (...) {
//     opt.zero_grad();
//     loss.backward();
//     optim::clip_grad_norm_(model->parameters(), 1.0);
//     opt.step();
//     sched.step();
//   }
// Checkpoints save opt.state_dict() and sched.state_dict() and restore them
// with load_state_dict into an optimizer and scheduler built the same way.
#pragma once

#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/ema.h"
#include "optim/grad_scaler.h"
#include "optim/lars.h"
#include "optim/lion.h"
#include "optim/optimizer.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
