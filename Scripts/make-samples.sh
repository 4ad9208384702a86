#!/usr/bin/env bash
# make-samples.sh - regenerates Samples/ (all but Samples/study/) from the models in Models/:
# the grids, the side-by-side rows, the spectrum maps, the traversals, the attribute edits and
# results.json, each with the command Samples/README.md lists. Everything is seeded, so a rerun
# gives the same files.
#
#   Scripts/make-samples.sh [DATA]      DATA: the CelebA folder (default ../shared/data/celeba)
#   BIN=path/to/vae-faces Scripts/make-samples.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA="${1:-../shared/data/celeba}"
if [ -z "${BIN:-}" ]; then
    swift build -c release >/dev/null
    BIN="$(swift build -c release --show-bin-path)/vae-faces"
fi
DECODERS="dcl pixeldcl resizeconv ipixeldcl"
MODELS=()
for d in $DECODERS; do MODELS+=(--model "Models/$d.safetensors"); done
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
say() { printf '== %s\n' "$*" >&2; }

for d in $DECODERS; do
    say "$d: samples, reconstructions, interpolations"
    "$BIN" sample --model "Models/$d.safetensors" --n 64 --seed 0 --out "Samples/$d-samples.png"
    "$BIN" sample --model "Models/$d.safetensors" --reconstruct --data "$DATA" --n 64 --out "Samples/$d-reconstructions.png"
    "$BIN" sample --model "Models/$d.safetensors" --interpolate --slerp --n 64 --columns 8 --seed 1 \
        --out "Samples/$d-interpolations.png"
    "$BIN" eval --model "Models/$d.safetensors" --data "$DATA" --split test --json >"$tmp/eval_$d.json"
done
say "side by side"
"$BIN" sample "${MODELS[@]}" --n 8 --seed 0 --out Samples/decoders-side-by-side.png
say "artifact scores of 1,000 samples per model (against the shipped real-face baseline) and the spectra"
"$BIN" artifact-score "${MODELS[@]}" --n 1000 --seed 0 --json >"$tmp/samples.json"
"$BIN" artifact-score "${MODELS[@]}" --n 1000 --seed 0 --reference "$DATA" --split test \
    --map Samples/spectrum-samples.png --heatmap Samples/heatmap-samples.png >/dev/null
say "artifact scores of the test reconstructions"
"$BIN" artifact-score "${MODELS[@]}" --reconstructions --reference "$DATA" --split test \
    --map Samples/spectrum-reconstructions.png --json >"$tmp/reconstructions.json"
say "traversals and attribute edits (PixelDCL)"
"$BIN" traverse --model Models/pixeldcl.safetensors --out Samples/traversals.png --data "$DATA"
"$BIN" sample --model Models/pixeldcl.safetensors --reconstruct --data "$DATA" --n 8 \
    --edit Smiling=-3:3:7 --edit Eyeglasses=-3:3:7 --edit Male=-3:3:7 --edit Blond_Hair=-3:3:7 --edit Young=-3:3:7 \
    --out Samples/attribute-edits.png

say "results.json"
python3 - "$tmp" $DECODERS >Samples/results.json.tmp <<'PY'
import json, sys
tmp, decoders = sys.argv[1], sys.argv[2:]
def sets(name):
    return {s["report"]["model"]["decoder"]: s["report"] for s in json.load(open(f"{tmp}/{name}.json"))["sets"]}
samples, recons = sets("samples"), sets("reconstructions")
def reading(report, field):
    r = report["vs_reference"][field]
    out = {"ratio_mean": r["ratio_mean"], "db": r["db"], "ratio_median": r["ratio_median"],
           "above_real_p95": r["above_real_p95"], "mean": report["aggregate"][field]["mean"]}
    if "ratio_mean_interval95" in r:
        out["interval95"] = [r["ratio_mean_interval95"]["low"], r["ratio_mean_interval95"]["high"]]
    return out
models = " ".join(f"--model Models/{d}.safetensors" for d in decoders)
out = {}
for d in decoders:
    e = json.load(open(f"{tmp}/eval_{d}.json"))
    out[d] = {
        "model": samples[d]["model"],
        "test_eval": e,
        "samples": {f: reading(samples[d], f) for f in ("cb", "cb_local")},
        "samples_n": samples[d]["aggregate"]["n"],
        "reconstructions": {f: reading(recons[d], f) for f in ("cb", "cb_local")},
        "reconstructions_n": recons[d]["aggregate"]["n"],
    }
first = samples[decoders[0]]
out["real_test"] = {"reference_source": first["reference_source"],
                    "cb": first["reference"]["cb"], "cb_local": first["reference"]["cb_local"]}
out["commands"] = {
    "eval": "vae-faces eval --model Models/DECODER.safetensors --data ../shared/data/celeba --split test --json",
    "samples": f"vae-faces artifact-score {models} --n 1000 --seed 0 --json",
    "reconstructions": f"vae-faces artifact-score {models} --reconstructions --reference ../shared/data/celeba --split test --json",
}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
print()
PY
mv Samples/results.json.tmp Samples/results.json
say "done: Samples/ regenerated from Models/"
