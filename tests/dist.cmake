# Distributed training (issue 15): ct_dist over c10d/Gloo with real
# processes on the loopback (free ports: parallel ctest runs do not collide).
hnd_add_test(test_dist SOURCES test_dist.c LIBS ctorch LABELS torch)
set_tests_properties(test_dist PROPERTIES TIMEOUT 120)
