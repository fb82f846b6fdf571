/*
 * clconvt-tune: measure kernel plans for the shapes of a CSV file and write the tuning database
 * that clconvt_layer_create consults (README.md, "Tuning").
 *
 * For each distinct shape class among the rows it measures the built-in default, then candidate
 * plans of every kernel path that fits the layout (spaces.c: one table entry per path), on the
 * first row of the class with its real sizes (search.c). Every candidate is checked against the
 * float64 reference before it may win: random data of both signs, the SPEC's error bound, no NaN,
 * and no write outside the output (tools/harness.h). Timings are medians of forwards on device
 * buffers (clFinish after each), each candidate interleaved with the best so far, so that a noisy
 * machine favours neither. The whole run, compiles included, stays within --budget; the database
 * is written after each class (atomically, merged with what the file holds for other devices),
 * and a later run skips the classes the file already has for this device.
 *
 * Exit status: 0 when every class it reached got a checked plan, 1 on a failure (a class with no
 * plan that passes the check, an unreadable shapes file or database), 2 on a usage error.
 *
 * Links the public library only: what it needs of the planner and the database is in the
 * EXPERIMENTAL section of clconvt.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "database.h"
#include "search.h"
#include "shapes.h"
#include "tool_util.h"
#include "tune.h"

#define TUNE_DEFAULT_BUDGET 300.0
#define TUNE_DEFAULT_REPEAT 7
#define TUNE_MAX_ELEMENTS (INT64_C(1) << 30) /* per tensor */

static void usage(FILE *to) {
    fprintf(
        to,
        "usage: clconvt-tune --shapes FILE.csv --output DB.json [--budget SECONDS]\n"
        "                    [--device SEL] [--repeat N] [--help]\n"
        "\n"
        "Measures kernel plans for the shape classes of FILE.csv on one OpenCL device and\n"
        "writes the fastest plan of each class, checked against a float64 reference, to the\n"
        "tuning database DB.json (merged with the entries of other devices; classes the file\n"
        "already has for this device are skipped, so an interrupted run can be resumed).\n"
        "clconvt uses the database named by CLCONVT_TUNING_DB, else\n"
        "$XDG_CACHE_HOME/clconvt/tuning.json (else ~/.cache/clconvt/tuning.json).\n"
        "\n"
        "  --shapes FILE   CSV with the header name,batch,in_channels,out_channels,kernel,\n"
        "                  stride,padding,output_padding,dilation,groups,length_in,layout,bias\n"
        "                  (any order; an optional dtype column: f32, f16 or bf16)\n"
        "  --output DB     the tuning database to write (read first when it exists)\n"
        "  --budget S      wall-clock seconds for the whole run, compiles included\n"
        "                  (default %.0f)\n"
        "  --device SEL    gpu, cpu, any, P:D or a device/platform name substring\n"
        "                  (default: a GPU if there is one, else a CPU; CLCONVT_DEVICE\n"
        "                  overrides)\n"
        "  --repeat N      timed forwards per measurement; medians are compared (default %d)\n"
        "  --help          this text\n"
        "\n"
        "Progress goes to stderr, a table of default and tuned times per row to stdout.\n"
        "Exit status: 0 on success, 1 on a failure, 2 on a usage error.\n",
        TUNE_DEFAULT_BUDGET, TUNE_DEFAULT_REPEAT);
}

typedef struct tune_options {
    const char *shapes, *output, *selector;
    double budget, repeat;
} tune_options;

static int parse_number(const char *option, const char *text, double min, double max, double *out) {
    char *end = NULL;
    errno = 0;
    const double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max)) {
        fprintf(stderr, TUNE_PROGRAM ": %s wants a number in [%g, %g], got '%s'\n", option, min,
                max, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Read the command line into *opt: 0 to run, 1 after --help, 2 after a usage error message. */
static int parse_options(int argc, char **argv, tune_options *opt) {
    *opt = (tune_options){.budget = TUNE_DEFAULT_BUDGET, .repeat = TUNE_DEFAULT_REPEAT};
    for (int a = 1; a < argc; ++a) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        static const char *const with_value[] = {"--shapes", "--output", "--budget", "--device",
                                                 "--repeat"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; ++k)
            known |= strcmp(arg, with_value[k]) == 0;
        if (!known) {
            fprintf(stderr, TUNE_PROGRAM ": unknown option '%s' (--help lists them)\n", arg);
            return 2;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, TUNE_PROGRAM ": %s needs a value\n", arg);
            return 2;
        }
        const char *value = argv[++a];
        if (strcmp(arg, "--shapes") == 0)
            opt->shapes = value;
        else if (strcmp(arg, "--output") == 0)
            opt->output = value;
        else if (strcmp(arg, "--device") == 0)
            opt->selector = value;
        else if (strcmp(arg, "--budget") == 0) {
            if (parse_number(arg, value, 1, 7 * 86400, &opt->budget) != 0)
                return 2;
        } else if (parse_number(arg, value, 1, 1000, &opt->repeat) != 0 ||
                   opt->repeat != floor(opt->repeat)) {
            if (opt->repeat != floor(opt->repeat))
                fprintf(stderr, TUNE_PROGRAM ": --repeat wants a whole number, got '%s'\n", value);
            return 2;
        }
    }
    if (opt->shapes == NULL || opt->output == NULL) {
        fprintf(stderr, TUNE_PROGRAM ": %s is required\n",
                opt->shapes == NULL ? "--shapes" : "--output");
        usage(stderr);
        return 2;
    }
    return 0;
}

/* The rows of the shapes file with their classes: *rows (caller frees); 0, or -1 after a
 * message. */
static int read_rows(const char *path, tune_row **rows, size_t *count) {
    shapes_row *shapes = NULL;
    if (shapes_read(TUNE_PROGRAM, path, -1, &shapes, count) != 0)
        return -1;
    *rows = calloc(*count, sizeof **rows);
    int rc = *rows == NULL ? -1 : 0;
    if (rc != 0)
        fprintf(stderr, TUNE_PROGRAM ": out of host memory reading %s\n", path);
    for (size_t i = 0; rc == 0 && i < *count; ++i) {
        const shapes_row *s = &shapes[i];
        const clconvt_params *p = &s->params;
        (*rows)[i].shape = *s;
        if ((int64_t)s->n_x > TUNE_MAX_ELEMENTS || (int64_t)s->n_y > TUNE_MAX_ELEMENTS ||
            (int64_t)s->n_w > TUNE_MAX_ELEMENTS) {
            fprintf(stderr,
                    TUNE_PROGRAM ": %s:%d (%s): a tensor has more than %" PRId64
                                 " elements, too large to tune\n",
                    path, s->line, s->name, TUNE_MAX_ELEMENTS);
            rc = -1;
        } else if (clconvt_experimental_shape_class(p, (*rows)[i].shape_class,
                                                    sizeof(*rows)[i].shape_class) !=
                   CLCONVT_SUCCESS) {
            fprintf(stderr, TUNE_PROGRAM ": %s:%d (%s): %s\n", path, s->line, s->name,
                    clconvt_last_error());
            rc = -1;
        }
    }
    free(shapes);
    if (rc != 0) {
        free(*rows);
        *rows = NULL;
    }
    return rc;
}

/* The run's rows, and per row the row whose class it is (-1 when it is the first). */
typedef struct tune_run {
    const tune_options *opt;
    tune_config config;
    tune_row *rows;
    size_t count;
    int *first;
    int classes, untuned, failures;
    clconvt_device *device;
} tune_run;

/* Find the first row of each class and count the classes the database lacks; 0, or -1. */
static int plan_run(tune_run *run) {
    if ((run->first = malloc(run->count * sizeof *run->first)) == NULL) {
        fprintf(stderr, TUNE_PROGRAM ": out of host memory\n");
        return -1;
    }
    for (size_t i = 0; i < run->count; ++i) {
        run->first[i] = -1;
        for (size_t j = 0; j < i && run->first[i] < 0; ++j)
            if (strcmp(run->rows[j].shape_class, run->rows[i].shape_class) == 0)
                run->first[i] = (int)j;
        if (run->first[i] >= 0)
            continue;
        ++run->classes;
        const int has = tune_db_has(run->opt->output, run->device, run->rows[i].shape_class);
        if (has < 0)
            return -1;
        run->untuned += !has;
    }
    return 0;
}

/* The other rows of row i's class, as "; also a, b" (or ""). */
static void other_rows(const tune_run *run, size_t i, char *also, size_t size) {
    size_t used = 0;
    also[0] = '\0';
    for (size_t j = i + 1; j < run->count; ++j) {
        const int n = run->first[j] != (int)i
                          ? 0
                          : snprintf(also + used, size - used, "%s%s", used ? ", " : "; also ",
                                     run->rows[j].shape.name);
        if (n > 0 && used + (size_t)n < size)
            used += (size_t)n;
        else
            also[used] = '\0';
    }
}

/* Tune the class of row i (its first row) with the time left; 0 to go on, 1 when the budget is
 * spent. */
static int tune_class(tune_run *run, size_t i, int class_number) {
    const tune_row *row = &run->rows[i];
    const int has = tune_db_has(run->opt->output, run->device, row->shape_class);
    if (has != 0) {
        if (has > 0)
            fprintf(stderr, TUNE_PROGRAM ": [%d/%d] %s: already tuned for this device, skipped\n",
                    class_number, run->classes, row->shape_class);
        run->failures += has < 0;
        return 0;
    }
    const double now = tool_now_seconds();
    if (now >= run->config.deadline) {
        fprintf(stderr,
                TUNE_PROGRAM ": the budget is spent; %d classes are left (run again to continue)\n",
                run->untuned);
        return 1;
    }
    const double stop = now + (run->config.deadline - now) / run->untuned;
    char also[256];
    other_rows(run, i, also, sizeof also);
    fprintf(stderr, TUNE_PROGRAM ": [%d/%d] %s on %s (N %" PRId64 ", L_in %" PRId64 "%s), %.0f s\n",
            class_number, run->classes, row->shape_class, row->shape.name, row->shape.batch,
            row->shape.length_in, also, stop - now);
    /* A fresh handle per class: its compiled programs go when the class is done. */
    clconvt_device *measuring = NULL;
    tune_outcome o;
    if (clconvt_device_open(CLCONVT_DEVICE_ANY, run->opt->selector, &measuring) !=
        CLCONVT_SUCCESS) {
        fprintf(stderr, TUNE_PROGRAM ": %s\n", clconvt_last_error());
        ++run->failures;
    } else if (tune_search_class(measuring, row, stop, &run->config, &o) != 0) {
        ++run->failures;
    } else {
        fprintf(stderr,
                TUNE_PROGRAM ":   => %s: %.3f ms, the default %.3f ms (%.2fx); %d of %d "
                             "candidates tried\n",
                o.plan, o.median_ms, o.default_ms,
                o.default_ms > 0 ? o.default_ms / o.median_ms : 0.0, o.tried, o.candidates);
        run->failures += tune_db_save(run->opt->output, run->device, row, &o) != 0;
    }
    clconvt_device_release(measuring);
    --run->untuned;
    return 0;
}

/* Open the device and tune every class the database lacks; 0, or -1 after a message. */
static int tune_all(tune_run *run) {
    if (clconvt_device_open(CLCONVT_DEVICE_ANY, run->opt->selector, &run->device) !=
        CLCONVT_SUCCESS) {
        fprintf(stderr, TUNE_PROGRAM ": %s\n", clconvt_last_error());
        return -1;
    }
    clconvt_experimental_identity id;
    clconvt_experimental_identity_of(run->device, &id);
    if (plan_run(run) != 0)
        return -1;
    fprintf(stderr,
            TUNE_PROGRAM ": %s (%s, %s, driver %s); %zu rows, %d shape classes, %d already in %s; "
                         "budget %.0f s, repeat %d\n",
            id.name, id.platform, id.type, id.driver, run->count, run->classes,
            run->classes - run->untuned, run->opt->output, run->opt->budget, run->config.repeat);
    int class_number = 0;
    for (size_t i = 0; i < run->count; ++i)
        if (run->first[i] < 0 && tune_class(run, i, ++class_number) != 0)
            break;
    tune_db_print_table(run->opt->output, run->device, run->rows, run->count);
    return 0;
}

int main(int argc, char **argv) {
    tune_options opt;
    const int parsed = parse_options(argc, argv, &opt);
    if (parsed != 0)
        return parsed == 1 ? 0 : 2;
    const double start = tool_now_seconds();
    tune_run run = {.opt = &opt, .config = {start + opt.budget, (int)opt.repeat}};
    int rc = 1;
    /* Candidates are exactly what they say, and the default is the built-in one, whatever
     * CLCONVT_PLAN says (every layer is made with a plan string). */
    const char *forced = getenv("CLCONVT_PLAN");
    if (forced != NULL && *forced != '\0')
        fprintf(stderr, TUNE_PROGRAM ": ignoring CLCONVT_PLAN=%s\n", forced);
    unsetenv("CLCONVT_PLAN");
    /* Most candidates lose: keep their programs out of the on-disk cache (writing one costs
     * about a compile, when the device is released, outside any class's time). */
    setenv("CLCONVT_CACHE_DIR", "off", 1);
    if (read_rows(opt.shapes, &run.rows, &run.count) == 0 && tune_db_probe(opt.output) == 0 &&
        tune_all(&run) == 0) {
        fprintf(stderr, TUNE_PROGRAM ": done in %.0f s\n", tool_now_seconds() - start);
        rc = run.failures ? 1 : 0;
    }
    clconvt_device_release(run.device);
    free(run.rows);
    free(run.first);
    return rc;
}
