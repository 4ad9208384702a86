/* Compiled only with the MPI trait (`swift build --traits MPI`): `swift build` compiles every
 * target of the package, and a machine without MPI has no mpi.h. */
#ifdef VAE_FACES_MPI
#include "CMPIShim.h"
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int mpishim_init(int *provided) {
    int level = MPI_THREAD_SINGLE;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &level);
    if (rc != MPI_SUCCESS) return rc;
    *provided = level >= MPI_THREAD_FUNNELED;
    return MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

int mpishim_finalize(void) { return MPI_Finalize(); }

int mpishim_is_active(void) {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    return initialized && !finalized;
}

int mpishim_rank(int *rank) { return MPI_Comm_rank(MPI_COMM_WORLD, rank); }

int mpishim_size(int *size) { return MPI_Comm_size(MPI_COMM_WORLD, size); }

int mpishim_local_size(int *size) {
    MPI_Comm node;
    int rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS) return rc;
    rc = MPI_Comm_size(node, size);
    MPI_Comm_free(&node);
    return rc;
}

/* MPI counts are ints: a longer buffer goes in pieces of at most INT_MAX elements. */
static int allreduce(void *buffer, long count, MPI_Datatype type, size_t element) {
    char *p = buffer;
    while (count > 0) {
        int n = count > INT_MAX ? INT_MAX : (int)count;
        int rc = MPI_Allreduce(MPI_IN_PLACE, p, n, type, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        p += (size_t)n * element;
        count -= n;
    }
    return MPI_SUCCESS;
}

int mpishim_allreduce_sum_float(float *buffer, long count) {
    return allreduce(buffer, count, MPI_FLOAT, sizeof(float));
}

int mpishim_allreduce_sum_double(double *buffer, long count) {
    return allreduce(buffer, count, MPI_DOUBLE, sizeof(double));
}

int mpishim_broadcast(void *buffer, long bytes, int root) {
    char *p = buffer;
    while (bytes > 0) {
        int n = bytes > INT_MAX ? INT_MAX : (int)bytes;
        int rc = MPI_Bcast(p, n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return rc;
        p += n;
        bytes -= n;
    }
    return MPI_SUCCESS;
}

int mpishim_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }

void mpishim_abort(int code) {
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

void mpishim_error_string(int code, char *text, int capacity) {
    char buffer[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, buffer, &length) != MPI_SUCCESS) {
        snprintf(text, (size_t)capacity, "MPI error %d", code);
        return;
    }
    snprintf(text, (size_t)capacity, "%.*s", length, buffer);
}
#endif
