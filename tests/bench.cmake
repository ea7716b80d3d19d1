# Benchmarks' own logic (bench/, issue 20): bench/gpu_check.sh's paths on a
# machine without CUDA (--dry-run, the refusal), the summary table of make bench.
hnd_add_script_test(test_gpu_check bash ${CMAKE_SOURCE_DIR}/tests/test_gpu_check.sh)
hnd_add_script_test(test_bench_summary bash ${CMAKE_SOURCE_DIR}/tests/test_bench_summary.sh)
