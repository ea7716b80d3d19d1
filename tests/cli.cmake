# The dispatcher: help for every command without libtorch, exit codes.
hnd_add_script_test(test_cli bash ${CMAKE_SOURCE_DIR}/tests/test_cli.sh)
# every option through its table: strict numbers, ranges, messages; input limits
hnd_add_script_test(test_cli_options bash ${CMAKE_SOURCE_DIR}/tests/test_cli_options.sh)
set_tests_properties(test_cli_options PROPERTIES TIMEOUT 300)
