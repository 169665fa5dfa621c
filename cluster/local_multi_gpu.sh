#!/usr/bin/env bash
# Fan an ablation study across the GPUs of one machine through one local Ray head.
#
#   cluster/local_multi_gpu.sh ablations/masking_strategy.yaml [asma ablate options ...]
#
# Ray gives each trial the GPUs (or GPU share) the study's `resources:` ask for, and sets its
# CUDA_VISIBLE_DEVICES: {cpus: 4, gpus: 1} runs one trial per GPU, {cpus: 2, gpus: 0.5} two per GPU.
# The head is this script's child and stops with it (Ctrl-C included); re-running resumes the study.
# Environment: NUM_GPUS (default: what nvidia-smi lists), NUM_CPUS (default: nproc), RAY_PORT (6380),
# DASHBOARD_PORT (8266), RAY_TMP (/tmp/asma-ray-$USER; keep it short: Ray's socket paths live in it),
# ASMA (the asma command; default: asma on PATH).
set -euo pipefail

study=${1:?usage: $0 STUDY.yaml [asma ablate options ...]}
shift
num_gpus=${NUM_GPUS:-$(nvidia-smi --list-gpus 2>/dev/null | wc -l)}
num_cpus=${NUM_CPUS:-$(nproc)}
port=${RAY_PORT:-6380}
dashboard_port=${DASHBOARD_PORT:-8266}
tmp=${RAY_TMP:-/tmp/asma-ray-${USER:-$(id -u)}}
asma=${ASMA:-asma}
address="127.0.0.1:${port}"

# Token authentication stays on: the head writes ~/.ray/auth_token if there is none, and every
# client below (ray status, asma, ray job submit) sends it because of this variable.
export RAY_AUTH_MODE=token

ray start --head --block --port="$port" --num-gpus="$num_gpus" --num-cpus="$num_cpus" \
    --dashboard-host=127.0.0.1 --dashboard-port="$dashboard_port" --temp-dir="$tmp" \
    >"$tmp.head.log" 2>&1 &
head_pid=$!
# SIGTERM to the blocking `ray start` stops every process of this head, and only those
trap 'kill -TERM "$head_pid" 2>/dev/null || true; wait "$head_pid" 2>/dev/null || true' EXIT

for _ in $(seq 120); do
    ray status --address "$address" >/dev/null 2>&1 && break
    if ! kill -0 "$head_pid" 2>/dev/null; then
        echo "the Ray head did not start; its log:" >&2
        cat "$tmp.head.log" >&2
        exit 1
    fi
    sleep 1
done
echo "Ray head at $address with $num_gpus GPUs, $num_cpus CPUs; dashboard http://127.0.0.1:$dashboard_port"

"$asma" cluster check --address "$address" "$study"
"$asma" ablate "$study" --address "$address" "$@"
