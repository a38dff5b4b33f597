#!/usr/bin/env python3
"""PyTorch eager side of bench/models/bench_cuda_models.cpp: the same training steps on one GPU.

  gpt2      GPT-2 small: vocab 50257, context 1024, 12 layers, 12 heads, width 768, tied head, learned
            positions, pre-LN blocks with biases, GELU (erf) MLP, F.scaled_dot_product_attention(is_causal)
            (124,439,808 parameters, as wick's models::GPT); batch 8 x 1024 tokens, AdamW (fused=True when
            this torch has it), bfloat16 autocast
  resnet50  ResNet-50 in torchvision's layout (v1.5: stride on the 3x3), 3x224x224, 1000 classes
            (25,557,032 parameters, as wick's models::ResNet); batch 64, SGD momentum 0.9, bfloat16 autocast

Protocol as wick's: fixed seed, random data generated once on the device, --warmup untimed steps, --steps
timed steps each ended by loss.item() (a device sync), the MEDIAN step time. PyTorch eager: no
torch.compile, no CUDA graphs, default cuDNN settings (benchmark mode off, TF32 off for matmuls as in
torch's defaults).

  python3 bench/peer/cuda_models.py --workload gpt2 --steps 10 --warmup 3 [--dtype bf16|fp32] [--json]
  python3 bench/peer/cuda_models.py --workload gpt2 --batch 2 --profile 30
      after the timed steps, one more step under torch.profiler: its 30 costliest GPU kernels (total
      time, share, launches), the twin of scripts/gpu_check.sh's ncu table of wick's kernels
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 1234
EXPECTED_PARAMS = {"gpt2": 124_439_808, "resnet50": 25_557_032}


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class GPT2(nn.Module):
    def __init__(self, vocab=50257, context=1024, width=768, depth=12, heads=12):
        super().__init__()
        self.vocab = vocab
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.randn(context, width) * 0.02)
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(depth)])
        self.ln_f = nn.LayerNorm(width)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
        for blk in self.blocks:
            nn.init.normal_(blk.proj.weight, 0.0, 0.02 / (2 * depth) ** 0.5)
            nn.init.normal_(blk.fc2.weight, 0.0, 0.02 / (2 * depth) ** 0.5)

    def loss(self, tokens):
        x, y = tokens[:, :-1], tokens[:, 1:]
        h = self.tok(x) + self.pos[: x.shape[1]]
        for blk in self.blocks:
            h = blk(h)
        logits = F.linear(self.ln_f(h), self.tok.weight)  # tied head
        return F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1))


class Bottleneck(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, 4 * planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * planes)
        self.downsample = None
        if stride != 1 or in_planes != 4 * planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, 4 * planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(4 * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet50(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, in_planes = [], 64
        for i, n in enumerate((3, 4, 6, 3)):
            planes = 64 * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(Bottleneck(in_planes, planes, 2 if (i > 0 and j == 0) else 1))
                in_planes = 4 * planes
            layers.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        return self.fc(self.layers(h).mean((2, 3)))


def make(name, batch, bf16):
    torch.manual_seed(SEED)
    dev = torch.device("cuda")
    if name == "gpt2":
        model = GPT2().to(dev).train()
        tokens = torch.randint(0, 50257, (batch or 8, 1025), device=dev)
        try:
            opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, fused=True)
        except (TypeError, RuntimeError):
            opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
        run, items, unit = (lambda: model.loss(tokens)), tokens.shape[0] * 1024, "tokens/s"
    else:
        model = ResNet50().to(dev).train()
        x = torch.randn(batch or 64, 3, 224, 224, device=dev)
        y = torch.randint(0, 1000, (x.shape[0],), device=dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        run, items, unit = (lambda: F.cross_entropy(model(x), y)), x.shape[0], "images/s"

    def step(phase_ms=None):
        # phase_ms: a list that receives forward, backward, optimizer times (ms), each phase
        # ended by a synchronize (one diagnostic step, outside the timed ones).
        t = [time.perf_counter()]

        def mark():
            if phase_ms is not None:
                torch.cuda.synchronize()
                t.append(time.perf_counter())
                phase_ms.append((t[-1] - t[-2]) * 1e3)

        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            loss = run()
        mark()
        loss.backward()
        mark()
        opt.step()
        mark()
        return loss.item()

    return step, sum(p.numel() for p in model.parameters()), items, unit


def print_kernel_profile(step, top):
    """One step under torch.profiler; its GPU kernels summed by name, costliest first."""
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        step()
        torch.cuda.synchronize()
    def gpu_us(e):  # device_time_total since torch 2.4, cuda_time_total before
        return e.device_time_total if hasattr(e, "device_time_total") else e.cuda_time_total
    events = prof.key_averages()
    rows = [(e.key, gpu_us(e), e.count) for e in events if gpu_us(e) > 0 and not is_op(e.key)]
    total = sum(t for _, t, _ in rows) or 1.0
    rows.sort(key=lambda r: -r[1])
    print(f"torch: {len(rows)} kernels, {total / 1e3:.1f} ms of GPU time in one step (us below)", file=sys.stderr)
    for name, t, n in rows[:top]:
        print(f"{t:10.0f} us {100 * t / total:5.1f}%  x{n:<5d} {name[:100]}", file=sys.stderr)
    # The same step by op, to set beside bench_cuda_models --profile: each op's device time
    # includes its children's (aten::conv2d holds aten::cudnn_convolution), so rows overlap.
    ops = [(e.key, gpu_us(e), e.count) for e in events if gpu_us(e) > 0 and is_op(e.key)]
    ops.sort(key=lambda r: -r[1])
    print(f"torch: the same step by op (device time including nested ops; us)", file=sys.stderr)
    for name, t, n in ops[:top]:
        print(f"{t:10.0f} us {100 * t / total:5.1f}%  x{n:<5d} {name[:100]}", file=sys.stderr)


def is_op(key):
    """A profiler row that is an op or a backward node rather than a kernel."""
    return key.startswith(("aten::", "autograd::", "Optimizer.")) or "evaluate_function" in key


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", required=True, choices=list(EXPECTED_PARAMS))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=0)
    ap.add_argument("--dtype", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="after the timed steps, profile one step and print its N costliest GPU kernels")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("cuda_models.py: torch sees no CUDA device")
    step, params, items, unit = make(a.workload, a.batch, a.dtype == "bf16")
    assert params == EXPECTED_PARAMS[a.workload], f"{a.workload}: {params} parameters, wick's model has " \
                                                  f"{EXPECTED_PARAMS[a.workload]}"
    loss = float("nan")
    for _ in range(a.warmup):
        loss = step()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(times)
    phases = []
    step(phases)
    if a.profile > 0:
        print_kernel_profile(step, a.profile)
    rec = dict(framework="torch", workload=a.workload, dtype=a.dtype, median_ms=round(med, 3),
               throughput=round(items / (med / 1e3), 1), unit=unit, params=params,
               peak_mem_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1), loss=round(loss, 5), steps=a.steps,
               forward_ms=round(phases[0], 2), backward_ms=round(phases[1], 2), optimizer_ms=round(phases[2], 2),
               torch=torch.__version__)
    if a.json:
        print(json.dumps(rec), flush=True)
    else:
        print(f"torch {a.workload:9s} {a.dtype:5s} median {med:9.2f} ms  {rec['throughput']:10.0f} {unit}  "
              f"params {params}  peak {rec['peak_mem_mb']:8.0f} MB  loss {loss:.4f}")


if __name__ == "__main__":
    main()
