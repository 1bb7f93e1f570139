#!/usr/bin/env bash
# Rebuilds this preset from the Push-T human demos:
#   1. trains the flow-matching teacher (train.json);
#   2. distils a first one-step student from it (distill.json), which plays
#      64 simulator episodes on training seeds 0-63 (`sim record`): the
#      states it reached join the demonstrations' for the next steps (DAgger);
#   3. reflows the teacher (reflow.json): its network retrained on its own
#      cached (noise, sample) pairs, a straighter flow with the same samples;
#   4. distils the shipped student from the reflowed flow (distill.json);
#   5. refines it with one Euler step of the teacher from t = 0.9
#      (`flowpolicy refine`): policy.fpk, two network calls per chunk;
# then evaluates teacher and policy on the paper's 50 seeds (100000-100049),
# the policy on the preset's int16 kernel, and copies checkpoints, configs
# and reports here.
#
#   policies/pusht-state/reproduce.sh [path/to/pusht_cchi_v7_replay.zarr] [work folder]
#
# Runs on the CPU; the figures in README.md give the times measured on 2 cores.
# Every step resumes: run the script again after an interruption.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dataset="${1:-$here/../../../shared/datasets/pusht_cchi_v7_replay.zarr}"
work="${2:-runs/pusht-state}"
episodes=64        # simulator episodes the first student plays
time=0.9           # refine: share of the student's chunk kept before the teacher step
flowpolicy=(node "$here/../../dist/src/cli/main.js")

# distill <teacher> <config> <out> [location flags...]: a new run, or the interrupted one resumed
# (the flags name only where inputs lie, so a work folder moved since resumes from its new place).
distill() {
  local teacher="$1" config="$2" out="$3"
  shift 3
  if [ -f "$out/train-state.fpk" ]; then
    "${flowpolicy[@]}" distill "$teacher" --out "$out" --resume "$@"
  else
    "${flowpolicy[@]}" distill "$teacher" --config "$config" --out "$out" "$@"
  fi
}

if [ -f "$work/teacher/train-state.fpk" ]; then
  "${flowpolicy[@]}" train --resume "$work/teacher" --dataset "$dataset"
else
  "${flowpolicy[@]}" train --config "$here/train.json" --dataset "$dataset" --out "$work/teacher"
fi

# The teacher's samples (K per observation) are drawn once, into the first student's cache, and reused by the reflow.
cache="$work/student-0/teacher-cache"
distill "$work/teacher" "$here/distill.json" "$work/student-0" --cache.dir "$cache"
visited="$work/visited-1.zarr"
[ -e "$visited" ] || "${flowpolicy[@]}" sim record --policy "$work/student-0" --episodes "$episodes" --seed 0 --out "$visited"
observations="[{\"path\": \"$visited\", \"every\": 2}]"

distill "$work/teacher" "$here/reflow.json" "$work/reflow" --cache.dir "$cache" --observations "$observations"
distill "$work/reflow" "$here/distill.json" "$work/student" --observations "$observations"
"${flowpolicy[@]}" refine "$work/student" --teacher "$work/teacher" --time "$time" --out "$work/policy.fpk"

"${flowpolicy[@]}" eval "$work/teacher" --task pusht --episodes 50 --seed 100000 --out "$work/eval-teacher"
"${flowpolicy[@]}" eval "$work/policy.fpk" --task pusht --episodes 50 --seed 100000 --kernel wasm-int16 --out "$work/eval-policy"

cp "$work/teacher/checkpoint.fpk" "$here/teacher.fpk"
cp "$work/policy.fpk" "$here/policy.fpk"
mkdir -p "$here/eval"
cp "$work/eval-teacher/eval.json" "$here/eval/teacher.json"
cp "$work/eval-policy/eval.json" "$here/eval/policy.json"
echo "updated $here (checkpoints and eval reports); the configs it ran are train.json, distill.json and reflow.json, with --observations $visited"
