/* Pieces of the terminal report that its sections share with the generation section (text.c,
 * text_gen.c): the word wrap at SP_REP_TEXT_WIDTH columns and a verdict's ranking. */
#include <stdio.h>
#include <string.h>

#include "report/report_int.h"

/* Prints `text` word-wrapped at SP_REP_TEXT_WIDTH columns; the first line follows `lead` (already
 * printed, `lead_cols` wide), later lines are indented by `indent`. */
void sp_rep_wrap(FILE *out, const char *text, size_t lead_cols, size_t indent)
{
    size_t col = lead_cols;
    int first = 1;
    const char *p = text ? text : "";
    for (;;) {
        while (*p == ' ' || *p == '\n')
            p++;
        if (!*p)
            break;
        size_t wl = 0, wcols = 0;
        while (p[wl] && p[wl] != ' ' && p[wl] != '\n') {
            wcols += ((unsigned char)p[wl] & 0xC0) != 0x80;
            wl++;
        }
        size_t need = first ? wcols : wcols + 1;
        if (col + need > SP_REP_TEXT_WIDTH && col > indent) {
            fprintf(out, "\n%*s", (int)indent, "");
            col = indent;
        } else if (!first) {
            putc(' ', out);
            col++;
        }
        for (size_t i = 0; i < wl; i++) {
            unsigned char c = (unsigned char)p[i];
            putc(c < 0x20 || c == 0x7F ? '?' : c, out);
        }
        col += wcols;
        p += wl;
        first = 0;
    }
    putc('\n', out);
}

/* The candidates of a verdict from 5% of p95 up (the sentence never names a smaller one), leader first;
 * the JSON report carries them all. */
void sp_rep_text_ranking(FILE *out, const sp_verdict *v)
{
    if (!v->stage || !v->n_ranking)
        return;
    fprintf(out, "%9s%-22s %-16s %9s %12s\n", "", "candidate", "group", "% of p95", "p95 saving");
    size_t hidden = 0;
    for (size_t k = 0; k < v->n_ranking; k++) {
        const sp_verdict_rank *c = &v->ranking[k];
        if (c->share_p95 < 0.05) {
            hidden++;
            continue;
        }
        char name[64], pc[16], d[32];
        size_t sl = strlen(c->stage);
        if (!strcmp(c->stage, "kernel") && c->group == SP_GROUP_MODEL)
            snprintf(name, sizeof name, "kernel (useful)");
        else if (c->group == SP_GROUP_MODEL && sl > 6 && sl < 40 && !strcmp(c->stage + sl - 6, "kernel"))
            snprintf(name, sizeof name, "useful %s", c->stage); /* "useful decode kernel" (generation) */
        else
            sp_rep_fmt_name(name, sizeof name, c->stage, 22);
        fprintf(out, "%9s%-22s %-16s %9s %12s\n", "", name, sp_verdict_group_str(c->group),
                sp_rep_fmt_pct(pc, sizeof pc, c->share_p95), sp_fmt_dur(d, sizeof d, (double)c->saving_p95_ns));
    }
    if (hidden)
        fprintf(out, "%9s(%zu %s under 5%% of p95 not shown; the JSON report ranks all)\n", "", hidden,
                hidden == 1 ? "candidate" : "candidates");
}
