#!/usr/bin/env python3
"""PyTorch eager training throughput of the MobileNetV2 that lowbit trains on Fashion-MNIST.

The model mirrors torchvision's MobileNetV2 (and lowbit_train::fashion_mnist_mobilenet_v2,
the model `lowbit train` trains): 1 input channel, 28x28 images, stem stride 1, stage
strides 1,2,2,2,1,1,1 (the recipe's; --stage-strides for others), ReLU, mean pooling,
dropout 0.2 and 10 classes, at the recipe's batch size 128 (--batch for others). It trains
on random data with SGD (momentum 0.9) and prints images per second, timed over whole steps
(forward, loss, backward, optimizer step) after a warm-up, and CPU seconds per step.

    python3 scripts/torch_train_bench.py --width 0.5 --threads 2 --expect-params 700202
"""

import argparse
import time

import torch
from torch import nn

# (expand ratio t, channels c, repeats n), torchvision's table; the strides come apart.
SETTING = [
    (1, 16, 1),
    (6, 24, 2),
    (6, 32, 3),
    (6, 64, 4),
    (6, 96, 3),
    (6, 160, 3),
    (6, 320, 1),
]

# lowbit_train::FASHION_MNIST_STAGE_STRIDES (crates/train/src/recipe.rs).
RECIPE_STAGE_STRIDES = (1, 2, 2, 2, 1, 1, 1)
RECIPE_BATCH = 128


def make_divisible(v, divisor=8):
    """torchvision's _make_divisible with min_value = divisor."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn(inp, oup, kernel, stride=1, groups=1, relu=True):
    layers = [
        nn.Conv2d(inp, oup, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(oup),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = inp * expand_ratio
        self.use_residual = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn(inp, hidden, 1))
        layers.append(conv_bn(hidden, hidden, 3, stride, groups=hidden))
        layers.append(conv_bn(hidden, oup, 1, relu=False))
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, width, stage_strides, num_classes=10, in_channels=1, stem_stride=1, dropout=0.2):
        super().__init__()
        input_channel = make_divisible(32 * width)
        last_channel = make_divisible(1280 * max(1.0, width))
        features = [conv_bn(in_channels, input_channel, 3, stem_stride)]
        for (t, c, n), s in zip(SETTING, stage_strides, strict=True):
            output_channel = make_divisible(c * width)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t))
                input_channel = output_channel
        features.append(conv_bn(input_channel, last_channel, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channel, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.features(x).mean([2, 3]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--batch", type=int, default=RECIPE_BATCH)
    parser.add_argument("--stage-strides", default=",".join(map(str, RECIPE_STAGE_STRIDES)),
                        help="seven comma-separated strides of the inverted-residual stages")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--expect-params", type=int, help="fail unless the model has this many")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    stage_strides = [int(v) for v in args.stage_strides.split(",")]
    if len(stage_strides) != len(SETTING):
        raise SystemExit(f"--stage-strides needs {len(SETTING)} values, got {len(stage_strides)}")
    model = MobileNetV2(args.width, stage_strides)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, width {args.width}, "
          f"batch {args.batch}, stage strides {args.stage_strides}, {params} learnable parameters")
    if args.expect_params is not None and params != args.expect_params:
        raise SystemExit(f"parameter count {params} != expected {args.expect_params}")

    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=4e-5)
    loss_fn = nn.CrossEntropyLoss()
    images = torch.rand(args.batch, 1, 28, 28)
    labels = torch.randint(0, 10, (args.batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    cpu_start = time.process_time()
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu_start
    total = sum(times)
    best = min(times)
    # CPU seconds show the work done when other processes share the cores.
    print(f"{args.steps} steps: {args.batch * args.steps / total:.0f} img/s mean, "
          f"{args.batch / best:.0f} img/s best step ({1000 * total / args.steps:.1f} ms/step); "
          f"{cpu / args.steps:.2f} CPU-s/step")


if __name__ == "__main__":
    main()
