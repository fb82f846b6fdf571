/*
 * Fuzz target: the .npy reader (tools/npy.c). The input is a whole file.
 *
 * Properties checked besides "no crash, no sanitizer report":
 * - a failure leaves *out empty and gives a message that names the file;
 * - a success gives a consistent array: ndim in [0, NPY_MAX_DIMS], non-negative dimensions whose
 *   product is count, count * item size bytes of data that all lie inside the file, readable;
 * - npy_to_double converts every element, and npy_write + npy_read give the array back bit for bit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "npy.h"

static void check_array(const npy_array *a, size_t file_size) {
    FUZZ_CHECK(a->ndim >= 0 && a->ndim <= NPY_MAX_DIMS, "ndim %d", a->ndim);
    FUZZ_CHECK(a->data != NULL, "success with NULL data");
    const size_t item = npy_type_size(a->type);
    FUZZ_CHECK(item != 0, "unknown type %d", (int)a->type);
    unsigned __int128 product = 1;
    for (int i = 0; i < a->ndim; ++i) {
        FUZZ_CHECK(a->shape[i] >= 0, "dimension %d is %lld", i, (long long)a->shape[i]);
        product *= (unsigned __int128)a->shape[i];
        FUZZ_CHECK(product <= SIZE_MAX, "shape product overflows but the read succeeded");
    }
    FUZZ_CHECK(product == a->count, "count %zu is not the product of the shape", a->count);
    /* The data came from the file: it cannot hold more bytes than the file has. */
    FUZZ_CHECK(a->count <= file_size / item, "%zu elements of %zu bytes from a %zu-byte file",
               a->count, item, file_size);
}

static void round_trip(const npy_array *a) {
    static char path[8192];
    if (path[0] == '\0')
        snprintf(path, sizeof path, "%s/round_trip.npy", fuzz_temp_dir());
    char err[1024] = "";
    FUZZ_CHECK(npy_write(path, a->type, a->ndim, a->shape, a->data, err, sizeof err) == 0,
               "npy_write of what npy_read accepted failed: %s", err);
    npy_array b;
    FUZZ_CHECK(npy_read(path, &b, err, sizeof err) == 0, "npy_read of npy_write's file: %s", err);
    FUZZ_CHECK(b.type == a->type && b.ndim == a->ndim && b.count == a->count,
               "round trip changed the type, rank or count");
    FUZZ_CHECK(memcmp(b.shape, a->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0,
               "round trip changed the shape");
    FUZZ_CHECK(memcmp(b.data, a->data, a->count * npy_type_size(a->type)) == 0,
               "round trip changed the data");
    npy_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_memfile(data, size);
    npy_array a;
    memset(&a, 0xa5, sizeof a); /* npy_read must overwrite every field, even on failure */
    char err[512];
    memset(err, 0, sizeof err);
    if (npy_read(path, &a, err, sizeof err) != 0) {
        FUZZ_CHECK(a.data == NULL && a.count == 0 && a.ndim == 0,
                   "a failed read left something in *out");
        FUZZ_CHECK(err[0] != '\0', "a failed read gave no message");
        FUZZ_CHECK(strstr(err, path) != NULL, "the message does not name the file: %s", err);
        return 0;
    }
    check_array(&a, size);
    double *values = malloc((a.count ? a.count : 1) * sizeof *values);
    FUZZ_CHECK(values != NULL, "out of memory for %zu doubles", a.count);
    npy_to_double(&a, values);
    /* Read every converted value: a short conversion would leave uninitialised memory (MSan) and
     * a conversion past the end would have hit ASan already. NaNs are fine. */
    size_t nans = 0;
    for (size_t i = 0; i < a.count; ++i)
        nans += isnan(values[i]) != 0;
    FUZZ_CHECK(nans <= a.count, "impossible");
    free(values);
    round_trip(&a);
    npy_free(&a);
    FUZZ_CHECK(a.data == NULL, "npy_free left a pointer");
    return 0;
}
