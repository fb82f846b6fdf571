/*
 * clconvt-stream-bench: the time to stream a whole sequence through clconvt_stream_push_host in
 * chunks of N input frames (and the finish), against one clconvt_layer_forward_host of the same
 * sequence (which on a CPU device works in the caller's arrays, where the stream copies each
 * chunk in and each push's output out), and
 * against one clconvt_layer_forward on device buffers made once (clFinish), for the rows of a
 * shapes table whose name contains a filter.
 *
 * Per row and chunk size: the medians of `repeat` rounds, each round timing both forwards and
 * every chunk size once, in an order that rotates from round to round (so that a drifting machine
 * favours none), the ratio stream / forward, and the pushes per sequence. Every streamed output is
 * compared with the forward's, byte for byte: a difference is an error (exit status 1).
 *
 * Usage: clconvt-stream-bench --shapes FILE [--filter TEXT] [--chunks 1,8,64,512] [--repeat N]
 *                             [--device SELECTOR]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "harness.h"
#include "shapes.h"
#include "tool_util.h"

#define MAX_CHUNKS 16
#define SEED UINT64_C(0x5eed5713ea3b0001)

static const char *const program = "clconvt-stream-bench";

typedef struct options {
    const char *shapes, *filter, *selector;
    int64_t chunks[MAX_CHUNKS];
    int chunk_count;
    int64_t repeat;
} options;

static int usage(const char *message) {
    fprintf(stderr,
            "%s: %s\nusage: %s --shapes FILE [--filter TEXT] [--chunks N,N,...] [--repeat N] "
            "[--device SELECTOR]\n",
            program, message, program);
    return 2;
}

static int parse_chunks(char *text, options *opt) {
    opt->chunk_count = 0;
    for (char *save = NULL, *item = strtok_r(text, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        if (opt->chunk_count == MAX_CHUNKS ||
            tool_parse_integer(item, 1, INT64_C(1) << 30, &opt->chunks[opt->chunk_count]) != 0)
            return -1;
        ++opt->chunk_count;
    }
    return opt->chunk_count > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, options *opt) {
    *opt = (options){NULL, "", NULL, {1, 8, 64, 512}, 4, 9};
    for (int i = 1; i < argc; i += 2) {
        const char *name = argv[i];
        if (i + 1 >= argc)
            return usage("an option lacks its value");
        char *value = argv[i + 1];
        if (strcmp(name, "--shapes") == 0)
            opt->shapes = value;
        else if (strcmp(name, "--filter") == 0)
            opt->filter = value;
        else if (strcmp(name, "--device") == 0)
            opt->selector = value;
        else if (strcmp(name, "--chunks") == 0) {
            if (parse_chunks(value, opt) != 0)
                return usage("--chunks takes up to 16 positive integers, comma-separated");
        } else if (strcmp(name, "--repeat") == 0) {
            if (tool_parse_integer(value, 1, 10000, &opt->repeat) != 0)
                return usage("--repeat takes an integer in 1..10000");
        } else
            return usage("unknown option (see the comment at the top of the source)");
    }
    return opt->shapes != NULL ? 0 : usage("--shapes is required");
}

/* The rows of a dense frame array: (batch, n, C) has batch rows of C values per frame, (batch, C,
 * n) batch * C rows of one value per frame. */
typedef struct frame_rows {
    size_t rows, frame_bytes;
} frame_rows;

static frame_rows rows_of(const harness_data *d, int64_t channels) {
    if (d->params.layout == CLCONVT_LAYOUT_NCL)
        return (frame_rows){(size_t)(d->batch * channels), d->elem};
    return (frame_rows){(size_t)d->batch, (size_t)channels * d->elem};
}

static void copy_frames(frame_rows f, const char *src, int64_t src_total, int64_t src_first,
                        char *dst, int64_t dst_total, int64_t dst_first, int64_t count) {
    for (size_t r = 0; r < f.rows; ++r)
        memcpy(dst + (r * (size_t)dst_total + (size_t)dst_first) * f.frame_bytes,
               src + (r * (size_t)src_total + (size_t)src_first) * f.frame_bytes,
               (size_t)count * f.frame_bytes);
}

/* Buffers for streaming d's input in chunks of `chunk` frames into `out` (the whole output). */
typedef struct stream_run {
    clconvt_stream *stream;
    int64_t chunk, capacity;
    char *in, *piece, *out;
} stream_run;

/* The whole sequence through the stream, in chunks (the copies in and out are timed too: a caller
 * has them as well). Seconds, or -1 after a message. */
static double time_stream(stream_run *r, const harness_data *d) {
    const frame_rows in_rows = rows_of(d, d->params.in_channels);
    const frame_rows out_rows = rows_of(d, d->params.out_channels);
    int64_t emitted = 0, n_out = 0;
    const double start = tool_now_seconds();
    clconvt_status st = CLCONVT_SUCCESS;
    for (int64_t first = 0, count = 0; st == CLCONVT_SUCCESS && first < d->length_in;
         first += count) {
        count = d->length_in - first < r->chunk ? d->length_in - first : r->chunk;
        copy_frames(in_rows, d->input, d->length_in, first, r->in, count, 0, count);
        st = clconvt_stream_push_host(r->stream, r->in, count, r->piece, r->capacity, &n_out);
        copy_frames(out_rows, r->piece, n_out, 0, r->out, d->length_out, emitted, n_out);
        emitted += n_out;
    }
    if (st == CLCONVT_SUCCESS)
        st = clconvt_stream_finish_host(r->stream, r->piece, r->capacity, &n_out);
    if (st == CLCONVT_SUCCESS)
        copy_frames(out_rows, r->piece, n_out, 0, r->out, d->length_out, emitted, n_out);
    const double seconds = tool_now_seconds() - start;
    clconvt_stream_reset(r->stream);
    if (st != CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: stream push: %s\n", program, clconvt_last_error());
        return -1;
    }
    return seconds;
}

static int stream_open(stream_run *r, clconvt_layer *layer, const harness_data *d, int64_t chunk) {
    memset(r, 0, sizeof *r);
    r->chunk = chunk;
    if (clconvt_stream_create(layer, d->batch, &r->stream) != CLCONVT_SUCCESS ||
        clconvt_stream_max_output(r->stream, chunk, &r->capacity) != CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: %s\n", program, clconvt_last_error());
        return -1;
    }
    const frame_rows in_rows = rows_of(d, d->params.in_channels);
    const frame_rows out_rows = rows_of(d, d->params.out_channels);
    r->in = malloc(in_rows.rows * in_rows.frame_bytes * (size_t)chunk);
    r->piece = malloc(out_rows.rows * out_rows.frame_bytes * (size_t)r->capacity + 1);
    r->out = malloc(d->n_y * d->elem);
    if (r->in == NULL || r->piece == NULL || r->out == NULL) {
        fprintf(stderr, "%s: out of host memory\n", program);
        return -1;
    }
    return 0;
}

static void stream_close(stream_run *r) {
    clconvt_stream_release(r->stream);
    free(r->in);
    free(r->piece);
    free(r->out);
}

/* One timed run of variant v of a row: 0 forward_host, 1 the device forward, 2 + c the stream in
 * chunks of chunk size c. Seconds, or -1 after a message. */
static double time_variant(size_t v, clconvt_layer *layer, harness_data *d, harness_buffers *b,
                           stream_run *runs, const char *label) {
    char reason[256];
    if (v >= 2)
        return time_stream(&runs[v - 2], d);
    if (v == 1) {
        const double t = harness_time_forward(b, d, layer, reason, sizeof reason);
        if (t < 0)
            fprintf(stderr, "%s: %s: %s\n", program, label, reason);
        return t;
    }
    const double start = tool_now_seconds();
    if (clconvt_layer_forward_host(layer, d->input, d->output, d->batch, d->length_in) !=
        CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: %s: %s\n", program, label, clconvt_last_error());
        return -1;
    }
    return tool_now_seconds() - start;
}

/* Times of one row, per round: [0] forward_host, [1] the device forward, [2 + c] chunk size c. */
static int bench_row(const options *opt, clconvt_device *device, const shapes_row *row) {
    harness_data d;
    char reason[256];
    if (harness_data_make(&d, &row->params, row->batch, row->length_in, SEED, reason,
                          sizeof reason) != 0) {
        fprintf(stderr, "%s: %s: %s\n", program, row->label, reason);
        return -1;
    }
    clconvt_layer *layer = NULL;
    stream_run runs[MAX_CHUNKS];
    int opened = 0, rc = 0;
    const size_t rounds = (size_t)opt->repeat, variants = (size_t)opt->chunk_count + 2;
    harness_buffers buffers;
    memset(&buffers, 0, sizeof buffers);
    double *times = calloc(variants * rounds, sizeof *times);
    if (clconvt_layer_create(device, &row->params, &layer) != CLCONVT_SUCCESS ||
        harness_stage(&d, layer) != CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: %s: %s\n", program, row->label, clconvt_last_error());
        rc = -1;
    }
    if (rc == 0 && harness_buffers_open(&buffers, device, &d, 0, reason, sizeof reason) != 0) {
        fprintf(stderr, "%s: %s: %s\n", program, row->label, reason);
        rc = -1;
    }
    for (; rc == 0 && opened < opt->chunk_count; ++opened)
        rc = stream_open(&runs[opened], layer, &d, opt->chunks[opened]);
    /* A warm-up of each, then the rounds, rotating which goes first. */
    for (size_t round = 0; rc == 0 && round <= rounds; ++round)
        for (size_t k = 0; rc == 0 && k < variants; ++k) {
            const size_t v = (k + round) % variants;
            const double t = time_variant(v, layer, &d, &buffers, runs, row->label);
            rc = t < 0 ? -1 : 0;
            if (round > 0)
                times[v * rounds + round - 1] = t;
        }
    char plan[128] = "";
    if (rc == 0)
        clconvt_layer_plan(layer, plan, sizeof plan);
    const double forward_ms = rc == 0 ? tool_median(times, rounds) * 1e3 : 0;
    const double device_ms = rc == 0 ? tool_median(times + rounds, rounds) * 1e3 : 0;
    for (int c = 0; rc == 0 && c < opt->chunk_count; ++c) {
        if (memcmp(runs[c].out, d.output, d.n_y * d.elem) != 0) {
            fprintf(stderr, "%s: %s: chunks of %" PRId64 " give another output than the forward\n",
                    program, row->label, opt->chunks[c]);
            rc = -1;
            break;
        }
        const double ms = tool_median(times + (size_t)(c + 2) * rounds, rounds) * 1e3;
        const int64_t pushes = (row->length_in + opt->chunks[c] - 1) / opt->chunks[c];
        printf("%s,%" PRId64 ",%" PRId64 ",%.3f,%.3f,%.3f,%.2f,%.2f,%.1f,identical,%s\n",
               row->label, opt->chunks[c], pushes, forward_ms, device_ms, ms, ms / forward_ms,
               ms / device_ms, ms * 1e3 / (double)pushes, plan);
    }
    for (int c = 0; c < opened; ++c)
        stream_close(&runs[c]);
    free(times);
    harness_buffers_release(&buffers);
    clconvt_layer_release(layer);
    harness_data_free(&d);
    return rc;
}

int main(int argc, char **argv) {
    options opt;
    const int parsed = parse_args(argc, argv, &opt);
    if (parsed != 0)
        return parsed;
    shapes_row *rows = NULL;
    size_t count = 0;
    if (shapes_read(program, opt.shapes, -1, &rows, &count) != 0)
        return 1;
    clconvt_device *device = NULL;
    if (clconvt_device_open(CLCONVT_DEVICE_ANY, opt.selector, &device) != CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: %s\n", program, clconvt_last_error());
        free(rows);
        return 1;
    }
    printf("row,chunk,pushes,forward_host_ms,device_forward_ms,stream_ms,stream_vs_forward_host,"
           "stream_vs_device_forward,us_per_push,output,plan\n");
    int rc = 0, matched = 0;
    for (size_t i = 0; i < count; ++i) {
        if (strstr(rows[i].name, opt.filter) == NULL)
            continue;
        /* A table may list a row twice (to time it twice); once is enough here. */
        int seen = 0;
        for (size_t j = 0; j < i; ++j)
            seen |= strcmp(rows[j].label, rows[i].label) == 0 &&
                    strstr(rows[j].name, opt.filter) != NULL;
        if (seen)
            continue;
        ++matched;
        rc |= bench_row(&opt, device, &rows[i]) != 0;
        fflush(stdout);
    }
    if (matched == 0) {
        fprintf(stderr, "%s: no row of %s has a name containing '%s'\n", program, opt.shapes,
                opt.filter);
        rc = 1;
    }
    clconvt_device_release(device);
    free(rows);
    return rc;
}
