#!/usr/bin/env bash
# Every GPU check of this project in one prepared run, for a GPU machine lent for minutes, with
# PyTorch installed but no network: the CUDA tests and the rest of the suite on the GPU, the
# throughput benchmark (eager and compiled), a short quality comparison, the CLI, a dashboard
# screenshot with the real GPU panel.
#
#   benchmarks/gpu_check.sh prepare        # here, with the package registries: fills .gpu/ (ignored
#                                          # by git) with the pure-Python wheels a bare PyTorch
#                                          # image lacks and a copy of the MNIST test split
#   benchmarks/gpu_check.sh run OUT [SECONDS]
#                                          # there: installs .gpu/wheels, runs the stages in order
#                                          # of importance while SECONDS (default 480) last,
#                                          # writes a log per stage and summary.txt to OUT
#   ONLY="throughput cli" benchmarks/gpu_check.sh run OUT   # a rerun of some stages
#
# Each stage is cut at its own limit and at what is left of the budget; the summary says which
# passed, failed, timed out or were skipped for time.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python3}

# Pinned to what the test suite was last run with; pure Python, so one set fits any CPython 3.
WHEELS="textual==8.2.8 rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 mdit-py-plugins==0.7.0
linkify-it-py==2.2.0 uc-micro-py==2.0.0 platformdirs==4.14.9 pygments==2.21.0 typing-extensions==4.16.0
pytest==8.4.2 pluggy==1.7.0 iniconfig==2.3.1 pytest-asyncio==1.5.0 pytest-textual-snapshot==1.1.0
syrupy==4.8.0 pytest-xdist==3.8.0 execnet==2.1.2"
MNIST=$REPO/../shared/data/mnist

prepare() {
    mkdir -p .gpu/wheels .gpu/mnist
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    # shellcheck disable=SC2086
    $PY -m pip download -q --no-deps --only-binary=:all: --implementation py --implementation cp \
        --python-version 3.12 -d .gpu/wheels $WHEELS || return 1
    if [ -e "$MNIST/t10k-images-idx3-ubyte.gz" ]; then cp "$MNIST"/*.gz .gpu/mnist/; fi
    du -sh .gpu
    echo "carry .gpu: run(command='benchmarks/gpu_check.sh run \$OUT 480', carry=['.gpu'], timeout_s=540)"
}

run() {
    local out=$1 budget=${2:-480}
    mkdir -p "$out"
    local deadline=$((SECONDS + budget)) summary=$out/summary.txt
    : > "$summary"
    if [ -d .gpu/wheels ]; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .gpu/wheels/*.whl || { echo "wheels: install failed" | tee -a "$summary"; return 1; }
        export PYTHONPATH=/tmp/site:$REPO
    else
        export PYTHONPATH=$REPO
    fi
    # The tests and benchmarks find MNIST beside the repo, as in CI.
    if [ ! -e "$MNIST/t10k-images-idx3-ubyte.gz" ] && [ -d .gpu/mnist ]; then
        mkdir -p "$MNIST" && cp .gpu/mnist/*.gz "$MNIST"/
    fi
    export PYTHONUNBUFFERED=1
    local art=/tmp/gpu_check_artifacts  # pictures, tarred into OUT at the end (OUT takes 8 files)
    rm -rf "$art" && mkdir -p "$art"

    stage() {  # stage NAME LIMIT COMMAND...: runs COMMAND under the smaller of LIMIT and what is left
        local name=$1 limit=$2; shift 2
        if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi
        local left=$((deadline - SECONDS))
        if [ "$left" -lt 20 ]; then echo "$name: skipped (budget spent)" >> "$summary"; return; fi
        [ "$limit" -gt "$left" ] && limit=$left
        local start=$SECONDS
        echo "== $name (limit ${limit}s): $*" > "$out/$name.log"
        timeout -k 5 "$limit" "$@" >> "$out/$name.log" 2>&1
        local rc=$?
        local verdict=passed
        [ $rc -ne 0 ] && verdict="failed (exit $rc)"
        [ $rc -eq 124 ] || [ $rc -eq 137 ] && verdict="timed out"
        echo "$name: $verdict in $((SECONDS - start))s" >> "$summary"
    }

    {  # the machine, at the top of the summary
        nvidia-smi --query-gpu=name,driver_version,memory.total,mig.mode.current --format=csv
        $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())'
    } >> "$summary" 2>&1
    # The whole suite, where TrainConfig's device "auto" is the GPU: every engine test trains on CUDA.
    stage tests 240 $PY -m pytest -q -p no:cacheprovider -n 8 -ra
    stage throughput 150 $PY benchmarks/throughput.py --device cuda --precision fp32,bf16,fp16 --repeats 1
    stage compiled 120 $PY benchmarks/throughput.py --device cuda --precision bf16 --compile reduce-overhead \
        --repeats 1 --steps-mlp 2000 --steps-dcgan 600
    stage quality 120 $PY benchmarks/quality.py --device cuda --arch dcgan --seconds 30
    stage cli 60 bash -c "set -e; $PY -m tui_gan train --headless --device cuda --dataset synthetic --arch dcgan \
        --conditional --precision bf16 --max-steps 300 --runs-dir /tmp/runs --log-every 2; \
        $PY -m tui_gan sample /tmp/runs/*/checkpoints/dcgan/latest.pt --digit 3 -o $art/digit3.png"
    stage screenshot 90 $PY screenshots/make_screenshots.py --seconds 20 --out "$art"
    tar -cf "$out/artifacts.tar" -C "$art" . && echo "artifacts.tar: $(ls "$art" | tr '\n' ' ')" >> "$summary"
    echo "total ${SECONDS}s" >> "$summary"
    cat "$summary"
}

case "${1:-}" in
    prepare) prepare ;;
    run) [ $# -ge 2 ] || { echo "usage: $0 run OUT [SECONDS]" >&2; exit 2; }; run "$2" "${3:-480}" ;;
    *) echo "usage: $0 prepare | run OUT [SECONDS]" >&2; exit 2 ;;
esac
