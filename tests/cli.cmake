# The dispatcher: help for every command without libtorch, exit codes.
hnd_add_script_test(test_cli bash ${CMAKE_SOURCE_DIR}/tests/test_cli.sh)
