"""The FID Inception-v3 of pytorch-fid in PyTorch, to prove the Swift forward pass (InceptionV3.swift).

The architecture is written out below exactly as pytorch_fid/inception.py builds it (torchvision's
BasicConv2d and InceptionB/D, pytorch-fid's FIDInceptionA/C/E_1/E_2, the InceptionV3 wrapper with
its `blocks` and therefore its state_dict names), so neither torchvision nor pytorch-fid is needed.
PYTHON is the PyTorch peer's venv, ~/.cache/vae-faces-peers/torch/bin/python (torch, numpy,
safetensors), or one made from ../shared/bench/requirements-torch.txt as Tests/Golden/README.md says.

  PYTHON Scripts/inception_golden.py
      rewrites Tests/VAEFacesTests/Golden/inception.safetensors (about 60 KB, committed): no
      weights, every state_dict entry is `formula_fill` of its name (Tests/Golden/make_golden.py, the same function as
      `formulaFill` in Tests/VAEFacesTests/VAEGoldenTests.swift) with the scale and offset listed
      in the metadata "fill"; the 64×64 test images are floor(256·u) of the formula of "images";
      stored are the network input (x/255, F.interpolate bilinear to 299, 2x − 1, float32) at
      evenly spaced indices ("input", "input_indices") and the 2048 pool3 features (float64
      network, stored as float32).

  PYTHON Scripts/inception_golden.py --random DIR
      writes DIR/inception_random.safetensors (the state_dict of a torch.manual_seed(0) network
      with random BatchNorm statistics, about 95 MB: never commit it) and
      DIR/inception_random_features.safetensors (8 images "images" [8, 64, 64, 3] uint8 as float32,
      and their float32 "features"); InceptionTests checks them when $VAE_FACES_INCEPTION_GOLDEN=DIR.

  PYTHON Scripts/inception_golden.py --bench FILE [--batch 32] [--threads 2] [--repeats 3]
      times pytorch-fid's network with the weights FILE (e.g. DIR/inception_random.safetensors)
      on random 64×64 faces, input transform included, as `vae-faces bench --inception FILE`
      does: one untimed batch, then --repeats batches; prints JSON with the same keys (wall and
      process CPU time; images_per_s_from_cpu = images per CPU-second × threads).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "Golden"))
from make_golden import formula_fill  # noqa: E402  (formulaFill of VAEGoldenTests.swift)
GOLDEN = os.path.join(HERE, "..", "Tests", "VAEFacesTests", "Golden", "inception.safetensors")
SIDE = 64


class BasicConv2d(nn.Module):
    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class FIDInceptionA(nn.Module):
    def __init__(self, in_channels, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        branch_pool = self.branch_pool(branch_pool)
        return torch.cat([branch1x1, branch5x5, branch3x3dbl, branch_pool], 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        branch3x3 = self.branch3x3(x)
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, branch3x3dbl, branch_pool], 1)


class FIDInceptionC(nn.Module):
    def __init__(self, in_channels, channels_7x7):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b = self.branch7x7dbl_1(x)
        b = self.branch7x7dbl_5(self.branch7x7dbl_4(self.branch7x7dbl_3(self.branch7x7dbl_2(b))))
        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        branch_pool = self.branch_pool(branch_pool)
        return torch.cat([branch1x1, branch7x7, b, branch_pool], 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([branch3x3, b, branch_pool], 1)


class FIDInceptionE(nn.Module):
    """FIDInceptionE_1 (max_pool=False) and FIDInceptionE_2 (max_pool=True)."""

    def __init__(self, in_channels, max_pool):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x):
        branch1x1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.max_pool:
            branch_pool = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        branch_pool = self.branch_pool(branch_pool)
        return torch.cat([branch1x1, b3, bd, branch_pool], 1)


class InceptionV3(nn.Module):
    """pytorch-fid's InceptionV3 with its defaults: block 3 (pool3), resize_input, normalize_input."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([
            nn.Sequential(BasicConv2d(3, 32, kernel_size=3, stride=2), BasicConv2d(32, 32, kernel_size=3),
                          BasicConv2d(32, 64, kernel_size=3, padding=1), nn.MaxPool2d(kernel_size=3, stride=2)),
            nn.Sequential(BasicConv2d(64, 80, kernel_size=1), BasicConv2d(80, 192, kernel_size=3),
                          nn.MaxPool2d(kernel_size=3, stride=2)),
            nn.Sequential(FIDInceptionA(192, 32), FIDInceptionA(256, 64), FIDInceptionA(288, 64), InceptionB(288),
                          FIDInceptionC(768, 128), FIDInceptionC(768, 160), FIDInceptionC(768, 160),
                          FIDInceptionC(768, 192)),
            nn.Sequential(InceptionD(768), FIDInceptionE(1280, False), FIDInceptionE(2048, True),
                          nn.AdaptiveAvgPool2d(output_size=(1, 1))),
        ])

    @staticmethod
    def network_input(images):
        """[N, H, W, 3] uint8 → [N, 3, 299, 299]: ToTensor (x/255), resize_input, normalize_input."""
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return 2 * x - 1

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x.flatten(1)


def fill_spec(name, shape):
    """(scale, offset): convolution weights U(±√(6/fan-in)) (He: activations keep their size
    through ReLU), BatchNorm γ 1 ± 0.2, β ±0.1, running mean ±0.1, running variance 1 ± 0.2."""
    leaf = name.rsplit(".", 1)[1]
    if len(shape) == 4:
        return (6 / float(np.prod(shape[1:]))) ** 0.5, 0.0
    return {"weight": (0.2, 1.0), "bias": (0.1, 0.0), "running_mean": (0.1, 0.0), "running_var": (0.2, 1.0)}[leaf]


def formula_images(count):
    """[count, 64, 64, 3] bytes floor(256·u) of the formula of "images" (formulaImages in InceptionTests)."""
    u = formula_fill("images", [count, SIDE, SIDE, 3], 0.5, 0.5)
    return np.floor(u.double().numpy() * 256).astype(np.uint8)


def sample_indices(count, k):
    return [i * (count - 1) // (k - 1) for i in range(k)]


def golden():
    model = InceptionV3().double().eval()
    fill = {}
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            scale, offset = fill_spec(name, list(t.shape))
            fill[name] = [list(t.shape), scale, offset]
            t.copy_(formula_fill(name, list(t.shape), scale, offset))
        images = formula_images(3)
        x = InceptionV3.network_input(images)
        flat = x.flatten()
        indices = sample_indices(flat.numel(), 4096)
        x64 = 2 * F.interpolate(torch.from_numpy(images).permute(0, 3, 1, 2).double() / 255, size=(299, 299),
                                mode="bilinear", align_corners=False) - 1
        features = model(x64)
    out = {"input": flat[indices].float().contiguous(),
           "input_indices": torch.tensor(indices, dtype=torch.int32),
           "features": features.float().contiguous()}
    metadata = {"torch": torch.__version__, "fill": json.dumps(fill), "images": "3"}
    save_file(out, GOLDEN, metadata=metadata)
    print("wrote", GOLDEN, "feature range", features.min().item(), features.max().item())


def random(folder):
    torch.manual_seed(0)
    model = InceptionV3().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.8, 1.2)
                module.bias.uniform_(-0.1, 0.1)
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.8, 1.2)
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
        images = torch.randint(0, 256, (8, SIDE, SIDE, 3), dtype=torch.uint8).numpy()
        features = model(InceptionV3.network_input(images))
    os.makedirs(folder, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(folder, "inception_random.safetensors"))
    save_file({"images": torch.from_numpy(images).float(), "features": features.contiguous()},
              os.path.join(folder, "inception_random_features.safetensors"))
    print("wrote", folder)


def bench(weights, batch, threads, repeats):
    from safetensors.torch import load_file
    torch.set_num_threads(threads)
    model = InceptionV3().eval()
    model.load_state_dict(load_file(weights))
    images = np.random.default_rng(0).integers(0, 256, (batch, SIDE, SIDE, 3), dtype=np.uint8)

    def one_pass():
        with torch.no_grad():
            model(InceptionV3.network_input(images))

    one_pass()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        one_pass()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    count = batch * repeats
    print(json.dumps({"torch": torch.__version__, "threads": threads, "batch": batch, "images": count,
                      "wall_s": wall, "cpu_s": cpu, "images_per_s": count / wall, "images_per_cpu_s": count / cpu,
                      "images_per_s_from_cpu": count / cpu * threads}, indent=1, sort_keys=True))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--random", metavar="DIR", help="write a random-weight network and its features to DIR")
    parser.add_argument("--bench", metavar="FILE", help="time the network with these weights (safetensors)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.bench:
        bench(args.bench, args.batch, args.threads, args.repeats)
    elif args.random:
        random(args.random)
    else:
        golden()
