/*
 * Concurrency without Criterion, for ThreadSanitizer: Criterion cannot start under TSan ("Could not
 * initialize inheritable arena": its fixed-address arena collides with TSan's shadow memory), so
 * tests/test_threads.c cannot run there. This program covers the same ground with plain pthreads
 * and exits non-zero on any wrong result:
 * - one device and one layer shared by THREADS threads, each running forward_host and forward on
 *   its own queue and buffers, every result bit-identical to the same forward done serially, while
 *   another thread reads clconvt_device_get_info (the allocation counters);
 * - layers of the same and of different parameters created at the same moment on one device (the
 *   program cache's lock; each program built once);
 * - the thread-local last error under concurrent failures, each thread seeing its own message.
 * Meson test 'threads_plain' in every build; `meson test --setup tsan threads_plain` in a build
 * configured with -Db_sanitize=thread (tests/reliability.sh).
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"

#define THREADS 4
#define ROUNDS 3

static atomic_int failures;

static void fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *format, ...) {
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    va_list args;
    va_start(args, format);
    pthread_mutex_lock(&lock);
    fputs("threads_plain: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    pthread_mutex_unlock(&lock);
    va_end(args);
    atomic_fetch_add(&failures, 1);
}

static void fill(float *values, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; ++i) {
        seed = seed * 1664525u + 1013904223u;
        values[i] = (float)((int32_t)seed >> 8) * 0x1p-23f;
    }
}

/* ---- One layer, many threads --------------------------------------------------------------- */

typedef struct shared {
    clconvt_device *device;
    clconvt_layer *layer;
    const float *x;
    const float *expected;
    size_t x_count, y_count;
    int64_t batch, length;
    atomic_int done;
} shared;

static void *forward_worker(void *arg) {
    shared *s = arg;
    float *y = malloc(s->y_count * sizeof *y);
    cl_int err;
    cl_context context = clconvt_device_context(s->device);
    cl_device_id id = clconvt_device_id(s->device);
    cl_command_queue queue = clCreateCommandQueue(context, id, 0, &err);
    cl_mem in = err == CL_SUCCESS ? clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                                   s->x_count * sizeof(float), (void *)s->x, &err)
                                  : NULL;
    cl_mem out = err == CL_SUCCESS ? clCreateBuffer(context, CL_MEM_WRITE_ONLY,
                                                    s->y_count * sizeof(float), NULL, &err)
                                   : NULL;
    if (y == NULL || err != CL_SUCCESS) {
        fail("setting up a worker failed (%d)", (int)err);
        goto done;
    }
    for (int round = 0; round < ROUNDS; ++round) {
        memset(y, 0, s->y_count * sizeof *y);
        if (clconvt_layer_forward_host(s->layer, s->x, y, s->batch, s->length) != CLCONVT_SUCCESS)
            fail("forward_host: %s", clconvt_last_error());
        else if (memcmp(y, s->expected, s->y_count * sizeof *y) != 0)
            fail("forward_host differs from the serial result");
        cl_event event = NULL;
        memset(y, 0, s->y_count * sizeof *y);
        if (clconvt_layer_forward(s->layer, queue, in, out, s->batch, s->length, 0, NULL, &event) !=
            CLCONVT_SUCCESS) {
            fail("forward: %s", clconvt_last_error());
            continue;
        }
        err = clEnqueueReadBuffer(queue, out, CL_TRUE, 0, s->y_count * sizeof(float), y, 1, &event,
                                  NULL);
        clReleaseEvent(event);
        if (err != CL_SUCCESS)
            fail("reading a forward's output failed (%d)", (int)err);
        else if (memcmp(y, s->expected, s->y_count * sizeof *y) != 0)
            fail("forward on a worker's queue differs from the serial result");
    }
done:
    if (in != NULL)
        clReleaseMemObject(in);
    if (out != NULL)
        clReleaseMemObject(out);
    if (queue != NULL)
        clReleaseCommandQueue(queue);
    free(y);
    atomic_fetch_add(&s->done, 1);
    return NULL;
}

/* Reads the device's counters while the forwards run. */
static void *info_worker(void *arg) {
    shared *s = arg;
    while (atomic_load(&s->done) < THREADS) {
        clconvt_device_info info;
        if (clconvt_device_get_info(s->device, &info) != CLCONVT_SUCCESS)
            fail("device_get_info: %s", clconvt_last_error());
        else if (info.peak_allocated_bytes < info.allocated_bytes)
            fail("peak %llu below allocated %llu", (unsigned long long)info.peak_allocated_bytes,
                 (unsigned long long)info.allocated_bytes);
    }
    return NULL;
}

static void one_layer_many_threads(clconvt_device *device) {
    clconvt_params p;
    clconvt_params_init(&p, 6, 10, 5);
    p.stride = 3;
    p.pad_left = 2;
    p.pad_right = 1;
    p.has_bias = 1;
    p.layout = CLCONVT_LAYOUT_NCL;
    shared s = {.device = device, .batch = 2, .length = 37};
    int64_t length_out = 0;
    clconvt_output_length(&p, s.length, &length_out);
    s.x_count = (size_t)(s.batch * p.in_channels * s.length);
    s.y_count = (size_t)(s.batch * p.out_channels * length_out);
    float *x = malloc(s.x_count * sizeof *x), *expected = malloc(s.y_count * sizeof *expected);
    float w[6 * 10 * 5], b[10];
    fill(x, s.x_count, 1);
    fill(w, sizeof w / sizeof w[0], 2);
    fill(b, 10, 3);
    if (clconvt_layer_create(device, &p, &s.layer) != CLCONVT_SUCCESS ||
        clconvt_layer_set_weight(s.layer, w, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32) !=
            CLCONVT_SUCCESS ||
        clconvt_layer_set_bias(s.layer, b, CLCONVT_F32) != CLCONVT_SUCCESS ||
        clconvt_layer_forward_host(s.layer, x, expected, s.batch, s.length) != CLCONVT_SUCCESS) {
        fail("serial setup: %s", clconvt_last_error());
        clconvt_layer_release(s.layer);
        free(x);
        free(expected);
        return;
    }
    s.x = x;
    s.expected = expected;
    atomic_init(&s.done, 0);
    pthread_t threads[THREADS + 1];
    for (int i = 0; i < THREADS; ++i)
        pthread_create(&threads[i], NULL, forward_worker, &s);
    pthread_create(&threads[THREADS], NULL, info_worker, &s);
    for (int i = 0; i <= THREADS; ++i)
        pthread_join(threads[i], NULL);
    clconvt_layer_release(s.layer);
    free(x);
    free(expected);
}

/* ---- Layers created at the same moment ----------------------------------------------------- */

typedef struct creator {
    clconvt_device *device;
    int index;
    pthread_barrier_t *barrier;
} creator;

static void *create_worker(void *arg) {
    const creator *c = arg;
    clconvt_params p;
    /* Two threads per parameter set: the same program requested twice at once. */
    clconvt_params_init(&p, 4 + c->index / 2, 8, 4);
    p.stride = 2;
    p.layout = c->index % 4 < 2 ? CLCONVT_LAYOUT_NLC : CLCONVT_LAYOUT_NCL;
    float w[(4 + THREADS) * 8 * 4];
    fill(w, sizeof w / sizeof w[0], (uint32_t)c->index);
    pthread_barrier_wait(c->barrier);
    clconvt_layer *layer = NULL;
    if (clconvt_layer_create(c->device, &p, &layer) != CLCONVT_SUCCESS ||
        clconvt_layer_set_weight(layer, w, CLCONVT_WEIGHT_MAX, CLCONVT_F32) != CLCONVT_SUCCESS)
        fail("thread %d: %s", c->index, clconvt_last_error());
    else {
        float x[2 * 9 * (4 + THREADS)], y[2 * 20 * 8];
        fill(x, (size_t)(2 * 9 * p.in_channels), 7);
        if (clconvt_layer_forward_host(layer, x, y, 2, 9) != CLCONVT_SUCCESS)
            fail("thread %d forward: %s", c->index, clconvt_last_error());
    }
    clconvt_layer_release(layer);
    return NULL;
}

static void layers_created_concurrently(clconvt_device *device) {
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    pthread_t threads[THREADS];
    creator creators[THREADS];
    for (int i = 0; i < THREADS; ++i) {
        creators[i] = (creator){device, i, &barrier};
        pthread_create(&threads[i], NULL, create_worker, &creators[i]);
    }
    for (int i = 0; i < THREADS; ++i)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&barrier);
}

/* ---- The thread-local last error ----------------------------------------------------------- */

static void *error_worker(void *arg) {
    const int index = (int)(intptr_t)arg;
    char expected[64];
    snprintf(expected, sizeof expected, "stride=%d", -1 - index);
    for (int round = 0; round < 200; ++round) {
        clconvt_params p;
        clconvt_params_init(&p, 2, 2, 3);
        p.stride = -1 - index;
        if (clconvt_params_validate(&p) == CLCONVT_SUCCESS ||
            strstr(clconvt_last_error(), expected) == NULL) {
            fail("thread %d sees \"%s\"", index, clconvt_last_error());
            break;
        }
    }
    return NULL;
}

static void last_error_under_contention(void) {
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; ++i)
        pthread_create(&threads[i], NULL, error_worker, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; ++i)
        pthread_join(threads[i], NULL);
}

int main(void) {
    clconvt_device *device = NULL;
    if (clconvt_device_open(CLCONVT_DEVICE_ANY, NULL, &device) != CLCONVT_SUCCESS) {
        fprintf(stderr, "threads_plain: %s\n", clconvt_last_error());
        return 1;
    }
    one_layer_many_threads(device);
    layers_created_concurrently(device);
    last_error_under_contention();
    clconvt_device_release(device);
    const int n = atomic_load(&failures);
    printf("threads_plain: %s\n", n == 0 ? "all results right" : "FAILED");
    return n == 0 ? 0 : 1;
}
