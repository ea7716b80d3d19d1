# Keypoints (issue 17, data and evaluation): COCO keypoint annotations,
# targets, flip and resize against torchvision's transforms
# (tests/py/ref_kp_data.py), OKS evaluation against pycocotools' fixtures
# (tests/fixtures/cocoeval_kp, made by tests/py/make_cocoeval_kp.py) and
# hand-derived cases, `hnd synth --keypoints` checked by a Python reader.
hnd_add_test(test_data_kp SOURCES ${CMAKE_SOURCE_DIR}/tests/test_data_kp.c LIBS hnd_data)
hnd_add_test(test_coco_eval_kp SOURCES ${CMAKE_SOURCE_DIR}/tests/test_coco_eval_kp.c LIBS hnd_infer_eval hnd_data hnd_util)
hnd_add_script_test(test_synth_kp bash ${CMAKE_SOURCE_DIR}/tests/test_synth_kp.sh)
hnd_add_test(test_det_visualize_kp SOURCES ${CMAKE_SOURCE_DIR}/tests/test_det_visualize_kp.c LIBS hnd_plot hnd_data)
if(HND_WITH_TORCH)
  hnd_add_test(test_data_tensors_kp SOURCES ${CMAKE_SOURCE_DIR}/tests/test_data_tensors_kp.c LIBS hnd_data_tensors)
  hnd_add_test(test_det_results_kp SOURCES ${CMAKE_SOURCE_DIR}/tests/test_det_results_kp.c LIBS hnd_infer hnd_infer_eval)
endif()
