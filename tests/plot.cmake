# Figures (tools/plot_*.c, analysis_plot.c; cairo): formats, axes, charts as
# PNG/SVG/PDF. Torch-free.
hnd_add_test(test_plot SOURCES test_plot.c LIBS hnd_plot)
# hnd detect --visualize's drawing, read back with data/img.h
hnd_add_test(test_det_visualize SOURCES test_det_visualize.c LIBS hnd_plot hnd_data)
