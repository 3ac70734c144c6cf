#!/usr/bin/env bash
# bench/latency.py under JAX on a lent GPU machine, in one call that must end inside its lease.
#
# Usage (from the repository root; the device tool's README says how the wheels travel):
#     DEADLINE_S=510 OUT=/some/dir bash bench/latency_device.sh [VALIDATE]
#
# Installs the wheels in $WHEELS (default .whl/: Keras, Keras Tuner and their small
# dependencies, which that machine lacks) if the folder exists, names the machine and the
# versions, then runs
# bench/latency.py with KERAS_BACKEND=jax for VGG16 and googlenet at batch 1 (VALIDATE unseen
# architectures each, default 40), then at batch 32 (half as many), each while DEADLINE_S
# (seconds from the start) leaves it at least 60 s; every line is prefixed with the seconds
# elapsed (RUNS, `space:batch:validate ...`, names other runs). The log and the validated tables
# go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
DEADLINE_S=${DEADLINE_S:-510}
VALIDATE=${1:-40}
PYTHON=${PYTHON:-python3}
OUT=${OUT:?set OUT to the folder for the logs and tables}
exec > >(tee -a "$OUT/latency_jax_gpu.log") 2>&1
WHEELS=${WHEELS:-.whl}
if [ -d "$WHEELS" ]; then
    $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
nvidia-smi -L 2>/dev/null
$PYTHON -c "import jax, keras, numpy
print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__, 'numpy', numpy.__version__)" ||
    exit 1
HALF=$((VALIDATE / 2))
RUNS=${RUNS:-"vgg16:1:$VALIDATE googlenet:1:$VALIDATE vgg16:32:$HALF googlenet:32:$HALF"}
for run in $RUNS; do
    IFS=: read -r space batch validate <<<"$run"
    left=$((DEADLINE_S - (SECONDS - START)))
    if [ "$left" -lt 60 ]; then
        echo "skipped $space at batch $batch: ${left} s left of the deadline"
        continue
    fi
    echo "== $space batch $batch (up to ${left} s)"
    timeout "$left" $PYTHON bench/latency.py --space "$space" --batch-size "$batch" \
        --repeats 15 --validate "$validate" --fit 6 --budgets 0.5,0.6,0.7 \
        --save "$OUT/latency_table_${space}_b${batch}_jax_gpu.json" 2>&1 |
        grep --line-buffered -v -E "^(WARNING|I0000|E0000|W0000)" |
        while IFS= read -r line; do echo "$((SECONDS - START)) $line"; done
done
