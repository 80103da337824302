# d6fc538: the GPU suite, the NVRTC tests, the neuron benchmark at T = 1024 and 4096 (ours only), and the kernels alone.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader; git log --oneline -1) | tee $OUT/gpu.txt
timeout 360 python3 -m pytest -m gpu tests -n 8 -q -p no:cacheprovider 2>&1 | grep -v "PytestBenchmarkWarning\|warner(" | tail -12 | tee $OUT/gpu_tests_h100.txt
timeout 90 python3 -m pytest tests -k "register_spills or keep_subnormals" -q -p no:cacheprovider 2>&1 | tail -2 | tee -a $OUT/gpu_tests_h100.txt
timeout 150 python3 analysis/bench_fused.py --out $OUT/bench --steps 1024 4096 --no-spikingjelly --no-blocks 2>&1 | grep -v Warn | tail -30 | tee $OUT/bench.txt
export DTYPES=float32,bfloat16,float16
for r in 1 2; do timeout 60 python3 analysis/results/fused/h100_one_body/kernels_ab.py d6fc538-$r 1024 2>&1 | grep -v Warn | tee -a $OUT/kernels_ab.txt; done
