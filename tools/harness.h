/*
 * The measuring harness the tools share (clconvt-tune, clconvt-bench, clconvt-demo; not part of
 * the library): a layer's random data and its float64 reference output, device buffers with an
 * optional guarded output, the check of one forward against the reference, and timings.
 *
 * Functions that can fail return 0, or -1 with a reason (a few words, no program name) in
 * reason[size]; the caller says which row or layer it was.
 */
#ifndef CLCONVT_TOOLS_HARNESS_H
#define CLCONVT_TOOLS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "clconvt.h"

/* A layer's data: random values of both signs that its dtype stores exactly (so the reference
 * sees exactly the library's inputs), the reference output, and room for an output. */
typedef struct harness_data {
    clconvt_params params;
    int64_t batch, length_in, length_out;
    size_t n_x, n_w, n_b, n_y, elem; /* element counts, and bytes per element of params.dtype */
    float *weight, *bias;            /* f32; the weight in PyTorch order */
    void *input;                     /* n_x elements of params.dtype */
    void *output;                    /* room for n_y elements of params.dtype */
    double *ref;                     /* the float64 reference output */
    double *y;                       /* an output as doubles (harness_error writes it) */
} harness_data;

/*
 * Make the data of a layer for batch x length_in inputs from seed: the input with values in
 * [-1, 1), weight and bias within 1/sqrt(Cout/groups * K) (PyTorch's default bound), drawn in that
 * order. The caller has checked that the element counts fit in size_t.
 */
int harness_data_make(harness_data *d, const clconvt_params *params, int64_t batch,
                      int64_t length_in, uint64_t seed, char *reason, size_t size);
void harness_data_free(harness_data *d);

/* Stage the weight (PyTorch order) and, when the layer has one, the bias on layer. */
clconvt_status harness_stage(const harness_data *d, clconvt_layer *layer);
/* harness_stage, and the wall time of clconvt_layer_set_weight alone in *weight_seconds. */
clconvt_status harness_stage_timed(const harness_data *d, clconvt_layer *layer,
                                   double *weight_seconds);

/* The SPEC's normalised error of output (n_y elements of params.dtype) against the reference; the
 * output as doubles is left in d->y. */
double harness_error(harness_data *d, const void *output);

/* Device buffers for a layer's data: its input, an output that starts as a NaN pattern, and with
 * guarded an output region between guard regions (a sub-buffer view of a larger buffer). */
typedef struct harness_buffers {
    clconvt_device *device;
    cl_mem in, out, guarded, view;
    size_t front, out_bytes, guarded_bytes; /* front: the offset of view in guarded */
    unsigned char *readback;                /* guarded_bytes */
} harness_buffers;

int harness_buffers_open(harness_buffers *b, clconvt_device *device, const harness_data *d,
                         int guarded, char *reason, size_t size);
void harness_buffers_release(harness_buffers *b);

/*
 * Run layer once into the guarded output (filled with the NaN pattern first) and check it: no
 * byte outside the output changed, every output is finite, and the normalised error (*error) is
 * within the SPEC's bound for the dtype. fault (a test hook; NULL or "" for none): "value",
 * "nan" or "guard" spoils what the forward wrote before the check, so a test can see it refused.
 */
int harness_check(harness_buffers *b, harness_data *d, clconvt_layer *layer, const char *fault,
                  double *error, char *reason, size_t size);

/* One forward into the plain output, waited for with clFinish: seconds, or -1 with a reason. */
double harness_time_forward(harness_buffers *b, const harness_data *d, clconvt_layer *layer,
                            char *reason, size_t size);

/* Median and minimum of a set of forward times, in seconds. */
typedef struct harness_timing {
    double median, min;
} harness_timing;

/* rounds forwards of a, interleaved with as many of c (NULL: a alone), alternating which goes
 * first so that a drifting machine favours neither; their timings into *ta and *tc. */
int harness_measure(harness_buffers *b, const harness_data *d, clconvt_layer *a, clconvt_layer *c,
                    int rounds, harness_timing *ta, harness_timing *tc, char *reason, size_t size);

/* Read the plain output back into d->output and give its normalised error. */
int harness_read_error(harness_buffers *b, harness_data *d, double *error, char *reason,
                       size_t size);

#endif
