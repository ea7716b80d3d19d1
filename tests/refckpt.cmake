# The reference project's checkpoints, backbones and bit widths (issue 16,
# items 1 and 5). Needs libtorch (the probe lives in hnd_models).
add_executable(ref_probe ref_probe.c)
target_link_libraries(ref_probe PRIVATE hnd_models)
hnd_add_script_test(test_ref_ckpt bash ${CMAKE_SOURCE_DIR}/tests/test_ref_ckpt.sh)
set_tests_properties(test_ref_ckpt PROPERTIES TIMEOUT 300)
