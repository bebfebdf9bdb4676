#!/usr/bin/env bash
# One call of the GPU recipe (docs/performance.md, "On the lent GPU machine"), run by the
# device tool in the repository root: `bash bench/device_call.sh N`, carrying what call N
# needs (made by bench/device_carry.sh). Results go to $OUT, the folder that comes back.
#   1      carry .whl .gpu-a   the table (yardstick, paper-2, host, paper-0, paper-3)
#   2      carry .whl .gpu-b   FID of 50k samples, a second paper-2 run, Adam for-loop /
#                              foreach / fused, the switch ablation (largest prediction first)
#   3      carry .whl .gpu-c   FID after 7 minutes, rates decayed over them, with the EMA's
#   4      carry .whl .gpu-c   FID after 2,000 iterations: fast, plain, fast@1 (another seed)
#   tests  carry .whl          the GPU tests (CUDA graphs recorded and replayed, no host syncs)
#   5      carry .whl .gpu-c   FID after 7 minutes on the paper's 100k-iteration schedule
#   weights-a  carry .gpu-a   only the weights' first half to /tmp (seconds)
#   weights-b  carry .gpu-b   only the join of the two halves, sha256-checked (seconds)
# A session has 30 minutes of device time, counted from asking for the machine (its start, a
# minute or two) to giving it back, idle time between calls included. Each measurement runs
# under a cap (CAP below, seconds), so that the calls planned for one session fit in it
# whatever happens on the machine:
#   session 1: 1, 2, 3, then give the machine back: the targets' figures (it/s and ratio,
#              paper-0's 250 epochs, FID of 50k, FID after 7 minutes)
#   session 2: weights-a, weights-b, 4, tests (the FID the speed-ups leave, the GPU tests),
#              then 5 where status's budget_left_s still says 11 minutes (660 s)
# tests/bench/test_device_call.py adds each session's caps up against its 30 minutes. A slow
# start can still eat into them: make a call only where status's budget_left_s covers its
# cap + 100 s, and leave it to the next session otherwise.
# The FID weights travel in halves (calls 1 and 2) and wait in /tmp, which lasts only while
# the machine stays warm (30 s after a call): run the calls one right after the other. Where
# the machine went cold before call 3, 4 or 5, `weights-a` then `weights-b` bring the weights
# back without measuring anything again (the fresh machine's start, then seconds each).
# DRY_RUN=1 prints the commands instead of running them. Exit status: 0 all measured, 1 a
# step failed or ran past its cap (said on stderr), 2 a wrong call, 3 the FID weights no
# longer in /tmp.
set -uo pipefail
cd "$(dirname "$0")/.."
call=${1:-}
OUT=${OUT:-}
WEIGHTS=${DEVICE_FID_WEIGHTS:-/tmp/inception-fid.pt}  # where calls 1 and 2 put them
PARTS=${DEVICE_PARTS_DIR:-/tmp}  # where the first half waits for the second
SHA256=${DEVICE_FID_SHA256:-$(sed -n 's/^sha256: *//p' conf/fid/default.yaml)}
if [ -z "$OUT" ] && [ -z "${DRY_RUN:-}" ]; then
  echo "error: OUT is not set (the device tool sets it to the folder that comes back)" >&2
  exit 2
fi

setup='python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
python3 -m pip install -q --no-index --no-deps --target /tmp/site-test .whl/test/*.whl &&
export PYTHONPATH=/tmp/site:$PWD:/tmp/site-test PYTHONUNBUFFERED=1'
need_weights="[ -f $WEIGHTS ] || { echo 'error: $WEIGHTS is gone (the machine went cold): run weights-a and weights-b (seconds), then this call again' >&2; exit 3; }"
cifar='mkdir -p data/cifar10 && cp .gpu-c/train.zip data/cifar10/'
# the halves joined and checked, then put in place: a wrong or partial join leaves nothing
# at $WEIGHTS, so that later calls stop at once (exit status 3)
join="cat $PARTS/*.part00 .gpu-b/*.part01 > $WEIGHTS.joining && [ \"\$(sha256sum $WEIGHTS.joining | cut -d' ' -f1)\" = $SHA256 ] && mv $WEIGHTS.joining $WEIGHTS || { rm -f $WEIGHTS.joining; echo 'error: the two halves do not join into the FID weights (sha256 $SHA256): a half is missing or from another file; run weights-a and weights-b' >&2; false; }"
quality="python3 -m bench.quality --fid-weights $WEIGHTS --override data=cifar10_folder"

# Seconds each call's measurement may run before `timeout` stops it (and KILLs it 10 s later
# if it has not stopped); the tool's timeout_s for the call: its cap + 50 (the grace, the
# wheels, the data; 600 at most). A run cut off keeps what it printed: bench.run prints each
# figure as it is measured, bench.quality each run's row.
declare -A CAP=([1]=420 [2]=420 [3]=530 [4]=550 [tests]=420 [5]=530)

# `prepare`: what a call needs (a failure stops it); `measure`: its measurements, each run
# even when one before it failed, the call failing then.
# The GPU tests go quickest first (seconds each), the ones that compile every method last.
case "$call" in
  1) prepare=("cp .gpu-a/*.part00 $PARTS/" "$setup")
     measure=("timeout -k 10 ${CAP[1]} python3 -m bench.run --only yardstick,paper2,host,paper0_host,paper0,paper3 --yardstick .gpu-a/plain_acwgangp.py --out \$OUT/bench.json | tee \$OUT/bench.txt") ;;
  2) prepare=("$join" "$setup")
     measure=("timeout -k 10 ${CAP[2]} python3 -m bench.run --only fid,optimizers --ablate --warmup 30 --iters 200 --switches compile_critic_step,fused_norms,cuda_graphs,bf16,fused_layers,channels_last,compile --fid-weights $WEIGHTS --out \$OUT/ablation.json | tee \$OUT/ablation.txt") ;;
  3) prepare=("$need_weights" "$setup" "$cifar")
     measure=("timeout -k 10 ${CAP[3]} $quality --minutes 7 --lr-horizon run --speeds fast --override model.ema_decay=0.999 --out \$OUT/quality-7min.json | tee \$OUT/quality-7min.txt") ;;
  4) prepare=("$need_weights" "$setup" "$cifar")
     measure=("timeout -k 10 ${CAP[4]} $quality --iterations 2000 --speeds fast,plain,fast@1 --out \$OUT/quality-2000.json | tee \$OUT/quality-2000.txt") ;;
  tests) prepare=("$setup")
     measure=("timeout -k 10 ${CAP[tests]} python3 -m pytest -v tests/metrics/test_inception.py tests/metrics/test_evaluation.py tests/metrics/test_features.py tests/callbacks/test_speed.py tests/methods/test_step_graph.py | tee \$OUT/gpu-tests.txt") ;;
  5) prepare=("$need_weights" "$setup" "$cifar")
     measure=("timeout -k 10 ${CAP[5]} $quality --minutes 7 --lr-horizon paper --speeds fast --override model.ema_decay=0.999 --out \$OUT/quality-7min-paper.json | tee \$OUT/quality-7min-paper.txt") ;;
  weights-a) prepare=("cp .gpu-a/*.part00 $PARTS/")
     measure=("echo 'the first half is in $PARTS: call weights-b next, within 30 s'") ;;
  weights-b) prepare=("$join")
     measure=("echo 'the FID weights are at $WEIGHTS (sha256 checked)'") ;;
  *) echo "error: give the call's number, 1 to 5, or tests, weights-a, weights-b (bench/device_call.sh says what each does)" >&2
     exit 2 ;;
esac

if [ -n "${DRY_RUN:-}" ]; then
  printf '%s\n' "${prepare[@]}" "${measure[@]}"
  exit 0
fi
for step in "${prepare[@]}"; do
  eval "$step" || { echo "error: call $call could not prepare: $step" >&2; exit 1; }
done
failed=0
for step in "${measure[@]}"; do
  eval "$step" || { echo "error: call $call: this failed: $step" >&2; failed=1; }
done
exit $failed
