/* clconvt-run's --input-activation (input_activation.h). */
#include "input_activation.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

#define OPTION "--input-activation"

static int fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -1;
}

/* A finite float: the whole text. */
static int parse_float(const char *kind, const char *text, float *out, char *err, size_t size) {
    char *end = NULL;
    errno = 0;
    const float v = strtof(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v))
        return fail(err, size, OPTION " %s: expects a finite number after '%s:', got '%s'", kind,
                    kind, text);
    *out = v;
    return 0;
}

int cli_activation_parse(const char *text, cli_activation *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    const char *colon = strchr(text, ':');
    const size_t name_length = colon ? (size_t)(colon - text) : strlen(text);
    const char *value = colon ? colon + 1 : "";
    if (colon != NULL && name_length == 10 && strncmp(text, "leaky_relu", 10) == 0) {
        out->kind = CLCONVT_ACTIVATION_LEAKY_RELU;
        return parse_float("leaky_relu", value, &out->parameter, err, err_size);
    }
    if (colon != NULL && name_length == 3 && strncmp(text, "elu", 3) == 0) {
        out->kind = CLCONVT_ACTIVATION_ELU;
        return parse_float("elu", value, &out->parameter, err, err_size);
    }
    if (colon != NULL && name_length == 5 && strncmp(text, "snake", 5) == 0) {
        out->kind = CLCONVT_ACTIVATION_SNAKE;
        if (value[0] == '@' && value[1] != '\0')
            out->alpha_name = value + 1;
        else if (value[0] != '\0' && value[0] != '@')
            out->alpha_file = value;
        else
            return fail(err, err_size, OPTION " snake: needs FILE.npy or @NAME after 'snake:'");
        return 0;
    }
    return fail(err, err_size,
                OPTION " must be leaky_relu:SLOPE, elu:ALPHA, snake:FILE.npy or snake:@NAME, got "
                       "'%s'",
                text);
}

/* Snake's alphas are one per input channel: (Cin,), or (1, Cin, 1) as DAC's Snake1d stores them. */
static int check_shape(const char *label, int ndim, const int64_t *shape, int64_t cin, char *err,
                       size_t err_size) {
    if ((ndim == 1 && shape[0] == cin) ||
        (ndim == 3 && shape[0] == 1 && shape[1] == cin && shape[2] == 1))
        return 0;
    char text[256] = "(";
    for (int i = 0; i < ndim; ++i)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%" PRId64, i ? ", " : "",
                 shape[i]);
    snprintf(text + strlen(text), sizeof text - strlen(text), "%s", ndim == 1 ? ",)" : ")");
    return fail(err, err_size,
                OPTION " snake: %s has shape %s, but Snake needs one alpha per input channel: "
                       "(%" PRId64 ",) or (1, %" PRId64 ", 1)",
                label, text, cin, cin);
}

/* The alphas of a .npy file ('<f4' or '<f8') into alpha[cin]. */
static int read_file(const char *path, int64_t cin, float *alpha, char *err, size_t err_size) {
    npy_array a;
    if (npy_read(path, &a, err, err_size) != 0)
        return -1;
    int rc = check_shape(path, a.ndim, a.shape, cin, err, err_size);
    if (rc == 0 && a.type != NPY_F32 && a.type != NPY_F64)
        rc = fail(err, err_size, OPTION " snake: %s must hold '<f4' or '<f8' values", path);
    for (int64_t c = 0; rc == 0 && c < cin; ++c)
        alpha[c] =
            a.type == NPY_F32 ? ((const float *)a.data)[c] : (float)((const double *)a.data)[c];
    npy_free(&a);
    return rc;
}

/* The alphas of a checkpoint's tensor into alpha[cin]. */
static int read_tensor(const char *weights, const char *name, int64_t cin, float *alpha, char *err,
                       size_t err_size) {
    int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS];
    int ndim = 0;
    clconvt_status st = clconvt_safetensors_tensor_shape(weights, name, shape, &ndim, NULL);
    if (st != CLCONVT_SUCCESS)
        return fail(err, err_size, OPTION " snake:@%s: %s", name, clconvt_last_error());
    char label[1024];
    snprintf(label, sizeof label, "tensor '%s' of %s", name, weights);
    if (check_shape(label, ndim, shape, cin, err, err_size) != 0)
        return -1;
    st = clconvt_safetensors_read_tensor_f32(weights, name, alpha, cin);
    return st == CLCONVT_SUCCESS ? 0 : fail(err, err_size, "%s", clconvt_last_error());
}

int cli_activation_apply(const cli_activation *a, const char *weights, clconvt_layer *layer,
                         char *err, size_t err_size) {
    if (a->kind == CLCONVT_ACTIVATION_NONE)
        return 0;
    clconvt_params p;
    clconvt_layer_get_params(layer, &p);
    const int64_t count = a->kind == CLCONVT_ACTIVATION_SNAKE ? p.in_channels : 1;
    float *alpha = malloc((size_t)count * sizeof *alpha);
    if (alpha == NULL)
        return fail(err, err_size, "out of memory for %" PRId64 " alphas", count);
    int rc = 0;
    if (a->kind != CLCONVT_ACTIVATION_SNAKE)
        alpha[0] = a->parameter;
    else if (a->alpha_file != NULL)
        rc = read_file(a->alpha_file, count, alpha, err, err_size);
    else
        rc = read_tensor(weights, a->alpha_name, count, alpha, err, err_size);
    if (rc == 0 &&
        clconvt_layer_set_input_activation(layer, a->kind, alpha, count) != CLCONVT_SUCCESS)
        rc = fail(err, err_size, "%s", clconvt_last_error());
    free(alpha);
    return rc;
}
