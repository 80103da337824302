# .scratch/s15/main is c4501ff's package; the checkout ($R) is 441b66a (nvvm); nvvmnext is 441b66a with
# variants/next.patch applied. The GPU tests at the end did not run: the call reached its time limit first.
R=$PWD
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader
export DTYPES=float32,bfloat16,float16
ab() { tag=$1; pkg=$2; PYTHONPATH=$pkg:$R python3 analysis/results/fused/h100_one_body/kernels_ab.py $tag 1024,4096 2>&1 | grep -v Warn | tee -a $OUT/ab.txt; }
ab main1 $R/.scratch/s15/main
ab nvvm1 $R
ab nvvmnext1 $R/.scratch/s15/nvvmnext
ab main2 $R/.scratch/s15/main
ab nvvm2 $R
ab nvvmnext2 $R/.scratch/s15/nvvmnext
timeout 200 python3 -m pytest -m gpu tests/backends/test_fused.py tests/backends/test_chunked.py -n 8 -q -p no:cacheprovider 2>&1 | tail -3 | tee $OUT/gpu_tests_fused_chunked.txt
