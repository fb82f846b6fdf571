/* Loading a layer's parameters from a safetensors checkpoint, by the names PyTorch and MAX give
 * them. Everything that can be checked is checked before the layer is touched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "layer.h"
#include "safetensors.h"
#include "weight_norm.h"

/* The tensors one layer is made of, found in a file by name. */
typedef struct layer_tensors {
    char weight_name[512], g_name[512], v_name[512], bias_name[512];
    const safetensors_tensor *weight; /* the plain weight, or weight_v for weight norm */
    const safetensors_tensor *g;      /* weight_g, or NULL */
    const safetensors_tensor *bias;   /* or NULL */
    clconvt_weight_order order;
} layer_tensors;

/* Open path and find its tensor tensor_name, of a dtype the library reads. The caller closes *f
 * whatever the status (closing a file that did not open does nothing). */
static clconvt_status open_tensor(const char *path, const char *tensor_name, safetensors_file *f,
                                  const safetensors_tensor **t) {
    *f = (safetensors_file){.fd = -1};
    clconvt_status status = clconvt_safetensors_open(path, f);
    if (status != CLCONVT_SUCCESS)
        return status;
    *t = clconvt_safetensors_find(f, tensor_name);
    if (*t == NULL)
        return clconvt_fail(CLCONVT_ERROR_NOT_FOUND, "%s has no tensor '%s'", path, tensor_name);
    return clconvt_safetensors_check_dtype(f, *t);
}

clconvt_status clconvt_safetensors_tensor_shape(const char *path, const char *tensor_name,
                                                int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS],
                                                int *ndim, clconvt_dtype *dtype) {
    CLCONVT_CHECK_NOT_NULL(path, "clconvt_safetensors_tensor_shape");
    CLCONVT_CHECK_NOT_NULL(tensor_name, "clconvt_safetensors_tensor_shape");
    CLCONVT_CHECK_NOT_NULL(shape, "clconvt_safetensors_tensor_shape");
    CLCONVT_CHECK_NOT_NULL(ndim, "clconvt_safetensors_tensor_shape");
    safetensors_file f;
    const safetensors_tensor *t = NULL;
    clconvt_status status = open_tensor(path, tensor_name, &f, &t);
    if (status == CLCONVT_SUCCESS) {
        memcpy(shape, t->shape, (size_t)t->ndim * sizeof *shape);
        *ndim = t->ndim;
        if (dtype != NULL)
            *dtype = t->dtype;
        clconvt_clear_error();
    }
    clconvt_safetensors_close(&f);
    return status;
}

clconvt_status clconvt_safetensors_read_tensor_f32(const char *path, const char *tensor_name,
                                                   float *out, int64_t count) {
    static const char *const function = "clconvt_safetensors_read_tensor_f32";
    CLCONVT_CHECK_NOT_NULL(path, function);
    CLCONVT_CHECK_NOT_NULL(tensor_name, function);
    CLCONVT_CHECK_NOT_NULL(out, function);
    safetensors_file f;
    const safetensors_tensor *t = NULL;
    clconvt_status status = open_tensor(path, tensor_name, &f, &t);
    if (status == CLCONVT_SUCCESS && (int64_t)t->count != count)
        status = clconvt_fail(CLCONVT_ERROR_SHAPE_MISMATCH,
                              "%s: tensor '%s' holds %llu values, but count=%lld", path,
                              tensor_name, (unsigned long long)t->count, (long long)count);
    else if (status == CLCONVT_SUCCESS)
        status = clconvt_safetensors_read_f32(&f, t, out);
    clconvt_safetensors_close(&f);
    if (status == CLCONVT_SUCCESS)
        clconvt_clear_error();
    return status;
}

/* "{prefix}.{suffix}", or just the suffix for an empty prefix. */
static clconvt_status join_name(const char *prefix, const char *suffix, char *buf, size_t size) {
    const int n =
        *prefix ? snprintf(buf, size, "%s.%s", prefix, suffix) : snprintf(buf, size, "%s", suffix);
    if (n < 0 || (size_t)n >= size)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_layer_load_safetensors: the name '%.100s...' is too long",
                            prefix);
    return CLCONVT_SUCCESS;
}

/* For a "not found" message: the prefixes in f that do have a weight (up to a few). */
static void list_weight_prefixes(const safetensors_file *f, char *buf, size_t size) {
    static const char *const suffixes[] = {".weight", ".weight_v"};
    size_t used = 0, listed = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < f->count && used < size; ++i) {
        const safetensors_tensor *t = &f->tensors[i];
        const size_t len = strlen(t->name);
        for (size_t s = 0; s < 2; ++s) {
            const size_t slen = strlen(suffixes[s]);
            if (t->ndim != 3 || len <= slen || strcmp(t->name + len - slen, suffixes[s]) != 0)
                continue;
            const int n = listed == 8 ? snprintf(buf + used, size - used, ", ...")
                                      : snprintf(buf + used, size - used, "%s'%.*s'",
                                                 listed ? ", " : "", (int)(len - slen), t->name);
            if (n < 0 || listed++ == 8)
                return;
            used += (size_t)n;
        }
    }
}

/* Finds the weight (plain or weight-norm pair) and the bias of prefix name. */
static clconvt_status find_tensors(const safetensors_file *f, const char *name, layer_tensors *lt) {
    clconvt_status status;
    if ((status = join_name(name, "weight", lt->weight_name, sizeof lt->weight_name)) !=
            CLCONVT_SUCCESS ||
        (status = join_name(name, "weight_g", lt->g_name, sizeof lt->g_name)) != CLCONVT_SUCCESS ||
        (status = join_name(name, "weight_v", lt->v_name, sizeof lt->v_name)) != CLCONVT_SUCCESS ||
        (status = join_name(name, "bias", lt->bias_name, sizeof lt->bias_name)) != CLCONVT_SUCCESS)
        return status;
    const safetensors_tensor *w = clconvt_safetensors_find(f, lt->weight_name);
    const safetensors_tensor *g = clconvt_safetensors_find(f, lt->g_name);
    const safetensors_tensor *v = clconvt_safetensors_find(f, lt->v_name);
    lt->bias = clconvt_safetensors_find(f, lt->bias_name);
    if (w != NULL && (g != NULL || v != NULL))
        return clconvt_fail(CLCONVT_ERROR_FILE,
                            "%s holds both '%s' and the weight-norm tensor '%s'; a layer has one "
                            "or the other",
                            f->path, lt->weight_name, g ? lt->g_name : lt->v_name);
    if ((g == NULL) != (v == NULL))
        return clconvt_fail(CLCONVT_ERROR_NOT_FOUND,
                            "%s has '%s' but no '%s' (weight norm needs both)", f->path,
                            g ? lt->g_name : lt->v_name, g ? lt->v_name : lt->g_name);
    if (w == NULL && v == NULL) {
        char known[1024];
        list_weight_prefixes(f, known, sizeof known);
        return clconvt_fail(CLCONVT_ERROR_NOT_FOUND,
                            "%s has no tensor '%s' (nor '%s' + '%s'); layers with a weight in it: "
                            "%s",
                            f->path, lt->weight_name, lt->g_name, lt->v_name,
                            *known ? known : "none");
    }
    lt->weight = w ? w : v;
    lt->g = g;
    return CLCONVT_SUCCESS;
}

/* Decides the weight's order from its shape: PyTorch (Cin, Cout_g, K) or MAX (K, Cout_g, Cin). */
static clconvt_status weight_order(const safetensors_file *f, const clconvt_params *p,
                                   const safetensors_tensor *w, clconvt_weight_order ambiguous,
                                   clconvt_weight_order *order) {
    const int64_t cin = p->in_channels, cout_g = p->out_channels / p->groups, k = p->kernel_length;
    const int three = w->ndim == 3;
    const int pytorch = three && w->shape[0] == cin && w->shape[1] == cout_g && w->shape[2] == k;
    const int max = three && w->shape[0] == k && w->shape[1] == cout_g && w->shape[2] == cin;
    if (pytorch || max) {
        *order = pytorch && max ? ambiguous : pytorch ? CLCONVT_WEIGHT_PYTORCH : CLCONVT_WEIGHT_MAX;
        return CLCONVT_SUCCESS;
    }
    char shape[128];
    clconvt_safetensors_format_shape(w, shape, sizeof shape);
    return clconvt_fail(CLCONVT_ERROR_SHAPE_MISMATCH,
                        "%s: tensor '%s' has shape %s, but the layer (in_channels=%lld, "
                        "out_channels=%lld, groups=%lld, kernel_length=%lld) needs (Cin, "
                        "Cout/groups, K) = (%lld, %lld, %lld) from PyTorch or (K, Cout/groups, "
                        "Cin) = (%lld, %lld, %lld) from MAX",
                        f->path, w->name, shape, (long long)cin, (long long)p->out_channels,
                        (long long)p->groups, (long long)k, (long long)cin, (long long)cout_g,
                        (long long)k, (long long)k, (long long)cout_g, (long long)cin);
}

/* weight_g holds one value per input channel: (Cin, 1, 1) as PyTorch stores it, (Cin,), or
 * (1, 1, Cin) (the same array with its axes reversed, as a MAX-order checkpoint would hold it). */
static clconvt_status check_g(const safetensors_file *f, const clconvt_params *p,
                              const safetensors_tensor *g) {
    const int64_t cin = p->in_channels;
    const int64_t *s = g->shape;
    const int fits = (g->ndim == 1 && s[0] == cin) ||
                     (g->ndim == 3 && s[0] == cin && s[1] == 1 && s[2] == 1) ||
                     (g->ndim == 3 && s[0] == 1 && s[1] == 1 && s[2] == cin);
    if (fits)
        return CLCONVT_SUCCESS;
    char shape[128];
    clconvt_safetensors_format_shape(g, shape, sizeof shape);
    return clconvt_fail(CLCONVT_ERROR_SHAPE_MISMATCH,
                        "%s: tensor '%s' has shape %s, but weight norm needs one value per input "
                        "channel: (%lld, 1, 1), (%lld,) or (1, 1, %lld)",
                        f->path, g->name, shape, (long long)cin, (long long)cin, (long long)cin);
}

static clconvt_status check_bias(const safetensors_file *f, const clconvt_params *p,
                                 const layer_tensors *lt) {
    if (p->has_bias && lt->bias == NULL)
        return clconvt_fail(CLCONVT_ERROR_NOT_FOUND,
                            "%s has no tensor '%s', but the layer has has_bias=1", f->path,
                            lt->bias_name);
    if (!p->has_bias && lt->bias != NULL)
        return clconvt_fail(CLCONVT_ERROR_SHAPE_MISMATCH,
                            "%s holds a bias '%s', but the layer was created with has_bias=0 "
                            "(create it with has_bias=1 to use the bias)",
                            f->path, lt->bias_name);
    if (lt->bias == NULL || (lt->bias->ndim == 1 && lt->bias->shape[0] == p->out_channels))
        return CLCONVT_SUCCESS;
    char shape[128];
    clconvt_safetensors_format_shape(lt->bias, shape, sizeof shape);
    return clconvt_fail(CLCONVT_ERROR_SHAPE_MISMATCH,
                        "%s: tensor '%s' has shape %s, but the layer needs (%lld,) (out_channels)",
                        f->path, lt->bias_name, shape, (long long)p->out_channels);
}

/* Every check that needs no tensor data: names, dtypes, shapes, order, bias. */
static clconvt_status plan_load(const safetensors_file *f, const clconvt_params *p,
                                const char *name, clconvt_weight_order ambiguous,
                                layer_tensors *lt) {
    clconvt_status status = find_tensors(f, name, lt);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_safetensors_check_dtype(f, lt->weight);
    if (status == CLCONVT_SUCCESS && lt->g)
        status = clconvt_safetensors_check_dtype(f, lt->g);
    if (status == CLCONVT_SUCCESS && lt->bias)
        status = clconvt_safetensors_check_dtype(f, lt->bias);
    if (status == CLCONVT_SUCCESS)
        status = weight_order(f, p, lt->weight, ambiguous, &lt->order);
    if (status == CLCONVT_SUCCESS && lt->g)
        status = check_g(f, p, lt->g);
    if (status == CLCONVT_SUCCESS)
        status = check_bias(f, p, lt);
    return status;
}

/* Reads a tensor into a fresh float32 array. */
static clconvt_status read_new_f32(const safetensors_file *f, const safetensors_tensor *t,
                                   float **out) {
    float *values = malloc(t->count ? (size_t)t->count * sizeof *values : 1);
    if (values == NULL)
        return clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                            "out of host memory for tensor '%s' (%llu values) of %s", t->name,
                            (unsigned long long)t->count, f->path);
    clconvt_status status = clconvt_safetensors_read_f32(f, t, values);
    if (status != CLCONVT_SUCCESS) {
        free(values);
        return status;
    }
    *out = values;
    return CLCONVT_SUCCESS;
}

/* weight_g / ||weight_v|| per input channel; errors name the file and the tensor. */
static clconvt_status fold(const safetensors_file *f, const clconvt_params *p, const float *g,
                           const float *w, const layer_tensors *lt, double **scale) {
    char what[1024];
    snprintf(what, sizeof what, "%s: tensor '%s'", f->path, lt->v_name);
    return clconvt_weight_norm_scales(p, g, w, CLCONVT_F32, lt->order, what, scale);
}

clconvt_status clconvt_layer_load_safetensors(clconvt_layer *layer, const char *path,
                                              const char *name,
                                              clconvt_weight_order order_if_ambiguous) {
    CLCONVT_CHECK_NOT_NULL(layer, "clconvt_layer_load_safetensors");
    CLCONVT_CHECK_NOT_NULL(path, "clconvt_layer_load_safetensors");
    CLCONVT_CHECK_NOT_NULL(name, "clconvt_layer_load_safetensors");
    if (order_if_ambiguous != CLCONVT_WEIGHT_MAX && order_if_ambiguous != CLCONVT_WEIGHT_PYTORCH)
        return clconvt_fail(CLCONVT_ERROR_INVALID_ARGUMENT,
                            "clconvt_layer_load_safetensors: order_if_ambiguous must be "
                            "CLCONVT_WEIGHT_MAX (0) or CLCONVT_WEIGHT_PYTORCH (1), but got %d",
                            (int)order_if_ambiguous);
    clconvt_params p;
    clconvt_layer_get_params(layer, &p);
    safetensors_file f = {.fd = -1};
    layer_tensors *lt = calloc(1, sizeof *lt);
    float *w = NULL, *g = NULL, *b = NULL;
    double *scale = NULL;
    clconvt_status status =
        lt ? clconvt_safetensors_open(path, &f)
           : clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY, "out of host memory loading %s", path);
    if (status != CLCONVT_SUCCESS)
        goto cleanup;
    if ((status = plan_load(&f, &p, name, order_if_ambiguous, lt)) != CLCONVT_SUCCESS ||
        (status = read_new_f32(&f, lt->weight, &w)) != CLCONVT_SUCCESS ||
        (lt->g && (status = read_new_f32(&f, lt->g, &g)) != CLCONVT_SUCCESS) ||
        (lt->bias && (status = read_new_f32(&f, lt->bias, &b)) != CLCONVT_SUCCESS) ||
        (g && (status = fold(&f, &p, g, w, lt, &scale)) != CLCONVT_SUCCESS))
        goto cleanup;
    /* Only now, with every value in hand, is the layer changed. */
    status = clconvt_layer_stage_weight(layer, &(weight_source){w, lt->order, CLCONVT_F32, scale});
    if (status == CLCONVT_SUCCESS && b != NULL)
        status = clconvt_layer_set_bias(layer, b, CLCONVT_F32);
cleanup:
    clconvt_safetensors_close(&f);
    free(lt);
    free(w);
    free(g);
    free(b);
    free(scale);
    return status;
}
