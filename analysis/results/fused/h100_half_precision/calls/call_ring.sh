# Half-precision backward segments of 16 steps (BC=8) with the backward ring capped (BSTAGES_MAX) against d6fc538 as it is.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
R=$PWD
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee $OUT/ring.txt
export DTYPES=float32,bfloat16
ab() { tag=$1; steps=$2; shift 2; env "$@" PYTHONPATH=$R/.scratch/s16/cap:$R:/tmp/site timeout 90 python3 analysis/results/fused/h100_one_body/kernels_ab.py $tag $steps 2>&1 | grep -v Warn | tee -a $OUT/ring.txt; }
for r in 1 2; do
  ab base-$r 1024
  ab bc8-ring2-$r 1024 BC=8 BSTAGES_MAX=2
  ab bc8-ring3-$r 1024 BC=8 BSTAGES_MAX=3
  ab bc8-ring5-$r 1024 BC=8
done
ab base-4096 4096
ab bc8-ring2-4096 4096 BC=8 BSTAGES_MAX=2
