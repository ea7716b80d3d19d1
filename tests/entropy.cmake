# Issue 18, parts 2-4: the learned entropy bottleneck, its integer CDF tables
# and rANS coder, BD-rate.
if(HND_WITH_TORCH)
  # density, rate, aux loss and gradients against tests/py/ref_entropy_bottleneck.py
  hnd_add_test(test_entropy_bottleneck SOURCES test_entropy_bottleneck.c LIBS hnd_models hnd_util m LABELS torch)
endif()
# torch-free: integer CDF tables and the rANS coder (infer/eb_codec.h)
hnd_add_test(test_eb_codec SOURCES test_eb_codec.c LIBS hnd_codec m)
# the same tables and streams natively and on aarch64 under qemu-user
hnd_add_script_test(test_eb_codec_arch bash ${CMAKE_SOURCE_DIR}/tests/test_eb_codec_arch.sh)
# the readers' fuzz corpus (tests/fuzz/run_fuzz_eb.sh), replayed every run
add_executable(eb_fuzz_regress fuzz/regress_main.c fuzz/fuzz_eb.c)
target_link_libraries(eb_fuzz_regress PRIVATE hnd_codec)
hnd_add_script_test(eb_fuzz_regress $<TARGET_FILE:eb_fuzz_regress> ${CMAKE_SOURCE_DIR}/tests/fuzz/regress_eb)
# Bjontegaard delta rate: hand-derived cases and numpy (tests/py/ref_bd_rate.py)
hnd_add_test(test_bd_rate SOURCES test_bd_rate.c LIBS hnd_infer_eval PkgConfig::CJSON m)
if(HND_WITH_TORCH)
  # training, eval-model's real bytes and sweep --beta on a tiny synthetic set
  hnd_add_script_test(test_eb_train ${CMAKE_CURRENT_SOURCE_DIR}/test_eb_train.sh)
  set_tests_properties(test_eb_train PROPERTIES TIMEOUT 600 LABELS torch)
endif()
