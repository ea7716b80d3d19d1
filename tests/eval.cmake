# COCO evaluation (infer/coco_eval) and RLE masks (data/mask_rle): unit tests
# with hand-derived and pycocotools numbers, the fixtures of
# tests/fixtures/cocoeval (copied from ../shared/fixtures) (every stat to 1e-9), robustness against
# truncated/garbled results, and the `hnd eval` command.
hnd_add_test(test_rle SOURCES test_rle.c LIBS hnd_data hnd_util)
hnd_add_test(test_coco_eval SOURCES test_coco_eval.c LIBS hnd_infer_eval hnd_data hnd_util)
set_tests_properties(test_coco_eval PROPERTIES TIMEOUT 600)
hnd_add_script_test(test_eval_cli ${HND_PYTHON} ${CMAKE_SOURCE_DIR}/tests/py/check_eval_cli.py)
# the results reader's fuzz corpus (tests/fuzz/run_fuzz_eval.sh), replayed every run
add_executable(eval_fuzz_regress fuzz/regress_main.c fuzz/fuzz_eval.c)
target_link_libraries(eval_fuzz_regress PRIVATE hnd_infer_eval hnd_data hnd_util)
hnd_add_script_test(eval_fuzz_regress $<TARGET_FILE:eval_fuzz_regress> ${CMAKE_SOURCE_DIR}/tests/fuzz/regress_eval)
