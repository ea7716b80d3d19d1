# Programs of the data benchmarks (bench/data_ann_bench.sh,
# bench/data_pipeline_bench.sh). Torch-free; included from data/CMakeLists.txt.
add_executable(bench_data ${CMAKE_SOURCE_DIR}/bench/data_bench.c)
target_link_libraries(bench_data PRIVATE hnd_data)
set_target_properties(bench_data PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
