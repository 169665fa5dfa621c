#!/usr/bin/env bash
# Run a planned set of study runs on a lent GPU machine (docs/studies.md, "Runs on a machine without
# Ray"). That machine has torch and no Ray, Optuna or pydantic, and reaches no registry; this script
# is its whole command. Prepare here first (repo root):
#
#   echo /.whl/ >> .git/info/exclude; echo /.carry/ >> .git/info/exclude   # once
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl pydantic==2.14.4 pydantic_core==2.50.5 \
#       annotated_types typing_inspection typing_extensions==4.16.0
#   .venv/bin/python bench/study_pool.py plan --out records --to .carry/plan.json STUDY[:SEEDS] ...
#   (data/ holds the prepared sets the plan names, as `asma data prepare` wrote them)
#
# Then, through the device tool, with carry [data, .whl, .carry] and a timeout a little above
# DEADLINE:   bash bench/lent_gpu_studies.sh [WORKERS] [DEADLINE_S]
# What comes back in $OUT: pool.tgz (every finished run's record and evaluation, by study), pool.log,
# gpu.log (utilisation every 10 s). Here: tar xzf pool.tgz -C records/ablations, then
# `asma ablate STUDY --out records --resume` (or `asma report`) counts them.
# (PYTHON, DEVICE and POOL may be set to try it on a CPU machine: PYTHON=.venv/bin/python DEVICE=cpu)
set -u
WORKERS=${1:-14}
DEADLINE=${2:-540}
OUT=${OUT:-/tmp/out}
POOL=${POOL:-/tmp/pool}
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT" "$POOL/records"
if ! "$PYTHON" -c "import pydantic" 2>/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || { echo "could not install the carried wheels in .whl/"; exit 3; }
    export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
nvidia-smi dmon -s u -d 10 > "$OUT/gpu.log" 2>&1 &  # sm %: whether the runs use the GPU at all
DMON=$!
pack() {  # what finished so far, atomically: a timeout still returns the last pack
    tar czf "$OUT/pool.tmp" -C "$POOL/records" . 2>/dev/null && mv "$OUT/pool.tmp" "$OUT/pool.tgz"
}
( while sleep 30; do pack; done ) &
PACKER=$!
"$PYTHON" bench/study_pool.py run .carry/plan.json --device "$DEVICE" --workers "$WORKERS" --deadline "$DEADLINE" \
    --out "$POOL/records" --work "$POOL/work" 2>&1 | grep -v -i "warning" | tee "$OUT/pool.log"
status=${PIPESTATUS[0]}
kill "$PACKER" "$DMON" 2>/dev/null
pack
cp "$POOL/work/pool.jsonl" "$OUT/" 2>/dev/null
uptime
exit "$status"
