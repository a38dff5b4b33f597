#!/usr/bin/env python3
"""How far a correct bfloat16 (or float16) attention backward lands from the float64 one.

A model, in numpy, of the roundings wick's CUDA attention backwards make (the
mma.sync FlashAttention-2 kernels of cuda/kernels/attention_fa2.cu and the
general tensor-core ones of attention.cu alike): q, k, v and dO in bfloat16;
float32 sums; the forward's output O rounded to bfloat16, its lse in float32;
D = rowsum(dO * O) from that rounded O (as cuda::attention_backward, and
PyTorch's flash backward, compute it); p = exp(s - lse) rounded to bfloat16
before dV += p^T dO, ds = p (dp - D) rounded before dK += ds^T Q and
dQ += ds K; dq, dk, dv rounded to bfloat16 once. Everything else is exact
(float64), so what the model shows is the floor of any such kernel's error.

For each shape of tests/cuda/test_attention.cpp's float64 CPU checks it
counts the (batch, head) slices whose dq, dk or dv leave the test's bound
|got - want| <= tol (1 + |want|) (tol(dt) there: 4e-2 for bfloat16, 1e-2 for
float16), at head dims 64 and 128, with the test's explicit scale of 0.3
where (L + S) % 3 == 0 and 1/sqrt(E) elsewhere. The "exact D" columns take D
from the float64 output instead: the rest of the roundings alone. --dtype
fp16 rounds to float16 where the model says bfloat16.

  /usr/bin/python3 scripts/attention_rounding_model.py [--trials N] [--seed S] [--dtype bf16|fp16]

(Debian's python3 with python3-numpy; not part of wick.)
"""
import argparse

import numpy as np

BOUND = {"bf16": 4e-2, "fp16": 1e-2}  # tests/cuda/test_attention.cpp, tol(dt): atol = rtol
SHAPES = [(17, 33, True), (64, 64, True), (130, 200, False), (130, 130, True), (200, 70, True), (70, 200, True)]


def bf16(x):
    """x rounded to the nearest bfloat16 (ties to even), as float32."""
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return (((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)


def fp16(x):
    """x rounded to the nearest float16, as float32."""
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(np.float32)


def slice_misses(L, S, E, causal, scale, rng, dtype="bf16"):
    """Whether one slice's modelled gradients miss the bound: (with D from the rounded O, with exact D)."""
    r16, bound = (bf16 if dtype == "bf16" else fp16), BOUND[dtype]
    q, k, v, g = (r16(rng.standard_normal((n, E))) for n in (L, S, S, L))
    q64, k64, v64, g64 = (a.astype(np.float64) for a in (q, k, v, g))
    masked = np.triu(np.ones((L, S), bool), 1) if causal else np.zeros((L, S), bool)  # top-left causal
    seen = ~masked.all(1, keepdims=True)  # rows that see a key (all of them here: L, S >= 1)

    s64 = np.where(masked, -np.inf, scale * (q64 @ k64.T))
    m = np.where(seen, s64.max(1, keepdims=True), 0.0)
    P = np.exp(s64 - m)
    P /= P.sum(1, keepdims=True)
    O = P @ v64
    dP = g64 @ v64.T
    dS = P * (dP - (g64 * O).sum(1, keepdims=True))
    want = {"dq": scale * dS @ k64, "dk": scale * dS.T @ q64, "dv": P.T @ g64}

    s = np.where(masked, -np.inf, (q @ k.T).astype(np.float32) * np.float32(scale))
    mf = np.where(seen, s.max(1, keepdims=True), np.float32(0))
    e = np.exp(s - mf).astype(np.float32)
    ell = e.sum(1, keepdims=True, dtype=np.float32)
    O16 = r16((r16(e) @ v) / ell)
    lse = mf + np.log(ell)
    p = np.where(masked, np.float32(0), np.exp(s - lse).astype(np.float32))
    dp = (g @ v.T).astype(np.float32)

    def misses(D):
        ds = r16(p * (dp - D))
        got = {"dq": r16(np.float32(scale) * (ds @ k)), "dk": r16(np.float32(scale) * (ds.T @ q)),
               "dv": r16(r16(p).T @ g)}
        return any((np.abs(got[n] - want[n]) > bound * (1 + np.abs(want[n]))).any() for n in want)

    return misses((g * O16).sum(1, keepdims=True, dtype=np.float32)), misses((g64 * O).sum(1, keepdims=True).astype(np.float32))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=60, help="slices per shape and head dim (default 60)")
    ap.add_argument("--seed", type=int, default=1, help="numpy seed (default 1)")
    ap.add_argument("--dtype", choices=("bf16", "fp16"), default="bf16", help="the 16-bit type (default bf16)")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    print(f"slices (of {a.trials}) whose modelled {a.dtype} dq, dk or dv miss "
          f"|got - want| <= {BOUND[a.dtype]} (1 + |want|)")
    print(f"{'L':>4} {'S':>4} {'causal':>6} | {'E':>3} {'scale':>6} {'D from O16':>10} {'exact D':>8}")
    for E in (64, 128):
        for L, S, causal in SHAPES:
            scale = 0.3 if (L + S) % 3 == 0 else 1 / np.sqrt(E)
            r = [slice_misses(L, S, E, causal, scale, rng, a.dtype) for _ in range(a.trials)]
            print(f"{L:>4} {S:>4} {str(causal):>6} | {E:>3} {scale:6.3f} {sum(x for x, _ in r):>10} {sum(y for _, y in r):>8}")


if __name__ == "__main__":
    main()
