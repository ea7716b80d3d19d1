# infer/analysis.h + infer/latency.h: split points, parameter counts and the
# latency model; ResNet-50 numbers against python3-torchvision at test time
# (needs the hnd executable for import-torchvision).
hnd_add_test(test_analysis SOURCES test_analysis.c LIBS hnd_infer PkgConfig::CJSON LABELS torch)
set_tests_properties(test_analysis PROPERTIES TIMEOUT 300)
# The two commands end to end on a tiny synthetic set.
hnd_add_script_test(test_analysis_cli bash ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis_cli.sh)
set_tests_properties(test_analysis_cli PROPERTIES TIMEOUT 300 LABELS torch)
# analyze / bench-latency on a demo-like shrunk model (issue 19 item 5):
# widths from a config's model.params or from the weight shapes, parameter
# counts against torchvision.
hnd_add_script_test(test_analysis_shrunk bash ${CMAKE_CURRENT_SOURCE_DIR}/test_analysis_shrunk.sh)
set_tests_properties(test_analysis_shrunk PROPERTIES TIMEOUT 300 LABELS torch SKIP_RETURN_CODE 77)
