# train/ and models/bottleneck*: HND students, quantizer, configs, trainer.
hnd_add_test(test_quant SOURCES test_quant.c LIBS hnd_models LABELS torch)
hnd_add_test(test_bottleneck SOURCES test_bottleneck.c LIBS hnd_models PkgConfig::CJSON LABELS torch)
set_tests_properties(test_bottleneck PROPERTIES TIMEOUT 300)
hnd_add_test(test_train_config SOURCES test_train_config.c LIBS hnd_train_config)
hnd_add_script_test(test_hnd_train ${CMAKE_CURRENT_SOURCE_DIR}/test_hnd_train.sh)
set_tests_properties(test_hnd_train PROPERTIES TIMEOUT 900 LABELS torch)
hnd_add_script_test(test_sweep_ref ${CMAKE_CURRENT_SOURCE_DIR}/test_sweep_ref.sh)
set_tests_properties(test_sweep_ref PROPERTIES TIMEOUT 600 LABELS torch)
hnd_add_test(test_hnd_mixed SOURCES test_hnd_mixed.c LIBS hnd_train LABELS torch)
set_tests_properties(test_hnd_mixed PROPERTIES TIMEOUT 300)
# issue 16 item 6: sweep --students-from (a Mask student as the Faster one), hnd plot
hnd_add_script_test(test_sweep_from ${CMAKE_CURRENT_SOURCE_DIR}/test_sweep_from.sh)
set_tests_properties(test_sweep_from PROPERTIES TIMEOUT 300 LABELS torch)
