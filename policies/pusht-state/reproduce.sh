#!/usr/bin/env bash
# Rebuilds this preset from the Push-T human demos: trains the flow-matching
# teacher, distils the one-step student, evaluates both on the paper's 50
# seeds (100000-100049) and copies checkpoints, configs and reports here.
#
#   policies/pusht-state/reproduce.sh [path/to/pusht_cchi_v7_replay.zarr] [work folder]
#
# Runs on the CPU; the figures in README.md give the times measured on 2 cores.
# Every step resumes: run the script again after an interruption.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dataset="${1:-$here/../../../shared/datasets/pusht_cchi_v7_replay.zarr}"
work="${2:-runs/pusht-state}"
flowpolicy=(node "$here/../../dist/src/cli/main.js")

if [ -f "$work/teacher/train-state.fpk" ]; then
  "${flowpolicy[@]}" train --resume "$work/teacher"
else
  "${flowpolicy[@]}" train --config "$here/train.json" --dataset "$dataset" --out "$work/teacher"
fi

if [ -f "$work/student/train-state.fpk" ]; then
  "${flowpolicy[@]}" distill "$work/teacher" --out "$work/student" --resume
else
  "${flowpolicy[@]}" distill "$work/teacher" --config "$here/distill.json" --out "$work/student"
fi

for role in teacher student; do
  "${flowpolicy[@]}" eval "$work/$role" --task pusht --episodes 50 --seed 100000 --out "$work/eval-$role"
done

cp "$work/teacher/checkpoint.fpk" "$here/teacher.fpk"
cp "$work/student/checkpoint.fpk" "$here/policy.fpk"
mkdir -p "$here/eval"
cp "$work/eval-teacher/eval.json" "$here/eval/teacher.json"
cp "$work/eval-student/eval.json" "$here/eval/policy.json"
echo "updated $here (checkpoints and eval reports); the configs it ran are train.json and distill.json"
