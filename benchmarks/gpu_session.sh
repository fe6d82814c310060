#!/usr/bin/env bash
# One GPU session, prepared to run unattended on one H100/H200-class GPU in under 9 minutes:
#   1. time to accuracy with the fast recipe: ResNet-18 (CIFAR stem) to 94 %, ResNet-20 to 91.25 %
#   2. the throughput table, trick by trick
#   3. the zoo recipe for the four core networks (plain-20, plain-56, ResNet-20, ResNet-56), side by side
# Every step has its own time limit, so one slow step cannot cost the others; each writes JSON
# with the GPU in its metadata. Everything lands in one archive, $OUT/gpu_session.tar.gz (plus the log),
# to unpack into results/gpu/ here.
#
#   bash benchmarks/gpu_session.sh            # on the GPU machine (the device tool sets $OUT)
#   SIZE=tiny bash benchmarks/gpu_session.sh  # a rehearsal on any CPU in a minute or two (tests run it)
set -uo pipefail
cd "$(dirname "$0")/.."
SIZE="${SIZE:-full}"
OUT="${OUT:-$PWD/runs/gpu_session}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export RESNET_COURSE_DATA="${RESNET_COURSE_DATA:-$PWD/.gpu-data}"
WORK="$(mktemp -d)"
mkdir -p "$OUT" "$WORK/results/zoo"
LOG="$OUT/gpu_session.log"
PY="${PYTHON:-python3}"

if [ "$SIZE" = tiny ]; then
  TTA18=(--subset 512 --test-subset 200 --epochs 1 --target 0.94)
  TTA20=(--subset 512 --test-subset 200 --epochs 1 --target 0.9125 --model resnet20)
  THROUGHPUT=(--steps 2 --repeats 1 --no-tricks)
  ZOO=(--subset 256 --test-subset 100 --epochs 1)
  LIMITS=(400 300 200 500)  # generous: the CPU rehearsal checks the steps work, not how fast (a busy CPU is slow)
else
  TTA18=(--target 0.94)
  TTA20=(--target 0.9125 --model resnet20 --epochs 60)
  THROUGHPUT=(--steps 50)
  ZOO=()
  LIMITS=(110 170 60 210)
fi

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, never stop the session
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s) $(date -u +%T)" | tee -a "$LOG"
  timeout --signal=INT --kill-after=15 "$limit" "$@" >>"$LOG" 2>&1
  echo "=== $name: exit $? $(date -u +%T)" | tee -a "$LOG"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU";
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } >>"$LOG" 2>&1

# Decode the data once (the parallel zoo processes then share one cache file).
step data 120 "$PY" -c "from resnet_course.data import load_cifar10; print(load_cifar10('train'), load_cifar10('test'))"
step tta-resnet18 "${LIMITS[0]}" "$PY" benchmarks/time_to_accuracy.py --no-progress "${TTA18[@]}" \
  --json "$WORK/results/time_to_accuracy_resnet18_cifar.json"
step tta-resnet20 "${LIMITS[1]}" "$PY" benchmarks/time_to_accuracy.py --no-progress "${TTA20[@]}" \
  --json "$WORK/results/time_to_accuracy_resnet20.json"
step throughput "${LIMITS[2]}" "$PY" benchmarks/throughput.py "${THROUGHPUT[@]}" \
  --json "$WORK/results/throughput_resnet20.json"

# The four core networks at once: small networks leave most of a large GPU idle, so four
# processes share it (each one's metadata records the device; wall times are under sharing).
echo "=== zoo (limit ${LIMITS[3]}s) $(date -u +%T)" | tee -a "$LOG"
for net in resnet20 plain20 resnet56 plain56; do
  timeout --signal=INT --kill-after=15 "${LIMITS[3]}" "$PY" -m resnet_course experiment zoo --only "$net" \
    "${ZOO[@]}" --results-dir "$WORK/results" --runs-dir "$WORK/runs" --no-progress >"$WORK/zoo_$net.log" 2>&1 &
done
wait
cat "$WORK"/zoo_*.log >>"$LOG"
rm -f "$WORK"/results/zoo/*.pt   # the book keeps the CPU networks' weights; the GPU runs add their curves
echo "=== zoo: done $(date -u +%T)" | tee -a "$LOG"

tar -czf "$OUT/gpu_session.tar.gz" -C "$WORK" results
ls -la "$WORK/results" "$WORK/results/zoo" | tee -a "$LOG"
rm -rf "$WORK"
