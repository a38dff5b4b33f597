#!/usr/bin/env python3
"""PyTorch side of bench/kernels/bench_cuda_attention.cpp: torch.nn.functional.scaled_dot_product_attention
forward and forward + backward on one GPU, at the same shape (GPT-2 small's attention: B = 8, H = 12,
L = S = 1024, D = 64, causal), in bfloat16 and float32, then bfloat16 at head dim 128 (D = 128), printing the
same table columns.

Protocol as wick's: fixed seed, operands generated once on the device, 2 untimed warm-up calls, then R
rounds of 5 back-to-back calls timed with a device sync around each batch, the MEDIAN per-call time.
FLOPs of useful work as FlashAttention's benchmarks count them: forward 4 B H L S D, forward + backward
14 B H L S D, halved for causal. PyTorch picks its backend (flash / memory-efficient / math) as it does by
default; the backend it can use is printed. torch < 2.0 has no scaled_dot_product_attention: the composed
softmax(q k^T / sqrt(D) + causal) v is timed instead and labelled torch-math.

  python3 bench/peer/cuda_attention.py [--rounds 5]
"""
import argparse
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

B, H, L, CAUSAL = 8, 12, 1024, True
# (dtype name, dtype, head dim), in bench_cuda_attention's order (gpu_check's ncu runs profile the first launches).
CONFIGS = (("bf16", torch.bfloat16, 64), ("fp32", torch.float32, 64), ("bf16", torch.bfloat16, 128))


def composed(q, k, v, causal):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        n = s.shape[-1]
        allowed = torch.ones(s.shape[-2], n, dtype=torch.bool, device=s.device).tril()
        s = s.masked_fill(~allowed, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("cuda_attention.py: this torch has no usable CUDA device, skipping")
        return 0
    has_sdpa = hasattr(F, "scaled_dot_product_attention")
    impl = "torch-sdpa" if has_sdpa else "torch-math"
    attend = (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=CAUSAL)) if has_sdpa else (
        lambda q, k, v: composed(q, k, v, CAUSAL))
    print(f"# torch {torch.__version__}, {torch.cuda.get_device_name()}, {impl}", end="")
    if has_sdpa and hasattr(torch.backends.cuda, "flash_sdp_enabled"):
        print(f" (flash {torch.backends.cuda.flash_sdp_enabled()}, "
              f"mem_efficient {torch.backends.cuda.mem_efficient_sdp_enabled()})", end="")
    print()
    print(f"{'impl':<11} {'dtype':<5} {'shape':<26} {'fwd_ms':>9} {'fwd_TF/s':>9} {'fwdbwd_ms':>11} {'fwdbwd_TF/s':>11}")
    torch.manual_seed(1234)
    for name, dt, D in CONFIGS:
        fwd_flops = 4.0 * B * H * L * L * D * (0.5 if CAUSAL else 1.0)
        shape = f"B{B} H{H} L{L} D{D} {'causal' if CAUSAL else 'full'}"
        q, k, v, gy = (torch.randn(B, H, L, D, device="cuda", dtype=dt) for _ in range(4))
        for t in (q, k, v):
            t.requires_grad_(True)

        def step(backward):
            if not backward:
                with torch.no_grad():
                    attend(q, k, v)
                return
            y = attend(q, k, v)
            torch.autograd.grad(y, (q, k, v), gy)

        def time_calls(backward, calls):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(calls):
                step(backward)
            torch.cuda.synchronize()
            return (time.perf_counter() - t0) / calls

        for b in (False, True):
            time_calls(b, 2)
        times = {False: [], True: []}
        for _ in range(args.rounds):
            for b in (False, True):
                times[b].append(time_calls(b, 5))
        f, fb = statistics.median(times[False]), statistics.median(times[True])
        print(f"{impl:<11} {name:<5} {shape:<26} {f * 1e3:9.3f} {fwd_flops / f * 1e-12:9.2f} "
              f"{fb * 1e3:11.3f} {3.5 * fwd_flops / fb * 1e-12:11.2f}")
        sys.stdout.flush()
    print(f"(median of {args.rounds} rounds of 5 calls; TF/s of useful work: fwd 4BHLLD, fwd+bwd 14BHLLD, "
          "halved for causal)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
