# A/B: head = cbcdfc5's package (.scratch/s16/head), fma = the checkout (sub as fma(b, -1, a)); then where the pair's time goes.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
R=$PWD
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader | tee $OUT/ab.txt
export DTYPES=float32,bfloat16,float16
ab() { PYTHONPATH=$2:$R:/tmp/site python3 analysis/results/fused/h100_one_body/kernels_ab.py $1 $3 2>&1 | grep -v Warn | tee -a $OUT/ab.txt; }
ab head1 $R/.scratch/s16/head 1024
ab fma1 $R 1024
ab head2 $R/.scratch/s16/head 1024,4096
ab fma2 $R 1024,4096
export DTYPES=float32,bfloat16
pb() { PYTHONPATH=$2:$R:/tmp/site timeout 150 python3 analysis/results/fused/h100_half_precision/pair_breakdown.py $1 1024 2>&1 | grep -v Warn | tee -a $OUT/pairs.txt; }
pb head $R/.scratch/s16/head
pb fma $R
