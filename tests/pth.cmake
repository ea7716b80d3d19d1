# torchvision .pth import: unpickler unit tests, the import command against
# torch.load, and the fuzz regression corpus replayed in a normal build.
hnd_add_test(test_pth SOURCES test_pth.c LIBS hnd_pth hnd_util)
hnd_add_script_test(test_import bash ${CMAKE_SOURCE_DIR}/tests/test_import.sh)
set_tests_properties(test_import PROPERTIES TIMEOUT 600)

add_executable(pth_fuzz_regress fuzz/regress_main.c fuzz/fuzz_pth.c)
target_link_libraries(pth_fuzz_regress PRIVATE hnd_pth hnd_util)
hnd_add_script_test(pth_fuzz_regress $<TARGET_FILE:pth_fuzz_regress> ${CMAKE_SOURCE_DIR}/tests/fuzz/regress)

# With -DHND_FUZZ=ON (clang): the libFuzzer binary itself. tests/fuzz/run_fuzz.sh
# builds the same harness without CMake and seeds its corpus.
if(HND_FUZZ)
  # the parser sources are compiled into the harness so that they carry
  # libFuzzer's coverage instrumentation too
  add_executable(fuzz_pth fuzz/fuzz_pth.c ${CMAKE_SOURCE_DIR}/tools/pth/pickle.c
    ${CMAKE_SOURCE_DIR}/tools/pth/pth_reader.c ${CMAKE_SOURCE_DIR}/util/hnd_error.c)
  target_include_directories(fuzz_pth PRIVATE ${CMAKE_SOURCE_DIR}/tools/pth ${CMAKE_SOURCE_DIR}/util
    ${CMAKE_SOURCE_DIR}/ctorch)
  target_compile_options(fuzz_pth PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_pth PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_pth PRIVATE PkgConfig::LIBZIP)
endif()
