# export (issue 13): hnd export's bundle checked against independent
# runtimes. export_head_ref dumps hnd's own head (sr_head) on random images.
add_executable(export_head_ref export_head_ref.c)
target_link_libraries(export_head_ref PRIVATE hnd_models hnd_util)

# the bundle's halves: hnd's head + tail.h5 == the whole student bit for bit;
# the plain-C head + tail.h5 within a tolerance (export_split_check.c)
add_executable(export_split_check export_split_check.c)   # the C runtime comes with hnd_export
target_include_directories(export_split_check PRIVATE ${CMAKE_SOURCE_DIR}/tools/export/c_head)
target_link_libraries(export_split_check PRIVATE hnd_export hnd_models hnd_data hnd_util Threads::Threads m)

# hnd export end to end: files, manifest (hashlib, h5py), tail.h5, the halves'
# detections, and bad input
hnd_add_script_test(test_export_cli ${HND_PYTHON} ${CMAKE_SOURCE_DIR}/tests/py/check_export_cli.py)
set_tests_properties(test_export_cli PROPERTIES DEPENDS "hnd;hnd-torch;export_split_check")

# TorchScript: ct_script_save (a module from C, read back by torch.jit.load,
# and its failures), then hnd export --format torchscript against hnd's head
hnd_add_test(test_ct_script SOURCES test_ct_script.c LIBS ctorch LABELS torch)
hnd_add_script_test(test_export_torchscript bash ${CMAKE_SOURCE_DIR}/tests/test_export_format.sh torchscript)
set_tests_properties(test_export_torchscript PROPERTIES TIMEOUT 600 LABELS torch)

# the plain-C head (--format c): parity with hnd's head at 8/16/32 bits, the
# bundle cross-built for aarch64 under qemu (byte-identical; skipped without
# the cross compiler), damaged head.bin files refused, the PPM transform
hnd_add_script_test(test_export_c ${HND_PYTHON} ${CMAKE_SOURCE_DIR}/tests/py/check_export_c.py)
set_tests_properties(test_export_c PROPERTIES TIMEOUT 900 DEPENDS "hnd;hnd-torch;export_head_ref")
# its loader's fuzz corpus (tests/fuzz/run_fuzz_head.sh), replayed every run
add_executable(head_fuzz_regress fuzz/regress_main.c fuzz/fuzz_head.c ${CMAKE_SOURCE_DIR}/tools/export/c_head/hnd_head.c)
target_include_directories(head_fuzz_regress PRIVATE ${CMAKE_SOURCE_DIR}/tools/export/c_head)
target_link_libraries(head_fuzz_regress PRIVATE Threads::Threads m)
hnd_add_script_test(head_fuzz_regress $<TARGET_FILE:head_fuzz_regress> ${CMAKE_SOURCE_DIR}/tests/fuzz/regress_head)

# ONNX (--format onnx): onnx.checker and OpenCV's DNN module (python3-onnx,
# python3-opencv) run head.onnx at 8/16/32 bits against hnd's head
hnd_add_script_test(test_export_onnx bash ${CMAKE_SOURCE_DIR}/tests/test_export_format.sh onnx)
set_tests_properties(test_export_onnx PROPERTIES TIMEOUT 600 LABELS torch DEPENDS "hnd;hnd-torch;export_head_ref")
