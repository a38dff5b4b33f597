#!/usr/bin/python3
"""PyTorch CPU timings of the convolution shapes in bench/kernels/bench_conv.cpp.

For each shape: forward (conv2d with bias), input gradient and weight gradient
(torch.ops.aten.convolution_backward, the kernels autograd calls), float32,
median over repetitions after warm-up. Prints ms and GFLOP/s per map.

  /usr/bin/python3 bench/peer/conv_shapes.py [--threads 2] [--reps 7] [--filter resnet64]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

# name, N, C_in, H, C_out, k, stride, pad, groups (same table as bench_conv.cpp)
SHAPES = [
    ("resnet64_3x3", 64, 64, 28, 64, 3, 1, 1, 1),
    ("resnet128_3x3", 64, 128, 14, 128, 3, 1, 1, 1),
    ("resnet256_3x3", 64, 256, 7, 256, 3, 1, 1, 1),
    ("resnet512_3x3", 64, 512, 4, 512, 3, 1, 1, 1),
    ("resnet64to128_3x3s2", 64, 64, 28, 128, 3, 2, 1, 1),
    ("resnet128to256_3x3s2", 64, 128, 14, 256, 3, 2, 1, 1),
    ("resnet256to512_3x3s2", 64, 256, 7, 512, 3, 2, 1, 1),
    ("resnet64to128_1x1s2", 64, 64, 28, 128, 1, 2, 0, 1),
    ("resnet128to256_1x1s2", 64, 128, 14, 256, 1, 2, 0, 1),
    ("resnet256to512_1x1s2", 64, 256, 7, 512, 1, 2, 0, 1),
    ("cnn1to32_3x3", 128, 1, 28, 32, 3, 1, 0, 1),
    ("cnn32to64_3x3", 128, 32, 26, 64, 3, 1, 0, 1),
    ("depthwise128_3x3", 64, 128, 14, 128, 3, 1, 1, 128),
]


def median_ms(fn, reps, min_time=0.2):
    fn()  # warm-up
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < reps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 200:
            break
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32")
    print(f"{'shape':24s} {'map':12s} {'ms':>9s} {'GFLOP/s':>9s}")
    for name, N, C, H, Co, k, s, p, g in SHAPES:
        if args.filter and args.filter not in name:
            continue
        x = torch.randn(N, C, H, H)
        w = torch.randn(Co, C // g, k, k)
        b = torch.randn(Co)
        y = F.conv2d(x, w, b, stride=s, padding=p, groups=g)
        gy = torch.randn_like(y)
        OH = y.shape[2]
        flops = 2.0 * N * Co * OH * OH * (C // g) * k * k

        def bwd(mask):
            return lambda: torch.ops.aten.convolution_backward(
                gy, x, w, None, [s, s], [p, p], [1, 1], False, [0, 0], g, mask)

        with torch.no_grad():
            for label, fn in (("forward", lambda: F.conv2d(x, w, b, stride=s, padding=p, groups=g)),
                              ("input_grad", bwd([True, False, False])),
                              ("weight_grad", bwd([False, True, False]))):
                ms = median_ms(fn, args.reps)
                print(f"{name:24s} {label:12s} {ms:9.3f} {flops / ms / 1e6:9.1f}", flush=True)


if __name__ == "__main__":
    main()
