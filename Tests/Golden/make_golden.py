#!/usr/bin/env python3
"""Writes the golden files of the parity tests from the PyTorch peer (../shared/bench/torch_vae.py).

    python3 Tests/Golden/make_golden.py                  # rewrite both Golden folders
    python3 Tests/Golden/make_golden.py --out DIR        # write DIR/NeuralCoreTests/…, DIR/VAEFacesTests/…
    python3 Tests/Golden/make_golden.py --compare        # make them in a temporary folder and compare
                                                         # with the committed files (exit 1 on a mismatch)

Run it with a Python that has torch and safetensors (Tests/Golden/README.md). Every tensor is
computed in float64 and stored as float32, except where a file says otherwise.

Where the inputs come from:
  * layers (dcl, pixeldcl, ipixeldcl, resizeconv, conv4x4s2, conv3x3bias) and linear: seeded
    torch draws, listed in LAYER_SEEDS and make_linear;
  * vae_<decoder>: no stored weights at all; every state_dict entry, x and every noise tensor is
    formula_fill of its name (the same function as formulaFill in VAEGoldenTests.swift);
  * batchnorm1d, batchnorm2d, loss, adam and the peer's pixeldcl decoder: their inputs were drawn
    by an earlier script that was not kept. This one reads those inputs from the committed file
    (REUSED_INPUTS) and recomputes every output from them, so they still regenerate exactly.
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(ROOT), "shared", "bench"))
import torch_vae as tv  # noqa: E402  (the peer, imported from ../shared/bench, not copied)

CORE = "NeuralCoreTests"
VAE_TESTS = "VAEFacesTests"
SOURCE = f"torch {torch.__version__}, {os.path.abspath(tv.__file__)}"


def committed(target, name):
    return os.path.join(ROOT, "Tests", target, "Golden", name + ".safetensors")


def f32(tensors):
    """Detached contiguous float32 copies (integer tensors kept) for safetensors."""
    return {k: (v.detach().float() if v.is_floating_point() else v.detach()).contiguous() for k, v in tensors.items()}


# ---------------------------------------------------------------------------------------------
# NeuralCoreTests: one layer at a time (ConvGoldenTests.swift, CoreGoldenTests.swift)
# ---------------------------------------------------------------------------------------------

# Batch 2, 5 → 4 channels, 6×6 input. Weights: torch.manual_seed(100 + i), then the layer's own
# init; x, dy: torch.manual_seed(i + 1), then randn(x), randn(dy).
LAYERS = {
    "dcl": lambda: tv.DCL(5, 4),
    "pixeldcl": lambda: tv.PixelDCL(5, 4),
    "ipixeldcl": lambda: tv.IPixelDCL(5, 4),
    "resizeconv": lambda: tv.ResizeConv(5, 4),
    "conv4x4s2": lambda: torch.nn.Conv2d(5, 4, 4, stride=2, padding=1, bias=False),
    "conv3x3bias": lambda: torch.nn.Conv2d(5, 4, 3, padding=1, bias=True),
}


def make_layer(i, name):
    torch.manual_seed(100 + i)
    layer = LAYERS[name]()
    torch.manual_seed(i + 1)
    x = torch.randn(2, 5, 6, 6)
    with torch.no_grad():
        y_shape = layer(x).shape
    dy = torch.randn(y_shape)
    weights = {k: v.clone() for k, v in layer.state_dict().items()}
    layer = layer.double()
    x64 = x.double().requires_grad_()
    y = layer(x64)
    y.backward(dy.double())
    out = dict(weights, x=x, dy=dy, y=y, dx=x64.grad)
    out.update({"grad." + k: p.grad for k, p in layer.named_parameters()})
    return f32(out), {"layer": name, "source": SOURCE}


def make_linear():
    """nn.Linear(7, 5) after manual_seed(1), then x [3, 7] and gy [3, 5] from the same stream."""
    torch.manual_seed(1)
    layer = torch.nn.Linear(7, 5)
    x, gy = torch.randn(3, 7), torch.randn(3, 5)
    weights = {k: v.clone() for k, v in layer.state_dict().items()}
    layer = layer.double()
    x64 = x.double().requires_grad_()
    y = layer(x64)
    y.backward(gy.double())
    return f32(dict(weights, x=x, gy=gy, y=y, gx=x64.grad, gweight=layer.weight.grad, gbias=layer.bias.grad)), None


def make_batchnorm(name, inputs):
    """Training and inference mode from the same parameters and running statistics."""
    x, gy = inputs["x"].double(), inputs["gy"].double()
    out = {k: inputs[k] for k in ("weight", "bias", "running_mean", "running_var", "x", "gy")}
    for prefix, training in (("train", True), ("eval", False)):
        bn = (torch.nn.BatchNorm1d if x.dim() == 2 else torch.nn.BatchNorm2d)(x.shape[1]).double()
        with torch.no_grad():
            for k in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn, k).copy_(inputs[k].double())
        bn.train(training)
        xg = x.clone().requires_grad_()
        y = bn(xg)
        y.backward(gy)
        out.update({f"{prefix}.y": y, f"{prefix}.gx": xg.grad, f"{prefix}.gweight": bn.weight.grad,
                    f"{prefix}.gbias": bn.bias.grad, f"{prefix}.running_mean": bn.running_mean,
                    f"{prefix}.running_var": bn.running_var})
    return f32(out), None


def make_loss(inputs):
    """The VAE objective's pieces (batch means): rec = Σ BCE-with-logits / N, kl = KL / N,
    z = μ + exp(½ log σ²)·ε, and the gradients of rec (logits) and of kl + Σ z·gz (μ, log σ²)."""
    t = {k: inputs[k].double() for k in ("logits", "x", "mu", "logvar", "eps", "gz")}
    logits, mu, logvar = (t[k].clone().requires_grad_() for k in ("logits", "mu", "logvar"))
    n = t["x"].shape[0]
    rec = F.binary_cross_entropy_with_logits(logits, t["x"], reduction="sum") / n
    kl = -0.5 * torch.sum(1 + logvar - mu * mu - torch.exp(logvar)) / n
    z = mu + torch.exp(0.5 * logvar) * t["eps"]
    rec.backward()
    (kl + (z * t["gz"]).sum()).backward()
    out = {k: inputs[k] for k in t}
    out.update(z=z, rec=rec.reshape(1), kl=kl.reshape(1), loss=(rec + kl).reshape(1),
               glogits=logits.grad, gmu=mu.grad, glogvar=logvar.grad)
    return f32(out), None


def make_adam(inputs):
    """torch.optim.Adam (lr 5e-4) on two parameters with given gradients: three steps, then a
    fourth after clip_grad_norm_(1e-2). Stored: the parameters after each step, the moments after
    step 3 and the gradient norm of step 4."""
    a = torch.nn.Parameter(inputs["a.0"].double().clone())
    b = torch.nn.Parameter(inputs["b.0"].double().clone())
    adam = torch.optim.Adam([a, b], lr=5e-4)
    out = {k: v for k, v in inputs.items() if k.endswith(".0") or ".grad." in k}
    for step in range(1, 5):
        a.grad = inputs[f"a.grad.{step}"].double().clone()
        b.grad = inputs[f"b.grad.{step}"].double().clone()
        if step == 4:
            out["norm.4"] = torch.nn.utils.clip_grad_norm_([a, b], 1e-2).reshape(1)
        adam.step()
        out[f"a.{step}"], out[f"b.{step}"] = a.detach().clone(), b.detach().clone()
        if step == 3:
            for name, p in (("a", a), ("b", b)):
                out[f"{name}.m"] = adam.state[p]["exp_avg"].clone()
                out[f"{name}.v"] = adam.state[p]["exp_avg_sq"].clone()
    return f32(out), None


# ---------------------------------------------------------------------------------------------
# VAEFacesTests: the whole VAE (VAEGoldenTests.swift) and a peer state_dict (SamplingTests.swift)
# ---------------------------------------------------------------------------------------------

def formula_fill(name, shape, scale, offset):
    """value[i] = float32(offset + scale·(2u − 1)), u = 24 high bits of
    splitmix64(FNV-1a(name) + (i+1)·golden ratio) / 2²⁴ — formulaFill of VAEGoldenTests.swift."""
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    count = int(np.prod(shape, dtype=np.int64))
    with np.errstate(over="ignore"):
        z = np.uint64(h) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    u = (z >> np.uint64(40)).astype(np.float64) / 16_777_216
    return torch.from_numpy((offset + scale * (2 * u - 1)).astype(np.float32)).reshape(shape)


def fill_spec(name, shape):
    """(scale, offset) of a state_dict entry: weights U(±1/√fan-in) with fan-in the product of
    all but the first dimension, biases ±0.05, BatchNorm γ 1 ± 0.2, β ±0.1, running mean ±0.1,
    running variance 1 ± 0.2, num_batches_tracked 0."""
    leaf = name.rsplit(".", 1)[1]
    if leaf == "num_batches_tracked":
        return 0.0, 0.0
    if leaf == "running_mean":
        return 0.1, 0.0
    if leaf == "running_var":
        return 0.2, 1.0
    if len(shape) == 1:  # BatchNorm γ and β, biases
        if leaf == "weight":
            return 0.2, 1.0
        return (0.05, 0.0) if name.startswith(("encoder.mu", "encoder.logvar", "decoder.fc", "decoder.out")) else (0.1, 0.0)
    return 1 / float(np.prod(shape[1:])) ** 0.5, 0.0


# The formula name of x per decoder: the names these files were made with ("x.<k>": a
# different draw of the same formula), kept so that the files regenerate identically.
X_FORMULA = {"dcl": "x", "pixeldcl": "x.24", "ipixeldcl": "x.24", "resizeconv": "x.4"}
BATCH = 2
TRAJECTORY_STEPS = 10


def sample_indices(count):
    """K = min(count, 64) evenly spaced indices, ends included (goldenSampleIndices)."""
    k = min(count, 64)
    return [0] if k == 1 else [i * (count - 1) // (k - 1) for i in range(k)]


def filled_model(decoder, fill):
    model = tv.VAE(decoder).double()
    state = model.state_dict()
    for name, t in state.items():
        shape, scale, offset = fill[name][:3]
        t.copy_(formula_fill(name, shape, scale, offset).to(t.dtype))
    return model


def forward(model, x, eps):
    """The training-mode forward with given noise: logits, μ, log σ², z and the loss pieces."""
    mu, logvar = model.encoder(x)
    z = mu + torch.exp(0.5 * logvar) * eps
    logits = model.decoder(z)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = -0.5 * torch.sum(1 + logvar - mu * mu - torch.exp(logvar)) / x.shape[0]
    return logits, mu, logvar, z, rec, kl


def make_vae(decoder):
    torch.manual_seed(0)  # only the peer's own init runs on it; every value is overwritten below
    state = tv.VAE(decoder).state_dict()
    order = list(state)
    fill = {name: [list(t.shape), *fill_spec(name, list(t.shape))] for name, t in state.items()}
    latent, side = tv.LATENT, 64
    fill["eps"] = [[BATCH, latent], 3 ** 0.5, 0.0]  # U(±√3): unit variance
    fill["x"] = [[BATCH, 3, side, side], 0.5, 0.5, X_FORMULA[decoder]]
    for k in range(TRAJECTORY_STEPS):
        fill[f"traj.eps.{k}"] = [[BATCH, latent], 3 ** 0.5, 0.0]

    def tensor(name):
        spec = fill[name]
        return formula_fill(spec[3] if len(spec) > 3 else name, *spec[:3]).double()

    model = filled_model(decoder, fill)
    model.train()
    x = tensor("x")
    logits, mu, logvar, z, rec, kl = forward(model, x, tensor("eps"))
    out = dict(logits=logits, mu=mu, logvar=logvar, z=z, rec=rec.reshape(1), kl=kl.reshape(1),
               loss=(rec + kl).reshape(1))
    out.update({"after." + k: b.double() for k, b in model.named_buffers()})  # counters too, as floats
    (rec + kl).backward()
    for name, p in model.named_parameters():
        g = p.grad.flatten()
        out["grad." + name] = g[sample_indices(g.numel())]
        out["gradnorm." + name] = g.norm().reshape(1)
    model.decoder.eval()
    with torch.no_grad():
        out["eval.logits"] = model.decoder(z.detach())

    model = filled_model(decoder, fill)
    model.train()
    adam = torch.optim.Adam(model.parameters(), lr=5e-4)
    losses = []
    for k in range(TRAJECTORY_STEPS):
        adam.zero_grad()
        *_, rec, kl = forward(model, x, tensor(f"traj.eps.{k}"))
        (rec + kl).backward()
        losses.append((rec + kl).item())
        adam.step()
    out["traj.loss"] = torch.tensor(losses)
    metadata = {"torch": torch.__version__, "decoder": decoder, "fill": json.dumps(fill), "order": json.dumps(order)}
    return f32(out), metadata


def make_peer_samples(decoder_file):
    """σ(decoder(z)) of the peer's pixeldcl decoder (the committed float16 state_dict, running
    statistics included) in eval mode, float32, for the committed z."""
    decoder = tv.Decoder("pixeldcl")
    state = {k[len("decoder."):]: v for k, v in load_file(decoder_file).items()}
    decoder.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    decoder.eval()
    z = load_file(committed(VAE_TESTS, "peer_pixeldcl_samples"))["z"]
    with torch.no_grad():
        images = torch.sigmoid(decoder(z))
    return {"z": z, "images": images}, {"what": "torch_vae.VAE('pixeldcl').decoder in eval mode: sigmoid(decoder(z)), float32"}


# Files whose inputs are read from the committed version (see the module doc).
REUSED_INPUTS = {"batchnorm1d", "batchnorm2d", "loss", "adam", "peer_pixeldcl_decoder", "peer_pixeldcl_samples"}


def generate(out_root):
    """Writes every golden file under out_root/<test target>/Golden/ and returns their paths."""
    jobs = [(CORE, name, lambda i=i, name=name: make_layer(i, name)) for i, name in enumerate(LAYERS)]
    jobs += [(CORE, "linear", make_linear)]
    jobs += [(CORE, name, lambda name=name: make_batchnorm(name, load_file(committed(CORE, name))))
             for name in ("batchnorm1d", "batchnorm2d")]
    jobs += [(VAE_TESTS, "loss", lambda: make_loss(load_file(committed(VAE_TESTS, "loss")))),
             (CORE, "adam", lambda: make_adam(load_file(committed(CORE, "adam"))))]
    jobs += [(VAE_TESTS, f"vae_{d}", lambda d=d: make_vae(d)) for d in tv.DECODERS]
    written = []
    for target, name, job in jobs:
        tensors, metadata = job()
        written.append(save(out_root, target, name, tensors, metadata))
    # The peer's decoder state_dict is an input (float16, as a user's file would be): copied as it is.
    decoder = committed(VAE_TESTS, "peer_pixeldcl_decoder")
    path = os.path.join(out_root, VAE_TESTS, "Golden", "peer_pixeldcl_decoder.safetensors")
    if os.path.abspath(path) != os.path.abspath(decoder):
        with open(decoder, "rb") as src, open(path, "wb") as dst:
            dst.write(src.read())
    written.append(path)
    tensors, metadata = make_peer_samples(decoder)
    written.append(save(out_root, VAE_TESTS, "peer_pixeldcl_samples", tensors, metadata))
    return written


def save(out_root, target, name, tensors, metadata):
    folder = os.path.join(out_root, target, "Golden")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".safetensors")
    save_file(tensors, path, metadata=metadata)
    print(f"wrote {os.path.relpath(path, out_root)}: {len(tensors)} tensors")
    return path


def compare(paths, out_root, tolerance):
    """Each regenerated file against the committed one: the same names, shapes and metadata, and
    values within `tolerance` of the largest magnitude of each tensor."""
    failures = 0
    for path in paths:
        target, name = os.path.relpath(path, out_root).split(os.sep)[0], os.path.basename(path)[:-len(".safetensors")]
        new, old = load_file(path), load_file(committed(target, name))
        problems = []
        if set(new) != set(old):
            problems.append(f"names differ: {sorted(set(new) ^ set(old))}")
        worst = (0.0, "")
        for k in sorted(set(new) & set(old)):
            a, b = new[k].double(), old[k].double()
            if a.shape != b.shape:
                problems.append(f"{k}: shape {list(a.shape)} vs {list(b.shape)}")
                continue
            scale = max(b.abs().max().item() if b.numel() else 0.0, 1e-30)
            error = (a - b).abs().max().item() / scale if b.numel() else 0.0
            if error > worst[0]:
                worst = (error, k)
        with open(path, "rb") as f1, open(committed(target, name), "rb") as f2:
            same_bytes = f1.read() == f2.read()
        meta_new, meta_old = metadata_of(path), metadata_of(committed(target, name))
        for key in ("fill", "order", "decoder", "layer", "what"):
            if meta_old.get(key) is not None and _normal(meta_new.get(key)) != _normal(meta_old.get(key)):
                problems.append(f"metadata {key} differs")
        if worst[0] > tolerance:
            problems.append(f"{worst[1]}: relative difference {worst[0]:.2e}")
        failures += bool(problems)
        status = "identical bytes" if same_bytes else f"max relative difference {worst[0]:.1e} ({worst[1] or '-'})"
        print(f"{'FAIL' if problems else 'ok  '} {target}/Golden/{name}: {status}" + "".join(f"\n     {p}" for p in problems))
    return failures


def _normal(value):
    """Metadata JSON compared as data (key order aside)."""
    try:
        return json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return value


def metadata_of(path):
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(size)).get("__metadata__", {}) or {}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="write under this folder instead of Tests/<target>/Golden")
    parser.add_argument("--compare", action="store_true", help="write to a temporary folder and compare with the committed files")
    parser.add_argument("--tolerance", type=float, default=1e-6, help="largest relative difference --compare accepts")
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    if args.compare:
        with tempfile.TemporaryDirectory() as tmp:
            failures = compare(generate(tmp), tmp, args.tolerance)
        print(f"{failures} of the golden files differ" if failures else "every golden file regenerates within tolerance")
        sys.exit(1 if failures else 0)
    generate(args.out or os.path.join(ROOT, "Tests"))


if __name__ == "__main__":
    main()
