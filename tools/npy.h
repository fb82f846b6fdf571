/*
 * A small, careful reader and writer of NumPy .npy files (format versions 1.0, 2.0 and 3.0),
 * for the tools and the tests. Little-endian, C-order arrays of these element types:
 *   '<f4' float32, '<f8' float64, '<f2' float16, '<u2' (bfloat16 bit patterns: numpy has no bf16).
 * Everything in a file is validated (magic, version, header length against file size, the header
 * dictionary's syntax, shape, data length = product(shape) * item size, with overflow checks); a
 * bad file gives a sentence naming the file and what is wrong.
 */
#ifndef CLCONVT_NPY_H
#define CLCONVT_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 8

typedef enum npy_type {
    NPY_F32 = 0, /* '<f4' */
    NPY_F64 = 1, /* '<f8' */
    NPY_F16 = 2, /* '<f2' */
    NPY_U16 = 3, /* '<u2', holding bfloat16 bit patterns */
} npy_type;

typedef struct npy_array {
    npy_type type;
    int ndim; /* 0 .. NPY_MAX_DIMS */
    int64_t shape[NPY_MAX_DIMS];
    size_t count; /* product of shape (1 for ndim 0) */
    void *data;   /* count elements of type, host byte order (little-endian), malloc(3)ed */
} npy_array;

/* Item size in bytes of a type (4, 8, 2, 2). */
size_t npy_type_size(npy_type type);

/*
 * Read path into *out. Returns 0, or -1 with a message (naming path) in err[err_size]; on failure
 * *out holds nothing to free. Only a regular file is read: a FIFO or a device is refused at once.
 */
int npy_read(const char *path, npy_array *out, char *err, size_t err_size);

/*
 * Write count = product(shape) elements of type from data to path. A regular file (or a new one)
 * is written atomically: a temporary file in the same directory is written, flushed and renamed
 * over path, so path is either absent/unchanged or complete. A character device or a FIFO is
 * written in place; symbolic links are followed; read-only files, directories, block devices and
 * sockets are refused (src/file_output.h). Returns 0, or -1 with a message in err.
 */
int npy_write(const char *path, npy_type type, int ndim, const int64_t *shape, const void *data,
              char *err, size_t err_size);

/* Free the data of an array read by npy_read (safe on a zeroed struct). */
void npy_free(npy_array *array);

/* Convert an array's count elements to float64 (f16 and bf16 decoded exactly), into out. */
void npy_to_double(const npy_array *array, double *out);

#endif
