/* The option parsers and usage-error messages every subcommand shares (cli_opts.h), so that
 * `--max-batch 0` reads the same in serve, demo, synth and whatif. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"

int sp_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "servprof %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see servprof %s --help)\n", cmd);
    return 2;
}

/* Decimal digits only, then the value; false on anything else or overflow. */
static bool digits_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false; /* strtoull would accept blanks, '+' and '-' */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool sp_cli_u64(const char *cmd, const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v;
    if (!digits_u64(s, &v) || v < lo || v > hi) {
        fprintf(stderr, "servprof %s: %s: expected an integer in [%" PRIu64 ", %" PRIu64 "], got '%s'\n", cmd, opt,
                lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool sp_cli_uint(const char *cmd, const char *opt, const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    uint64_t v;
    if (!sp_cli_u64(cmd, opt, s, lo, hi, &v))
        return false;
    *out = (unsigned)v;
    return true;
}

/* A decimal number written plainly: digits with at most a '.' and an exponent, a leading '-' only
 * when `negative` (so no "-0" where negatives are refused). strtod alone would also take leading
 * blanks, a '+', hexadecimal ("0x10"), "inf" and "nan"; ERANGE refuses subnormals ("1e-308"). */
static bool finite_number(const char *s, bool negative, double *out)
{
    const char *p = s;
    if (negative && *p == '-')
        p++;
    if (!((*p >= '0' && *p <= '9') || *p == '.') || s[strspn(s, "0123456789.eE+-")] != '\0')
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v))
        return false;
    *out = v;
    return true;
}

bool sp_cli_number(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out)
{
    double v;
    if (!finite_number(s, lo < 0, &v) || v < lo || v > hi) {
        fprintf(stderr, "servprof %s: %s: expected a number in [%.15g, %.15g], got '%s'\n", cmd, opt, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool sp_cli_positive(const char *cmd, const char *opt, const char *s, double hi, double *out)
{
    double v;
    if (!finite_number(s, false, &v) || !(v > 0) || v > hi) {
        fprintf(stderr, "servprof %s: %s: expected a number in (0, %.15g], got '%s'\n", cmd, opt, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool sp_cli_price(const char *cmd, const char *s, double *out)
{
    return sp_cli_positive(cmd, "--price-per-hour", s, SP_CLI_MAX_PRICE_PER_HOUR, out);
}

bool sp_cli_uint_list(const char *cmd, const char *opt, const char *s, unsigned lo, unsigned hi, bool ascending,
                      unsigned *out, size_t cap, size_t *n)
{
    size_t k = 0;
    const char *p = s;
    for (;;) {
        size_t len = strcspn(p, ",");
        char tok[32];
        uint64_t v = 0;
        bool bad = len == 0 || len >= sizeof tok || k == cap;
        if (!bad) {
            memcpy(tok, p, len);
            tok[len] = '\0';
            bad = !digits_u64(tok, &v) || v < lo || v > hi || (ascending && k > 0 && v <= out[k - 1]);
        }
        if (bad) {
            fprintf(stderr, "servprof %s: %s: expected 1 to %zu%s integers in [%u, %u] separated by commas, got '%s'\n",
                    cmd, opt, cap, ascending ? " ascending" : "", lo, hi, s);
            return false;
        }
        out[k++] = (unsigned)v;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    *n = k;
    return true;
}

bool sp_cli_choice(const char *cmd, const char *opt, const char *s, const char *const *names, size_t n,
                   size_t *index)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *index = i;
            return true;
        }
    }
    fprintf(stderr, "servprof %s: %s: expected ", cmd, opt);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
    fprintf(stderr, ", got '%s'\n", s);
    return false;
}

bool sp_cli_arrival(const char *cmd, const char *opt, const char *s, bool allow_replay, sp_load_arrival *kind,
                    double *gamma_cv, const char **replay_path)
{
    if (strcmp(s, "poisson") == 0) {
        *kind = SP_LOAD_ARRIVAL_POISSON;
        return true;
    }
    if (strcmp(s, "constant") == 0) {
        *kind = SP_LOAD_ARRIVAL_CONSTANT;
        return true;
    }
    if (strncmp(s, "gamma:", 6) == 0) {
        char name[96];
        snprintf(name, sizeof name, "%s gamma:CV", opt);
        if (!sp_cli_number(cmd, name, s + 6, 1e-3, SP_LOAD_MAX_GAMMA_CV, gamma_cv))
            return false;
        *kind = SP_LOAD_ARRIVAL_GAMMA;
        return true;
    }
    if (allow_replay && strncmp(s, "replay:", 7) == 0 && s[7]) {
        *kind = SP_LOAD_ARRIVAL_REPLAY;
        *replay_path = s + 7;
        return true;
    }
    fprintf(stderr, "servprof %s: %s: expected poisson, constant%s, got '%s'\n", cmd, opt,
            allow_replay ? ", gamma:CV or replay:FILE" : " or gamma:CV", s);
    return false;
}

void sp_cli_getopt_begin(void)
{
    optind = 0;
    opterr = 0;
}

const char *sp_cli_long_name(const struct option *longopts, int index, char *buf, size_t len)
{
    if (index < 0)
        snprintf(buf, len, "option");
    else
        snprintf(buf, len, "--%s", longopts[index].name);
    return buf;
}

/* Long options whose name starts with the `n` bytes of `name`; *exact gets an exact match. */
static int long_matches(const struct option *longopts, const char *name, size_t n, const struct option **first,
                        const struct option **exact)
{
    int count = 0;
    *first = *exact = NULL;
    for (const struct option *o = longopts; o->name; o++) {
        if (strncmp(o->name, name, n) != 0)
            continue;
        if (strlen(o->name) == n)
            *exact = o;
        if (!*first)
            *first = o;
        count++;
    }
    return count;
}

int sp_cli_option_error(const char *cmd, int c, int argc, char **argv, const struct option *longopts)
{
    const char *arg = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "";
    bool is_long = strncmp(arg, "--", 2) == 0 && arg[2];
    const char *name = is_long ? arg + 2 : "";
    size_t n = strcspn(name, "=");
    if (c == ':') {
        if (is_long)
            return sp_cli_usage_error(cmd, "option '--%.*s' needs a value", (int)n, name);
        return sp_cli_usage_error(cmd, "option '-%c' needs a value", optopt);
    }
    /* glibc sets optopt to 0 for an unknown or ambiguous long option, and to the option's value when
     * a long option that takes no value was given one; else it is the unknown short option. */
    if (is_long && (optopt == 0 || name[n] == '=')) {
        const struct option *first, *exact;
        int count = long_matches(longopts, name, n, &first, &exact);
        const struct option *o = exact ? exact : count == 1 ? first : NULL;
        if (o && name[n] == '=' && o->has_arg == no_argument)
            return sp_cli_usage_error(cmd, "option '--%s' takes no value", o->name);
        if (count > 1 && !exact) {
            fprintf(stderr, "servprof %s: ambiguous option '--%.*s' (", cmd, (int)n, name);
            int k = 0;
            for (const struct option *x = longopts; x->name; x++)
                if (strncmp(x->name, name, n) == 0)
                    fprintf(stderr, "%s--%s", k++ ? ", " : "", x->name);
            fprintf(stderr, "; see servprof %s --help)\n", cmd);
            return 2;
        }
        return sp_cli_usage_error(cmd, "unknown option '--%.*s'", (int)n, name);
    }
    if (optopt > 0 && optopt < 256)
        return sp_cli_usage_error(cmd, "unknown option '-%c'", optopt);
    return sp_cli_usage_error(cmd, "unknown option '%s'", arg);
}
