/*
 * Concurrency: one device and one layer shared by several threads (forward_host, and forward on
 * per-thread queues and buffers), layers created at the same moment from several threads (the
 * program cache's lock: each program is built once, and every result is bit-identical to the same
 * forward done serially), and the thread-local last error under concurrent failures.
 *
 * Worker threads never call cr_assert (Criterion's asserts belong to the test's thread): they
 * record what went wrong and the test thread asserts after joining them.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define THREADS 8

/* What a worker found wrong: the first message and a count. */
typedef struct report {
    int failures;
    char first[512];
} report;

static void note(report *r, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void note(report *r, const char *format, ...) {
    if (r->failures++ == 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(r->first, sizeof r->first, format, args);
        va_end(args);
    }
}

static void expect_no_failures(const report *reports, int count) {
    for (int i = 0; i < count; ++i)
        cr_expect_eq(reports[i].failures, 0, "thread %d: %d failures, first: %s", i,
                     reports[i].failures, reports[i].first);
}

/* Random fp32 data and its float64 copy; the caller frees both. */
static float *random_floats(size_t n, uint64_t seed, double **as_double) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (d == NULL || f == NULL)
        abort();
    uint64_t state = seed;
    support_fill(d, n, &state, CLCONVT_F32);
    for (size_t i = 0; i < n; ++i)
        f[i] = (float)d[i];
    *as_double = d;
    return f;
}

static double error_against_reference(const clconvt_params *p, const double *x, const double *w,
                                      const double *b, int64_t batch, int64_t length_in,
                                      const float *y, size_t ny) {
    double *ref = malloc((ny + 1) * sizeof *ref), *yd = malloc((ny + 1) * sizeof *yd);
    if (ref == NULL || yd == NULL)
        abort();
    double error = 1e300;
    if (reference_forward(p, x, w, p->has_bias ? b : NULL, batch, length_in, ref) == 0) {
        for (size_t i = 0; i < ny; ++i)
            yd[i] = y[i];
        error = reference_normalised_error(yd, ref, ny);
    }
    free(ref);
    free(yd);
    return error;
}

/* ---- One layer, many threads ---------------------------------------------------------------- */

typedef struct shared_job {
    int index;
    clconvt_layer *layer;
    const clconvt_params *p;
    const double *w, *b;    /* float64 copies of what the layer holds (PyTorch order) */
    int use_device_buffers; /* 0: forward_host; 1: forward on own buffers and own queue */
    float *first_output;    /* output of iteration 0, kept for the serial comparison */
    int64_t first_batch, first_length;
    report result;
} shared_job;

#define ITERATIONS 25

/* A few shapes only: PoCL compiles a work-group function for every local size it picks, and
 * with the library's automatic local size each global size may need its own (cold cache: ~0.25 s
 * each). Threads run different shapes at the same time. */
static void iteration_shape(int index, int it, int64_t *batch, int64_t *length_in) {
    static const int64_t lengths[] = {3, 17, 64};
    *batch = 1 + (index + it) % 3;
    *length_in = lengths[(index * 7 + it) % 3];
}

static uint64_t iteration_seed(int index, int it) {
    return 1000u * (uint64_t)index + (uint64_t)it;
}

/* One forward on a thread's own queue and buffers; 0 on success (y filled). */
static int forward_on_own_queue(shared_job *job, cl_command_queue queue, const float *x, size_t nx,
                                float *y, size_t ny, int64_t batch, int64_t length_in) {
    clconvt_device *device = support_device();
    cl_int err;
    cl_mem in =
        clCreateBuffer(clconvt_device_context(device), CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                       nx * sizeof(float), (void *)x, &err);
    if (err != CL_SUCCESS) {
        note(&job->result, "clCreateBuffer(in): %d", err);
        return -1;
    }
    cl_mem out = clCreateBuffer(clconvt_device_context(device), CL_MEM_WRITE_ONLY,
                                ny * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) {
        clReleaseMemObject(in);
        note(&job->result, "clCreateBuffer(out): %d", err);
        return -1;
    }
    cl_event done = NULL;
    int rc = 0;
    const clconvt_status st =
        clconvt_layer_forward(job->layer, queue, in, out, batch, length_in, 0, NULL, &done);
    if (st != CLCONVT_SUCCESS) {
        note(&job->result, "forward: %s", clconvt_last_error());
        rc = -1;
    } else if ((err = clEnqueueReadBuffer(queue, out, CL_TRUE, 0, ny * sizeof(float), y, 1, &done,
                                          NULL)) != CL_SUCCESS) {
        note(&job->result, "clEnqueueReadBuffer: %d", err);
        rc = -1;
    }
    if (done != NULL)
        clReleaseEvent(done);
    clReleaseMemObject(in);
    clReleaseMemObject(out);
    return rc;
}

static void *shared_worker(void *arg) {
    shared_job *job = arg;
    const clconvt_params *p = job->p;
    cl_command_queue queue = NULL;
    if (job->use_device_buffers) {
        cl_int err;
        queue = clCreateCommandQueue(clconvt_device_context(support_device()),
                                     clconvt_device_id(support_device()), 0, &err);
        if (err != CL_SUCCESS) {
            note(&job->result, "clCreateCommandQueue: %d", err);
            return NULL;
        }
    }
    for (int it = 0; it < ITERATIONS; ++it) {
        int64_t batch, length_in, length_out;
        iteration_shape(job->index, it, &batch, &length_in);
        if (clconvt_output_length(p, length_in, &length_out) != CLCONVT_SUCCESS) {
            note(&job->result, "output_length: %s", clconvt_last_error());
            break;
        }
        const size_t nx = (size_t)(batch * p->in_channels * length_in);
        const size_t ny = (size_t)(batch * p->out_channels * length_out);
        double *x;
        float *xf = random_floats(nx, iteration_seed(job->index, it), &x);
        float *y = malloc((ny + 1) * sizeof *y);
        if (y == NULL)
            abort();
        int ok;
        if (job->use_device_buffers) {
            ok = forward_on_own_queue(job, queue, xf, nx, y, ny, batch, length_in) == 0;
        } else {
            ok = clconvt_layer_forward_host(job->layer, xf, y, batch, length_in) == CLCONVT_SUCCESS;
            if (!ok)
                note(&job->result, "forward_host: %s", clconvt_last_error());
        }
        if (ok) {
            const double error =
                error_against_reference(p, x, job->w, job->b, batch, length_in, y, ny);
            if (!(error <= reference_error_bound(CLCONVT_F32)))
                note(&job->result, "iteration %d (N %lld, L_in %lld): error %g", it,
                     (long long)batch, (long long)length_in, error);
        }
        if (it == 0 && ok) {
            job->first_output = y;
            job->first_batch = batch;
            job->first_length = length_in;
        } else {
            free(y);
        }
        free(xf);
        free(x);
    }
    if (queue != NULL)
        clReleaseCommandQueue(queue);
    return NULL;
}

Test(threads, one_layer_many_threads, .timeout = 120) {
    clconvt_params p;
    clconvt_params_init(&p, 6, 5, 4);
    p.stride = 2;
    p.pad_left = 1;
    p.pad_right = 2;
    p.output_padding = 1;
    p.has_bias = 1;
    const size_t nw = (size_t)(p.in_channels * p.out_channels * p.kernel_length);
    double *w, *b;
    float *wf = random_floats(nw, 7, &w), *bf = random_floats((size_t)p.out_channels, 8, &b);
    clconvt_layer *layer = NULL;
    cr_assert_eq(clconvt_layer_create(support_device(), &p, &layer), CLCONVT_SUCCESS, "%s",
                 clconvt_last_error());
    cr_assert_eq(clconvt_layer_set_weight(layer, wf, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
                 CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_set_bias(layer, bf, CLCONVT_F32), CLCONVT_SUCCESS);

    shared_job jobs[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; ++i) {
        jobs[i] = (shared_job){
            .index = i, .layer = layer, .p = &p, .w = w, .b = b, .use_device_buffers = i % 2};
        cr_assert_eq(pthread_create(&threads[i], NULL, shared_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; ++i)
        cr_assert_eq(pthread_join(threads[i], NULL), 0);
    report reports[THREADS];
    for (int i = 0; i < THREADS; ++i)
        reports[i] = jobs[i].result;
    expect_no_failures(reports, THREADS);

    /* The same forwards, one at a time: bit for bit what the threads got. */
    for (int i = 0; i < THREADS; ++i) {
        cr_assert_not_null(jobs[i].first_output, "thread %d kept no output", i);
        const int64_t batch = jobs[i].first_batch, length_in = jobs[i].first_length;
        int64_t length_out;
        cr_assert_eq(clconvt_output_length(&p, length_in, &length_out), CLCONVT_SUCCESS);
        const size_t nx = (size_t)(batch * p.in_channels * length_in);
        const size_t ny = (size_t)(batch * p.out_channels * length_out);
        double *x;
        float *xf = random_floats(nx, iteration_seed(i, 0), &x);
        float *y = malloc(ny * sizeof *y);
        cr_assert(y != NULL);
        cr_assert_eq(clconvt_layer_forward_host(layer, xf, y, batch, length_in), CLCONVT_SUCCESS);
        cr_assert_arr_eq(y, jobs[i].first_output, ny * sizeof *y,
                         "thread %d: the concurrent result differs from the serial one", i);
        free(y);
        free(xf);
        free(x);
        free(jobs[i].first_output);
    }
    clconvt_layer_release(layer);
    free(wf);
    free(bf);
    free(w);
    free(b);
}

/* ---- Weights replaced while forwards run ---------------------------------------------------- */

#define SWAP_FORWARDS 120

/* One thread forwards (forward_host, or forward on its own queue) while another replaces the
 * weight and the bias with one of two of each, and reads the weight back. */
typedef struct swap_case {
    clconvt_layer *layer;
    const clconvt_params *p;
    int64_t batch, length_in;
    size_t nx, ny, nw;
    const float *x;
    float *weights[2], *biases[2]; /* PyTorch order */
    float *max_order[2];           /* the weights as get_weight gives them */
    double *refs[4];               /* weight i % 2 with bias i / 2 */
    atomic_int forwarders_left;
    int swaps;
    report forwarders[2], setter;
} swap_case;

/* y is the output of one whole weight and one whole bias. */
static int matches_a_pair(const swap_case *c, const float *y) {
    double *yd = malloc((c->ny + 1) * sizeof *yd);
    if (yd == NULL)
        abort();
    for (size_t i = 0; i < c->ny; ++i)
        yd[i] = y[i];
    int found = 0;
    for (int r = 0; r < 4 && !found; ++r)
        found =
            reference_normalised_error(yd, c->refs[r], c->ny) <= reference_error_bound(CLCONVT_F32);
    free(yd);
    return found;
}

typedef struct swap_forwarder {
    swap_case *c;
    int index; /* 0: forward_host; 1: forward on the thread's own queue and buffers */
} swap_forwarder;

static void *swap_forward_worker(void *arg) {
    const swap_forwarder *f = arg;
    swap_case *c = f->c;
    report *r = &c->forwarders[f->index];
    float *y = malloc((c->ny + 1) * sizeof *y);
    if (y == NULL)
        abort();
    cl_command_queue queue = NULL;
    shared_job job = {.index = f->index, .layer = c->layer, .p = c->p};
    if (f->index == 1) {
        cl_int err;
        queue = clCreateCommandQueue(clconvt_device_context(support_device()),
                                     clconvt_device_id(support_device()), 0, &err);
        if (err != CL_SUCCESS)
            note(r, "clCreateCommandQueue: %d", err);
    }
    for (int it = 0; it < SWAP_FORWARDS && r->failures == 0 && job.result.failures == 0; ++it) {
        int ok;
        if (f->index == 1) {
            ok = forward_on_own_queue(&job, queue, c->x, c->nx, y, c->ny, c->batch, c->length_in) ==
                 0;
        } else {
            ok = clconvt_layer_forward_host(c->layer, c->x, y, c->batch, c->length_in) ==
                 CLCONVT_SUCCESS;
            if (!ok)
                note(r, "forward_host: %s", clconvt_last_error());
        }
        if (ok && !matches_a_pair(c, y))
            note(r, "forward %d: the output is that of no weight and bias set", it);
    }
    if (job.result.failures > 0)
        note(r, "%s", job.result.first);
    if (queue != NULL)
        clReleaseCommandQueue(queue);
    free(y);
    atomic_fetch_sub(&c->forwarders_left, 1);
    return NULL;
}

static void *swap_setter_worker(void *arg) {
    swap_case *c = arg;
    float *got = malloc(c->nw * sizeof *got);
    if (got == NULL)
        abort();
    do {
        const int i = c->swaps++;
        if (clconvt_layer_set_weight(c->layer, c->weights[i % 2], CLCONVT_WEIGHT_PYTORCH,
                                     CLCONVT_F32) != CLCONVT_SUCCESS ||
            clconvt_layer_set_bias(c->layer, c->biases[(i / 3) % 2], CLCONVT_F32) !=
                CLCONVT_SUCCESS ||
            clconvt_layer_get_weight(c->layer, got) != CLCONVT_SUCCESS) {
            note(&c->setter, "swap %d: %s", i, clconvt_last_error());
            break;
        }
        /* Only this thread sets the weight: it reads back the one it set. */
        if (memcmp(got, c->max_order[i % 2], c->nw * sizeof *got) != 0)
            note(&c->setter, "swap %d: get_weight gave another weight than the one set", i);
    } while (atomic_load(&c->forwarders_left) > 0);
    free(got);
    return NULL;
}

/* (Cin, Cout_g, K) to (K, Cout_g, Cin). */
static float *to_max_order(const clconvt_params *p, const float *w) {
    const size_t cin = (size_t)p->in_channels, cout_g = (size_t)(p->out_channels / p->groups);
    const size_t k = (size_t)p->kernel_length;
    float *m = malloc(cin * cout_g * k * sizeof *m);
    if (m == NULL)
        abort();
    for (size_t ci = 0; ci < cin; ++ci)
        for (size_t co = 0; co < cout_g; ++co)
            for (size_t t = 0; t < k; ++t)
                m[(t * cout_g + co) * cin + ci] = w[(ci * cout_g + co) * k + t];
    return m;
}

static void weights_swapped_during_forwards(const char *plan) {
    support_require_plan(plan);
    clconvt_params p;
    clconvt_params_init(&p, 8, 8, 4);
    p.stride = 2;
    p.has_bias = 1;
    p.layout = CLCONVT_LAYOUT_NCL;
    swap_case c = {.p = &p, .batch = 2, .length_in = 64};
    int64_t length_out;
    cr_assert_eq(clconvt_output_length(&p, c.length_in, &length_out), CLCONVT_SUCCESS);
    c.nx = (size_t)(c.batch * p.in_channels * c.length_in);
    c.ny = (size_t)(c.batch * p.out_channels * length_out);
    c.nw = (size_t)(p.in_channels * p.out_channels * p.kernel_length);
    double *x, *w[2], *b[2];
    float *xf = random_floats(c.nx, 11, &x);
    c.x = xf;
    for (int i = 0; i < 2; ++i) {
        c.weights[i] = random_floats(c.nw, 20 + (uint64_t)i, &w[i]);
        c.biases[i] = random_floats((size_t)p.out_channels, 30 + (uint64_t)i, &b[i]);
        c.max_order[i] = to_max_order(&p, c.weights[i]);
    }
    for (int r = 0; r < 4; ++r) {
        c.refs[r] = malloc((c.ny + 1) * sizeof *c.refs[r]);
        cr_assert_not_null(c.refs[r]);
        cr_assert_eq(reference_forward(&p, x, w[r % 2], b[r / 2], c.batch, c.length_in, c.refs[r]),
                     0);
    }
    cr_assert_eq(clconvt_layer_create_with_plan(support_device(), &p, plan, &c.layer),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    cr_assert_eq(
        clconvt_layer_set_weight(c.layer, c.weights[0], CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32),
        CLCONVT_SUCCESS);
    cr_assert_eq(clconvt_layer_set_bias(c.layer, c.biases[0], CLCONVT_F32), CLCONVT_SUCCESS);

    atomic_init(&c.forwarders_left, 2);
    swap_forwarder forwarders[2] = {{&c, 0}, {&c, 1}};
    pthread_t threads[3];
    for (int i = 0; i < 2; ++i)
        cr_assert_eq(pthread_create(&threads[i], NULL, swap_forward_worker, &forwarders[i]), 0);
    cr_assert_eq(pthread_create(&threads[2], NULL, swap_setter_worker, &c), 0);
    for (int i = 0; i < 3; ++i)
        cr_assert_eq(pthread_join(threads[i], NULL), 0);
    expect_no_failures(c.forwarders, 2);
    expect_no_failures(&c.setter, 1);
    cr_log_info("%d weight swaps during %d forwards", c.swaps, 2 * SWAP_FORWARDS);

    clconvt_layer_release(c.layer);
    for (int r = 0; r < 4; ++r)
        free(c.refs[r]);
    for (int i = 0; i < 2; ++i) {
        free(c.weights[i]);
        free(c.biases[i]);
        free(c.max_order[i]);
        free(w[i]);
        free(b[i]);
    }
    free(xf);
    free(x);
}

Test(threads, set_weight_during_forwards, .timeout = 300) {
    weights_swapped_during_forwards(NULL);
}

Test(threads, set_weight_during_gemm_forwards, .timeout = 300) {
    weights_swapped_during_forwards("gemm");
}

/* ---- Layers created concurrently ------------------------------------------------------------ */

#define RUNS 3
static const int64_t RUN_LENGTHS[RUNS] = {1, 23, 300};
static const int64_t RUN_BATCHES[RUNS] = {2, 1, 3};

typedef struct create_job {
    int index;
    clconvt_params p;
    pthread_barrier_t *start;
    float *outputs[RUNS];
    size_t output_counts[RUNS];
    report result;
} create_job;

/* Layer i: stride 2 or 3, 5 or 20 output channels (today: tile width 4 or 16), so four
 * configurations, each wanted by two threads at once. */
static clconvt_params create_params(int index) {
    clconvt_params p;
    clconvt_params_init(&p, 3 + index % 4, index % 4 < 2 ? 5 : 20, 3 + index % 3);
    p.stride = index % 2 ? 3 : 2;
    p.pad_left = index % 3;
    p.has_bias = index % 2;
    return p;
}

static uint64_t create_seed(int index, int run) {
    return 50000u + 100u * (uint64_t)index + (uint64_t)run;
}

/* Create, stage and run layer p on the shared device, storing each run's output; returns 0. */
static int run_layer(const clconvt_params *p, int index, float **outputs, size_t *counts,
                     report *r) {
    clconvt_layer *layer = NULL;
    if (clconvt_layer_create(support_device(), p, &layer) != CLCONVT_SUCCESS) {
        note(r, "layer_create: %s", clconvt_last_error());
        return -1;
    }
    const size_t nw = (size_t)(p->in_channels * p->out_channels * p->kernel_length);
    double *w, *b;
    float *wf = random_floats(nw, create_seed(index, 90), &w);
    float *bf = random_floats((size_t)p->out_channels, create_seed(index, 91), &b);
    int rc = 0;
    if (clconvt_layer_set_weight(layer, wf, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32) !=
            CLCONVT_SUCCESS ||
        (p->has_bias && clconvt_layer_set_bias(layer, bf, CLCONVT_F32) != CLCONVT_SUCCESS)) {
        note(r, "staging: %s", clconvt_last_error());
        rc = -1;
    }
    for (int run = 0; run < RUNS && rc == 0; ++run) {
        int64_t length_out;
        if (clconvt_output_length(p, RUN_LENGTHS[run], &length_out) != CLCONVT_SUCCESS) {
            note(r, "output_length: %s", clconvt_last_error());
            rc = -1;
            break;
        }
        const size_t nx = (size_t)(RUN_BATCHES[run] * p->in_channels * RUN_LENGTHS[run]);
        const size_t ny = (size_t)(RUN_BATCHES[run] * p->out_channels * length_out);
        double *x;
        float *xf = random_floats(nx, create_seed(index, run), &x);
        float *y = malloc((ny + 1) * sizeof *y);
        if (y == NULL)
            abort();
        if (clconvt_layer_forward_host(layer, xf, y, RUN_BATCHES[run], RUN_LENGTHS[run]) !=
            CLCONVT_SUCCESS) {
            note(r, "forward_host: %s", clconvt_last_error());
            free(y);
            rc = -1;
        } else {
            const double error =
                error_against_reference(p, x, w, b, RUN_BATCHES[run], RUN_LENGTHS[run], y, ny);
            if (!(error <= reference_error_bound(CLCONVT_F32)))
                note(r, "layer %d run %d: error %g", index, run, error);
            outputs[run] = y;
            counts[run] = ny;
        }
        free(xf);
        free(x);
    }
    clconvt_layer_release(layer);
    free(wf);
    free(bf);
    free(w);
    free(b);
    return rc;
}

static void *create_worker(void *arg) {
    create_job *job = arg;
    pthread_barrier_wait(job->start); /* every thread asks for its program at the same moment */
    run_layer(&job->p, job->index, job->outputs, job->output_counts, &job->result);
    return NULL;
}

static uint64_t programs_built(clconvt_device *device) {
    clconvt_device_info info;
    cr_assert_eq(clconvt_device_get_info(device, &info), CLCONVT_SUCCESS);
    return info.programs_built;
}

Test(threads, layers_created_concurrently, .timeout = 120) {
    const uint64_t before = programs_built(support_device());
    create_job jobs[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; ++i) {
        jobs[i] = (create_job){.index = i, .p = create_params(i), .start = &start};
        cr_assert_eq(pthread_create(&threads[i], NULL, create_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; ++i)
        cr_assert_eq(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&start);
    report reports[THREADS];
    for (int i = 0; i < THREADS; ++i)
        reports[i] = jobs[i].result;
    expect_no_failures(reports, THREADS);

    /* However many threads raced for a program, it was compiled once: as many builds as the same
     * layers made one after another on a fresh handle (its own program cache). */
    const uint64_t built = programs_built(support_device()) - before;
    clconvt_device *fresh = NULL;
    cr_assert_eq(clconvt_device_wrap(clconvt_device_context(support_device()),
                                     clconvt_device_id(support_device()), NULL, &fresh),
                 CLCONVT_SUCCESS, "%s", clconvt_last_error());
    for (int i = 0; i < THREADS; ++i) {
        clconvt_layer *layer = NULL;
        cr_assert_eq(clconvt_layer_create(fresh, &jobs[i].p, &layer), CLCONVT_SUCCESS, "%s",
                     clconvt_last_error());
        clconvt_layer_release(layer);
    }
    const uint64_t serial_built = programs_built(fresh);
    clconvt_device_release(fresh);
    cr_assert_eq(built, serial_built, "%llu builds when racing, %llu one after another",
                 (unsigned long long)built, (unsigned long long)serial_built);
    cr_assert_gt(built, 0);

    /* Serially, layer by layer: the same bits, and no new program. */
    for (int i = 0; i < THREADS; ++i) {
        float *outputs[RUNS] = {0};
        size_t counts[RUNS] = {0};
        report r = {0};
        cr_assert_eq(run_layer(&jobs[i].p, i, outputs, counts, &r), 0, "serial layer %d: %s", i,
                     r.first);
        for (int run = 0; run < RUNS; ++run) {
            cr_assert_eq(counts[run], jobs[i].output_counts[run]);
            cr_assert_arr_eq(outputs[run], jobs[i].outputs[run], counts[run] * sizeof(float),
                             "layer %d run %d: concurrent and serial results differ", i, run);
            free(outputs[run]);
            free(jobs[i].outputs[run]);
        }
    }
    cr_assert_eq(programs_built(support_device()) - before, built,
                 "the serial layers built programs again");
}

/* ---- Thread-local errors under contention --------------------------------------------------- */

typedef struct error_job {
    int index;
    pthread_barrier_t *start;
    report result;
} error_job;

static void *error_worker(void *arg) {
    error_job *job = arg;
    char expected[64];
    snprintf(expected, sizeof expected, "stride=%d", -(job->index + 1));
    clconvt_params bad, good;
    clconvt_params_init(&bad, 2, 2, 3);
    clconvt_params_init(&good, 2, 2, 3);
    bad.stride = -(job->index + 1);
    pthread_barrier_wait(job->start);
    for (int it = 0; it < 3000; ++it) {
        int64_t length_out;
        if (clconvt_output_length(&bad, 4, &length_out) != CLCONVT_ERROR_INVALID_PARAMETER)
            note(&job->result, "the bad parameters were accepted");
        /* Give the other threads a chance to overwrite a shared buffer, were it shared. */
        if (it % 64 == 0)
            sched_yield();
        const char *message = clconvt_last_error();
        if (strstr(message, expected) == NULL)
            note(&job->result, "iteration %d: expected \"%s\", found \"%s\"", it, expected,
                 message);
        if (clconvt_output_length(&good, 4, &length_out) != CLCONVT_SUCCESS)
            note(&job->result, "the good parameters were refused: %s", clconvt_last_error());
        else if (clconvt_last_error()[0] != '\0')
            note(&job->result, "a success left \"%s\"", clconvt_last_error());
    }
    return NULL;
}

Test(threads, last_error_under_contention) {
    error_job jobs[THREADS];
    pthread_t threads[THREADS];
    pthread_barrier_t start;
    cr_assert_eq(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; ++i) {
        jobs[i] = (error_job){.index = i, .start = &start};
        cr_assert_eq(pthread_create(&threads[i], NULL, error_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; ++i)
        cr_assert_eq(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&start);
    report reports[THREADS];
    for (int i = 0; i < THREADS; ++i)
        reports[i] = jobs[i].result;
    expect_no_failures(reports, THREADS);
}
