# The split link (issue 14), torch-free parts: the wire format and its
# sockets (infer/wire.c, infer/net_io.c in hnd_split_net).
hnd_add_test(test_wire SOURCES test_wire.c LIBS hnd_split_net hnd_util Threads::Threads m LABELS split)

# The wire fuzzer's corpus (tests/fuzz/run_fuzz_wire.sh): valid frames of
# every type and any saved crashers, replayed through the harness every run
# (under ASan/UBSan in the SANITIZE=1 build).
add_executable(wire_fuzz_regress fuzz/regress_main.c fuzz/fuzz_wire.c)
target_link_libraries(wire_fuzz_regress PRIVATE hnd_split_net hnd_util)
hnd_add_script_test(wire_fuzz_regress $<TARGET_FILE:wire_fuzz_regress> ${CMAKE_SOURCE_DIR}/tests/fuzz/regress_wire)
set_tests_properties(wire_fuzz_regress PROPERTIES LABELS split)

# hnd serve (the edge side): an independent Python frame codec against the
# server — valid requests vs the tail run in one process (serve_tail_ref),
# mismatches, garbage, a 4 GB length prefix, a cut frame, a slow client,
# 32 concurrent clients, RSS, --max-conns, SIGTERM.
if(HND_WITH_TORCH)
  add_executable(serve_tail_ref serve_tail_ref.c)
  target_link_libraries(serve_tail_ref PRIVATE hnd_export hnd_infer hnd_models hnd_data hnd_util)
  hnd_add_script_test(test_serve ${HND_PYTHON} ${CMAKE_SOURCE_DIR}/tests/py/check_serve.py)
  set_tests_properties(test_serve PROPERTIES TIMEOUT 300 LABELS "split;torch" DEPENDS "hnd;hnd-torch;serve_tail_ref")
endif()

# hnd split-detect (the device side) against hnd serve on the loopback: the
# libtorch head == hnd detect byte for byte, the bundle's C head within a
# tolerance, hnd eval on the results, --original, a cut connection retried,
# errors (refused, HELLO mismatch, missing/corrupt image), Ctrl-C.
if(HND_WITH_TORCH)
  hnd_add_script_test(test_split_e2e ${HND_PYTHON} ${CMAKE_SOURCE_DIR}/tests/py/check_split_e2e.py)
  set_tests_properties(test_split_e2e PROPERTIES TIMEOUT 900 LABELS "split;torch" DEPENDS "hnd;hnd-torch")
endif()

# A learned entropy bottleneck on the link (issue 18): WF_EB_RANS frames (the
# rounded symbols rANS-coded with the 16-bit tables) == hnd detect byte for
# byte, from the student's tables and from a bundle's eb_tables.bin; mutated
# and cut EB payloads refused without a crash; the exported C head's own
# stream (hnd_head_run --eb-tables) byte-identical to hnd's.
if(HND_WITH_TORCH)
  hnd_add_script_test(test_split_eb ${HND_PYTHON} ${CMAKE_SOURCE_DIR}/tests/py/check_split_eb.py)
  set_tests_properties(test_split_eb PROPERTIES TIMEOUT 300 LABELS "split;torch" DEPENDS "hnd;hnd-torch")
endif()
