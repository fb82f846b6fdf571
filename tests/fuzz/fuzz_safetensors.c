/*
 * Fuzz target: the safetensors reader (src/safetensors.c) and the checkpoint loader
 * (src/checkpoint.c, src/weight_norm.c), compiled into this binary with a stand-in layer: the
 * layer functions the loader calls (get_params, weight_count, set_weight, set_bias) are defined
 * below, so no OpenCL device is needed and every value the loader stages is read back here (ASan
 * sees a buffer shorter than the layer's weight).
 *
 * Input: one control byte, then the file. The control byte picks the tensor-name prefix, the
 * weight order to assume, whether the layer has a bias, and its groups.
 *
 * Properties checked besides "no crash, no sanitizer report":
 * - clconvt_safetensors_open validates the whole file: on success every tensor lies inside the data
 * area, its byte length is count * dtype size, names are sorted and unique, and the tensors tile
 * the data area exactly; every supported tensor reads back (into a buffer of exactly count floats);
 * - clconvt_safetensors_tensor_shape agrees with it: a file it rejects is rejected for every name
 *   with CLCONVT_ERROR_FILE; a found tensor's shape and dtype are the ones the file declares;
 * - clconvt_layer_load_safetensors on a layer shaped after the file's weight either succeeds
 *   having staged the weight (and the bias exactly when the layer has one) or fails with a
 *   message having changed nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_support.h"
#include "safetensors.h"
#include "weights.h"

/* ---- The stand-in layer -------------------------------------------------------------------- */

struct clconvt_layer {
    clconvt_params params;
    int weight_sets, bias_sets;
    uint32_t checksum; /* of everything staged, so that the reads cannot be optimised away */
};

static uint32_t checksum_bytes(const void *data, size_t bytes) {
    const unsigned char *p = data;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < bytes; ++i)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

void clconvt_layer_get_params(const clconvt_layer *layer, clconvt_params *params) {
    *params = layer->params;
}

int64_t clconvt_layer_weight_count(const clconvt_layer *layer) {
    const clconvt_params *p = &layer->params;
    return p->in_channels * (p->out_channels / p->groups) * p->kernel_length;
}

/* What load_safetensors stages through (set_weight's checked half), with weight norm's factors. */
clconvt_status clconvt_layer_stage_weight(clconvt_layer *layer, const weight_source *src) {
    FUZZ_CHECK(src->host != NULL, "stage_weight with NULL");
    FUZZ_CHECK(src->order == CLCONVT_WEIGHT_MAX || src->order == CLCONVT_WEIGHT_PYTORCH, "order %d",
               (int)src->order);
    FUZZ_CHECK(clconvt_dtype_size(src->dtype) != 0, "dtype %d", (int)src->dtype);
    const size_t bytes = (size_t)clconvt_layer_weight_count(layer) * clconvt_dtype_size(src->dtype);
    layer->checksum ^= checksum_bytes(src->host, bytes);
    if (src->scale != NULL)
        layer->checksum ^=
            checksum_bytes(src->scale, (size_t)layer->params.in_channels * sizeof *src->scale);
    layer->weight_sets++;
    return CLCONVT_SUCCESS;
}

clconvt_status clconvt_layer_set_bias(clconvt_layer *layer, const void *host,
                                      clconvt_dtype host_dtype) {
    FUZZ_CHECK(host != NULL, "set_bias with NULL");
    FUZZ_CHECK(layer->params.has_bias, "set_bias on a layer without a bias");
    FUZZ_CHECK(clconvt_dtype_size(host_dtype) != 0, "dtype %d", (int)host_dtype);
    layer->checksum ^=
        checksum_bytes(host, (size_t)layer->params.out_channels * clconvt_dtype_size(host_dtype));
    layer->bias_sets++;
    return CLCONVT_SUCCESS;
}

/* ---- Checks -------------------------------------------------------------------------------- */

static size_t dtype_bytes(const char *name) {
    static const struct {
        const char *name;
        size_t size;
    } sizes[] = {{"F64", 8}, {"I64", 8},  {"U64", 8},     {"C64", 8},     {"F32", 4},    {"I32", 4},
                 {"U32", 4}, {"F16", 2},  {"BF16", 2},    {"I16", 2},     {"U16", 2},    {"I8", 1},
                 {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"F8_E8M0", 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i)
        if (strcmp(name, sizes[i].name) == 0)
            return sizes[i].size;
    return 0;
}

/* Everything clconvt_safetensors_open promises about an opened file. */
static void check_open_file(const safetensors_file *f, size_t file_size) {
    FUZZ_CHECK(f->data_start >= 10 && f->data_start <= file_size, "data_start %llu, file %zu",
               (unsigned long long)f->data_start, file_size);
    FUZZ_CHECK(f->data_size == file_size - f->data_start, "data_size %llu",
               (unsigned long long)f->data_size);
    uint64_t covered_bytes = 0;
    for (size_t i = 0; i < f->count; ++i) {
        const safetensors_tensor *t = &f->tensors[i];
        FUZZ_CHECK(t->name != NULL && strcmp(t->name, "__metadata__") != 0, "tensor %zu name", i);
        if (i > 0)
            FUZZ_CHECK(strcmp(f->tensors[i - 1].name, t->name) < 0,
                       "names not sorted and unique: '%s', '%s'", f->tensors[i - 1].name, t->name);
        const size_t size = dtype_bytes(t->dtype_name);
        FUZZ_CHECK(size != 0, "tensor '%s' has dtype '%s'", t->name, t->dtype_name);
        FUZZ_CHECK(t->begin <= t->end && t->end <= f->data_size, "tensor '%s' offsets", t->name);
        FUZZ_CHECK((unsigned __int128)t->count * size == t->end - t->begin,
                   "tensor '%s': %llu elements of %zu bytes in %llu bytes", t->name,
                   (unsigned long long)t->count, size, (unsigned long long)(t->end - t->begin));
        unsigned __int128 product = 1;
        for (int d = 0; d < t->ndim && d < CLCONVT_SAFETENSORS_MAX_DIMS; ++d) {
            FUZZ_CHECK(t->shape[d] >= 0, "tensor '%s' dim %d", t->name, d);
            product *= (uint64_t)t->shape[d];
        }
        if (t->ndim <= CLCONVT_SAFETENSORS_MAX_DIMS)
            FUZZ_CHECK(product == t->count, "tensor '%s': count is not the shape's product",
                       t->name);
        covered_bytes += t->end - t->begin;
        if (t->supported && t->ndim <= CLCONVT_SAFETENSORS_MAX_DIMS) {
            float *values = malloc(t->count ? (size_t)t->count * sizeof *values : 1);
            FUZZ_CHECK(values != NULL, "out of memory");
            FUZZ_CHECK(clconvt_safetensors_read_f32(f, t, values) == CLCONVT_SUCCESS,
                       "tensor '%s' does not read back: %s", t->name, clconvt_last_error());
            (void)checksum_bytes(values, (size_t)t->count * sizeof *values);
            free(values);
        }
    }
    /* No overlaps and no holes: the tensors' lengths add up to the data area. */
    FUZZ_CHECK(covered_bytes == f->data_size, "tensors cover %llu of %llu data bytes",
               (unsigned long long)covered_bytes, (unsigned long long)f->data_size);
}

static void check_failure(clconvt_status status, const char *what) {
    FUZZ_CHECK(status < 0, "%s: status %d", what, (int)status);
    FUZZ_CHECK(clconvt_last_error()[0] != '\0', "%s failed (%s) without a message", what,
               clconvt_status_string(status));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    static const char *const prefixes[] = {"", "ups.0", "m"};
    const unsigned control = data[0];
    const char *prefix = prefixes[(control & 3) % 3];
    const clconvt_weight_order order = control & 4 ? CLCONVT_WEIGHT_PYTORCH : CLCONVT_WEIGHT_MAX;
    const int has_bias = (control & 8) != 0;
    const int64_t groups = control & 16 ? 2 : 1;
    const char *path = fuzz_memfile(data + 1, size - 1);

    safetensors_file f;
    const clconvt_status opened = clconvt_safetensors_open(path, &f);
    if (opened == CLCONVT_SUCCESS) {
        check_open_file(&f, size - 1);
        clconvt_safetensors_close(&f);
    } else {
        check_failure(opened, "clconvt_safetensors_open");
    }

    /* The public shape query, for each name the loader may look up. */
    char names[5][64];
    static const char *const suffixes[] = {"weight", "weight_v", "weight_g", "bias", ""};
    int64_t weight_shape[CLCONVT_SAFETENSORS_MAX_DIMS];
    int weight_ndim = -1;
    for (int i = 0; i < 5; ++i) {
        snprintf(names[i], sizeof names[i], "%s%s%s", prefix, *prefix && *suffixes[i] ? "." : "",
                 suffixes[i]);
        int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS];
        int ndim = -1;
        clconvt_dtype dtype = (clconvt_dtype)-1;
        const clconvt_status st =
            clconvt_safetensors_tensor_shape(path, names[i], shape, &ndim, &dtype);
        if (opened != CLCONVT_SUCCESS) {
            FUZZ_CHECK(st == opened, "clconvt_safetensors_open said %d, the shape query %d",
                       (int)opened, (int)st);
            continue;
        }
        if (st != CLCONVT_SUCCESS) {
            FUZZ_CHECK(st == CLCONVT_ERROR_NOT_FOUND || st == CLCONVT_ERROR_UNSUPPORTED,
                       "a valid file gave %s for '%s'", clconvt_status_string(st), names[i]);
            check_failure(st, "clconvt_safetensors_tensor_shape");
            continue;
        }
        FUZZ_CHECK(ndim >= 0 && ndim <= CLCONVT_SAFETENSORS_MAX_DIMS, "ndim %d", ndim);
        FUZZ_CHECK(clconvt_dtype_size(dtype) != 0, "dtype %d", (int)dtype);
        for (int d = 0; d < ndim; ++d)
            FUZZ_CHECK(shape[d] >= 0, "dim %d is %lld", d, (long long)shape[d]);
        if (i <= 1 && ndim == 3) { /* the weight, or weight_v which wins */
            memcpy(weight_shape, shape, sizeof shape);
            weight_ndim = ndim;
        }
    }
    if (opened != CLCONVT_SUCCESS || weight_ndim != 3)
        return 0;

    /* A layer shaped after the file's weight, in the order the control byte assumes. */
    const int max = order == CLCONVT_WEIGHT_MAX;
    clconvt_layer layer = {.weight_sets = 0};
    clconvt_params_init(&layer.params, weight_shape[max ? 2 : 0], weight_shape[1] * groups,
                        weight_shape[max ? 0 : 2]);
    layer.params.groups = groups;
    layer.params.has_bias = has_bias;
    if (clconvt_params_validate(&layer.params) != CLCONVT_SUCCESS)
        return 0;
    const clconvt_status st = clconvt_layer_load_safetensors(&layer, path, prefix, order);
    if (st == CLCONVT_SUCCESS) {
        FUZZ_CHECK(layer.weight_sets == 1, "load succeeded with %d weights staged",
                   layer.weight_sets);
        FUZZ_CHECK(layer.bias_sets == has_bias,
                   "load succeeded with %d biases staged (has_bias %d)", layer.bias_sets, has_bias);
    } else {
        check_failure(st, "clconvt_layer_load_safetensors");
        FUZZ_CHECK(layer.weight_sets == 0 && layer.bias_sets == 0,
                   "a failed load (%s) changed the layer", clconvt_last_error());
    }
    return 0;
}
