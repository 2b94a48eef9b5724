/*
 * npy.h -- reading and writing NumPy .npy files, just what the moeroute CLI needs.
 *
 * Read: format versions 1.0, 2.0 and 3.0; little-endian; C or Fortran order; dtypes float16 '<f2',
 * float32 '<f4', int8 '|i1', int32 '<i4', int64 '<i8' and uint16 '<u2' (the CLI's carrier of raw bfloat16 bits).
 * Write: format version 1.0, C order, the same dtypes.
 *
 * Files come from users and scripts, so every header field is validated and every size is computed with
 * overflow checks before anything is allocated or read; a malformed file gives a message naming the file
 * and what is wrong, never a crash.
 */
#ifndef MOEROUTE_CLI_NPY_H
#define MOEROUTE_CLI_NPY_H

#include <stddef.h>
#include <stdint.h>

/* The element types the CLI accepts. */
typedef enum npy_dtype {
    NPY_DT_F2 = 0, /* '<f2' float16                 */
    NPY_DT_F4,     /* '<f4' float32                 */
    NPY_DT_I1,     /* '|i1' int8                    */
    NPY_DT_I4,     /* '<i4' int32                   */
    NPY_DT_U2,     /* '<u2' uint16: raw bf16 bits    */
    NPY_DT_I8,     /* '<i8' int64 (token counts)     */
    NPY_DT_B1      /* '|b1' bool (finished rows)     */
} npy_dtype;

/* Result codes: everything that is not NPY_OK is a file, I/O, format or memory problem (CLI exit 3). */
typedef enum npy_result {
    NPY_OK = 0,
    NPY_ERR_IO,      /* cannot open / read / write / rename                                  */
    NPY_ERR_FORMAT,  /* not a valid .npy file, or one this reader does not support          */
    NPY_ERR_DTYPE,   /* a valid .npy file whose dtype is not one of the seven above         */
    NPY_ERR_NOMEM    /* allocation failed                                                    */
} npy_result;

/* numpy itself never writes more dimensions than this (NPY_MAXDIMS was 32 for numpy < 2, 64 since). */
#define NPY_MAX_NDIM 64

typedef struct npy_array {
    npy_dtype dtype;
    size_t itemsize;
    int ndim;
    int64_t shape[NPY_MAX_NDIM];
    int fortran_order; /* 1: element (i0, i1, ...) at i0 + shape0 * (i1 + shape1 * ...)               */
    size_t count;      /* number of elements (product of shape)                                         */
    size_t nbytes;     /* count * itemsize                                                               */
    void *data;        /* malloc'd, never NULL after a successful read (1 byte for empty arrays)        */
    char descr[32];    /* the descr string as found in the file, for messages                           */
} npy_array;

/* The canonical descr of a dtype: "<f2", "<f4", "|i1", "<i4", "<u2", "<i8", "|b1". */
const char *npy_dtype_descr(npy_dtype dt);

/* Read path into *out (zeroed first). On failure *out holds nothing to free and err gets a message that
 * starts with the path. */
npy_result npy_read(const char *path, npy_array *out, char *err, size_t errlen);

/* Write a C-order array as format 1.0 to a new file: path must not exist (O_EXCL). shape has ndim (<= 8)
 * non-negative entries whose product times the itemsize is the byte count of data (data may be NULL when
 * that is 0). On failure the file is removed. The CLI writes every output this way under a temporary name
 * and renames the whole set into place at the end (cli_write_output, cli_commit_outputs). */
npy_result npy_write_new(const char *path, npy_dtype dt, int ndim, const int64_t *shape, const void *data, char *err,
                         size_t errlen);

/* npy_write_new to a temporary name in the same directory, renamed over path: a failed write never leaves
 * a partial file under the final name. */
npy_result npy_write(const char *path, npy_dtype dt, int ndim, const int64_t *shape, const void *data, char *err,
                     size_t errlen);

/* Release the data of an array read by npy_read (safe on a zeroed array). */
void npy_free(npy_array *a);

#endif /* MOEROUTE_CLI_NPY_H */
