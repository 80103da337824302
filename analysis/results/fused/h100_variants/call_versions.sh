# The variant packages were copies of the package (kept outside the repository): next, unroll and diag are
# c4501ff with variants/*.patch applied; e2041f6 is that commit's package. Run from the repository root on the device.
R=$PWD
nvidia-smi --query-gpu=name,clocks.max.sm,driver_version --format=csv,noheader
export DTYPES=float32,bfloat16
ab() { tag=$1; pkg=$2; shift 2; env "$@" PYTHONPATH=$R/.scratch/s15/$pkg:$R python3 analysis/results/fused/h100_one_body/kernels_ab.py $tag 1024,4096 2>&1 | grep -v Warn | tee -a $OUT/ab.txt; }
main() { PYTHONPATH=$R python3 analysis/results/fused/h100_one_body/kernels_ab.py main$1 1024,4096 2>&1 | grep -v Warn | tee -a $OUT/ab.txt; }
main 1
ab next1 next
ab diag-nocompute-nostore diag DIAG=nocompute,fwdnostore
ab diag-nostore diag DIAG=fwdnostore,bwdnostore
ab u4 unroll FWD_UNROLL=4
ab e2041f6 e2041f6
main 2
ab next2 next
