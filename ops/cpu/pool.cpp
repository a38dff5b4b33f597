// CPU pooling and resampling kernels (see ops/cpu/pool.h). Planes are
// independent, so every kernel is parallel over planes; each output (or, for
// the adjoints, each plane of the gradient) is written by one thread only.
// All of them are memory-bound: one read per window element and one write
// per output (max pooling: kh*kw compares per output).
#include "ops/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/dtype.h"
#include "tensor/parallel.h"

namespace wick::cpu {

namespace {
// Planes per thread chunk so that small problems stay on one thread.
int64_t plane_grain(int64_t work_per_plane) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, work_per_plane)); }
}  // namespace

template <typename T>
void max_pool2d(const MaxPoolGeometry& g, const T* x, T* out, int64_t* idx) {
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW;
  parallel_for(0, g.P, plane_grain(OHW * g.kh * g.kw), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* in = x + p * HW;
      T* o = out + p * OHW;
      int64_t* ix = idx + p * OHW;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        int64_t h0 = oh * g.sh - g.ph;
        const int64_t h1 = std::min(h0 + (g.kh - 1) * g.dh + 1, g.H);
        while (h0 < 0) h0 += g.dh;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          int64_t w0 = ow * g.sw - g.pw;
          const int64_t w1 = std::min(w0 + (g.kw - 1) * g.dw + 1, g.W);
          while (w0 < 0) w0 += g.dw;
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_i = (h0 < h1 && w0 < w1) ? h0 * g.W + w0 : -1;
          for (int64_t h = h0; h < h1; h += g.dh) {
            for (int64_t w = w0; w < w1; w += g.dw) {
              const T v = in[h * g.W + w];
              if (v > best || std::isnan(v)) {
                best = v;
                best_i = h * g.W + w;
              }
            }
          }
          o[oh * g.OW + ow] = best;
          ix[oh * g.OW + ow] = best_i;
        }
      }
    }
  });
}

template <typename T>
void plane_scatter_add(int64_t P, int64_t L, int64_t HW, const T* src, const int64_t* idx, T* out) {
  parallel_for(0, P, plane_grain(L + HW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* o = out + p * HW;
      std::fill(o, o + HW, T(0));
      const T* s = src + p * L;
      const int64_t* ix = idx + p * L;
      for (int64_t l = 0; l < L; ++l)
        if (ix[l] >= 0) o[ix[l]] += s[l];
    }
  });
}

template <typename T>
void plane_gather(int64_t P, int64_t L, int64_t HW, const T* x, const int64_t* idx, T* out) {
  parallel_for(0, P, plane_grain(L), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* in = x + p * HW;
      const int64_t* ix = idx + p * L;
      T* o = out + p * L;
      for (int64_t l = 0; l < L; ++l) o[l] = ix[l] >= 0 ? in[ix[l]] : T(0);
    }
  });
}

template <typename T>
void window_avg(int64_t P, const AvgWindows& w, const T* x, T* out) {
  using Acc = acc_t<T>;
  const int64_t HW = w.H * w.W, OHW = w.OH * w.OW;
  parallel_for(0, P, plane_grain(HW + OHW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* in = x + p * HW;
      T* o = out + p * OHW;
      for (int64_t oh = 0; oh < w.OH; ++oh) {
        for (int64_t ow = 0; ow < w.OW; ++ow) {
          Acc s = 0;
          for (int64_t h = w.r0[oh]; h < w.r1[oh]; ++h)
            for (int64_t c = w.c0[ow]; c < w.c1[ow]; ++c) s += in[h * w.W + c];
          const bool empty = w.r0[oh] >= w.r1[oh] || w.c0[ow] >= w.c1[ow];
          o[oh * w.OW + ow] = empty ? T(0) : static_cast<T>(s / static_cast<Acc>(w.rdiv[oh] * w.cdiv[ow]));
        }
      }
    }
  });
}

template <typename T>
void window_avg_adjoint(int64_t P, const AvgWindows& w, const T* g, T* gx) {
  const int64_t HW = w.H * w.W, OHW = w.OH * w.OW;
  parallel_for(0, P, plane_grain(HW + OHW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* go = g + p * OHW;
      T* gi = gx + p * HW;
      std::fill(gi, gi + HW, T(0));
      for (int64_t oh = 0; oh < w.OH; ++oh) {
        for (int64_t ow = 0; ow < w.OW; ++ow) {
          if (w.r0[oh] >= w.r1[oh] || w.c0[ow] >= w.c1[ow]) continue;  // an empty window outputs 0
          const T v = go[oh * w.OW + ow] / static_cast<T>(w.rdiv[oh] * w.cdiv[ow]);
          for (int64_t h = w.r0[oh]; h < w.r1[oh]; ++h)
            for (int64_t c = w.c0[ow]; c < w.c1[ow]; ++c) gi[h * w.W + c] += v;
        }
      }
    }
  });
}

template <typename T>
void resample(int64_t P, const Resample& r, const T* x, T* out) {
  const int64_t HW = r.H * r.W, OHW = r.OH * r.OW;
  parallel_for(0, P, plane_grain(4 * OHW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* in = x + p * HW;
      T* o = out + p * OHW;
      for (int64_t oh = 0; oh < r.OH; ++oh) {
        const T* row0 = in + r.r0[oh] * r.W;
        T* orow = o + oh * r.OW;
        if (!r.linear) {
          for (int64_t ow = 0; ow < r.OW; ++ow) orow[ow] = row0[r.c0[ow]];
          continue;
        }
        const T* row1 = in + r.r1[oh] * r.W;
        const T a0 = static_cast<T>(r.rw0[oh]), a1 = static_cast<T>(r.rw1[oh]);
        for (int64_t ow = 0; ow < r.OW; ++ow) {
          const int64_t j0 = r.c0[ow], j1 = r.c1[ow];
          const T b0 = static_cast<T>(r.cw0[ow]), b1 = static_cast<T>(r.cw1[ow]);
          const T t0 = row0[j0] * b0 + row0[j1] * b1;
          const T t1 = row1[j0] * b0 + row1[j1] * b1;
          orow[ow] = t0 * a0 + t1 * a1;
        }
      }
    }
  });
}

template <typename T>
void resample_adjoint(int64_t P, const Resample& r, const T* g, T* gx) {
  const int64_t HW = r.H * r.W, OHW = r.OH * r.OW;
  parallel_for(0, P, plane_grain(4 * OHW + HW), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* go = g + p * OHW;
      T* gi = gx + p * HW;
      std::fill(gi, gi + HW, T(0));
      for (int64_t oh = 0; oh < r.OH; ++oh) {
        T* row0 = gi + r.r0[oh] * r.W;
        const T* grow = go + oh * r.OW;
        if (!r.linear) {
          for (int64_t ow = 0; ow < r.OW; ++ow) row0[r.c0[ow]] += grow[ow];
          continue;
        }
        T* row1 = gi + r.r1[oh] * r.W;
        const T a0 = static_cast<T>(r.rw0[oh]), a1 = static_cast<T>(r.rw1[oh]);
        for (int64_t ow = 0; ow < r.OW; ++ow) {
          const int64_t j0 = r.c0[ow], j1 = r.c1[ow];
          const T b0 = static_cast<T>(r.cw0[ow]), b1 = static_cast<T>(r.cw1[ow]);
          const T v = grow[ow];
          row0[j0] += a0 * b0 * v;
          row0[j1] += a0 * b1 * v;
          row1[j0] += a1 * b0 * v;
          row1[j1] += a1 * b1 * v;
        }
      }
    }
  });
}

#define WICK_POOL_INSTANTIATE_(T)                                                                      \
  template void max_pool2d<T>(const MaxPoolGeometry&, const T*, T*, int64_t*);                        \
  template void plane_scatter_add<T>(int64_t, int64_t, int64_t, const T*, const int64_t*, T*);        \
  template void plane_gather<T>(int64_t, int64_t, int64_t, const T*, const int64_t*, T*);             \
  template void window_avg<T>(int64_t, const AvgWindows&, const T*, T*);                              \
  template void window_avg_adjoint<T>(int64_t, const AvgWindows&, const T*, T*);                      \
  template void resample<T>(int64_t, const Resample&, const T*, T*);                                  \
  template void resample_adjoint<T>(int64_t, const Resample&, const T*, T*);
WICK_POOL_INSTANTIATE_(float)
WICK_POOL_INSTANTIATE_(double)
#undef WICK_POOL_INSTANTIATE_

}  // namespace wick::cpu
