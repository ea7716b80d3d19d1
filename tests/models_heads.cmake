# models/: detection ops (ct_detection.h) and the assembled Faster/Mask R-CNN,
# both against python3-torchvision references generated at test time.
hnd_add_test(test_detection_ops SOURCES test_detection_ops.c LIBS hnd_models LABELS torch)
# End-to-end parity (python3-torchvision builds the references at test time;
# needs the hnd executable for import-torchvision).
hnd_add_test(test_rcnn SOURCES test_rcnn.c LIBS hnd_models LABELS torch)
set_tests_properties(test_rcnn PROPERTIES TIMEOUT 1200)
# hnd detect: files in, COCO results JSON out, checked against torchvision.
hnd_add_script_test(test_detect_cli bash ${CMAKE_CURRENT_SOURCE_DIR}/test_detect_cli.sh)
set_tests_properties(test_detect_cli PROPERTIES TIMEOUT 600 LABELS torch)
# Keypoint R-CNN (issue 17): heatmaps_to_keypoints, keypoints_to_heatmap and
# the keypoint loss exactly, detections and keypoints against torchvision,
# the COCO checkpoint's import, the split type's head + tail.
hnd_add_test(test_keypoint_rcnn SOURCES test_keypoint_rcnn.c LIBS hnd_models LABELS torch)
set_tests_properties(test_keypoint_rcnn PROPERTIES TIMEOUT 600)
