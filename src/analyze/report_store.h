/* The report object's storage (report_store.c): how sp_analyze allocates an sp_report and how anything
 * that fills one (the analysis stages, the what-if verdict quote) gives it strings it owns. This is
 * the one door into a report's memory; sp_report_destroy (analyze.h) frees all of it. */
#ifndef SERVPROF_REPORT_STORE_H
#define SERVPROF_REPORT_STORE_H

#include "servprof/analyze.h"

/* A new, zeroed report whose owned storage is empty; NULL on allocation failure. Free it with
 * sp_report_destroy. */
sp_report *sp_report_new(void);

/* Attaches an empty detail (sp_report_detail) to `r` and returns it, or NULL on allocation failure.
 * Arrays the stages then hang on it are theirs to malloc; sp_report_destroy frees them. */
sp_report_detail *sp_report_keep_detail(sp_report *r);

/* Copies `s` into storage the report owns (freed by sp_report_destroy); NULL on allocation failure. */
const char *sp_report_strdup(sp_report *r, const char *s);

#endif
