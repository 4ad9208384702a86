#!/usr/bin/env python3
"""Layer-by-layer speed against the PyTorch peer: `vae-faces bench --layers --json` against the
same layers built from the peer's classes (torch_vae.py), at the same shapes, batch and threads.

Each side runs ROUNDS rounds of REPEATS timed repetitions (after warm-up); a layer's figure is
its best median over the rounds (the round least disturbed by other processes). Prints, per
layer and per up-sampler (its four Up layers summed), forward and backward in ms on each side
and the ratio PyTorch / Swift (above 1: Swift is faster).

  /path/to/venv/bin/python Scripts/compare_layers.py --peer /path/to/torch_vae.py \
      [--vae-faces .build/release/vae-faces] [--batch 64] [--threads 2] [--repeats 10] [--rounds 3]

Run on a quiet machine, after `swift build -c release`.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time


def swift_layers(args):
    """{name: (forward ms, backward ms)}, best median over the rounds, and the layer order."""
    best, order = {}, []
    for _ in range(args.rounds):
        out = subprocess.run([args.vae_faces, "bench", "--layers", "--json", "--batch", str(args.batch),
                              "--threads", str(args.threads), "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True).stdout
        for layer in json.loads(out)["layers"]:
            name, t = layer["name"], (layer["forward_ms"], layer["backward_ms"])
            if name not in best:
                order.append(name)
                best[name] = t
            best[name] = tuple(min(a, b) for a, b in zip(best[name], t))
    return best, order


def torch_layers(args):
    """The peer's layers under the bench's names, with their input shapes and whether the
    input gradient is computed (not for the encoder's first convolution, as in the model)."""
    spec = importlib.util.spec_from_file_location("torch_vae", args.peer)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    nn, b = peer.nn, args.batch
    layers = []
    for kind in peer.DECODERS:
        for i, ((cin, cout), size) in enumerate(zip(peer.UP_CHANNELS, peer.UP_INPUT_SIZE)):
            layers.append((f"{kind}.{i}", peer.UP_LAYERS[kind](cin, cout, peer.DEFAULT_IMPL[kind]),
                           (b, cin, size, size), True))
    chans, size = (3, 32, 64, 128, 256), 64
    for i, (cin, cout) in enumerate(zip(chans[:-1], chans[1:])):
        layers.append((f"encoder.{i}", nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=False),
                       (b, cin, size, size), i > 0))
        size //= 2
    layers.append(("final", nn.Conv2d(32, 3, 3, padding=1, bias=True), (b, 32, 64, 64), True))
    return peer.torch, layers


def time_torch(args):
    torch, layers = torch_layers(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    best = {}
    for _ in range(args.rounds):
        for name, layer, shape, input_gradient in layers:
            x = torch.randn(shape).requires_grad_(input_gradient)
            dy = torch.randn(layer(x).shape)
            fwd, bwd = [], []
            for rep in range(args.warmup + args.repeats):
                t0 = time.perf_counter()
                y = layer(x)
                t1 = time.perf_counter()
                y.backward(dy)
                t2 = time.perf_counter()
                layer.zero_grad(set_to_none=False)
                x.grad = None
                if rep >= args.warmup:
                    fwd.append((t1 - t0) * 1e3)
                    bwd.append((t2 - t1) * 1e3)
            t = (statistics.median(fwd), statistics.median(bwd))
            best[name] = tuple(min(a, b) for a, b in zip(best.get(name, t), t))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", required=True, help="the PyTorch peer, torch_vae.py")
    parser.add_argument("--vae-faces", default=".build/release/vae-faces")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    swift, order = swift_layers(args)
    peer = time_torch(args)
    print(f"batch {args.batch}, {args.threads} threads, best median of {args.rounds} rounds × {args.repeats}")
    print(f"{'layer':14}{'fwd swift':>11}{'fwd torch':>11}{'ratio':>7}{'bwd swift':>11}{'bwd torch':>11}{'ratio':>7}")

    def row(name, s, p):
        print(f"{name:14}{s[0]:11.2f}{p[0]:11.2f}{p[0] / s[0]:7.2f}{s[1]:11.2f}{p[1]:11.2f}{p[1] / s[1]:7.2f}")

    for name in order:
        row(name, swift[name], peer[name])
    print("up-sampler totals (four Up layers):")
    for kind in dict.fromkeys(n.split(".")[0] for n in order if not n.startswith(("encoder", "final"))):
        names = [n for n in order if n.startswith(kind + ".")]
        row(kind, [sum(swift[n][k] for n in names) for k in (0, 1)], [sum(peer[n][k] for n in names) for k in (0, 1)])


if __name__ == "__main__":
    sys.exit(main())
