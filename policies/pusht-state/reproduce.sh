#!/usr/bin/env bash
# Rebuilds this preset from the Push-T human demos: trains the flow-matching
# teacher, distils the one-step student, then runs DAgger rounds (the
# student plays training seeds 0, 64, ... in the simulator, the teacher
# labels the states it reached, and the student is distilled again with
# them), evaluates teacher and final student on the paper's 50 seeds
# (100000-100049) and copies checkpoints, configs and reports here.
#
#   policies/pusht-state/reproduce.sh [path/to/pusht_cchi_v7_replay.zarr] [work folder]
#
# Runs on the CPU; the figures in README.md give the times measured on 2 cores.
# Every step resumes: run the script again after an interruption.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dataset="${1:-$here/../../../shared/datasets/pusht_cchi_v7_replay.zarr}"
work="${2:-runs/pusht-state}"
rounds=1           # DAgger rounds after the plain student (a second one did not help: README.md)
episodes=64        # simulator episodes recorded per round
flowpolicy=(node "$here/../../dist/src/cli/main.js")

if [ -f "$work/teacher/train-state.fpk" ]; then
  "${flowpolicy[@]}" train --resume "$work/teacher"
else
  "${flowpolicy[@]}" train --config "$here/train.json" --dataset "$dataset" --out "$work/teacher"
fi

# Round 0 draws the teacher's samples for the demonstrations; later rounds reuse them from its cache.
cache="$work/student-0/teacher-cache"
observations=""
for ((r = 0; r <= rounds; r++)); do
  if [ "$r" -gt 0 ]; then
    visited="$work/visited-$r.zarr"
    [ -e "$visited" ] || "${flowpolicy[@]}" sim record --policy "$work/student-$((r - 1))" --episodes "$episodes" --seed $(((r - 1) * episodes)) --out "$visited"
    observations="${observations:+$observations,}{\"path\": \"$visited\", \"every\": 2}"
  fi
  if [ -f "$work/student-$r/train-state.fpk" ]; then
    "${flowpolicy[@]}" distill "$work/teacher" --out "$work/student-$r" --resume
  else
    "${flowpolicy[@]}" distill "$work/teacher" --config "$here/distill.json" --out "$work/student-$r" --cache.dir "$cache" ${observations:+--observations "[$observations]"}
  fi
done

for role in teacher "student-$rounds"; do
  "${flowpolicy[@]}" eval "$work/$role" --task pusht --episodes 50 --seed 100000 --out "$work/eval-$role"
done

cp "$work/teacher/checkpoint.fpk" "$here/teacher.fpk"
cp "$work/student-$rounds/checkpoint.fpk" "$here/policy.fpk"
mkdir -p "$here/eval"
cp "$work/eval-teacher/eval.json" "$here/eval/teacher.json"
cp "$work/eval-student-$rounds/eval.json" "$here/eval/policy.json"
echo "updated $here (checkpoints and eval reports); the configs it ran are train.json and distill.json, with --observations for the DAgger rounds"
