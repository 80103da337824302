# The checkout (three-segment half-precision backward ring): the kernels alone at T = 1024, then the GPU tests of the neurons and backends that launch the fused kernels (not chunked, pmbc, sdn).
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1
(nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader; grep -c dynamic_ring spikessm_snn/backends/fused/source.py) | tee $OUT/gpu.txt
DTYPES=float32,bfloat16,float16 timeout 40 python3 analysis/results/fused/h100_one_body/kernels_ab.py ring3 1024 2>&1 | grep -v Warn | tee $OUT/kernels_ab.txt
timeout 245 python3 -m pytest -m gpu tests/backends/test_fused.py tests/backends/test_overflow.py tests/backends/test_auto.py tests/backends/test_double_backward.py tests/adapters tests/neurons -n 8 -q -p no:cacheprovider 2>&1 | grep -v "PytestBenchmarkWarning\|warner(" | tail -8 | tee $OUT/gpu_tests_h100.txt
