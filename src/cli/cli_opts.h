/* Option parsing shared by every subcommand: numbers with ranges, lists, choices, the arrival spec,
 * and the one wording of a usage error. Each parser prints one line on standard error naming the
 * command, the option, the value and what is accepted ("servprof serve: --port: expected an integer
 * in [0, 65535], got '70000'") and returns false; the caller then exits 2. Out-parameters are
 * written only on success. */
#ifndef SERVPROF_CLI_OPTS_H
#define SERVPROF_CLI_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "servprof/servprof.h"
#include "servprof/load.h"

#if defined(__GNUC__)
#define SP_CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SP_CLI_PRINTF(a, b)
#endif

/* An integer in [lo, hi] (decimal digits only: no sign, no fraction, no suffix). */
bool sp_cli_uint(const char *cmd, const char *opt, const char *s, unsigned lo, unsigned hi, unsigned *out);
bool sp_cli_u64(const char *cmd, const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* A finite number in [lo, hi], written as decimal digits with at most a '.' and an exponent ("2.5", "1e3"):
 * no blanks, no '+', no hexadecimal, no subnormals, a '-' only when lo < 0 (so "-0" is refused where
 * negatives are). */
bool sp_cli_number(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);
/* A finite number in (0, hi]: prices, rates, timeouts. */
bool sp_cli_positive(const char *cmd, const char *opt, const char *s, double hi, double *out);

/* --price-per-hour: an instance price in dollars per hour, in (0, SP_MAX_PRICE_PER_HOUR], the bound
 * the recorder and the trace readers apply too (include/servprof/servprof.h says why). */
#define SP_CLI_MAX_PRICE_PER_HOUR SP_MAX_PRICE_PER_HOUR
bool sp_cli_price(const char *cmd, const char *s, double *out);

/* A comma-separated list of 1 to `cap` integers, each in [lo, hi], strictly ascending when
 * `ascending`; *n gets the count. out[] may be partly written on failure. */
bool sp_cli_uint_list(const char *cmd, const char *opt, const char *s, unsigned lo, unsigned hi, bool ascending,
                      unsigned *out, size_t cap, size_t *n);

/* One of the n words in `names`; *index gets its position. */
bool sp_cli_choice(const char *cmd, const char *opt, const char *s, const char *const *names, size_t n,
                   size_t *index);

/* An arrival spec: poisson | constant | gamma:CV (CV in [0.001, SP_LOAD_MAX_GAMMA_CV]) | replay:FILE (only when
 * allow_replay). *gamma_cv is written for gamma:CV and *replay_path (borrowing s) for replay:FILE. */
bool sp_cli_arrival(const char *cmd, const char *opt, const char *s, bool allow_replay, sp_load_arrival *kind,
                    double *gamma_cv, const char **replay_path);

/* Prepares getopt_long for a subcommand's argv (argv[0] is the subcommand's name): GNU getopt
 * starts over when optind is 0, and getopt's own messages are off (sp_cli_option_error speaks). */
void sp_cli_getopt_begin(void);

/* "--NAME" of long option `index` (getopt_long's longindex; -1 gives "option") into buf. */
const char *sp_cli_long_name(const struct option *longopts, int index, char *buf, size_t len);

/* Reports, in one line ending with "(see servprof CMD --help)", what getopt_long meant by returning
 * '?' (unknown or ambiguous option, a value given to an option that takes none) or ':' (an option's
 * value is missing). Returns 2, the usage-error exit status. The optstring must start with ':'. */
int sp_cli_option_error(const char *cmd, int c, int argc, char **argv, const struct option *longopts);

/* Prints "servprof CMD: MESSAGE (see servprof CMD --help)" and returns 2. */
int sp_cli_usage_error(const char *cmd, const char *fmt, ...) SP_CLI_PRINTF(2, 3);

#endif
