/* OpenBLAS's cblas.h also declares openblas_set_num_threads, openblas_get_corename, ... */
#include <cblas.h>

/* LAPACK, which libopenblas also exports (no lapack.h is installed with it): the symmetric
 * eigensolver of the FID's matrix square root. Fortran calling convention: every argument by
 * pointer, then the hidden lengths of the two character arguments. */
#include <stddef.h>
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_length, size_t uplo_length);
