// wick: everything a program needs, in one include.
#pragma once

#include "autograd/engine.h"
#include "autograd/function.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "io/npy.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/reduction.h"
#include "ops/view.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/tensor.h"
