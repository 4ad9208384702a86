#ifndef CMPISHIM_H
#define CMPISHIM_H

/* The MPI calls of data-parallel training, on MPI_COMM_WORLD, with plain C types only.
 * MPI's handles (MPI_Comm, MPI_Datatype, MPI_Op) are pointers in Open MPI and integers in MPICH,
 * and mostly macros that Swift cannot import; behind these functions one Swift source works with
 * both. Every function returns an MPI error code (MPI_SUCCESS = 0) unless it says otherwise. */

/* MPI_Init_thread asking for MPI_THREAD_FUNNELED (collectives come from the main thread; worker
 * threads never call MPI); errors on MPI_COMM_WORLD are returned, not fatal. `provided` gets the
 * granted level: 1 if it is at least FUNNELED, else 0. */
int mpishim_init(int *provided);
int mpishim_finalize(void);
/* Whether MPI_Init has been called and MPI_Finalize has not (1 or 0). */
int mpishim_is_active(void);

int mpishim_rank(int *rank);
int mpishim_size(int *size);
/* Processes of MPI_COMM_WORLD on this node (MPI_Comm_split_type MPI_COMM_TYPE_SHARED). */
int mpishim_local_size(int *size);

/* In-place sums over all ranks (MPI_Allreduce with MPI_IN_PLACE, MPI_SUM). */
int mpishim_allreduce_sum_float(float *buffer, long count);
int mpishim_allreduce_sum_double(double *buffer, long count);
/* `bytes` bytes from rank `root` to every rank. */
int mpishim_broadcast(void *buffer, long bytes, int root);
int mpishim_barrier(void);

/* MPI_Abort on MPI_COMM_WORLD: ends every rank of the job with `code`. Does not return. */
__attribute__((noreturn)) void mpishim_abort(int code);
/* MPI's text for an error code, into `text` (at most `capacity` bytes, NUL-terminated). */
void mpishim_error_string(int code, char *text, int capacity);

#endif
