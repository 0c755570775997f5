/* The verdict sentence (DESIGN section 8, docs/analysis.md section 6), written from the ranking alone:
 * which candidates are level with the leader, the leader with its share, group, fix and p95 saving,
 * every later candidate above 10% of p95 with its group and fix, and whether the model can be called
 * innocent. A candidate under 5% of p95 is never named, so a reader never acts on a small one. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyze/analyze_int.h"
#include "common/format_int.h"
#include "common/util_int.h"

/* snprintf-style appender: `need` counts every byte asked for, whether it fitted or not. */
typedef struct sentence {
    char *buf;
    size_t len, need;
} sentence;

static void put(sentence *s, const char *fmt, ...) SP_PRINTF(2, 3);

static void put(sentence *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *at = s->need < s->len ? s->buf + s->need : NULL;
    size_t room = s->need < s->len ? s->len - s->need : 0;
    int n = vsnprintf(at, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        s->need += (size_t)n;
}

static void pct(char *buf, size_t n, double f)
{
    snprintf(buf, n, "%.0f%%", f * 100.0);
}

/* The share of the window with a batch in flight, as pct() writes it, but never at the saturation line
 * (SP_ANA_SATURATED_IN_FLIGHT) when it is below it: 84.8% rounded read "85%", the line the sentence
 * calls saturated, beside a reading that does not (sp_fmt_pct_under: "84.8%"). */
static void in_flight_pct(char *buf, size_t n, double f)
{
    sp_fmt_pct_under(buf, n, f, 0, SP_ANA_SATURATED_IN_FLIGHT);
}

static void dur(char *buf, size_t n, uint64_t ns)
{
    sp_fmt_dur(buf, n, (double)ns);
}

/* Longest stage name the sentence quotes whole; a longer (user-chosen) name is cut with "...". */
#define NAME_MAX_BYTES 64

/* The candidate's stage name, cut at a UTF-8 character boundary when long. */
static const char *stage_name(const sp_verdict_cand *c, char *buf, size_t n)
{
    size_t l = strlen(c->name);
    if (l <= NAME_MAX_BYTES || n < NAME_MAX_BYTES + 4)
        return c->name;
    size_t cut = NAME_MAX_BYTES;
    while (cut > 0 && ((unsigned char)c->name[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(buf, c->name, cut);
    memcpy(buf + cut, "...", 4);
    return buf;
}

/* "prefill " / "decode " for a generation table's device candidates, else "". */
static const char *phase_word(const sp_verdict_cand *c)
{
    return c->phase == SP_CAND_PHASE_PREFILL ? "prefill " : c->phase == SP_CAND_PHASE_DECODE ? "decode " : "";
}

/* What p95 is of: "latency" (DESIGN 8's verdict), or the generation table's figure. */
static const char *metric(const sp_verdict_facts *f)
{
    return f->metric ? f->metric : "latency";
}

/* The candidate as a list names it: "useful kernel" ("useful decode kernel") for useful kernel work,
 * else its stage name. */
static const char *label(const sp_verdict_cand *c, char *buf, size_t n)
{
    if (c->kind != SP_CAND_KERNEL)
        return stage_name(c, buf, n);
    snprintf(buf, n, "useful %skernel", phase_word(c));
    return buf;
}

/* What the leader's time is, as a noun phrase that never names another stage. */
static const char *what(const sp_verdict_cand *c, const sp_verdict_facts *f, char *buf, size_t n)
{
    const char *ph = phase_word(c);
    switch (c->kind) {
    case SP_CAND_QUEUE: return "pre-batch queuing";
    case SP_CAND_PREPROCESS: return "preprocessing";
    case SP_CAND_H2D:
        if (!ph[0])
            return "host-to-device copies";
        snprintf(buf, n, "host-to-device copies in %ssteps", ph);
        return buf;
    case SP_CAND_KERNEL:
        snprintf(buf, n, "useful %skernel execution", ph);
        return buf;
    case SP_CAND_PADDING:
        snprintf(buf, n, "%scompute spent on padding", ph);
        return buf;
    case SP_CAND_GAP:
        if (!ph[0] && f->kernels_unmeasured)
            return "time inside batch windows with no device activity recorded";
        if (f->kernels_unmeasured) {
            snprintf(buf, n, "time inside %ssteps with no device activity recorded", ph);
            return buf;
        }
        if (!ph[0])
            return "device gap inside batch windows";
        snprintf(buf, n, "device gap inside %ssteps", ph);
        return buf;
    case SP_CAND_D2H:
        if (!ph[0])
            return "device-to-host copies";
        snprintf(buf, n, "device-to-host copies in %ssteps", ph);
        return buf;
    case SP_CAND_BETWEEN: return "time between the request's steps";
    case SP_CAND_MODEL_TIME: /* a phase's, or a stage's that holds both (TGI's "inference") */
        if (ph[0])
            snprintf(buf, n, "%stime as a whole", ph);
        else
            snprintf(buf, n, "%s time as a whole", c->name);
        return buf;
    case SP_CAND_POSTPROCESS: return "postprocessing";
    case SP_CAND_NETWORK: return "network and client-side time outside the server";
    case SP_CAND_OTHER: return "time covered by no stage span or batch window";
    case SP_CAND_NAMED:
        /* the Python middleware's measured stalls (docs/python.md, "Event loop stalls") */
        if (c->name && !strcmp(c->name, SP_ANA_EVENT_LOOP_STAGE))
            return "waiting for a blocked asyncio event loop";
        if (c->name && !strcmp(c->name, SP_ANA_EVENT_LOOP_WAIT_STAGE))
            return "waiting for an asyncio event loop whose thread was off the CPU";
        break;
    }
    char l[NAME_MAX_BYTES + 4];
    snprintf(buf, n, "the \"%s\" stage", stage_name(c, l, sizeof l));
    return buf;
}

/* What the leader's time is made of, after its name and group in parentheses; "" for nothing. */
static const char *detail(const sp_verdict_cand *c, const sp_verdict_facts *f, char *buf, size_t n)
{
    char x[16];
    switch (c->kind) {
    case SP_CAND_PADDING:
        pct(x, sizeof x, f->waste_fraction);
        snprintf(buf, n, "%s of computed tokens are padding", x);
        return buf;
    case SP_CAND_QUEUE:
        if (f->queue_past_window) {
            /* the wait past the window is the batcher's, not the window's (sp_ana_queue_past_window) */
            char q[32], w[32];
            dur(q, sizeof q, f->queue_p95_ns);
            dur(w, sizeof w, f->window_ns);
            in_flight_pct(x, sizeof x, f->in_flight);
            snprintf(buf, n, "a queue past the window: its p95 %s, the window %s; batches not full (median %" PRIu64
                     " of %" PRIu64 "), a batch in flight %s of the time", q, w, f->batch_p50, f->max_batch, x);
            return buf;
        }
        if (!f->queue_saturated)
            return "";
        in_flight_pct(x, sizeof x, f->in_flight);
        if (f->queue_refusing) {
            /* the service's own word (503s), with the device idle more than the device rule allows */
            snprintf(buf, n, "a service past its capacity, %.1f%% of requests rejected; a batch is in flight %s of the time",
                     100.0 * (double)f->rejected / (double)f->requests_total, x);
            return buf;
        }
        if (f->in_flight >= SP_ANA_SATURATED_IN_FLIGHT)
            snprintf(buf, n, "behind a saturated device, a batch is in flight %s of the time", x);
        else /* the host is the limit: batches leave full while the device waits between them */
            snprintf(buf, n, "full batches, a queue past the window; a batch is in flight %s of the time", x);
        return buf;
    case SP_CAND_PREPROCESS: return "parsing, tokenisation";
    case SP_CAND_GAP:
        /* no kernel recorded: the window's time is not known to be idle (what() says so), so neither
         * "launch overhead" nor a step's gap fraction ("100% gap: launch-bound") */
        if (f->kernels_unmeasured)
            return "";
        if (c->phase != SP_CAND_PHASE_NONE && f->step_gap[c->phase] > 0) {
            pct(x, sizeof x, f->step_gap[c->phase]);
            /* a decode step that mostly waits on the host is bound by launching its many small
             * kernels; a prefill step's gap is host work around fewer, larger kernels; on the CPU
             * nothing is launched, so the gap is only named */
            snprintf(buf, n, "%ssteps are %s gap%s", phase_word(c), x,
                     c->phase == SP_CAND_PHASE_DECODE && f->step_gap[c->phase] >= 0.5 && !f->device_cpu
                         ? ": launch-bound"
                         : "");
            return buf;
        }
        return "launch overhead, host waits, syncs";
    case SP_CAND_BETWEEN:
        if (f->between_other < 0)
            return "the scheduler and other sequences' steps";
        pct(x, sizeof x, f->between_other);
        snprintf(buf, n, "%s of it while other sequences' steps run", x);
        return buf;
    case SP_CAND_MODEL_TIME: return "the trace does not split it into kernel, gap and copies";
    case SP_CAND_POSTPROCESS: return "de-tokenisation, serialisation";
    default: return "";
    }
}

static int at_least(double share, double cut)
{
    return share + SP_ANA_VERDICT_EPS >= cut;
}

/* Level with the leader: within the band, and large enough to name. */
static int level_with(const sp_verdict_cand *lead, const sp_verdict_cand *c)
{
    return at_least(c->share, SP_ANA_VERDICT_MIN_SHARE) && lead->share - c->share <= SP_ANA_VERDICT_LEVEL_BAND +
                                                                                       SP_ANA_VERDICT_EPS;
}

/* Useful kernel work, gap and padding over every phase (DESIGN 8's "useful kernel time", "gap" and
 * "padding"): one candidate each in the latency verdict, one per phase (prefill, decode) in a
 * generation table, where a TTFT or TPOT can hold steps of both phases and the model's work is the sum
 * (docs/analysis.md, "Thresholds"). */
static double kind_share(const sp_verdict_cand *rank, size_t n, sp_cand_kind kind)
{
    double sum = 0;
    for (size_t k = 0; k < n; k++)
        if (rank[k].kind == kind)
            sum += rank[k].share;
    return sum;
}

/* Whether useful kernel work lies in more than one candidate (a generation table's phases): then the
 * model rule's figure is their sum, which the sentence gives, whatever each phase's own share (a 3%
 * phase is under the naming cut but in the sum). */
static int kernel_phases(const sp_verdict_cand *rank, size_t n)
{
    size_t c = 0;
    for (size_t k = 0; k < n; k++)
        c += rank[k].kind == SP_CAND_KERNEL && rank[k].share > 0;
    return c > 1;
}

/* The leader's share as the sentence writes it, wherever it names the leader: a whole percent, but
 * useful kernel work under the model threshold that whole percents round up to it (49.6% as "50%") is
 * given with its decimal, so the figure and "it is under 50% of p95" agree (with phases the clause
 * gives their sum, with its own decimal). */
static void leader_pct(const sp_verdict_cand *rank, size_t n, char *p, size_t len)
{
    const sp_verdict_cand *c = &rank[0];
    pct(p, len, c->share);
    if (c->kind == SP_CAND_KERNEL && !kernel_phases(rank, n) && !at_least(c->share, SP_ANA_MODEL_MIN_KERNEL_SHARE) &&
        strtod(p, NULL) >= SP_ANA_MODEL_MIN_KERNEL_SHARE * 100.0)
        snprintf(p, len, "%.1f%%", c->share * 100.0);
}

/* "queue 26% and useful kernel 26% of p95 are level (within 5 points); queue ranks first. " The leader
 * is written as the headline writes it (leader_pct): one candidate, one figure. */
static void put_level(sentence *s, const sp_verdict_cand *rank, size_t n)
{
    size_t nl = 0;
    for (size_t k = 1; k < n && level_with(&rank[0], &rank[k]); k++)
        nl++;
    if (!nl)
        return;
    char l[NAME_MAX_BYTES + 4], p[16];
    for (size_t k = 0; k <= nl; k++) {
        if (k == 0)
            leader_pct(rank, n, p, sizeof p);
        else
            pct(p, sizeof p, rank[k].share);
        put(s, "%s%s %s", k == 0 ? "" : k == nl ? " and " : ", ", label(&rank[k], l, sizeof l), p);
    }
    put(s, " of p95 are level (within %.0f points); %s ranks first. ", SP_ANA_VERDICT_LEVEL_BAND * 100.0,
        label(&rank[0], l, sizeof l));
}

int sp_ana_verdict_thin(const sp_verdict_facts *f)
{
    /* outside the analysis: every outcome but ok, or under --outcomes all only the unfinished */
    uint64_t out = f->unfinished + (f->errors_analysed ? 0 : f->rejected + f->errors + f->cancelled);
    return out && f->analysed < SP_ANA_VERDICT_MIN_ANALYSED;
}

/* docs/analysis.md section 6, "Few served requests": what the verdict rests on, first, with the
 * outcomes left out of it. */
static void put_thin(sentence *s, const sp_verdict_facts *f)
{
    if (!sp_ana_verdict_thin(f))
        return;
    put(s, "This verdict rests on %llu %s request%s of %llu (", (unsigned long long)f->analysed,
        f->errors_analysed ? "finished" : "ok", f->analysed == 1 ? "" : "s", (unsigned long long)f->requests_total);
    const struct {
        uint64_t n;
        const char *what;
        int outside_all;
    } left[] = {{f->rejected, "rejected", 0}, {f->errors, "error", 0}, {f->cancelled, "cancelled", 0},
                {f->unfinished, "unfinished", 1}};
    const char *sep = "";
    for (size_t i = 0; i < sizeof left / sizeof left[0]; i++) {
        if (!left[i].n || (f->errors_analysed && !left[i].outside_all))
            continue;
        put(s, "%s%llu %s", sep, (unsigned long long)left[i].n, left[i].what);
        sep = ", ";
    }
    put(s, "), fewer than %d: too few to call the model the bottleneck or rule it out. ", SP_ANA_VERDICT_MIN_ANALYSED);
}

/* The leader: its share, what it is, its name and group, its fix and the p95 saving. */
static void put_leader(sentence *s, const sp_verdict_cand *rank, size_t n, const sp_verdict_facts *f,
                       const char *clause)
{
    const sp_verdict_cand *c = &rank[0];
    char p[16], d[32], w[NAME_MAX_BYTES + 32], l[NAME_MAX_BYTES + 4], x[16], dt[192];
    leader_pct(rank, n, p, sizeof p);
    /* the model's work in more than one phase of a generation table: the rule is on their sum, and
     * the sentence gives it ("useful kernel time in all phases is 89% of p95") */
    const int phases = kernel_phases(rank, n);
    dur(d, sizeof d, c->saving_ns);
    /* the figure the cut is of: "p95" for latency (as ever), "p95 TTFT" for a generation table */
    char cut[32];
    snprintf(cut, sizeof cut, "p95%s%s", f->metric ? " " : "", f->metric ? f->metric : "");
    if (c->kind == SP_CAND_OTHER) {
        put(s, "Instrumentation is missing: %s of p95 %s is covered by no stage span or batch window "
               "(other); add spans for the uncovered work before acting on this report.", p, metric(f));
        /* an asyncio server's blocked loop holds requests between their records (docs/python.md) */
        if (f->event_loop)
            put(s, " In an asyncio server such time is often a blocked event loop (a blocking call in an async "
                   "handler or response generator delays every other request): run blocking work in a thread.");
        return;
    }
    const char *more = detail(c, f, dt, sizeof dt);
    put(s, "%s of p95 %s is %s (%s, %s%s%s)", p, metric(f), what(c, f, w, sizeof w), stage_name(c, l, sizeof l),
        sp_verdict_group_str(c->group), more[0] ? "; " : "", more);
    if (c->kind != SP_CAND_KERNEL) {
        put(s, ": %s", c->fix);
        if (clause && clause[0] && c->group == SP_GROUP_CONFIGURATION)
            put(s, " (what-if: %s)", clause);
        put(s, "; removing it would cut %s by %s.", cut, d);
        return;
    }
    double useful = kind_share(rank, n, SP_CAND_KERNEL);
    if (!sp_ana_verdict_thin(f) && sp_ana_verdict_recommend_model(rank, n)) {
        put(s, ": the model itself is the bottleneck, with ");
        if (phases)
            put(s, "useful kernel time in all phases %.0f%% of p95 and ", useful * 100.0);
        put(s, "device idle time inside batches and compute on pad tokens each under %.0f%% of p95; %s would "
               "help; removing it would cut %s by %s.", SP_ANA_MODEL_MAX_GAP_SHARE * 100.0, c->fix, cut, d);
        return;
    }
    /* Useful kernel work leads but the model thresholds fail: say why a model change is not the
     * first fix, naming only what is large enough to name (gap and padding at 10% or more). */
    put(s, ", the largest candidate; removing it would cut %s by %s. A model change is not the first fix "
           "yet: ", cut, d);
    const char *sep = "";
    if (sp_ana_verdict_thin(f)) {
        put(s, "it rests on %llu %s request%s", (unsigned long long)f->analysed, f->errors_analysed ? "finished" : "ok",
            f->analysed == 1 ? "" : "s");
        sep = "; ";
    }
    if (!at_least(useful, SP_ANA_MODEL_MIN_KERNEL_SHARE)) {
        if (phases) {
            /* the sum with its decimal where whole percents would round it up to the threshold */
            char u[16];
            pct(u, sizeof u, useful);
            if (strtod(u, NULL) >= SP_ANA_MODEL_MIN_KERNEL_SHARE * 100.0)
                snprintf(u, sizeof u, "%.1f%%", useful * 100.0);
            put(s, "useful kernel time in all phases is %s, under %.0f%% of p95", u,
                SP_ANA_MODEL_MIN_KERNEL_SHARE * 100.0);
        } else {
            put(s, "it is under %.0f%% of p95", SP_ANA_MODEL_MIN_KERNEL_SHARE * 100.0);
        }
        sep = "; ";
    }
    /* gap and padding over the phases, where more than one phase has them */
    static const struct {
        sp_cand_kind kind;
        const char *what;
        double limit;
    } summed[] = {{SP_CAND_GAP, "device gap in all phases", SP_ANA_MODEL_MAX_GAP_SHARE},
                  {SP_CAND_PADDING, "padding in all phases", SP_ANA_MODEL_MAX_PADDING_SHARE}};
    for (size_t i = 0; i < 2; i++) {
        double sh = kind_share(rank, n, summed[i].kind);
        int each_under = 1;
        for (size_t k = 1; k < n; k++)
            if (rank[k].kind == summed[i].kind && at_least(rank[k].share, summed[i].limit))
                each_under = 0;
        if (each_under && at_least(sh, summed[i].limit)) {
            /* no phase alone reaches the limit, their sum does: said as the sum */
            put(s, "%s%s is %.1f%% of p95, not under %.0f%%", sep, summed[i].what, sh * 100.0, summed[i].limit * 100.0);
            sep = "; ";
        }
    }
    for (size_t k = 1; k < n; k++) {
        double limit = rank[k].kind == SP_CAND_GAP       ? SP_ANA_MODEL_MAX_GAP_SHARE
                       : rank[k].kind == SP_CAND_PADDING ? SP_ANA_MODEL_MAX_PADDING_SHARE
                                                         : 2.0;
        /* another phase's useful kernel work is the model's too: counted in the sum, never a reason */
        int over = at_least(rank[k].share, limit), level = rank[k].kind != SP_CAND_KERNEL && level_with(c, &rank[k]);
        if (!over && !level)
            continue;
        /* one decimal: 10.1% must not read as "10%, not under 10%" */
        snprintf(x, sizeof x, "%.1f%%", rank[k].share * 100.0);
        put(s, "%s%s is %s of p95, ", sep, label(&rank[k], l, sizeof l), x);
        if (level)
            put(s, "level with it");
        else
            put(s, "not under %.0f%%", limit * 100.0);
        sep = "; ";
    }
    put(s, ".");
}

/* Every later candidate above the list cut-off, in ranking order, with its group and fix. */
static void put_next(sentence *s, const sp_verdict_cand *rank, size_t n)
{
    char p[16], l[NAME_MAX_BYTES + 4];
    size_t listed = 0;
    for (size_t k = 1; k < n; k++) {
        if (!(rank[k].share > SP_ANA_VERDICT_LIST_SHARE + SP_ANA_VERDICT_EPS))
            continue;
        pct(p, sizeof p, rank[k].share);
        put(s, "%s%s %s (%s: %s)", listed ? "; " : " Next: ", label(&rank[k], l, sizeof l), p,
            sp_verdict_group_str(rank[k].group), rank[k].fix);
        listed++;
    }
    if (listed)
        put(s, ".");
}

/* Whether the gap (the batch windows outside steps) is a candidate the sentence may name. */
static int gap_named(const sp_verdict_cand *rank, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rank[i].kind == SP_CAND_GAP && rank[i].phase == SP_CAND_PHASE_NONE &&
            at_least(rank[i].share, SP_ANA_VERDICT_MIN_SHARE))
            return 1;
    return 0;
}

/* A generation table's "not measured" clause (set only where the trace has steps): the compute is
 * inside the steps, which the table shows as its gap rows, named as the table names them in ranking
 * order; none of them 5% of p95 or more: nothing said (the sentence never names one under it). */
static void put_steps_unmeasured(sentence *s, const sp_verdict_cand *rank, size_t n)
{
    size_t named = 0;
    for (size_t i = 0; i < n; i++) {
        if (rank[i].kind != SP_CAND_GAP || !at_least(rank[i].share, SP_ANA_VERDICT_MIN_SHARE))
            continue;
        put(s, "%s%s", named ? ", " : " The model's compute is not measured (the trace records no device compute), "
                                      "so its time cannot be told apart from the steps (", rank[i].name);
        named++;
    }
    if (named)
        put(s, ") that hold it.");
}

/* "The model is not the bottleneck" only when useful kernel time is clearly behind the leader, and
 * never for a queue behind a saturated device (kernel time per request then says nothing about the
 * model) or when instrumentation is missing (the leader is unknown time); in a trace with no kernel
 * at all it says the compute is not measured instead (nothing cleared the model). */
static void put_model(sentence *s, const sp_verdict_cand *rank, size_t n, const sp_verdict_facts *f)
{
    const sp_verdict_cand *lead = &rank[0];
    if (sp_ana_verdict_thin(f)) /* the prefix says why neither */
        return;
    if (lead->kind == SP_CAND_KERNEL || lead->kind == SP_CAND_OTHER || lead->kind == SP_CAND_MODEL_TIME ||
        (lead->kind == SP_CAND_QUEUE && f->queue_saturated && !f->queue_refusing))
        return;
    /* model time the trace does not split (vLLM's spans) may be all compute or all gap: no claim */
    for (size_t i = 1; i < n; i++)
        if (rank[i].kind == SP_CAND_MODEL_TIME && at_least(rank[i].share, SP_ANA_VERDICT_MIN_SHARE))
            return;
    const sp_verdict_cand *k = NULL;
    for (size_t i = 1; i < n && !k; i++)
        if (rank[i].kind == SP_CAND_KERNEL)
            k = &rank[i];
    /* every phase's useful kernel work: prefill 30% and decode 25% behind a 40% queue are 55% of
     * the model's, not innocent */
    double useful = kind_share(rank, n, SP_CAND_KERNEL);
    int phases = kernel_phases(rank, n);
    double behind = lead->share - useful;
    if (behind + SP_ANA_VERDICT_EPS < SP_ANA_VERDICT_MODEL_MARGIN)
        return;
    char p[16], l[NAME_MAX_BYTES + 4];
    if (f->kernels_unmeasured) {
        /* no kernel in the trace: "under 5%" would be a figure nobody measured (e.g. vLLM's spans,
         * whose decode and prefill stages are the model's compute as a whole); with batch windows
         * the compute is inside them, counted as gap, and a gap leader already says so */
        if (lead->kind == SP_CAND_GAP)
            return;
        if (f->metric) {
            put_steps_unmeasured(s, rank, n);
            return;
        }
        put(s, " The model's compute is not measured (the trace records no device compute), so its time cannot "
               "be told apart from the %s that hold it.", gap_named(rank, n) ? "batch windows (gap)" : "named stages");
        return;
    }
    if (!k || !at_least(useful, SP_ANA_VERDICT_MIN_SHARE)) {
        put(s, " The model is not the bottleneck: its compute is under %.0f%% of p95.",
            SP_ANA_VERDICT_MIN_SHARE * 100.0);
        return;
    }
    pct(p, sizeof p, useful);
    /* the distance is the difference of the two whole percents the sentence states (the leader's in
     * put_leader: a leader given with a decimal is useful kernel work, which never gets this clause),
     * so that "50% ... 28% of p95, 22 points below" adds up; rounding the exact distance (21.4) could
     * say 21 beside them. The margin above is still on the exact shares. */
    char lp[16];
    pct(lp, sizeof lp, lead->share);
    double points = strtod(lp, NULL) - strtod(p, NULL);
    char kl[NAME_MAX_BYTES + 4];
    put(s, " The model is not the bottleneck: %s time%s is %s of p95, %.0f points below %s.",
        phases ? "useful kernel" : label(k, kl, sizeof kl), phases ? " in all phases" : "", p, points,
        label(lead, l, sizeof l));
}

/* DESIGN 8a: a service that refuses requests looks fast to the ones it serves. From
 * SP_REJECTION_SIGNIFICANT of all requests on, the sentence says so, with the count. */
static int rejecting(const sp_verdict_facts *f)
{
    return sp_outcome_significant(f->rejected, f->requests_total);
}

static void put_rejections(sentence *s, const sp_verdict_facts *f, int served)
{
    if (!rejecting(f))
        return;
    put(s, " Requests are being rejected: %.1f%% of all requests (%llu of %llu) were refused",
        100.0 * (double)f->rejected / (double)f->requests_total, (unsigned long long)f->rejected,
        (unsigned long long)f->requests_total);
    if (served)
        put(s, ", so the latency of the served requests understates the problem");
    put(s, "; the service needs more capacity (replicas or workers) before latency tuning pays.");
}

/* DESIGN 8a: requests answered with an error are outside the analysed set (unless the scope is
 * every finished request), so a service failing many of them reads as healthy in the latency. From
 * SP_REJECTION_SIGNIFICANT of all requests on, the sentence says how many failed, that the figure
 * describes only the served requests (when some were served and the errors are not in the scope), and
 * that the failures come first (docs/analysis.md section 6, "Errors"); cancelled requests have their
 * own clause (put_cancellations), unfinished ones none. */
static void put_errors(sentence *s, const sp_verdict_facts *f, int served)
{
    if (!sp_outcome_significant(f->errors, f->requests_total))
        return;
    put(s, " Requests are failing: %.1f%% of all requests (%llu of %llu) ended in an error",
        100.0 * (double)f->errors / (double)f->requests_total, (unsigned long long)f->errors,
        (unsigned long long)f->requests_total);
    if (served && !f->errors_analysed)
        put(s, ", so this %s describes only the served requests", metric(f));
    put(s, "; fix the failures first (the report's outcomes table gives their statuses and latency).");
}

/* DESIGN 8a: the clients of cancelled requests stopped waiting, so the analysed figures (ok requests)
 * leave them out; a time-out cancels the slowest. From SP_REJECTION_SIGNIFICANT of all requests on,
 * the sentence says how many, their latency p50 and, for end-to-end latency, whether it is past the
 * served p95 (docs/analysis.md section 6, "Cancellations"). The clients' time-outs on requests the
 * server answered ok (a merged client trace's; a server not told of a client that left, aiohttp's,
 * records them ok with its own time) are clients that gave up too: they count toward the 1% and the
 * share, and the clause says how many and that they are in the figures as ok. */
static void put_cancellations(sentence *s, const sp_verdict_facts *f)
{
    uint64_t gave_up = f->cancelled + f->timed_out_ok;
    if (!sp_outcome_significant(gave_up, f->requests_total))
        return;
    char p50[32], p95[32];
    put(s, " Clients gave up on %.1f%% of all requests (", 100.0 * (double)gave_up / (double)f->requests_total);
    if (!f->cancelled) {
        put(s, "the server answered %llu of %llu only after their clients had timed out, per the client trace, "
               "and counts them ok with its own time)", (unsigned long long)f->timed_out_ok,
            (unsigned long long)f->requests_total);
        put(s, "; if the clients timed out, raise their timeout or cut the latency the table shows.");
        return;
    }
    put(s, "%llu of %llu were cancelled", (unsigned long long)f->cancelled, (unsigned long long)f->requests_total);
    int slowest = 0;
    if (f->cancelled_timed) {
        dur(p50, sizeof p50, f->cancelled_p50_ns);
        put(s, ", their latency p50 %s", p50);
        if (!f->metric && !f->errors_analysed && f->analysed && f->cancelled_p50_ns > f->analysed_p95_ns) {
            dur(p95, sizeof p95, f->analysed_p95_ns);
            put(s, ", past the served p95 of %s", p95);
            slowest = 1;
        }
    }
    if (f->errors_analysed)
        put(s, "); their latency here ends where their clients gave up, short of what the service would have taken");
    else if (slowest)
        put(s, "), so the %s percentiles leave out the slowest requests, whose clients gave up", metric(f));
    else
        put(s, "), which the %s percentiles leave out", metric(f));
    if (f->timed_out_ok)
        put(s, ", and the server answered %llu more only after their clients had timed out, per the client "
               "trace, and counts them ok with its own time", (unsigned long long)f->timed_out_ok);
    put(s, "; if the clients timed out, raise their timeout or cut the latency the table shows.");
}

int sp_ana_verdict_recommend_model(const sp_verdict_cand *rank, size_t n)
{
    /* DESIGN section 8 thresholds, docs/analysis.md section 6: useful kernel time (every phase's) leads
     * and dominates, gap and padding (every phase's) are each small */
    if (!n || rank[0].kind != SP_CAND_KERNEL ||
        !at_least(kind_share(rank, n, SP_CAND_KERNEL), SP_ANA_MODEL_MIN_KERNEL_SHARE))
        return 0;
    if (at_least(kind_share(rank, n, SP_CAND_GAP), SP_ANA_MODEL_MAX_GAP_SHARE) ||
        at_least(kind_share(rank, n, SP_CAND_PADDING), SP_ANA_MODEL_MAX_PADDING_SHARE))
        return 0;
    /* another phase's useful kernel work level with the leader is more of the model's work, not a rival */
    for (size_t k = 1; k < n; k++)
        if (rank[k].kind != SP_CAND_KERNEL && level_with(&rank[0], &rank[k]))
            return 0;
    return 1;
}

size_t sp_ana_verdict_render(const sp_verdict_cand *rank, size_t n, const sp_verdict_facts *f,
                             const char *leader_clause, char *buf, size_t len)
{
    sentence s = {buf, len, 0};
    if (len)
        buf[0] = '\0';
    if (!n || !(rank[0].share > 0)) {
        put(&s, "The requests around p95 took no measurable time: there is nothing to attribute.");
        return s.need;
    }
    put_thin(&s, f);
    put_level(&s, rank, n);
    put_leader(&s, rank, n, f, leader_clause);
    put_next(&s, rank, n);
    put_model(&s, rank, n, f);
    put_rejections(&s, f, 1);
    put_errors(&s, f, 1);
    put_cancellations(&s, f);
    return s.need;
}

size_t sp_ana_verdict_render_unserved(const uint64_t counts[SP_OUTCOME_COUNT], const sp_verdict_facts *f,
                                      char *buf, size_t len)
{
    sentence s = {buf, len, 0};
    if (len)
        buf[0] = '\0';
    uint64_t total = 0;
    for (int o = 0; o < SP_OUTCOME_COUNT; o++)
        total += counts[o];
    put(&s, "No request to analyse: of %llu %s, ", (unsigned long long)total, total == 1 ? "request" : "requests");
    const char *sep = "";
    for (int o = 0; o < SP_OUTCOME_COUNT; o++) {
        if (!counts[o])
            continue;
        put(&s, "%s%llu %s", sep, (unsigned long long)counts[o], sp_outcome_str((sp_outcome)o));
        sep = ", ";
    }
    put(&s, "; there is no latency to attribute.");
    put_rejections(&s, f, 0);
    put_errors(&s, f, 0);
    return s.need;
}
