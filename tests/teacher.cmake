# train/teacher_train + tools/cmd_train_teacher: hnd train-teacher on a tiny synthetic set.
hnd_add_script_test(test_train_teacher ${CMAKE_CURRENT_SOURCE_DIR}/test_train_teacher.sh)
set_tests_properties(test_train_teacher PROPERTIES TIMEOUT 900 LABELS torch)
