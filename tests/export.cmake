# export (issue 13): hnd export's bundle checked against independent
# runtimes. export_head_ref dumps hnd's own head (sr_head) on random images.
add_executable(export_head_ref export_head_ref.c)
target_link_libraries(export_head_ref PRIVATE hnd_models hnd_util)

# TorchScript: ct_script_save (a module from C, read back by torch.jit.load,
# and its failures), then hnd export --format torchscript against hnd's head
hnd_add_test(test_ct_script SOURCES test_ct_script.c LIBS ctorch LABELS torch)
hnd_add_script_test(test_export_torchscript bash ${CMAKE_SOURCE_DIR}/tests/test_export_ts.sh)
set_tests_properties(test_export_torchscript PROPERTIES TIMEOUT 600 LABELS torch)

# ONNX (--format onnx): onnx.checker and OpenCV's DNN module (python3-onnx,
# python3-opencv) run head.onnx at 8/16/32 bits against hnd's head
hnd_add_script_test(test_export_onnx bash ${CMAKE_SOURCE_DIR}/tests/test_export_onnx.sh)
set_tests_properties(test_export_onnx PROPERTIES TIMEOUT 600 LABELS torch DEPENDS "hnd;hnd-torch;export_head_ref")
