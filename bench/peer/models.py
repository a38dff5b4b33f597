#!/usr/bin/python3
"""PyTorch side of bench/models/bench_models.cpp: the same reference workloads.

One training step (forward + backward + optimizer step, float32) of

  mlp        MLP 784-512-512-10 (ReLU), batch 256, Adam
  cnn        conv3x3(1->32) ReLU conv3x3(32->64) ReLU maxpool2 flatten fc(9216->128) ReLU fc(128->10),
             no padding (the PyTorch MNIST example), 1x28x28, batch 128, SGD momentum 0.9
  resnet18   ResNet-18, 28x28 grayscale stem (3x3 stride 1, no max-pool), widths 32/64/128/256,
             batch 64, SGD momentum 0.9
  vit        ViT-tiny: patch 4 on 28x28 (49 tokens + class token), dim 128, depth 6, 4 heads, MLP 512,
             batch 128, AdamW
  gpt        GPT-tiny: bytes (vocab 256), context 128, dim 256, 4 layers, 4 heads, batch 16, AdamW, causal
  adamw10m   AdamW step alone on 10M parameters (10 tensors [1000, 1000], fixed random gradients)
  lion10m    Lion step alone on the same parameters (Lion written with in-place tensor ops as in
             lucidrains/lion-pytorch: torch 1.13 has no Lion)

The models mirror wick's definitions layer for layer (models/*.h): ViT and GPT
are pre-LN nn.TransformerEncoder stacks with a final LayerNorm, GELU (erf) MLPs,
biases everywhere, ViT LayerNorm eps 1e-6, GPT's head tied to the token
embedding and a learned position table; ResNet is torchvision's BasicBlock
layout with the small-input stem. The parameter counts are asserted equal to
wick's (printed by bench_models).

Same protocol as wick: fixed seed, data generated once, `--warmup` untimed
steps, `--steps` timed steps, the MEDIAN step time; peak RSS from getrusage.
Run one workload per process (RSS is per process):

  /usr/bin/python3 bench/peer/models.py --workload mlp --steps 30 --warmup 5 --threads 2 --json

Threads: --threads, else WICK_NUM_THREADS, else all cores (torch.set_num_threads).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 1234

# Parameter counts of wick's models (bench_models prints them); the torch
# definitions below must reproduce them exactly.
EXPECTED_PARAMS = {
    "mlp": 669_706,
    "cnn": 1_199_882,
    "resnet18": 2_797_034,
    "vit": 1_199_882,
    "gpt": 3_257_856,
    "adamw10m": 10_000_000,
    "lion10m": 10_000_000,
}


# ---- models -------------------------------------------------------------------------------

def mlp():
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10))


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet18Small(nn.Module):
    """ResNet-18 with wick's small_input stem: conv3x3 stride 1 + BN + ReLU, no max-pool."""

    def __init__(self, in_channels=1, width=32, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, in_planes = [], width
        for i in range(4):
            planes = width * 2 ** i
            blocks = [BasicBlock(in_planes, planes, 1 if i == 0 else 2), BasicBlock(planes, planes, 1)]
            layers.append(nn.Sequential(*blocks))
            in_planes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(h.mean((2, 3)))


def encoder(width, heads, mlp, depth, eps):
    """Pre-LN encoder stack with a final LayerNorm, as wick's nn::TransformerEncoder(norm_first, final_norm)."""
    layer = nn.TransformerEncoderLayer(width, heads, mlp, dropout=0.0, activation="gelu", layer_norm_eps=eps,
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(width, eps=eps), enable_nested_tensor=False)


class ViT(nn.Module):
    def __init__(self, image=28, patch=4, channels=1, width=128, depth=6, heads=4, mlp_ratio=4, num_classes=10):
        super().__init__()
        n = (image // patch) ** 2
        self.patch_embed = nn.Conv2d(channels, width, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, width))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.encoder = encoder(width, heads, mlp_ratio * width, depth, 1e-6)
        self.head = nn.Linear(width, num_classes)

    def forward(self, images):
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        return self.head(self.encoder(x)[:, 0])


class GPT(nn.Module):
    def __init__(self, vocab=256, context=128, width=256, depth=4, heads=4, mlp_ratio=4):
        super().__init__()
        self.vocab = vocab
        self.token_embedding = nn.Embedding(vocab, width)
        self.position_embedding = nn.Parameter(torch.randn(context, width) * 0.02)
        self.transformer = encoder(width, heads, mlp_ratio * width, depth, 1e-5)
        # GPT-2 initialization, as wick's GPT: matrices and embeddings ~ N(0, 0.02^2), biases 0, and the
        # projections into the residual stream ~ N(0, (0.02 / sqrt(2 depth))^2).
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(p)
        for layer in self.transformer.layers:
            nn.init.normal_(layer.self_attn.out_proj.weight, 0.0, 0.02 / (2 * depth) ** 0.5)
            nn.init.normal_(layer.linear2.weight, 0.0, 0.02 / (2 * depth) ** 0.5)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

    def loss(self, tokens):
        x, y = tokens[:, :-1], tokens[:, 1:]
        t = x.shape[1]
        h = self.token_embedding(x) + self.position_embedding[:t]
        h = self.transformer(h, mask=self.causal[:t, :t])
        logits = F.linear(h, self.token_embedding.weight)  # tied head
        return F.cross_entropy(logits.reshape(-1, self.vocab), y.reshape(-1))


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al. 2023) as lucidrains/lion-pytorch: c = b1 m + (1-b1) g; p -= lr (sign(c) + wd p);
    m = b2 m + (1-b2) g."""

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, wd, (b1, b2) = group["lr"], group["weight_decay"], group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m, g = state["exp_avg"], p.grad
                p.mul_(1 - lr * wd)
                p.add_(m.mul(b1).add_(g, alpha=1 - b1).sign_(), alpha=-lr)
                m.mul_(b2).add_(g, alpha=1 - b2)


# ---- workloads ------------------------------------------------------------------------------

class Workload:
    def __init__(self, step, params):
        self.step, self.params, self.last_loss = step, params, float("nan")


def classifier(model, opt, x, y):
    model.train()
    w = Workload(None, sum(p.numel() for p in model.parameters()))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        w.last_loss = loss.item()

    w.step = step
    return w


def make(name):
    torch.manual_seed(SEED)
    if name == "mlp":
        m = mlp()
        return classifier(m, torch.optim.Adam(m.parameters(), lr=1e-3), torch.randn(256, 784),
                          torch.randint(0, 10, (256,)))
    if name == "cnn":
        m = cnn()
        return classifier(m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9), torch.randn(128, 1, 28, 28),
                          torch.randint(0, 10, (128,)))
    if name == "resnet18":
        m = ResNet18Small()
        return classifier(m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9), torch.randn(64, 1, 28, 28),
                          torch.randint(0, 10, (64,)))
    if name == "vit":
        m = ViT()
        return classifier(m, torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01),
                          torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,)))
    if name == "gpt":
        m = GPT()
        m.train()
        opt = torch.optim.AdamW(m.parameters(), lr=3e-4, weight_decay=0.01)
        tokens = torch.randint(0, 256, (16, 129))  # the model reads 128 bytes and predicts the next 128
        w = Workload(None, sum(p.numel() for p in m.parameters()))

        def step():
            opt.zero_grad(set_to_none=True)
            loss = m.loss(tokens)
            loss.backward()
            opt.step()
            w.last_loss = loss.item()

        w.step = step
        return w
    if name in ("adamw10m", "lion10m"):
        params = []
        for _ in range(10):
            p = torch.randn(1000, 1000, requires_grad=True)
            p.grad = torch.randn(1000, 1000) * 0.01
            params.append(p)
        opt = (torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01) if name == "adamw10m"
               else Lion(params, lr=1e-4, weight_decay=0.1))
        return Workload(opt.step, sum(p.numel() for p in params))
    sys.exit(f"models.py: unknown workload {name!r} (known: {', '.join(EXPECTED_PARAMS)})")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", required=True, choices=list(EXPECTED_PARAMS))
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("WICK_NUM_THREADS", "0")) or os.cpu_count())
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    start_rss = peak_rss_mb()
    w = make(a.workload)
    assert w.params == EXPECTED_PARAMS[a.workload], \
        f"{a.workload}: {w.params} parameters, wick's model has {EXPECTED_PARAMS[a.workload]}"
    for _ in range(a.warmup):
        w.step()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        w.step()
        times.append((time.perf_counter() - t0) * 1e3)
    rec = dict(framework="torch", workload=a.workload, median_ms=round(statistics.median(times), 4),
               mean_ms=round(statistics.fmean(times), 4), min_ms=round(min(times), 4),
               peak_rss_mb=round(peak_rss_mb(), 1), start_rss_mb=round(start_rss, 1), params=w.params,
               threads=torch.get_num_threads(), steps=a.steps, warmup=a.warmup,
               loss=None if w.last_loss != w.last_loss else w.last_loss,
               torch=torch.__version__)
    if a.json:
        print(json.dumps(rec), flush=True)
    else:
        print(f"{a.workload:10s} median {rec['median_ms']:9.3f} ms  mean {rec['mean_ms']:9.3f} ms  "
              f"min {rec['min_ms']:9.3f} ms  peak RSS {rec['peak_rss_mb']:8.1f} MB  params {w.params}  "
              f"threads {rec['threads']}  loss {w.last_loss:.5g}")


if __name__ == "__main__":
    main()
