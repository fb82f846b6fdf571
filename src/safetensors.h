/*
 * A careful reader of safetensors files: an 8-byte little-endian header length, a JSON header
 * mapping tensor names to {dtype, shape, data_offsets}, then the data area. Opening a file
 * validates the whole header (every entry, every offset, overlaps and holes) and keeps it; tensor
 * data is read on demand, so a checkpoint of hundreds of megabytes costs only the tensors used.
 */
#ifndef CLCONVT_SAFETENSORS_H
#define CLCONVT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "clconvt.h"

typedef struct safetensors_tensor {
    const char *name;       /* owned by the file's parsed header */
    const char *dtype_name; /* as written in the file: "F32", "BF16", "I64", ... */
    int supported;          /* F32, F16 or BF16: then dtype says which */
    clconvt_dtype dtype;
    int ndim;                                    /* may exceed the dimensions kept in shape */
    int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS]; /* the first ndim (at most 8) dimensions */
    uint64_t count;                              /* elements: the product of every dimension */
    uint64_t begin, end;                         /* byte range within the data area */
} safetensors_tensor;

typedef struct safetensors_file {
    char *path; /* a copy, for messages */
    int fd;
    uint64_t data_start; /* file offset of the data area: 8 + header length */
    uint64_t data_size;
    void *header;                /* the cJSON tree the tensor names point into */
    safetensors_tensor *tensors; /* sorted by name */
    size_t count;
} safetensors_file;

/* Open and validate path. On failure the message names the file (and tensor) and what is wrong,
 * and *out holds nothing to close. */
clconvt_status clconvt_safetensors_open(const char *path, safetensors_file *out);

/* Close a file opened by clconvt_safetensors_open (safe on a zeroed struct). */
void clconvt_safetensors_close(safetensors_file *file);

/* The tensor called name, or NULL. */
const safetensors_tensor *clconvt_safetensors_find(const safetensors_file *file, const char *name);

/* Fail with CLCONVT_ERROR_UNSUPPORTED, naming the tensor, unless it is F32, F16 or BF16. */
clconvt_status clconvt_safetensors_check_dtype(const safetensors_file *file,
                                               const safetensors_tensor *tensor);

/* Read a (supported) tensor's count values, converted to float32, into out. */
clconvt_status clconvt_safetensors_read_f32(const safetensors_file *file,
                                            const safetensors_tensor *tensor, float *out);

/* "(512, 256, 16)", "(5,)", "()": a shape as Python prints it, truncated to fit buf. */
void clconvt_safetensors_format_shape(const safetensors_tensor *tensor, char *buf, size_t size);

#endif
