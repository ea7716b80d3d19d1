# The reference project's checkpoints, backbones and bit widths (issue 16,
# items 1 and 5). Needs libtorch (the probe lives in hnd_models).
add_executable(ref_probe ref_probe.c)
target_link_libraries(ref_probe PRIVATE hnd_models)
hnd_add_script_test(test_ref_ckpt bash ${CMAKE_SOURCE_DIR}/tests/test_ref_ckpt.sh)
set_tests_properties(test_ref_ckpt PROPERTIES TIMEOUT 300)

# b-bit quantizer (2..8) against the reference's quantize_tensor in torch
add_executable(quant_bits_dump quant_bits_dump.c)
target_link_libraries(quant_bits_dump PRIVATE hnd_models)
hnd_add_script_test(test_quant_bits ${HND_PYTHON} ${CMAKE_SOURCE_DIR}/tests/py/check_quant_bits.py
  ${CMAKE_BINARY_DIR}/test-tmp/test_quant_bits/quant_bits)

# ResNet-152 and Wide ResNet-50-2 / 101-2 against torchvision
hnd_add_test(test_backbone_more SOURCES test_backbone_more.c LIBS hnd_models LABELS torch)
add_dependencies(test_backbone_more hnd)
set_tests_properties(test_backbone_more PROPERTIES TIMEOUT 300)
