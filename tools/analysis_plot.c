/* analysis_plot.c: see analysis_plot.h; maps an ap_chart onto a ch_chart. */
#include "analysis_plot.h"

#include <stdint.h>

#include "hnd_error.h"
#include "plot_chart.h"

#define AP_MAX_SERIES 32

static const uint32_t k_colors[] = {0xD62728, 0x2CA02C, 0xFF7F0E, 0x9467BD, 0x17BECF, 0x8C564B, 0xE377C2, 0x7F7F7F};
static const uint32_t k_ref = 0x285ADC;

int ap_line_chart_as(const char *path, const ap_chart *c, const ap_series *s, int ns, pf_format f) {
    if (!path || !c || ns < 0 || (ns && !s)) return hnd_error_set("plot: bad arguments");
    if (ns > AP_MAX_SERIES) return hnd_error_set("plot: at most %d series", AP_MAX_SERIES);
    ch_series cs[AP_MAX_SERIES];
    for (int k = 0; k < ns; k++) {
        /* Series often coincide (students share the teacher's points up to
         * the bottleneck): earlier ones are drawn wider so that later ones
         * leave them visible; past eight colours, dashes and other markers. */
        double width = ns - k + 1 < 2 ? 2 : ns - k + 1 > 5 ? 5 : ns - k + 1;
        cs[k] = (ch_series){s[k].name ? s[k].name : "", c->categories ? NULL : s[k].x, s[k].y, s[k].n,
                            k_colors[k % 8], CH_LINE | CH_POINTS | (k >= 8 ? CH_DASHED : 0), (k / 8) % 4, width};
    }
    ch_hline hl = {c->hline, c->hline_label ? c->hline_label : "", k_ref};
    ch_chart ch = {
        .title = c->title, .xlabel = c->xlabel, .ylabel = c->ylabel,
        .xkind = c->categories ? PA_CATEGORY : c->log_x ? PA_LOG : PA_LINEAR,
        .ykind = c->log_y ? PA_LOG : PA_LINEAR,
        .categories = c->categories, .n_categories = c->n_categories,
        .series = cs, .n_series = ns, .hlines = &hl, .n_hlines = c->has_hline ? 1 : 0,
        .width = c->width, .height = c->height,
    };
    char file[4096];
    if (pf_path(file, sizeof file, path, f) != 0) return -1;
    return ch_write(&ch, file, f);
}

int ap_line_chart(const char *path, const ap_chart *c, const ap_series *s, int ns) {
    return ap_line_chart_as(path, c, s, ns, pf_from_path(path, PF_PNG));
}
