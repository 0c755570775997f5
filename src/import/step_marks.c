/* Step-mark candidates and the rule that picks the marks among them (step_marks_int.h). */
#include <stdlib.h>
#include <string.h>

#include "common/util_int.h"
#include "import/step_marks_int.h"

sp_status sp_mark_cands_add(sp_mark_cands *c, int64_t start, int64_t end, uint64_t thread, sp_str name,
                            uint8_t kind)
{
    sp_status st = SP_GROW(c->v, c->cap, c->n + 1, SP_EV_MAX_RECORDS);
    if (st)
        return st;
    c->v[c->n++] = (sp_mark_cand){start, end, thread, name, kind};
    return SP_OK;
}

static int cand_thread_cmp(const void *a, const void *b)
{
    const sp_mark_cand *x = a, *y = b;
    if (x->thread != y->thread)
        return x->thread < y->thread ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->end < y->end) - (x->end > y->end);   /* the enclosing (longer) range first */
}

sp_status sp_mark_cands_commit(sp_mark_cands *c, struct sp_events *ev, uint32_t file)
{
    int steps = 0;
    for (size_t i = 0; i < c->n && !steps; i++)
        steps = c->v[i].kind == SP_MARK_PROFILER_STEP;
    if (!steps && c->n)
        qsort(c->v, c->n, sizeof *c->v, cand_thread_cmp);
    int64_t reach = INT64_MIN;   /* the latest end so far on the current thread */
    for (size_t i = 0; i < c->n; i++) {
        const sp_mark_cand *r = &c->v[i];
        if (steps && r->kind != SP_MARK_PROFILER_STEP)
            continue;
        if (!steps) {
            if (i == 0 || r->thread != c->v[i - 1].thread)
                reach = INT64_MIN;
            int top = r->start >= reach;
            if (r->end > reach)
                reach = r->end;
            if (!top)
                continue;
        }
        if (r->start < 0)
            continue;
        sp_ev_mark m = {(uint64_t)r->start, (uint64_t)(r->end > r->start ? r->end : r->start), r->name, file,
                        r->kind};
        sp_status st = sp_ev_add_mark(ev, &m);
        if (st)
            return st;
    }
    return SP_OK;
}

void sp_mark_cands_free(sp_mark_cands *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

bool sp_mark_name_excluded(const char *name, size_t n)
{
    static const char *const prefixes[] = {"enumerate(DataLoader)", "Optimizer."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t pl = strlen(prefixes[i]);
        if (n >= pl && memcmp(name, prefixes[i], pl) == 0)
            return true;
    }
    for (size_t i = 0; i + 1 < n; i++)
        if (name[i] == ':' && name[i + 1] == ':')
            return true;
    return false;
}
