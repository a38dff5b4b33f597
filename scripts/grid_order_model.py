#!/usr/bin/env python3
"""A scheduling model of the attention kernels' grid orders, without a GPU.

Estimates how much the longest-processing-time-first grid order
(WICK_CUDA_ATTENTION_LPT, attention_fa2.cu's grid_cell: the (batch, head)
slices fastest within sections sized for L2) shortens a causal attention
kernel against the slices-slowest order, for a given shape and occupancy. It
is a model, not a measurement (and it leaves out L2 misses, which the
sections are there to bound):

- A slice has `blocks` CTAs; CTA b of a causal slice does `blocks - b` tiles of
  work (the forward numbers its query blocks from the last rows, the backward
  its key blocks from the first keys: block 0 is the heaviest in both) plus
  `fixed` tiles of set-up (loads of its own tiles, the epilogue). Non-causal:
  every CTA does `blocks` tiles.
- The hardware dispatches CTAs in grid order to any SM with a free slot (at
  most `per_sm` resident CTAs, the kernel's occupancy).
- An SM with k resident CTAs runs at min(k, saturate) / saturate of its peak,
  shared equally among them: a lone CTA in the last wave runs faster than one
  of a full SM, but not `per_sm` times faster.

  python3 scripts/grid_order_model.py                      GPT-2's causal backward and forward
  python3 scripts/grid_order_model.py --slices 96 --blocks 16 --per-sm 3 --saturate 2 [--full]
"""
import argparse
import sys


def makespan(order, sms, per_sm, saturate, work):
    """Time until the last CTA of `order` (CTA ids in dispatch order) finishes, in tiles of one saturated SM."""
    pending = list(order)[::-1]
    resident = [[] for _ in range(sms)]  # the remaining work of each SM's resident CTAs
    t = 0.0

    def dispatch():
        for r in resident:
            while len(r) < per_sm and pending:
                r.append(work(pending.pop()))

    def rate(r):  # each resident CTA's share of its SM
        return min(len(r), saturate) / saturate / len(r)

    dispatch()
    while any(resident):
        dt = min(min(r) / rate(r) for r in resident if r)
        for i, r in enumerate(resident):
            if r:
                step = dt * rate(r)
                resident[i] = [x - step for x in r if x - step > 1e-9]
        t += dt
        dispatch()
    return t


def lpt_order(slices, blocks, section):
    """The CTAs (slice, block) in grid_cell's order: sections of `section` slices (the last may be
    narrower), the slices fastest within each."""
    order = []
    for s0 in range(0, slices, section):
        width = min(section, slices - s0)
        order += [(s0 + n, b) for b in range(blocks) for n in range(width)]
    return order


def balanced_section(slices, slice_bytes, l2_bytes):
    """attention_fa2.cu's lpt_section: at most 2/3 of L2's worth of slices per section, in sections of equal
    width."""
    if slices < 1:
        return 1
    most = max(1, (l2_bytes // 3 * 2) // slice_bytes) if slice_bytes > 0 else slices
    sections = -(-slices // most)
    return -(-slices // sections)


def compare(slices, blocks, sms, per_sm, saturate, fixed, causal, section=None):
    """(slices-slowest, LPT, ideal) makespans: LPT in sections of `section` slices (None: one section of all);
    the ideal spreads all work evenly over the SMs."""
    work = (lambda c: fixed + blocks - c[1]) if causal else (lambda c: fixed + blocks)
    slowest = [(n, b) for n in range(slices) for b in range(blocks)]
    fastest = lpt_order(slices, blocks, section or slices)
    ideal = sum(work(c) for c in slowest) / sms
    return (makespan(slowest, sms, per_sm, saturate, work), makespan(fastest, sms, per_sm, saturate, work), ideal)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--slices", type=int, help="(batch, head) slices (GPT-2's bench: 8 x 12 = 96)")
    ap.add_argument("--blocks", type=int, default=16, help="CTAs per slice (L = 1024 in 64-row tiles: 16)")
    ap.add_argument("--sms", type=int, default=132, help="SMs (H100 SXM and H200: 132)")
    ap.add_argument("--per-sm", type=int, help="resident CTAs per SM (the kernel's occupancy)")
    ap.add_argument("--saturate", type=int, help="resident CTAs that saturate an SM")
    ap.add_argument("--fixed", type=float, default=0.5, help="each CTA's set-up, in tiles")
    ap.add_argument("--section", type=int, help="slices per LPT section (default: attention_fa2.cu's "
                    "lpt_section for GPT-2's shape on a 50 MB L2, an H100's or H200's: 48 backward, 96 forward)")
    ap.add_argument("--full", action="store_true", help="no causal mask (every CTA the same work)")
    a = ap.parse_args(argv)
    if a.slices is not None or a.per_sm is not None or a.saturate is not None:
        cases = [("given", 96 if a.slices is None else a.slices, 3 if a.per_sm is None else a.per_sm,
                  2 if a.saturate is None else a.saturate, a.section)]
    else:  # the wgmma backward (3 CTAs per SM) and forward (5), each with two guesses at saturation
        l2 = 50 * 1024 * 1024
        given = a.section is not None
        bwd = a.section if given else balanced_section(96, 1024 * 64 * (2 + 2 + 4), l2)  # Q, dO, dQ's float32
        fwd = a.section if given else balanced_section(96, 1024 * 64 * (2 + 2), l2)  # K, V
        cases = [("backward", 96, 3, 2, bwd), ("backward", 96, 3, 3, bwd), ("forward", 96, 5, 3, fwd),
                 ("forward", 96, 5, 4, fwd)]
    for name, slices, per_sm, sat, section in cases:
        if min(slices, a.blocks, a.sms, per_sm, sat, 1 if section is None else section) < 1:
            sys.exit("grid_order_model: every count must be at least 1")
        slow, fast, ideal = compare(slices, a.blocks, a.sms, per_sm, sat, a.fixed, not a.full, section)
        print(f"{name:9s} {slices} slices x {a.blocks} blocks, {per_sm} per SM, saturated at {sat}, sections of "
              f"{min(section or slices, slices)}: slices slowest {slow:.1f}, LPT {fast:.1f}, ideal {ideal:.1f} "
              f"tiles; LPT {100 * (slow - fast) / slow:.1f}% shorter")


if __name__ == "__main__":
    main()
