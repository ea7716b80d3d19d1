# Figures (tools/plot_*.c, analysis_plot.c; cairo): formats, axes, charts as
# PNG/SVG/PDF. Torch-free.
hnd_add_test(test_plot SOURCES test_plot.c LIBS hnd_plot)
