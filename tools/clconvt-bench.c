/*
 * clconvt-bench: times every row of a shapes table (bench/shapes.csv) on one OpenCL device and
 * checks each row's output against the float64 reference.
 *
 * Per row: the time of the very first forward of that shape in the process (layer creation,
 * weight and bias staging and program preparation included), the median and minimum of timed
 * forwards on device buffers (clconvt_layer_forward + clFinish, after two warm-up runs), GFLOP/s,
 * the SPEC's normalised error, the most device memory clconvt held, the kernel plan, and the
 * weight staging alone (set_weight) beside a memcpy of the same bytes.
 *
 * Exit status: 0 when every row ran and is within the SPEC's error bound for its dtype; 1 when a
 * row failed, exceeded its bound, or the shapes file or the device could not be used; 2 for a
 * usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "clconvt.h"
#include "file_output.h"
#include "harness.h"
#include "reference.h"
#include "shapes.h"
#include "tool_util.h"

#define BENCH_MAX_REPEAT 100000
#define BENCH_WARMUP 2
#define BENCH_SEED UINT64_C(0xbe9c4c0417d3a5e1)

static const char *const program = "clconvt-bench";

/* What one row measured. */
typedef struct bench_result {
    int ran; /* 1 when every step succeeded (the error may still exceed the bound) */
    char plan[64];
    double first_ms, median_ms, min_ms, gflops, error;
    double stage_ms, stage_bytes, memcpy_ms; /* set_weight alone; the weight's bytes; a memcpy */
    uint64_t peak_bytes;
} bench_result;

typedef struct bench_options {
    const char *shapes, *selector, *csv, *filter;
    int64_t repeat;
    int dtype_override; /* -1: the file's dtype column (or f32) */
} bench_options;

/* The rows of the shapes file whose label contains the filter (all are checked first). */
static int load_rows(const bench_options *opt, shapes_row **rows_out, size_t *count_out) {
    shapes_row *rows = NULL;
    size_t count = 0;
    if (shapes_read(program, opt->shapes, opt->dtype_override, &rows, &count) != 0)
        return -1;
    if (opt->filter) {
        size_t kept = 0;
        for (size_t i = 0; i < count; ++i)
            if (strstr(rows[i].label, opt->filter))
                rows[kept++] = rows[i];
        if (kept == 0) {
            fprintf(stderr, "%s: no row of '%s' has a name containing '%s'\n", program, opt->shapes,
                    opt->filter);
            free(rows);
            return -1;
        }
        count = kept;
    }
    *rows_out = rows;
    *count_out = count;
    return 0;
}

/* ---- Running a row -------------------------------------------------------------------------- */

static void report(const shapes_row *row, const char *what, const char *why) {
    fprintf(stderr, "%s: row '%s' (line %d): %s failed: %s\n", program, row->label, row->line, what,
            why);
}

static void report_status(const shapes_row *row, const char *what, clconvt_status st) {
    char why[1024];
    snprintf(why, sizeof why, "%s: %s", clconvt_status_string(st), clconvt_last_error());
    report(row, what, why);
}

/* A plain memcpy of the weight's bytes into fresh memory, as set_weight's copies are: the yardstick
 * of staging (README: goal <= 3x). */
static int time_memcpy(const harness_data *d, double *ms) {
    const size_t bytes = d->n_w * sizeof *d->weight;
    const double start = tool_now_seconds();
    unsigned char *copy = malloc(bytes ? bytes : 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, d->weight, bytes);
    *ms = (tool_now_seconds() - start) * 1e3;
    const volatile unsigned char kept = copy[bytes / 2]; /* the copy is used */
    (void)kept;
    free(copy);
    return 0;
}

/* The very first forward of this shape in the process, everything a caller waits for included:
 * layer creation, weight and bias staging, program preparation. 0 with *layer, or -1. */
static int first_call(clconvt_device *device, const shapes_row *row, harness_data *d,
                      clconvt_layer **layer, bench_result *res) {
    clconvt_device_reset_peak(device);
    const double t_first = tool_now_seconds();
    clconvt_status st = clconvt_layer_create(device, &row->params, layer);
    if (st != CLCONVT_SUCCESS) {
        report_status(row, "clconvt_layer_create", st);
        return -1;
    }
    double stage_seconds;
    if ((st = harness_stage_timed(d, *layer, &stage_seconds)) != CLCONVT_SUCCESS) {
        report_status(row, "staging the weight and bias", st);
        return -1;
    }
    st = clconvt_layer_forward_host(*layer, d->input, d->output, row->batch, row->length_in);
    if (st != CLCONVT_SUCCESS) {
        report_status(row, "clconvt_layer_forward_host", st);
        return -1;
    }
    res->first_ms = (tool_now_seconds() - t_first) * 1e3;
    res->stage_ms = stage_seconds * 1e3;
    res->stage_bytes = (double)(d->n_w * sizeof *d->weight);
    if (time_memcpy(d, &res->memcpy_ms) != 0) {
        fprintf(stderr, "%s: out of host memory\n", program);
        return -1;
    }
    clconvt_device_info info;
    if ((st = clconvt_device_get_info(device, &info)) != CLCONVT_SUCCESS) {
        report_status(row, "clconvt_device_get_info", st);
        return -1;
    }
    res->peak_bytes = info.peak_allocated_bytes;
    snprintf(res->plan, sizeof res->plan, "%s", clconvt_layer_plan_name(*layer));
    return 0;
}

/* Run one row: first call, reference check, timed forwards on device buffers. 0 on success (the
 * error may still exceed the bound: the caller judges), -1 after printing what failed. */
static int run_row(clconvt_device *device, const shapes_row *row, int64_t repeat,
                   bench_result *res) {
    int rc = -1;
    const clconvt_params *p = &row->params;
    clconvt_layer *layer = NULL;
    harness_data d = {0};
    harness_buffers b = {0};
    harness_timing t = {0};
    char why[1024];
    double timed_error = 0.0;
    memset(res, 0, sizeof *res);
    /* A row's seed depends on its name only, so --filter and row order do not change its data. */
    if (harness_data_make(&d, p, row->batch, row->length_in, BENCH_SEED ^ reference_hash(row->name),
                          why, sizeof why) != 0) {
        report(row, "preparing the data", why);
        goto cleanup;
    }
    if (first_call(device, row, &d, &layer, res) != 0)
        goto cleanup;
    const double host_error = harness_error(&d, d.output);
    /* Timed runs on our own device buffers; the output starts as a NaN pattern, so a position
     * the kernels never write shows in the error. */
    if (harness_buffers_open(&b, device, &d, 0, why, sizeof why) != 0) {
        report(row, "creating the device buffers", why);
        goto cleanup;
    }
    for (int w = 0; w < BENCH_WARMUP; ++w)
        if (harness_time_forward(&b, &d, layer, why, sizeof why) < 0) {
            report(row, "a warm-up forward", why);
            goto cleanup;
        }
    if (harness_measure(&b, &d, layer, NULL, (int)repeat, &t, NULL, why, sizeof why) != 0 ||
        harness_read_error(&b, &d, &timed_error, why, sizeof why) != 0) {
        report(row, "the timed forwards", why);
        goto cleanup;
    }
    const double flops = 2.0 * (double)row->batch * (double)row->length_in *
                         (double)p->in_channels * (double)(p->out_channels / p->groups) *
                         (double)p->kernel_length;
    res->median_ms = t.median * 1e3;
    res->min_ms = t.min * 1e3;
    res->gflops = t.median > 0.0 ? flops / t.median * 1e-9 : 0.0;
    res->error = timed_error > host_error ? timed_error : host_error;
    if (isnan(timed_error) || isnan(host_error))
        res->error = INFINITY;
    res->ran = 1;
    rc = 0;
cleanup:
    harness_buffers_release(&b);
    clconvt_layer_release(layer);
    harness_data_free(&d);
    return rc;
}

/* ---- Output --------------------------------------------------------------------------------- */

/* The CSV is written as src/file_output.h says (atomically for a file, in place for a device or
 * FIFO), begun before any row runs so that an unwritable path fails at once. */
#define CSV_HEADER                                                                                 \
    "name,plan,median_ms,min_ms,gflops,normalised_error,peak_device_bytes,first_call_ms,"          \
    "stage_ms,stage_bytes_per_s,memcpy_ms\n"

typedef struct csv_output {
    const char *path;
    clconvt_output out;
} csv_output;

/* Bytes of the caller's weight staged per second. */
static double stage_rate(const bench_result *r) {
    return r->stage_ms > 0 ? r->stage_bytes / (r->stage_ms * 1e-3) : 0.0;
}

static int csv_begin(csv_output *csv, const char *path) {
    char why[512];
    csv->path = path;
    if (clconvt_output_begin(&csv->out, path, why, sizeof why) != 0) {
        fprintf(stderr, "%s: --csv '%s': %s\n", program, path, why);
        return -1;
    }
    return 0;
}

/* Drop the output (after a failure, or when nothing is to be written). */
static void csv_abort(csv_output *csv) {
    clconvt_output_abort(&csv->out);
}

/* Write the rows that ran and commit the file; the temporary is gone either way. */
static int csv_commit(csv_output *csv, const shapes_row *rows, const bench_result *results,
                      size_t count) {
    char line[1024], why[512];
    clconvt_output_write(&csv->out, CSV_HEADER, strlen(CSV_HEADER));
    for (size_t i = 0; i < count; ++i) {
        const bench_result *r = &results[i];
        if (!r->ran)
            continue;
        snprintf(line, sizeof line, "%s,%s,%.4f,%.4f,%.3f,%.3e,%" PRIu64 ",%.3f,%.3f,%.4e,%.3f\n",
                 rows[i].label, r->plan, r->median_ms, r->min_ms, r->gflops, r->error,
                 r->peak_bytes, r->first_ms, r->stage_ms, stage_rate(r), r->memcpy_ms);
        clconvt_output_write(&csv->out, line, strlen(line));
    }
    if (clconvt_output_commit(&csv->out, why, sizeof why) != 0) {
        fprintf(stderr, "%s: --csv '%s': %s\n", program, csv->path, why);
        return -1;
    }
    return 0;
}

static void usage(FILE *to) {
    fprintf(
        to,
        "usage: clconvt-bench --shapes FILE.csv [--device SEL] [--repeat N] [--csv OUT.csv]\n"
        "                     [--dtype f32|f16|bf16] [--filter SUBSTRING] [--help]\n"
        "\n"
        "Times ConvTranspose1d for every row of a shapes table on one OpenCL device and checks\n"
        "each row against a float64 reference.\n"
        "\n"
        "  --shapes FILE  CSV with a header naming the columns, in any order: name, batch,\n"
        "                 in_channels, out_channels, kernel, stride, padding (symmetric),\n"
        "                 output_padding, dilation, groups, length_in, layout (ncl|nlc), bias\n"
        "                 (0|1), and optionally dtype (f32|f16|bf16, default f32). Blank lines\n"
        "                 and lines starting with '#' are skipped.\n"
        "  --device SEL   gpu, cpu, any, P:D or a device/platform name substring\n"
        "                 (default: a GPU if there is one, else a CPU; CLCONVT_DEVICE overrides)\n"
        "  --repeat N     timed forwards per row after %d warm-up runs (default 10)\n"
        "  --csv OUT      also write the results as CSV: name,plan,median_ms,min_ms,gflops,\n"
        "                 normalised_error,peak_device_bytes,first_call_ms,stage_ms,\n"
        "                 stage_bytes_per_s,memcpy_ms\n"
        "  --dtype T      storage dtype of every row, overriding the dtype column\n"
        "  --filter S     run only the rows whose name contains S (names of rows that are not\n"
        "                 f32 end in @f16 or @bf16)\n"
        "  --help         this text\n"
        "\n"
        "Per row: first_call_ms is the wall time of layer create + set_weight + set_bias + the\n"
        "first forward_host (program preparation included); median_ms and min_ms time\n"
        "clconvt_layer_forward on device buffers followed by clFinish; gflops is\n"
        "2*N*L_in*Cin*(Cout/groups)*K over the median; normalised_error is the worse of the\n"
        "first forward_host output and the last timed output against the float64 reference\n"
        "(max|y - ref| / max|ref|; bounds f32 2e-5, f16 2e-3, bf16 1.6e-2); peak_device_bytes\n"
        "is the most device memory clconvt held during the first call (weights, input, output);\n"
        "stage_ms is clconvt_layer_set_weight alone within the first call (the f32 weight in\n"
        "PyTorch order), stage GB/s its bytes over that time, memcpy_ms a plain memcpy of the\n"
        "same bytes into fresh memory in the same process.\n"
        "\n"
        "Exit status: 0 when every row ran within its error bound; 1 when a row failed or\n"
        "exceeded its bound (the CSV still lists every row that ran), or the file or device\n"
        "is unusable; 2 on a usage error.\n",
        BENCH_WARMUP);
}

static int parse_options(int argc, char **argv, bench_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->repeat = 10;
    opt->dtype_override = -1;
    for (int a = 1; a < argc; ++a) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        static const char *const valued[] = {"--shapes", "--device", "--repeat",
                                             "--csv",    "--dtype",  "--filter"};
        int known = 0;
        for (size_t i = 0; i < sizeof valued / sizeof *valued; ++i)
            known |= strcmp(arg, valued[i]) == 0;
        if (!known) {
            fprintf(stderr, "%s: unknown option '%s' (try --help)\n", program, arg);
            return -1;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", program, arg);
            return -1;
        }
        const char *value = argv[++a];
        if (strcmp(arg, "--shapes") == 0)
            opt->shapes = value;
        else if (strcmp(arg, "--device") == 0)
            opt->selector = value;
        else if (strcmp(arg, "--csv") == 0)
            opt->csv = value;
        else if (strcmp(arg, "--filter") == 0)
            opt->filter = value;
        else if (strcmp(arg, "--repeat") == 0) {
            if (tool_parse_integer(value, 1, BENCH_MAX_REPEAT, &opt->repeat) != 0) {
                fprintf(stderr, "%s: --repeat wants an integer in [1, %d], got '%s'\n", program,
                        BENCH_MAX_REPEAT, value);
                return -1;
            }
        } else {
            clconvt_dtype dtype;
            if (clconvt_dtype_from_name(value, &dtype) != CLCONVT_SUCCESS) {
                fprintf(stderr, "%s: --dtype: %s\n", program, clconvt_last_error());
                return -1;
            }
            opt->dtype_override = (int)dtype;
        }
    }
    if (!opt->shapes) {
        fprintf(stderr, "%s: --shapes FILE.csv is required (try --help)\n", program);
        return -1;
    }
    if (opt->csv && *opt->csv == '\0') {
        fprintf(stderr, "%s: --csv wants a file name\n", program);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    bench_options opt;
    const int parsed = parse_options(argc, argv, &opt);
    if (parsed != 0)
        return parsed > 0 ? 0 : 2;

    int rc = 1;
    shapes_row *rows = NULL;
    bench_result *results = NULL;
    clconvt_device *device = NULL;
    csv_output csv = {0};
    size_t count = 0;

    if (load_rows(&opt, &rows, &count) != 0)
        goto cleanup;
    if (opt.csv && csv_begin(&csv, opt.csv) != 0)
        goto cleanup;
    if (!(results = calloc(count, sizeof *results))) {
        fprintf(stderr, "%s: out of host memory\n", program);
        goto cleanup;
    }

    clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, opt.selector, &device);
    clconvt_device_info info;
    if (st == CLCONVT_SUCCESS)
        st = clconvt_device_get_info(device, &info);
    if (st != CLCONVT_SUCCESS) {
        fprintf(stderr, "%s: opening the device failed (%s): %s\n", program,
                clconvt_status_string(st), clconvt_last_error());
        goto cleanup;
    }
    printf("device: %s (platform %s, %s, driver %s, %" PRIu32 " compute units)\n", info.name,
           info.platform, tool_device_type_name(info.type), info.driver_version,
           info.compute_units);
    const char *affinity = getenv("POCL_AFFINITY");
    if (strstr(info.platform, "Portable Computing Language") != NULL &&
        (info.type & CL_DEVICE_TYPE_CPU) && (affinity == NULL || strcmp(affinity, "1") != 0))
        fprintf(stderr,
                "%s: note: POCL_AFFINITY=1 is not set; PoCL's worker threads may then share a core "
                "in some processes, and a row's timings come out up to 2x slower in those (see "
                "README.md, \"Environment variables\")\n",
                program);
    printf("shapes: %s, %zu row%s, %d warm-up + %" PRId64 " timed forwards each\n\n", opt.shapes,
           count, count == 1 ? "" : "s", BENCH_WARMUP, opt.repeat);

    int width = 4;
    for (size_t i = 0; i < count; ++i)
        if ((int)strlen(rows[i].label) > width)
            width = (int)strlen(rows[i].label);
    printf("%-*s  %-12s %10s %10s %9s %11s %9s %10s %9s %9s %9s  %s\n", width, "name", "plan",
           "median ms", "min ms", "GFLOP/s", "norm error", "peak MiB", "first ms", "stage ms",
           "stage GB/s", "memcpy ms", "check");
    fflush(stdout);

    size_t failed = 0, exceeded = 0;
    for (size_t i = 0; i < count; ++i) {
        const shapes_row *row = &rows[i];
        bench_result *res = &results[i];
        fprintf(stderr, "[%zu/%zu] %s ...\n", i + 1, count, row->label);
        if (run_row(device, row, opt.repeat, res) != 0) {
            ++failed;
            printf("%-*s  %-12s %10s %10s %9s %11s %9s %10s %9s %9s %9s  %s\n", width, row->label,
                   "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "ERROR");
            fflush(stdout);
            continue;
        }
        const double bound = reference_error_bound(row->params.dtype);
        const int ok = res->error <= bound;
        exceeded += !ok;
        printf("%-*s  %-12s %10.4f %10.4f %9.2f %11.3e %9.2f %10.1f %9.2f %9.2f %9.2f  %s\n", width,
               row->label, res->plan, res->median_ms, res->min_ms, res->gflops, res->error,
               (double)res->peak_bytes / (1024.0 * 1024.0), res->first_ms, res->stage_ms,
               stage_rate(res) * 1e-9, res->memcpy_ms, ok ? "ok" : "FAIL");
        fflush(stdout);
        if (!ok)
            fprintf(stderr,
                    "%s: row '%s' (line %d): normalised error %.3e exceeds the SPEC bound %.1e "
                    "for %s\n",
                    program, row->label, row->line, res->error, bound,
                    clconvt_dtype_name(row->params.dtype));
    }

    const int csv_failed = opt.csv && csv_commit(&csv, rows, results, count) != 0;
    printf("\n");
    if (failed == 0 && exceeded == 0)
        printf("all %zu rows ran within the SPEC error bounds\n", count);
    else
        printf("%zu of %zu rows failed to run, %zu exceeded the SPEC error bound\n", failed, count,
               exceeded);
    if (failed || exceeded)
        fprintf(stderr, "%s: %zu row%s failed to run, %zu exceeded the error bound\n", program,
                failed, failed == 1 ? "" : "s", exceeded);
    rc = failed || exceeded || csv_failed ? 1 : 0;
cleanup:
    csv_abort(&csv);
    clconvt_device_release(device);
    free(results);
    free(rows);
    return rc;
}
