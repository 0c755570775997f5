/* OpenBLAS, opened at run time by the CPU model (src/serve/blas.c): the types and enums come from
 * cblas.h, the functions through pointers set by sp_blas_open. */
#ifndef SP_SERVE_BLAS_INT_H
#define SP_SERVE_BLAS_INT_H

#include <cblas.h>
#include <stddef.h>

#include "servprof/servprof.h"

/* cblas_sgemm of the OpenBLAS that sp_blas_open opened; NULL before it succeeds. The encoder and
 * decoder call it only on models built after sp_blas_open (their create and load functions open it). */
extern __typeof__(cblas_sgemm) *sp_cblas_sgemm;

/* Opens OpenBLAS once per process (thread-safe; later calls return the first call's result) and stops
 * the threads its constructor started. SP_ERR_UNSUPPORTED with a message naming the library when it
 * cannot be opened. */
sp_status sp_blas_open(char *err, size_t errlen);

/* openblas_set_num_threads when OpenBLAS is open and has it; nothing otherwise. */
void sp_blas_set_threads(int n);

#endif
