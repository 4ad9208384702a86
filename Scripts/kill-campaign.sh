#!/usr/bin/env bash
# The kill campaign: a real training run, killed with SIGKILL at K random moments, must lose
# nothing. After every kill, latest.safetensors must be at the last logged step or the one
# before (only the step in flight may be lost), and `train --resume` must load it and write a
# newer checkpoint. At the end the resumed run's training.csv must equal an uninterrupted run's
# row for row (every column but the timing, images_per_s), and the final checkpoints must hold
# the same tensors byte for byte.
#
# The run: the resizeconv decoder, latent 8, batch 4, a checkpoint after every step, one worker
# thread (losses agree bit for bit only with the same thread count), on a small CelebA subset
# (the first 40 train and 8 val images of the CelebA folder, linked, then prepared), so epochs
# end every 10 steps and each ends with a validation, best.safetensors and grids.
#
# Moments: each segment (a new run, then `--resume`) is killed a random delay, uniform in
# [0, MAX_DELAY] and drawn from a generator seeded by --seed, after it wrote its first
# checkpoint, so kills land during steps, log appends, checkpoint writes and renames,
# validations and grids alike.
#
# Usage: Scripts/kill-campaign.sh [--kills K] [--seed S] [--max-delay SECONDS]
#            [--tool PATH/vae-faces] [--celeba DIR] [--work DIR]
# Prints one line per kill and "N/K kills recovered"; exits non-zero on any failure.
set -u

kills=100
seed=1
max_delay=1.5
repo=$(cd "$(dirname "$0")/.." && pwd)
tool=$repo/.build/release/vae-faces
celeba=$repo/../shared/data/celeba
work=

while [ $# -gt 0 ]; do
    case $1 in
        --kills) kills=$2; shift 2 ;;
        --seed) seed=$2; shift 2 ;;
        --max-delay) max_delay=$2; shift 2 ;;
        --tool) tool=$2; shift 2 ;;
        --celeba) celeba=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        *) echo "kill-campaign: unknown option $1" >&2; exit 2 ;;
    esac
done

fail() {
    echo "kill-campaign: $*" >&2
    echo "$recovered/$kills kills recovered"
    exit 1
}

recovered=0
[ -x "$tool" ] || fail "no vae-faces executable at $tool (swift build -c release, or --tool)"
[ -d "$celeba/img_align_celeba" ] || fail "no CelebA folder at $celeba (--celeba)"
[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/kill-campaign.XXXXXX")
mkdir -p "$work" || fail "cannot create $work"
run=$work/run
reference=$work/reference
rm -rf "$run" "$reference" "$work/data"
started=$(date +%s)

# The data: the first 40 train and the first 8 val images that the folder holds.
mkdir -p "$work/data/img_align_celeba"
tr -d '\r' < "$celeba/list_eval_partition.txt" \
    | awk 'NR == FNR { have[$1] = 1; next }
           ($1 in have) && $2 == 0 && train < 40 { train++; print $1 }
           ($1 in have) && $2 == 1 && val < 8 { val++; print $1 }' <(ls "$celeba/img_align_celeba") - \
    | while read -r name; do ln -s "$celeba/img_align_celeba/$name" "$work/data/img_align_celeba/$name"; done
ln -s "$celeba/list_eval_partition.txt" "$work/data/list_eval_partition.txt"
"$tool" prepare --data "$work/data" --cache "$work/cache.vfcache" > "$work/prepare.log" 2>&1 \
    || fail "prepare failed: $(tail -1 "$work/prepare.log")"

settings=(--cache "$work/cache.vfcache" --decoder resizeconv --batch 4 --latent 8 --seed "$seed")
common=(--checkpoint-every 1 --threads 1)

# The step of a checkpoint, from the "step" entry of its safetensors header's __metadata__.
checkpoint_step() {
    local length
    length=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    head -c $((8 + length)) "$1" | grep -ao '"step":"[0-9]*"' | head -1 | tr -dc '0-9'
}

# The step of the last complete row of a training log (0 for none; a half-written line is not one).
last_logged_step() {
    head -n "$(wc -l < "$1")" "$1" | awk -F, 'NR > 1 { step = $1 } END { print step + 0 }'
}

# The tensor data of a safetensors file: everything after the header.
tensor_data() {
    local length
    length=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    tail -c +$((9 + length)) "$1"
}

inode() { stat -c %i "$1" 2>/dev/null || echo none; }

RANDOM=$seed
step=0
for ((k = 1; k <= kills; k++)); do
    before=$(inode "$run/latest.safetensors")
    if [ "$step" -eq 0 ]; then
        "$tool" train "${settings[@]}" --out "$run" --steps 1000000 "${common[@]}" > "$work/segment.log" 2>&1 &
    else
        "$tool" train --resume "$run" --steps 1000000 "${common[@]}" > "$work/segment.log" 2>&1 &
    fi
    pid=$!
    # Wait for the segment's first checkpoint: the old one loaded and the run went on.
    deadline=$((SECONDS + 300))
    while [ "$(inode "$run/latest.safetensors")" = "$before" ]; do
        kill -0 "$pid" 2>/dev/null || fail "kill $k: the segment from step $step ended before a new checkpoint: $(tail -2 "$work/segment.log")"
        [ $SECONDS -lt $deadline ] || { kill -KILL "$pid"; fail "kill $k: no new checkpoint within 300 s"; }
        sleep 0.02
    done
    [ "$k" -eq 1 ] || recovered=$((recovered + 1))   # the previous kill's checkpoint loaded and the run went on
    delay=$(awk -v r=$(((RANDOM << 15) | RANDOM)) -v max="$max_delay" 'BEGIN { printf "%.3f", max * r / 1073741824 }')
    sleep "$delay"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    status=$?
    [ "$status" -eq 137 ] || fail "kill $k: the segment ended with status $status before the kill: $(tail -2 "$work/segment.log")"
    # At most the step in flight is lost: the checkpoint is at the last logged step or one before.
    [ -f "$run/latest.safetensors" ] || fail "kill $k: no latest.safetensors"
    saved=$(checkpoint_step "$run/latest.safetensors")
    logged=$(last_logged_step "$run/training.csv")
    [ -n "$saved" ] && [ "$saved" -ge "$step" ] && [ "$logged" -ge "$saved" ] && [ "$logged" -le $((saved + 1)) ] \
        || fail "kill $k: checkpoint at step '$saved' (before: $step), log at step $logged"
    step=$saved
    echo "kill $k/$kills after ${delay} s: checkpoint at step $saved, log at step $logged"
done

# The last checkpoint must load and continue too; then the uninterrupted run to the same step.
final=$((step + 2))
"$tool" train --resume "$run" --steps "$final" "${common[@]}" > "$work/segment.log" 2>&1 \
    || fail "the resume after the last kill failed: $(tail -2 "$work/segment.log")"
recovered=$((recovered + 1))
"$tool" train "${settings[@]}" --out "$reference" --steps "$final" "${common[@]}" > "$work/reference.log" 2>&1 \
    || fail "the uninterrupted run failed: $(tail -2 "$work/reference.log")"
if ! cmp -s <(cut -d, -f1-5,7- "$run/training.csv") <(cut -d, -f1-5,7- "$reference/training.csv"); then
    diff <(cut -d, -f1-5,7- "$run/training.csv") <(cut -d, -f1-5,7- "$reference/training.csv") | head -6 >&2
    fail "the resumed run's training.csv differs from the uninterrupted run's (above: < resumed, > uninterrupted)"
fi
cmp -s <(tensor_data "$run/latest.safetensors") <(tensor_data "$reference/latest.safetensors") \
    || fail "the final checkpoints' tensors differ from the uninterrupted run's"
echo "steps 1-$final: losses and final tensors identical to an uninterrupted run's"
echo "$recovered/$kills kills recovered in $(($(date +%s) - started)) s"
rm -rf "$work"
