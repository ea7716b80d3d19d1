# Lossless coding of the 8-bit bottleneck (infer/rans.h, infer/link_codec.h).
hnd_add_test(test_rans SOURCES test_rans.c LIBS hnd_codec hnd_util m)
# the decoders' fuzz corpus (tests/fuzz/run_fuzz_codec.sh), replayed every run
add_executable(codec_fuzz_regress fuzz/regress_main.c fuzz/fuzz_codec.c)
target_link_libraries(codec_fuzz_regress PRIVATE hnd_codec)
hnd_add_script_test(codec_fuzz_regress $<TARGET_FILE:codec_fuzz_regress> ${CMAKE_SOURCE_DIR}/tests/fuzz/regress_codec)
