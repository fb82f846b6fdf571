/*
 * clconvt-tune: measure kernel plans for the shapes of a CSV file and write the tuning database
 * that clconvt_layer_create consults (see src/tuning_db.h and the README).
 *
 * For each distinct shape class among the rows it measures the built-in default, then candidate
 * plans of every kernel path that fits the layout (SPACES below: one table entry per path), on
 * the first row of the class with its real sizes. Every candidate is checked against the float64
 * reference before it may win: random data of both signs, the SPEC's error bound, no NaN, and no
 * write outside the output (it runs into a sub-buffer between guard regions filled with a NaN
 * pattern). Timings are medians of forwards on device buffers (clFinish after each), each
 * candidate interleaved with the best so far, so that a noisy machine favours neither. The whole
 * run, compiles included, stays within --budget; the database is written after each class
 * (atomically, merged with what the file holds for other devices), and a later run skips the
 * classes the file already has for this device.
 *
 * Exit status: 0 when every class it reached got a checked plan, 1 on a failure (a class with no
 * plan that passes the check, an unreadable shapes file or database), 2 on a usage error.
 *
 * Links the static library: it uses the planner (clconvt_plan_parse, clconvt_plan_format) and the
 * database code.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clconvt.h"
#include "device.h"
#include "file_open.h"
#include "file_output.h"
#include "plan_choice.h"
#include "reference.h"
#include "tool_util.h"
#include "tuning_db.h"

#define TUNE_DEFAULT_BUDGET 300.0
#define TUNE_DEFAULT_REPEAT 7
#define TUNE_WARMUP 2
#define TUNE_MAX_ELEMENTS (INT64_C(1) << 30) /* per tensor */
#define TUNE_WIN_RATIO 0.97   /* a candidate must beat the best by 3% in the same session */
#define TUNE_SLOW_RATIO 2.0   /* a warm-up this much slower than the best ends a candidate */
#define TUNE_COARSE_SHARE 0.6 /* of a class's time, before the fine search around the best */
#define TUNE_GUARD_BYTES 4096
#define TUNE_MAX_CANDIDATES 4096

/* ---- Search spaces: one entry per kernel path ---------------------------------------------- */

/* One parameter of a plan and the values the search gives it. */
typedef struct axis {
    const char *key, *key2; /* plan keys; key2 pairs a second key with each value ("lp" x "lc") */
    int count;
    int value[8], value2[8]; /* 0: the key is left out (the path's own choice) */
    int cap_by_cout_g;       /* values above Cout/groups only up to the first that covers it */
    int64_t above_cin_g;     /* used only when Cin/groups exceeds this; else left out */
} axis;

#define LAYOUT_BIT(layout) (1u << (layout))
#define ANY_LAYOUT (LAYOUT_BIT(CLCONVT_LAYOUT_NCL) | LAYOUT_BIT(CLCONVT_LAYOUT_NLC))
#define MAX_AXES 4

/* count and value of an axis from its values: VALUES(8, 16). */
#define VALUES(...)                                                                                \
    .count = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), .value = {__VA_ARGS__}

/* The work-group shapes (position tiles x channel tiles) every vector path tries. */
#define WORK_GROUPS .key = "lp", .key2 = "lc", VALUES(1, 2, 4, 8), .value2 = {16, 8, 4, 2}

/* A kernel path and its search: every combination of the coarse axes is a candidate (in a seeded
 * random order); then the fine axes are varied around the best. clconvt_plan_parse has the last
 * word: a combination it refuses for the layer (p not a multiple of vec, the wrong layout, a dtype
 * the path lacks) is never tried. Adding a path is one entry here. */
typedef struct path_space {
    const char *path;
    unsigned layouts;
    axis coarse[MAX_AXES];
    axis fine[MAX_AXES];
} path_space;

static const path_space SPACES[] = {
    {.path = "phase",
     .layouts = ANY_LAYOUT,
     .coarse = {{.key = "p", VALUES(2, 4, 8)},
                {.key = "c", VALUES(1, 4, 8, 16), .cap_by_cout_g = 1}}},
    {.path = "phase_pos",
     .layouts = LAYOUT_BIT(CLCONVT_LAYOUT_NCL),
     .coarse = {{.key = "vec", VALUES(8, 16)},
                {.key = "p", VALUES(16, 32, 48, 64)},
                {.key = "c", VALUES(1, 4, 6, 8, 12, 16), .cap_by_cout_g = 1}},
     .fine = {{WORK_GROUPS}, {.key = "chunk", VALUES(0, 64, 128, 256), .above_cin_g = 128}}},
    {.path = "phase_chan",
     .layouts = LAYOUT_BIT(CLCONVT_LAYOUT_NLC),
     .coarse = {{.key = "vec", VALUES(8, 16)},
                {.key = "p", VALUES(4, 6, 8, 12)},
                {.key = "c", VALUES(16, 32, 48), .cap_by_cout_g = 1}},
     .fine = {{WORK_GROUPS}}},
    {.path = "phase_dw", /* depthwise only: clconvt_plan_parse refuses it for other layers */
     .layouts = LAYOUT_BIT(CLCONVT_LAYOUT_NLC),
     .coarse = {{.key = "vec", .key2 = "c", VALUES(8, 16), .value2 = {8, 16}},
                {.key = "p", VALUES(4, 8, 12, 16)}},
     .fine = {{WORK_GROUPS}}},
    {.path = "phase_fold", /* c: channels; a vector holds vec / stride of them */
     .layouts = LAYOUT_BIT(CLCONVT_LAYOUT_NCL),
     .coarse = {{.key = "vec", VALUES(8, 16)},
                {.key = "p", VALUES(4, 6, 8, 12)},
                {.key = "c", VALUES(2, 4, 6, 8, 16, 32), .cap_by_cout_g = 1}},
     .fine = {{.key = "lp", .key2 = "lc", VALUES(1, 4, 8, 16), .value2 = {1, 1, 1, 2}},
              {.key = "chunk", VALUES(0, 16, 32, 64)}}},
    {.path = "gemm", .layouts = ANY_LAYOUT},
};
#define SPACE_COUNT (sizeof SPACES / sizeof SPACES[0])

static int axis_count(const axis *axes) {
    int n = 0;
    while (n < MAX_AXES && axes[n].key != NULL)
        ++n;
    return n;
}

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

/* ---- The shapes file ----------------------------------------------------------------------- */

typedef struct shape_row {
    char name[64];
    int line;
    clconvt_params params;
    int64_t batch, length_in;
    char shape_class[TUNING_CLASS_MAX];
} shape_row;

enum {
    COL_NAME,
    COL_BATCH,
    COL_CIN,
    COL_COUT,
    COL_KERNEL,
    COL_STRIDE,
    COL_PADDING,
    COL_OUTPUT_PADDING,
    COL_DILATION,
    COL_GROUPS,
    COL_LENGTH_IN,
    COL_LAYOUT,
    COL_BIAS,
    COL_DTYPE, /* optional */
    COL_COUNT
};

static const char *const COLUMNS[COL_COUNT] = {
    "name",           "batch",    "in_channels", "out_channels", "kernel", "stride", "padding",
    "output_padding", "dilation", "groups",      "length_in",    "layout", "bias",   "dtype"};

#define MAX_FIELDS 64

/* Split line (modified in place) at commas, trimming blanks; returns the field count, or -1
 * when there are more than MAX_FIELDS. */
static int split_fields(char *line, char *fields[MAX_FIELDS]) {
    int n = 0;
    for (char *s = line;;) {
        if (n == MAX_FIELDS)
            return -1;
        char *comma = strchr(s, ',');
        if (comma != NULL)
            *comma = '\0';
        while (*s == ' ' || *s == '\t')
            ++s;
        char *end = s + strlen(s);
        while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
            *--end = '\0';
        fields[n++] = s;
        if (comma == NULL)
            return n;
        s = comma + 1;
    }
}

static int parse_field(const char *file, int line, const char *column, const char *text,
                       int64_t min, int64_t *out) {
    char *end = NULL;
    errno = 0;
    const long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > INT32_MAX) {
        fprintf(stderr,
                "clconvt-tune: %s:%d: column '%s' wants an integer in [%" PRId64 ", %d], "
                "got '%s'\n",
                file, line, column, min, INT32_MAX, text);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* Fill row from the fields of one data line; 0, or -1 after a message. */
static int parse_row(const char *file, int line, char *fields[], const int column[COL_COUNT],
                     shape_row *row) {
    static const int64_t minimum[COL_COUNT] = {
        [COL_BATCH] = 1,          [COL_CIN] = 1,    [COL_COUT] = 1,
        [COL_KERNEL] = 1,         [COL_STRIDE] = 1, [COL_PADDING] = 0,
        [COL_DILATION] = 1,       [COL_GROUPS] = 1, [COL_LENGTH_IN] = 1,
        [COL_OUTPUT_PADDING] = 0, [COL_BIAS] = 0};
    int64_t v[COL_COUNT] = {0};
    for (int c = COL_BATCH; c <= COL_BIAS; ++c)
        if (c != COL_LAYOUT &&
            parse_field(file, line, COLUMNS[c], fields[column[c]], minimum[c], &v[c]) != 0)
            return -1;
    if (v[COL_BIAS] > 1) {
        fprintf(stderr, "clconvt-tune: %s:%d: column 'bias' wants 0 or 1, got '%s'\n", file, line,
                fields[column[COL_BIAS]]);
        return -1;
    }
    memset(row, 0, sizeof *row);
    row->line = line;
    snprintf(row->name, sizeof row->name, "%s", fields[column[COL_NAME]]);
    if (row->name[0] == '\0')
        snprintf(row->name, sizeof row->name, "line%d", line);
    clconvt_params *p = &row->params;
    clconvt_params_init(p, v[COL_CIN], v[COL_COUT], v[COL_KERNEL]);
    p->stride = v[COL_STRIDE];
    p->pad_left = p->pad_right = v[COL_PADDING];
    p->output_padding = v[COL_OUTPUT_PADDING];
    p->dilation = v[COL_DILATION];
    p->groups = v[COL_GROUPS];
    p->has_bias = (int)v[COL_BIAS];
    const char *layout = fields[column[COL_LAYOUT]];
    if (strcmp(layout, "ncl") == 0)
        p->layout = CLCONVT_LAYOUT_NCL;
    else if (strcmp(layout, "nlc") == 0)
        p->layout = CLCONVT_LAYOUT_NLC;
    else {
        fprintf(stderr, "clconvt-tune: %s:%d: column 'layout' wants ncl or nlc, got '%s'\n", file,
                line, layout);
        return -1;
    }
    if (column[COL_DTYPE] >= 0) {
        const char *dtype = fields[column[COL_DTYPE]];
        const clconvt_dtype all[] = {CLCONVT_F32, CLCONVT_F16, CLCONVT_BF16};
        int found = dtype[0] == '\0'; /* empty: f32 */
        for (int d = 0; d < 3; ++d)
            if (strcmp(dtype, clconvt_dtype_name(all[d])) == 0) {
                p->dtype = all[d];
                found = 1;
            }
        if (!found) {
            fprintf(stderr,
                    "clconvt-tune: %s:%d: column 'dtype' wants f32, f16 or bf16, got '%s'\n", file,
                    line, dtype);
            return -1;
        }
    }
    row->batch = v[COL_BATCH];
    row->length_in = v[COL_LENGTH_IN];
    int64_t length_out = 0;
    if (clconvt_output_length(p, row->length_in, &length_out) != CLCONVT_SUCCESS) {
        fprintf(stderr, "clconvt-tune: %s:%d (%s): %s\n", file, line, row->name,
                clconvt_last_error());
        return -1;
    }
    const int64_t cout_g = p->out_channels / p->groups;
    if (row->batch * p->in_channels > TUNE_MAX_ELEMENTS / row->length_in ||
        row->batch * p->out_channels > TUNE_MAX_ELEMENTS / length_out ||
        p->in_channels * cout_g > TUNE_MAX_ELEMENTS / p->kernel_length) {
        fprintf(stderr,
                "clconvt-tune: %s:%d (%s): a tensor has more than %" PRId64
                " elements, too large to tune\n",
                file, line, row->name, TUNE_MAX_ELEMENTS);
        return -1;
    }
    clconvt_tuning_shape_class(p, row->shape_class, sizeof row->shape_class);
    return 0;
}

/* Read the shapes file: *rows (caller frees) and *count; 0, or -1 after a message. */
static int read_shapes(const char *path, shape_row **rows, int *count) {
    int rc = -1, line_number = 0, have_header = 0, capacity = 0;
    int column[COL_COUNT];
    char *line = NULL;
    size_t line_size = 0;
    shape_row *list = NULL;
    *count = 0;
    char why[256];
    FILE *file = clconvt_fopen_regular(path, NULL, why, sizeof why); /* never waits on a FIFO */
    if (file == NULL) {
        fprintf(stderr, "clconvt-tune: cannot use the shapes file %s: %s\n", path, why);
        goto cleanup;
    }
    while (getline(&line, &line_size, file) >= 0) {
        ++line_number;
        char *fields[MAX_FIELDS];
        const char *start = line + strspn(line, " \t\r\n");
        if (*start == '\0' || *start == '#')
            continue;
        const int n = split_fields(line, fields);
        if (n < 0) {
            fprintf(stderr, "clconvt-tune: %s:%d: more than %d columns\n", path, line_number,
                    MAX_FIELDS);
            goto cleanup;
        }
        if (!have_header) {
            for (int c = 0; c < COL_COUNT; ++c) {
                column[c] = -1;
                for (int f = 0; f < n; ++f)
                    if (strcmp(fields[f], COLUMNS[c]) == 0)
                        column[c] = f;
                if (column[c] < 0 && c != COL_DTYPE) {
                    fprintf(stderr, "clconvt-tune: %s:%d: the header has no column '%s'\n", path,
                            line_number, COLUMNS[c]);
                    goto cleanup;
                }
            }
            have_header = n;
            continue;
        }
        if (n != have_header) {
            fprintf(stderr, "clconvt-tune: %s:%d: %d columns, the header has %d\n", path,
                    line_number, n, have_header);
            goto cleanup;
        }
        if (*count == capacity) {
            capacity = capacity ? 2 * capacity : 16;
            shape_row *larger = realloc(list, (size_t)capacity * sizeof *larger);
            if (larger == NULL) {
                fprintf(stderr, "clconvt-tune: out of host memory reading %s\n", path);
                goto cleanup;
            }
            list = larger;
        }
        if (parse_row(path, line_number, fields, column, &list[*count]) != 0)
            goto cleanup;
        ++*count;
    }
    if (ferror(file)) {
        fprintf(stderr, "clconvt-tune: reading %s failed: %s\n", path, strerror(errno));
        goto cleanup;
    }
    if (*count == 0) {
        fprintf(stderr, "clconvt-tune: %s has no shapes (a header line, then one line each)\n",
                path);
        goto cleanup;
    }
    *rows = list;
    list = NULL;
    rc = 0;
cleanup:
    free(line);
    free(list);
    if (file != NULL)
        fclose(file);
    return rc;
}

/* ---- Candidates ---------------------------------------------------------------------------- */

typedef struct candidate_list {
    const clconvt_device *device;
    const clconvt_params *params;
    int count;
    char (*text)[TUNING_PLAN_MAX];
} candidate_list;

/* The plan string of p as clconvt_plan_parse reads it back. */
static void plan_text(const plan *p, char *text, size_t size) {
    clconvt_plan_format(p, text, size);
    /* A path whose first printed key is not vec gets "path,key=..."; clconvt_plan_parse wants ':'.
     */
    char *comma = strchr(text, ','), *colon = strchr(text, ':');
    if (comma != NULL && (colon == NULL || colon > comma))
        *comma = ':';
}

/*
 * Add a plan to the list unless clconvt_plan_parse refuses it for this layer, its plan string would
 * not read back as the same plan, or it is there already. With filter, a work-group wider than the
 * layer's channel tiles is narrowed to them. Returns 1 when added.
 */
static int add_candidate(candidate_list *list, const char *text, int filter) {
    plan p, q;
    char canon[TUNING_PLAN_MAX], again[TUNING_PLAN_MAX];
    if (list->count >= TUNE_MAX_CANDIDATES ||
        clconvt_plan_parse_for_device(list->device, list->params, "candidate", text, &p) !=
            CLCONVT_SUCCESS)
        return 0;
    const clconvt_params *params = list->params;
    const int64_t channel_tiles = clconvt_plan_channel_tiles(&p, params);
    if (filter && p.local[1] > channel_tiles) /* never more channel tiles than the layer has */
        p.local[1] = (int)channel_tiles;
    plan_text(&p, canon, sizeof canon);
    if (clconvt_plan_parse_for_device(list->device, params, "candidate", canon, &q) !=
        CLCONVT_SUCCESS)
        return 0;
    plan_text(&q, again, sizeof again);
    if (strcmp(canon, again) != 0)
        return 0;
    for (int i = 0; i < list->count; ++i)
        if (strcmp(list->text[i], canon) == 0)
            return 0;
    memcpy(list->text[list->count++], canon, sizeof canon);
    return 1;
}

/* Whether value v of axis a is tried for this layer. */
static int axis_allows(const axis *a, int index, const clconvt_params *params) {
    const int64_t cout_g = params->out_channels / params->groups;
    const int v = a->value[index];
    if (!a->cap_by_cout_g || v <= cout_g)
        return 1;
    for (int i = 0; i < a->count; ++i) /* a smaller value covering Cout/groups wins */
        if (a->value[i] >= cout_g && a->value[i] < v)
            return 0;
    return 1;
}

/* Every combination of axes[k..] appended to prefix (which holds length bytes). */
static void enumerate(candidate_list *list, char *prefix, size_t length, const axis *axes,
                      int n_axes, int k) {
    if (k == n_axes) {
        add_candidate(list, prefix, 1);
        return;
    }
    const axis *a = &axes[k];
    const int64_t cin_g = list->params->in_channels / list->params->groups;
    if (cin_g <= a->above_cin_g) { /* left out: the path's own choice */
        enumerate(list, prefix, length, axes, n_axes, k + 1);
        return;
    }
    for (int i = 0; i < a->count; ++i) {
        if (!axis_allows(a, i, list->params))
            continue;
        size_t used = length;
        if (a->value[i] != 0) {
            const char *sep = strchr(prefix, ':') ? "," : ":";
            used += (size_t)snprintf(prefix + used, TUNING_PLAN_MAX - used, "%s%s=%d", sep, a->key,
                                     a->value[i]);
            if (a->key2 != NULL && used < TUNING_PLAN_MAX)
                used += (size_t)snprintf(prefix + used, TUNING_PLAN_MAX - used, ",%s=%d", a->key2,
                                         a->value2[i]);
        }
        if (used < TUNING_PLAN_MAX)
            enumerate(list, prefix, used, axes, n_axes, k + 1);
        prefix[length] = '\0';
    }
}

/* The coarse candidates of every path that fits the layout, in a random order seeded by the
 * class (so a run is reproducible). Returns how many were added. */
static int add_coarse(candidate_list *list, const char *shape_class) {
    const int first = list->count;
    for (size_t s = 0; s < SPACE_COUNT; ++s) {
        if (!(SPACES[s].layouts & LAYOUT_BIT(list->params->layout)))
            continue;
        char prefix[TUNING_PLAN_MAX];
        const size_t length = (size_t)snprintf(prefix, sizeof prefix, "%s", SPACES[s].path);
        enumerate(list, prefix, length, SPACES[s].coarse, axis_count(SPACES[s].coarse), 0);
    }
    uint64_t state = reference_hash(shape_class);
    for (int i = list->count - 1; i > first; --i) {
        const int j = first + (int)(reference_random_next(&state) % (uint64_t)(i - first + 1));
        char swap[TUNING_PLAN_MAX];
        memcpy(swap, list->text[i], sizeof swap);
        memcpy(list->text[i], list->text[j], sizeof swap);
        memcpy(list->text[j], swap, sizeof swap);
    }
    return list->count - first;
}

/* Variants of base (a plan string) with its path's fine axes set every way. */
static int add_fine(candidate_list *list, const char *base) {
    const int first = list->count;
    const char *colon = strchr(base, ':');
    const size_t name_length = colon ? (size_t)(colon - base) : strlen(base);
    for (size_t s = 0; s < SPACE_COUNT; ++s) {
        const path_space *space = &SPACES[s];
        const int n_fine = axis_count(space->fine);
        if (n_fine == 0 || strlen(space->path) != name_length ||
            strncmp(space->path, base, name_length) != 0)
            continue;
        /* The base without the keys the fine axes set. */
        char prefix[TUNING_PLAN_MAX];
        size_t length = (size_t)snprintf(prefix, sizeof prefix, "%s", space->path);
        for (const char *kv = colon; kv != NULL && *kv; kv = strchr(kv, ',')) {
            ++kv;
            const size_t kv_length = strcspn(kv, ",");
            const size_t key_length = strcspn(kv, "=,");
            int fine_key = 0;
            for (int a = 0; a < n_fine; ++a)
                for (int k = 0; k < 2; ++k) {
                    const char *key = k ? space->fine[a].key2 : space->fine[a].key;
                    if (key && strlen(key) == key_length && strncmp(key, kv, key_length) == 0)
                        fine_key = 1;
                }
            if (!fine_key && length + kv_length + 2 < sizeof prefix)
                length += (size_t)snprintf(prefix + length, sizeof prefix - length, "%s%.*s",
                                           strchr(prefix, ':') ? "," : ":", (int)kv_length, kv);
        }
        enumerate(list, prefix, length, space->fine, n_fine, 0);
    }
    return list->count - first;
}

/* ---- Measuring one class ------------------------------------------------------------------- */

/* A shape's data on the host and the device, its reference output, and the guarded output. */
typedef struct bench {
    clconvt_device *device;
    const shape_row *row;
    const clconvt_params *params;
    int64_t length_out;
    size_t n_x, n_w, n_y, elem;
    float *weight, *bias; /* PyTorch order; values the dtype stores exactly */
    double *ref;
    cl_mem in, out, guarded, view; /* view: the output region of guarded */
    size_t front, out_bytes, guarded_bytes;
    unsigned char *readback;
    double *y;
    const char *fault; /* test hook: CLCONVT_TUNE_FAULT */
} bench;

static void bench_release(bench *b) {
    if (b->view)
        clReleaseMemObject(b->view);
    if (b->guarded)
        clReleaseMemObject(b->guarded);
    if (b->out)
        clReleaseMemObject(b->out);
    if (b->in)
        clReleaseMemObject(b->in);
    free(b->weight);
    free(b->bias);
    free(b->ref);
    free(b->readback);
    free(b->y);
    memset(b, 0, sizeof *b);
}

/* Prepare b for a row on a device: data, reference, buffers. 0, or -1 after a message. */
static int bench_open(bench *b, clconvt_device *device, const shape_row *row) {
    int rc = -1;
    float *x = NULL;
    double *xd = NULL, *wd = NULL, *bd = NULL;
    void *x_storage = NULL;
    memset(b, 0, sizeof *b);
    b->device = device;
    b->row = row;
    b->params = &row->params;
    b->fault = getenv("CLCONVT_TUNE_FAULT");
    const clconvt_params *p = b->params;
    clconvt_output_length(p, row->length_in, &b->length_out);
    b->n_x = (size_t)(row->batch * p->in_channels * row->length_in);
    b->n_w = (size_t)(p->in_channels * (p->out_channels / p->groups) * p->kernel_length);
    b->n_y = (size_t)(row->batch * p->out_channels * b->length_out);
    b->elem = clconvt_dtype_size(p->dtype);
    b->out_bytes = b->n_y * b->elem;
    x = malloc(b->n_x * sizeof *x);
    xd = malloc(b->n_x * sizeof *xd);
    wd = malloc(b->n_w * sizeof *wd);
    bd = malloc((size_t)p->out_channels * sizeof *bd);
    x_storage = malloc(b->n_x * b->elem);
    b->weight = malloc(b->n_w * sizeof *b->weight);
    b->bias = malloc((size_t)p->out_channels * sizeof *b->bias);
    b->ref = malloc(b->n_y * sizeof *b->ref);
    b->y = malloc(b->n_y * sizeof *b->y);
    if (!x || !xd || !wd || !bd || !x_storage || !b->weight || !b->bias || !b->ref || !b->y) {
        fprintf(stderr, "clconvt-tune: out of host memory for %s\n", row->name);
        goto cleanup;
    }
    uint64_t state = reference_hash(row->shape_class) ^ UINT64_C(0x7e57da7a);
    const double w_scale = 1.0 / sqrt((double)(p->out_channels / p->groups * p->kernel_length));
    if (reference_random_fill(&state, 1.0, p->dtype, x, xd, b->n_x) != CLCONVT_SUCCESS ||
        reference_random_fill(&state, w_scale, p->dtype, b->weight, wd, b->n_w) !=
            CLCONVT_SUCCESS ||
        reference_random_fill(&state, w_scale, p->dtype, b->bias, bd, (size_t)p->out_channels) !=
            CLCONVT_SUCCESS ||
        clconvt_convert(x, CLCONVT_F32, x_storage, p->dtype, b->n_x) != CLCONVT_SUCCESS) {
        fprintf(stderr, "clconvt-tune: preparing the data of %s failed\n", row->name);
        goto cleanup;
    }
    if (reference_forward(p, xd, wd, p->has_bias ? bd : NULL, row->batch, row->length_in, b->ref) !=
        0) {
        fprintf(stderr, "clconvt-tune: the reference refused %s\n", row->name);
        goto cleanup;
    }

    /* The guarded output: the output region starts at an offset the device can address as a
     * sub-buffer, with guard bytes before and after it. */
    cl_uint align_bits = 0;
    cl_int err = clGetDeviceInfo(device->device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof align_bits,
                                 &align_bits, NULL);
    const size_t align = align_bits >= 8 ? align_bits / 8 : 1;
    b->front = (TUNE_GUARD_BYTES + align - 1) / align * align;
    b->guarded_bytes = b->front + b->out_bytes + TUNE_GUARD_BYTES;
    cl_context context = clconvt_device_context(device);
    if (err == CL_SUCCESS)
        b->in = clCreateBuffer(context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, b->n_x * b->elem,
                               x_storage, &err);
    if (err == CL_SUCCESS)
        b->out = clCreateBuffer(context, CL_MEM_READ_WRITE, b->out_bytes, NULL, &err);
    if (err == CL_SUCCESS)
        b->guarded = clCreateBuffer(context, CL_MEM_READ_WRITE, b->guarded_bytes, NULL, &err);
    if (err == CL_SUCCESS) {
        const cl_buffer_region region = {b->front, b->out_bytes};
        b->view = clCreateSubBuffer(b->guarded, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION,
                                    &region, &err);
    }
    if (err != CL_SUCCESS) {
        fprintf(stderr, "clconvt-tune: device buffers for %s failed: OpenCL error %d\n", row->name,
                err);
        goto cleanup;
    }
    if ((b->readback = malloc(b->guarded_bytes)) == NULL) {
        fprintf(stderr, "clconvt-tune: out of host memory for %s\n", row->name);
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(x);
    free(xd);
    free(wd);
    free(bd);
    free(x_storage);
    if (rc != 0)
        bench_release(b);
    return rc;
}

/* The test hook CLCONVT_TUNE_FAULT=value|nan|guard spoils what a candidate wrote, after it ran
 * and before the check, so the tests can see the check refuse it. */
static cl_int inject_fault(bench *b) {
    cl_command_queue queue = clconvt_device_queue(b->device);
    const size_t mid = b->n_y / 2;
    if (strcmp(b->fault, "guard") == 0) {
        const unsigned char zero = 0;
        return clEnqueueWriteBuffer(queue, b->guarded, CL_TRUE, b->front + b->out_bytes, 1, &zero,
                                    0, NULL, NULL);
    }
    float value = NAN;
    if (strcmp(b->fault, "value") == 0) {
        double peak = 0.0;
        for (size_t i = 0; i < b->n_y; ++i)
            peak = fmax(peak, fabs(b->ref[i]));
        value = (float)(b->ref[mid] + 0.05 * peak);
    }
    unsigned char storage[4];
    clconvt_convert(&value, CLCONVT_F32, storage, b->params->dtype, 1);
    return clEnqueueWriteBuffer(queue, b->view, CL_TRUE, mid * b->elem, b->elem, storage, 0, NULL,
                                NULL);
}

/* Run layer once into the guarded output and check it. 0 when it passes; -1 with a reason.
 * *error gets the normalised error. */
static int check_layer(bench *b, clconvt_layer *layer, int spoil, double *error, char *reason,
                       size_t size) {
    cl_command_queue queue = clconvt_device_queue(b->device);
    const unsigned char pattern = 0xFF; /* NaN in f32, f16 and bf16 */
    cl_int err =
        clEnqueueFillBuffer(queue, b->guarded, &pattern, 1, 0, b->guarded_bytes, 0, NULL, NULL);
    if (err != CL_SUCCESS || (err = clFinish(queue)) != CL_SUCCESS) {
        snprintf(reason, size, "filling the guarded output failed: OpenCL error %d", err);
        return -1;
    }
    const clconvt_status st = clconvt_layer_forward(layer, NULL, b->in, b->view, b->row->batch,
                                                    b->row->length_in, 0, NULL, NULL);
    if (st != CLCONVT_SUCCESS) {
        snprintf(reason, size, "forward failed: %s", clconvt_last_error());
        return -1;
    }
    if ((err = clFinish(queue)) != CL_SUCCESS ||
        (spoil && b->fault && *b->fault && (err = inject_fault(b)) != CL_SUCCESS) ||
        (err = clEnqueueReadBuffer(queue, b->guarded, CL_TRUE, 0, b->guarded_bytes, b->readback, 0,
                                   NULL, NULL)) != CL_SUCCESS) {
        snprintf(reason, size, "reading the output back failed: OpenCL error %d", err);
        return -1;
    }
    for (size_t i = 0; i < b->guarded_bytes; ++i) {
        if (i == b->front) {
            i += b->out_bytes - 1;
            continue;
        }
        if (b->readback[i] != pattern) {
            const int before = i < b->front;
            snprintf(reason, size, "wrote outside its output: the guard byte %zu bytes %s changed",
                     before ? b->front - i : i - b->front - b->out_bytes + 1,
                     before ? "before the start of the output" : "after the end of the output");
            return -1;
        }
    }
    if (reference_from_storage(b->readback + b->front, b->params->dtype, b->y, b->n_y) !=
        CLCONVT_SUCCESS) {
        snprintf(reason, size, "converting the output failed: %s", clconvt_last_error());
        return -1;
    }
    for (size_t i = 0; i < b->n_y; ++i) {
        if (!isfinite(b->y[i])) {
            snprintf(reason, size, "output element %zu of %zu is %s (never written?)", i, b->n_y,
                     isnan(b->y[i]) ? "NaN" : "infinite");
            return -1;
        }
    }
    *error = reference_normalised_error(b->y, b->ref, b->n_y);
    const double bound = reference_error_bound(b->params->dtype);
    if (*error > bound) {
        snprintf(reason, size, "normalised error %.3g exceeds %.3g", *error, bound);
        return -1;
    }
    return 0;
}

/* Create, stage and check a layer with a plan. 0 with *out, or -1 with a reason. */
static int prepare_layer(bench *b, const char *plan_string, int spoil, clconvt_layer **out,
                         double *error, char *reason, size_t size) {
    clconvt_layer *layer = NULL;
    int rc = -1;
    clconvt_status st = clconvt_layer_create_with_plan(b->device, b->params, plan_string, &layer);
    if (st == CLCONVT_SUCCESS)
        st = clconvt_layer_set_weight(layer, b->weight, CLCONVT_WEIGHT_PYTORCH, CLCONVT_F32);
    if (st == CLCONVT_SUCCESS && b->params->has_bias)
        st = clconvt_layer_set_bias(layer, b->bias, CLCONVT_F32);
    if (st != CLCONVT_SUCCESS) {
        snprintf(reason, size, "%s", clconvt_last_error());
        goto cleanup;
    }
    if (check_layer(b, layer, spoil, error, reason, size) != 0)
        goto cleanup;
    *out = layer;
    layer = NULL;
    rc = 0;
cleanup:
    clconvt_layer_release(layer);
    return rc;
}

/* One forward on device buffers, waited for: seconds, or -1 after setting reason. */
static double time_forward(bench *b, clconvt_layer *layer, char *reason, size_t size) {
    const double t0 = tool_now_seconds();
    const clconvt_status st = clconvt_layer_forward(layer, NULL, b->in, b->out, b->row->batch,
                                                    b->row->length_in, 0, NULL, NULL);
    const cl_int err = st == CLCONVT_SUCCESS ? clFinish(clconvt_device_queue(b->device)) : 0;
    if (st != CLCONVT_SUCCESS || err != CL_SUCCESS) {
        snprintf(reason, size, "forward failed: %s",
                 st != CLCONVT_SUCCESS ? clconvt_last_error() : "clFinish failed");
        return -1.0;
    }
    return tool_now_seconds() - t0;
}

/* Interleaved medians of a and c (c may be NULL: a alone) over rounds forwards each, alternating
 * which goes first. 0, or -1 with a reason. */
static int measure(bench *b, clconvt_layer *a, clconvt_layer *c, int rounds, double *median_a,
                   double *median_c, char *reason, size_t size) {
    int rc = -1;
    double *ta = malloc((size_t)rounds * sizeof *ta), *tc = malloc((size_t)rounds * sizeof *tc);
    if (ta == NULL || tc == NULL) {
        snprintf(reason, size, "out of host memory");
        goto cleanup;
    }
    for (int r = 0; r < rounds; ++r) {
        clconvt_layer *first = (r % 2 && c) ? c : a, *second = first == a ? c : a;
        double *t_first = first == a ? ta : tc, *t_second = first == a ? tc : ta;
        if ((t_first[r] = time_forward(b, first, reason, size)) < 0)
            goto cleanup;
        if (second != NULL && (t_second[r] = time_forward(b, second, reason, size)) < 0)
            goto cleanup;
    }
    *median_a = tool_median(ta, (size_t)rounds);
    if (c != NULL)
        *median_c = tool_median(tc, (size_t)rounds);
    rc = 0;
cleanup:
    free(ta);
    free(tc);
    return rc;
}

/* What the search of one class found. */
typedef struct outcome {
    char plan[TUNING_PLAN_MAX], default_plan[TUNING_PLAN_MAX];
    double median_ms, default_ms, error;
    int tried, candidates, complete;
} outcome;

typedef struct run_config {
    double deadline; /* tool_now_seconds() when the budget runs out */
    int repeat;
} run_config;

static void progress(int index, int total, const char *plan_string, const char *what) {
    fprintf(stderr, "clconvt-tune:   %d/%d %s  %s\n", index, total, plan_string, what);
}

/* Move the last n entries of the list to position at (the fine variants are tried next). */
static void move_up(candidate_list *list, int at, int n) {
    char(*moved)[TUNING_PLAN_MAX] = malloc((size_t)n * sizeof *moved);
    if (moved == NULL || n <= 0 || at >= list->count - n) {
        free(moved);
        return;
    }
    memcpy(moved, list->text[list->count - n], (size_t)n * sizeof *moved);
    memmove(list->text[at + n], list->text[at], (size_t)(list->count - n - at) * sizeof *moved);
    memcpy(list->text[at], moved, (size_t)n * sizeof *moved);
    free(moved);
}

/*
 * Search one class on its row until stop (seconds, now_seconds clock). Returns 0 with *result,
 * or -1 when no plan passed the check (after messages).
 */
static int search_class(clconvt_device *device, const shape_row *row, double stop,
                        const run_config *config, outcome *result) {
    int rc = -1;
    bench b;
    clconvt_layer *default_layer = NULL, *best = NULL, *layer = NULL;
    candidate_list list = {device, &row->params, 0, NULL};
    char reason[1024], what[1400], best_plan[TUNING_PLAN_MAX] = "";
    double best_ms = 0.0, best_error = 0.0, default_error = 0.0;
    double default_cost = 0.0, worst_cost = 0.0; /* seconds per candidate, start to end */
    const double class_start = tool_now_seconds();
    memset(result, 0, sizeof *result);
    if (bench_open(&b, device, row) != 0)
        return -1;
    if ((list.text = malloc(TUNE_MAX_CANDIDATES * sizeof *list.text)) == NULL) {
        fprintf(stderr, "clconvt-tune: out of host memory\n");
        goto cleanup;
    }

    /* The built-in default (the database is off in this process) comes first. */
    plan default_p;
    if (clconvt_plan_choose(device, &row->params, NULL, &default_p, NULL) != CLCONVT_SUCCESS) {
        fprintf(stderr, "clconvt-tune: the planner refused %s: %s\n", row->name,
                clconvt_last_error());
        goto cleanup;
    }
    plan_text(&default_p, result->default_plan, sizeof result->default_plan);
    add_candidate(&list, result->default_plan, 0);
    const int coarse_count = add_coarse(&list, row->shape_class);
    const double coarse_stop = class_start + TUNE_COARSE_SHARE * (stop - class_start);
    int fine_added = 0, index = 0;

    for (;;) {
        /* The coarse candidates first, then the fine ones around the best, then the rest. */
        if (!fine_added && best != NULL &&
            (index > coarse_count || tool_now_seconds() >= coarse_stop)) {
            fine_added = 1;
            const int n = add_fine(&list, best_plan);
            move_up(&list, index, n);
            fprintf(stderr, "clconvt-tune:   %d fine variants of the best so far (%s)\n", n,
                    best_plan);
        }
        if (index >= list.count)
            break;
        const char *text = list.text[index];
        const int is_default = index == 0;
        /* Start a candidate only if the dearest one so far (the default's cost until one has
         * ended) and the final measurement still fit: a started compile cannot be interrupted,
         * costs differ by path (a phase_fold compile takes twice a phase one), and a class that
         * overruns its stop takes the time of the classes after it. */
        const double started = tool_now_seconds();
        const double expected = index > 1 ? worst_cost : default_cost;
        if (!is_default && started + expected + 4 * config->repeat * best_ms > stop)
            break;
        ++index;
        double error = 0.0, warm = 0.0;
        if (prepare_layer(&b, text, !is_default, &layer, &error, reason, sizeof reason) != 0) {
            snprintf(what, sizeof what, "rejected: %s", reason);
            if (is_default)
                fprintf(stderr,
                        "clconvt-tune: warning: the built-in default plan fails the check "
                        "for %s; please report this\n",
                        row->name);
        } else {
            /* Warm-up; a candidate far slower than the best stops here. */
            for (int w = 0; w < TUNE_WARMUP && warm >= 0; ++w)
                warm = time_forward(&b, layer, reason, sizeof reason);
            double incumbent = 0.0, mine = 0.0;
            if (warm < 0) {
                snprintf(what, sizeof what, "rejected: %s", reason);
            } else if (best != NULL && warm > TUNE_SLOW_RATIO * best_ms) {
                snprintf(what, sizeof what, "%.3f ms in warm-up, far slower than %.3f ms",
                         warm * 1e3, best_ms * 1e3);
            } else if (measure(&b, best ? best : layer, best ? layer : NULL, config->repeat,
                               &incumbent, &mine, reason, sizeof reason) != 0) {
                snprintf(what, sizeof what, "rejected: %s", reason);
            } else if (best == NULL || mine < TUNE_WIN_RATIO * incumbent) {
                const double ms = best == NULL ? incumbent : mine;
                if (best == NULL)
                    snprintf(what, sizeof what, "%.3f ms%s", ms * 1e3,
                             is_default ? " (the built-in default)" : "");
                else
                    snprintf(what, sizeof what, "%.3f ms vs %.3f ms: the new best", ms * 1e3,
                             incumbent * 1e3);
                if (best != default_layer)
                    clconvt_layer_release(best);
                best = layer;
                layer = NULL;
                best_ms = ms;
                best_error = error;
                snprintf(best_plan, sizeof best_plan, "%s", text);
                if (is_default) {
                    default_layer = best;
                    default_error = error;
                }
            } else {
                best_ms = incumbent;
                snprintf(what, sizeof what, "%.3f ms vs %.3f ms of the best", mine * 1e3,
                         incumbent * 1e3);
            }
        }
        progress(index, list.count, text, what);
        clconvt_layer_release(layer);
        layer = NULL;
        const double cost = tool_now_seconds() - started;
        if (is_default)
            default_cost = cost;
        else if (cost > worst_cost)
            worst_cost = cost;
    }
    result->tried = index;
    result->candidates = list.count;
    result->complete = fine_added && index == list.count;
    if (best == NULL) {
        fprintf(stderr, "clconvt-tune: no plan passed the check for %s\n", row->name);
        goto cleanup;
    }
    snprintf(result->plan, sizeof result->plan, "%s", best_plan);
    result->median_ms = best_ms * 1e3;
    result->error = best_error;
    result->default_ms = default_layer != NULL ? best_ms * 1e3 : -1.0;

    /* The last word: the best against the default, interleaved, twice as many rounds. */
    if (default_layer != NULL && best != default_layer) {
        double d_ms = 0.0, w_ms = 0.0;
        if (measure(&b, default_layer, best, 2 * config->repeat, &d_ms, &w_ms, reason,
                    sizeof reason) != 0) {
            fprintf(stderr, "clconvt-tune: the final measurement of %s failed: %s\n", row->name,
                    reason);
            goto cleanup;
        }
        result->default_ms = d_ms * 1e3;
        result->median_ms = w_ms * 1e3;
        if (w_ms >= d_ms) {
            fprintf(stderr,
                    "clconvt-tune:   %s measured %.3f ms against the default's %.3f ms at the "
                    "end: the default stays\n",
                    best_plan, w_ms * 1e3, d_ms * 1e3);
            snprintf(result->plan, sizeof result->plan, "%s", result->default_plan);
            result->median_ms = d_ms * 1e3;
            result->error = default_error;
        }
    }
    rc = 0;
cleanup:
    clconvt_layer_release(layer);
    if (best != default_layer)
        clconvt_layer_release(best);
    clconvt_layer_release(default_layer);
    free(list.text);
    bench_release(&b);
    return rc;
}

/* ---- The database file --------------------------------------------------------------------- */

static double round_ms(double ms) {
    return round(ms * 1e4) / 1e4;
}

/* Set object[key] = item, replacing what was there. 0, or -1 (item freed) when out of memory. */
static int set_member(cJSON *object, const char *key, cJSON *item) {
    if (item == NULL)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(object, key) != NULL)
        return cJSON_ReplaceItemInObjectCaseSensitive(object, key, item) ? 0 : -1;
    if (!cJSON_AddItemToObject(object, key, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

/* The record of a class, as the database holds it (NULL when out of memory). */
static cJSON *class_record(const shape_row *row, const outcome *o) {
    char error[32];
    snprintf(error, sizeof error, "%.3g", o->error); /* three digits are plenty */
    cJSON *r = cJSON_CreateObject();
    const int ok =
        r != NULL && cJSON_AddStringToObject(r, "plan", o->plan) &&
        cJSON_AddNumberToObject(r, "median_ms", round_ms(o->median_ms)) &&
        cJSON_AddStringToObject(r, "default_plan", o->default_plan) &&
        (o->default_ms < 0 || cJSON_AddNumberToObject(r, "default_ms", round_ms(o->default_ms))) &&
        (o->default_ms < 0 ||
         cJSON_AddNumberToObject(r, "speedup", round(o->default_ms / o->median_ms * 1e3) / 1e3)) &&
        cJSON_AddNumberToObject(r, "max_error", strtod(error, NULL)) &&
        cJSON_AddStringToObject(r, "shape", row->name) &&
        cJSON_AddNumberToObject(r, "batch", (double)row->batch) &&
        cJSON_AddNumberToObject(r, "length_in", (double)row->length_in) &&
        cJSON_AddNumberToObject(r, "tried", o->tried) &&
        cJSON_AddNumberToObject(r, "candidates", o->candidates) &&
        cJSON_AddBoolToObject(r, "complete", o->complete);
    if (!ok) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

/*
 * Record a class and write the file: what it holds now (another run may have added devices
 * since) is read again and merged, so only this device's class changes. *root is replaced by the
 * written database. 0, or -1 after a message (the file is then unchanged).
 */
static int save_class(const char *path, cJSON **root, const tuning_identity *id,
                      const char *platform, const shape_row *row, const outcome *o) {
    char reason[512], updated[32];
    cJSON *fresh = NULL;
    const int read = clconvt_tuning_db_read(path, &fresh, reason, sizeof reason);
    if (read < 0) {
        fprintf(stderr, "clconvt-tune: not writing %s: %s (it changed during the run?)\n", path,
                reason);
        return -1;
    }
    if (read == 0) {
        cJSON_Delete(*root);
        *root = fresh;
    }
    const time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(updated, sizeof updated, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON *device = clconvt_tuning_db_device_entry(*root, id, 1);
    cJSON *classes = device ? cJSON_GetObjectItemCaseSensitive(device, "classes") : NULL;
    if (classes == NULL || set_member(device, "platform", cJSON_CreateString(platform)) != 0 ||
        set_member(device, "updated", cJSON_CreateString(updated)) != 0 ||
        set_member(classes, row->shape_class, class_record(row, o)) != 0) {
        fprintf(stderr, "clconvt-tune: out of host memory\n");
        return -1;
    }
    if (clconvt_tuning_db_write(path, *root, reason, sizeof reason) != 0) {
        fprintf(stderr, "clconvt-tune: cannot write %s: %s\n", path, reason);
        return -1;
    }
    return 0;
}

static double number_member(const cJSON *object, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, key);
    return cJSON_IsNumber(item) ? item->valuedouble : -1.0;
}

/* The table on stdout: per row, the recorded default and tuned medians of its class. */
static void print_table(const shape_row *rows, int count, const cJSON *device) {
    const cJSON *classes = device ? cJSON_GetObjectItemCaseSensitive(device, "classes") : NULL;
    printf("%-22s %-40s %10s %10s %8s  %s\n", "row", "class", "default", "tuned", "speedup",
           "plan (measured on)");
    for (int i = 0; i < count; ++i) {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(classes, rows[i].shape_class);
        if (r == NULL) {
            printf("%-22s %-40s %10s %10s %8s  (not tuned)\n", rows[i].name, rows[i].shape_class,
                   "-", "-", "-");
            continue;
        }
        const double d = number_member(r, "default_ms"), m = number_member(r, "median_ms");
        const cJSON *plan_item = cJSON_GetObjectItemCaseSensitive(r, "plan");
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(r, "shape");
        char dt[32] = "-", mt[32] = "-", sp[32] = "-";
        if (d >= 0)
            snprintf(dt, sizeof dt, "%.3f ms", d);
        if (m >= 0)
            snprintf(mt, sizeof mt, "%.3f ms", m);
        if (d > 0 && m > 0)
            snprintf(sp, sizeof sp, "%.2fx", d / m);
        printf("%-22s %-40s %10s %10s %8s  %s (%s)\n", rows[i].name, rows[i].shape_class, dt, mt,
               sp, cJSON_IsString(plan_item) ? plan_item->valuestring : "?",
               cJSON_IsString(shape) ? shape->valuestring : "?");
    }
}

/* ---- main ---------------------------------------------------------------------------------- */

/* Fail at the start, not after the first class, when the database cannot be written: begin the
 * output as clconvt_tuning_db_write will, then abandon it. 0, or -1 after a message. */
static int probe_output(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
        return 0; /* opening it now would end its reader's input; it is written at the end */
    clconvt_output out;
    char why[512];
    if (clconvt_output_begin(&out, path, why, sizeof why) != 0) {
        fprintf(stderr, "clconvt-tune: cannot write %s: %s\n", path, why);
        return -1;
    }
    clconvt_output_abort(&out);
    return 0;
}

static int parse_number(const char *option, const char *text, double min, double max, double *out) {
    char *end = NULL;
    errno = 0;
    const double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max)) {
        fprintf(stderr, "clconvt-tune: %s wants a number in [%g, %g], got '%s'\n", option, min, max,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    const char *shapes = NULL, *output = NULL, *selector = NULL;
    double budget = TUNE_DEFAULT_BUDGET, repeat = TUNE_DEFAULT_REPEAT;
    for (int a = 1; a < argc; ++a) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        static const char *const with_value[] = {"--shapes", "--output", "--budget", "--device",
                                                 "--repeat"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; ++k)
            known |= strcmp(arg, with_value[k]) == 0;
        if (!known) {
            fprintf(stderr, "clconvt-tune: unknown option '%s' (--help lists them)\n", arg);
            return 2;
        }
        if (a + 1 >= argc) {
            fprintf(stderr, "clconvt-tune: %s needs a value\n", arg);
            return 2;
        }
        const char *value = argv[++a];
        if (strcmp(arg, "--shapes") == 0)
            shapes = value;
        else if (strcmp(arg, "--output") == 0)
            output = value;
        else if (strcmp(arg, "--device") == 0)
            selector = value;
        else if (strcmp(arg, "--budget") == 0) {
            if (parse_number(arg, value, 1, 7 * 86400, &budget) != 0)
                return 2;
        } else if (parse_number(arg, value, 1, 1000, &repeat) != 0 || repeat != floor(repeat)) {
            if (repeat != floor(repeat))
                fprintf(stderr, "clconvt-tune: --repeat wants a whole number, got '%s'\n", value);
            return 2;
        }
    }
    if (shapes == NULL || output == NULL) {
        fprintf(stderr, "clconvt-tune: %s is required\n", shapes == NULL ? "--shapes" : "--output");
        usage(stderr);
        return 2;
    }

    const double start = tool_now_seconds();
    const run_config config = {start + budget, (int)repeat};
    int rc = 1, failures = 0, count = 0, untuned = 0;
    shape_row *rows = NULL;
    clconvt_device *device = NULL, *measuring = NULL;
    cJSON *root = NULL;
    char reason[512];
    int *first = NULL; /* per row: the row whose class it is, -1 when it is the first */

    /* The default must be the built-in one, and candidates exactly what they say. */
    const char *forced = getenv("CLCONVT_PLAN");
    if (forced != NULL && *forced != '\0')
        fprintf(stderr, "clconvt-tune: ignoring CLCONVT_PLAN=%s\n", forced);
    unsetenv("CLCONVT_PLAN");
    clconvt_tuning_db_set_enabled(0);
    /* Most candidates lose: keep their programs out of the on-disk cache (writing one costs
     * about a compile, when the device is released, outside any class's time). */
    setenv("CLCONVT_CACHE_DIR", "off", 1);

    if (read_shapes(shapes, &rows, &count) != 0)
        goto cleanup;
    const int read = clconvt_tuning_db_read(output, &root, reason, sizeof reason);
    if (read < 0) {
        fprintf(stderr,
                "clconvt-tune: cannot resume from %s: %s; move it away or choose another "
                "--output\n",
                output, reason);
        goto cleanup;
    }
    if (read == 1 && (root = clconvt_tuning_db_new()) == NULL) {
        fprintf(stderr, "clconvt-tune: out of host memory\n");
        goto cleanup;
    }
    if (probe_output(output) != 0)
        goto cleanup;
    clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, selector, &device);
    if (st != CLCONVT_SUCCESS) {
        fprintf(stderr, "clconvt-tune: %s\n", clconvt_last_error());
        goto cleanup;
    }
    tuning_identity id;
    clconvt_tuning_identity_of(device, &id);

    if ((first = malloc((size_t)count * sizeof *first)) == NULL) {
        fprintf(stderr, "clconvt-tune: out of host memory\n");
        goto cleanup;
    }
    int classes = 0, done = 0;
    const cJSON *mine = clconvt_tuning_db_device_entry(root, &id, 0);
    for (int i = 0; i < count; ++i) {
        first[i] = -1;
        for (int j = 0; j < i && first[i] < 0; ++j)
            if (strcmp(rows[j].shape_class, rows[i].shape_class) == 0)
                first[i] = j;
        if (first[i] < 0) {
            ++classes;
            if (mine && cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(mine, "classes"), rows[i].shape_class))
                ++done;
        }
    }
    untuned = classes - done;
    fprintf(stderr,
            "clconvt-tune: %s (%s, %s, driver %s); %d rows, %d shape classes, %d already in %s; "
            "budget %.0f s, repeat %d\n",
            id.name, device->platform_name, id.type, id.driver, count, classes, done, output,
            budget, config.repeat);

    int class_number = 0;
    for (int i = 0; i < count; ++i) {
        if (first[i] >= 0)
            continue;
        ++class_number;
        const shape_row *row = &rows[i];
        mine = clconvt_tuning_db_device_entry(root, &id, 0);
        const cJSON *known =
            mine ? cJSON_GetObjectItemCaseSensitive(
                       cJSON_GetObjectItemCaseSensitive(mine, "classes"), row->shape_class)
                 : NULL;
        if (known != NULL) {
            fprintf(stderr, "clconvt-tune: [%d/%d] %s: already tuned for this device, skipped\n",
                    class_number, classes, row->shape_class);
            continue;
        }
        const double now = tool_now_seconds();
        if (now >= config.deadline) {
            fprintf(stderr,
                    "clconvt-tune: the budget is spent; %d classes are left (run again to "
                    "continue)\n",
                    untuned);
            break;
        }
        const double stop = now + (config.deadline - now) / untuned;
        char also[256] = "";
        size_t used = 0;
        for (int j = i + 1; j < count; ++j) {
            const int n = first[j] != i ? 0
                                        : snprintf(also + used, sizeof also - used, "%s%s",
                                                   used ? ", " : "; also ", rows[j].name);
            if (n > 0 && used + (size_t)n < sizeof also)
                used += (size_t)n;
            else
                also[used] = '\0';
        }
        fprintf(stderr,
                "clconvt-tune: [%d/%d] %s on %s (N %" PRId64 ", L_in %" PRId64 "%s), %.0f s\n",
                class_number, classes, row->shape_class, row->name, row->batch, row->length_in,
                also, stop - now);
        /* A fresh handle per class: its compiled programs go when the class is done. */
        st = clconvt_device_open(CLCONVT_DEVICE_ANY, selector, &measuring);
        outcome o;
        if (st != CLCONVT_SUCCESS) {
            fprintf(stderr, "clconvt-tune: %s\n", clconvt_last_error());
            ++failures;
        } else if (search_class(measuring, row, stop, &config, &o) != 0) {
            ++failures;
        } else {
            fprintf(stderr,
                    "clconvt-tune:   => %s: %.3f ms, the default %.3f ms (%.2fx); %d of %d "
                    "candidates tried\n",
                    o.plan, o.median_ms, o.default_ms,
                    o.default_ms > 0 ? o.default_ms / o.median_ms : 0.0, o.tried, o.candidates);
            if (save_class(output, &root, &id, device->platform_name, row, &o) != 0)
                ++failures;
        }
        clconvt_device_release(measuring);
        measuring = NULL;
        --untuned;
    }
    print_table(rows, count, clconvt_tuning_db_device_entry(root, &id, 0));
    fprintf(stderr, "clconvt-tune: done in %.0f s\n", tool_now_seconds() - start);
    rc = failures ? 1 : 0;
cleanup:
    clconvt_device_release(measuring);
    clconvt_device_release(device);
    cJSON_Delete(root);
    free(rows);
    free(first);
    return rc;
}
