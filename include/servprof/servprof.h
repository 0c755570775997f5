/* servprof: public umbrella header. Status codes, export macro and the log callback shared by the
 * recording library (trace.h), the event model and importers (events.h) and the analyzer (analyze.h). */
#ifndef SERVPROF_SERVPROF_H
#define SERVPROF_SERVPROF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SERVPROF_BUILDING) && defined(__GNUC__)
#define SP_API __attribute__((visibility("default")))
#else
#define SP_API
#endif

/* The version of these headers. CMake reads the project's version from these three lines, so they
 * are the one place it is set. sp_version() tells which version of the library a program runs
 * with (a shared library may be newer than the headers the program was built with). */
#define SP_VERSION_MAJOR 0
#define SP_VERSION_MINOR 2
#define SP_VERSION_PATCH 0
#define SP_VERSION_STRINGIFY_(x) #x
#define SP_VERSION_STRINGIFY(x) SP_VERSION_STRINGIFY_(x)
#define SP_VERSION_STRING                                                                        \
    SP_VERSION_STRINGIFY(SP_VERSION_MAJOR) "." SP_VERSION_STRINGIFY(SP_VERSION_MINOR) "."        \
    SP_VERSION_STRINGIFY(SP_VERSION_PATCH)
/* One integer that orders versions: major x 10000 + minor x 100 + patch. */
#define SP_VERSION_NUMBER (SP_VERSION_MAJOR * 10000 + SP_VERSION_MINOR * 100 + SP_VERSION_PATCH)

/* Every fallible call returns one of these. SP_OK is 0; sp_status_str() names each. */
typedef enum sp_status {
    SP_OK = 0,
    SP_ERR_NOMEM,       /* an allocation failed or a hard size cap was reached */
    SP_ERR_IO,          /* a file could not be opened, read or written */
    SP_ERR_PARSE,       /* input is malformed; the error message says where and what */
    SP_ERR_FORMAT,      /* input is not in any format servprof reads, or an unsupported version */
    SP_ERR_INVALID,     /* an argument is out of range or inconsistent */
    SP_ERR_STATE,       /* the call is not allowed in the object's current state */
    SP_ERR_UNSUPPORTED, /* a feature that was compiled out or is not available on this machine */
    SP_ERR_LIMIT        /* input exceeds a documented limit (events, string length, nesting) */
} sp_status;

/* Static, never NULL. */
SP_API const char *sp_status_str(sp_status status);

/* The library's own version, "MAJOR.MINOR.PATCH" (static, never NULL), and as SP_VERSION_NUMBER
 * computes it. Compare with the SP_VERSION_* macros to detect a program built against other headers. */
SP_API const char *sp_version(void);
SP_API unsigned sp_version_number(void);

/* The highest instance price anything accepts (--price-per-hour, a recorder's option, a trace's meta
 * price or OTLP resource price, a report's cost.price_per_hour that servprof diff reads, a replica's
 * servprof_price_per_hour in the fleet report), in dollars per hour: no instance rents for more than a
 * million dollars an hour, so a larger price is a typo or a corrupt file, and with this bound every bill over a window a trace can hold
 * (< 2^64 ns, about 5.1e6 hours) stays finite and printable. */
#define SP_MAX_PRICE_PER_HOUR 1e6

/* Trace properties: facts about the traced service that a trace carries beside its events, such as
 * its device ("device": "cpu" or "cuda") and its batching policy ("policy.max_batch": "16", ...);
 * docs/native-format.md "Properties" lists the keys servprof reads. Keys are 1..SP_PROP_MAX_KEY bytes
 * of [A-Za-z0-9._-], values at most SP_PROP_MAX_VALUE bytes of text, at most SP_PROP_MAX_KEYS keys in
 * one trace. */
#define SP_PROP_MAX_KEY 255u
#define SP_PROP_MAX_VALUE 4095u
#define SP_PROP_MAX_KEYS 64u

/* Log levels for the library's diagnostics. The library never prints by itself. */
typedef enum sp_log_level { SP_LOG_DEBUG = 0, SP_LOG_INFO, SP_LOG_WARN, SP_LOG_ERROR } sp_log_level;

/* Diagnostics callback. `message` is borrowed for the duration of the call. May be called from any
 * thread, including the recorder's writer thread: the callback must be thread-safe. */
typedef void (*sp_log_fn)(void *user, sp_log_level level, const char *message);

/* Sets the process-wide log callback (NULL: diagnostics are discarded). Not thread-safe against
 * concurrent calls of itself; set it once at start-up. */
SP_API void sp_set_log(sp_log_fn fn, void *user);

/* Writes the callback and user pointer sp_set_log last set (NULL when none) into *fn and *user
 * (either may be NULL). For servprof's add-on libraries (the CUPTI collector), which report
 * through the process's one callback rather than keep their own. Same thread-safety as sp_set_log. */
SP_API void sp_get_log(sp_log_fn *fn, void **user);

/* The one clock servprof uses: CLOCK_MONOTONIC in integer nanoseconds. */
SP_API uint64_t sp_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif
