# Distributed training (issue 15): ct_dist over c10d/Gloo with real
# processes on the loopback (free ports: parallel ctest runs do not collide).
hnd_add_test(test_dist SOURCES test_dist.c LIBS ctorch LABELS torch)
set_tests_properties(test_dist PROPERTIES TIMEOUT 120)
# hnd launch + data-parallel hnd train: 2 x batch 2 == 1 x batch 4, sharded
# eval == single; a killed rank named, resume with one process (plain pass only)
hnd_add_script_test(test_dist_train ${CMAKE_CURRENT_SOURCE_DIR}/test_dist_train.sh equal)
set_tests_properties(test_dist_train PROPERTIES TIMEOUT 300 LABELS torch)
hnd_add_script_test(test_dist_teacher ${CMAKE_CURRENT_SOURCE_DIR}/test_dist_train.sh teacher)
set_tests_properties(test_dist_teacher PROPERTIES TIMEOUT 300 LABELS torch)
hnd_add_script_test(test_dist_fail ${CMAKE_CURRENT_SOURCE_DIR}/test_dist_train.sh fail)
set_tests_properties(test_dist_fail PROPERTIES TIMEOUT 300 LABELS torch)
