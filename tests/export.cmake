# export (issue 13): hnd export's bundle checked against independent
# runtimes. export_head_ref dumps hnd's own head (sr_head) on random images.
add_executable(export_head_ref export_head_ref.c)
target_link_libraries(export_head_ref PRIVATE hnd_models hnd_util)
