/*
 * clconvt-run: one ConvTranspose1d forward on .npy files, from the command line.
 *
 * Everything that can be checked without a device is checked first (arguments, files, shapes,
 * the library's parameter validation), so most mistakes are reported quickly and the device is
 * only opened for a run that can succeed. The output is written atomically and only after the
 * forward succeeded: a failed run never creates, truncates or replaces the output file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "npy.h"

#ifndef CLCONVT_VERSION
#define CLCONVT_VERSION "unknown"
#endif

#define PROGRAM "clconvt-run"

/* Exit codes (documented in --help). */
enum { EXIT_OK = 0, EXIT_FAILURE_RUN = 1, EXIT_USAGE = 2 };

/* parse_args results that are not errors. */
enum { PARSED_RUN = 0, PARSED_HELP = -1, PARSED_VERSION = -2 };

typedef struct options {
    const char *input;
    const char *weight;
    const char *bias;
    const char *output;
    const char *device;
    int64_t stride;
    int64_t pad_left;
    int64_t pad_right;
    int64_t output_padding;
    int64_t dilation;
    int64_t groups;
    clconvt_layout layout;
    clconvt_weight_order order;
    clconvt_dtype dtype;
} options;

/* Every option that takes a value; the enumerator is also its bit in the "seen" mask. */
typedef enum option_id {
    OPT_INPUT,
    OPT_WEIGHT,
    OPT_BIAS,
    OPT_OUTPUT,
    OPT_STRIDE,
    OPT_PADDING,
    OPT_OUTPUT_PADDING,
    OPT_DILATION,
    OPT_GROUPS,
    OPT_LAYOUT,
    OPT_WEIGHT_ORDER,
    OPT_DTYPE,
    OPT_DEVICE,
    OPT_COUNT
} option_id;

static const char *const option_names[OPT_COUNT] = {
    [OPT_INPUT] = "--input",
    [OPT_WEIGHT] = "--weight",
    [OPT_BIAS] = "--bias",
    [OPT_OUTPUT] = "--output",
    [OPT_STRIDE] = "--stride",
    [OPT_PADDING] = "--padding",
    [OPT_OUTPUT_PADDING] = "--output-padding",
    [OPT_DILATION] = "--dilation",
    [OPT_GROUPS] = "--groups",
    [OPT_LAYOUT] = "--layout",
    [OPT_WEIGHT_ORDER] = "--weight-order",
    [OPT_DTYPE] = "--dtype",
    [OPT_DEVICE] = "--device",
};

static const char help_text[] =
    "Usage: " PROGRAM " --input X.npy --weight W.npy [--bias B.npy] --output Y.npy [options]\n"
    "\n"
    "Runs one ConvTranspose1d forward (MAX's max.nn.ConvTranspose1d, PyTorch's\n"
    "nn.ConvTranspose1d) on an OpenCL device and writes the result as a .npy file.\n"
    "\n"
    "Files:\n"
    "  --input X.npy         activations: 3-D (N, L, Cin) for nlc or (N, Cin, L) for ncl;\n"
    "                        or 2-D unbatched (L, Cin) / (Cin, L), giving a 2-D output\n"
    "  --weight W.npy        3-D weight in --weight-order (see below)\n"
    "  --bias B.npy          optional 1-D bias of length Cout (default: no bias, as in MAX)\n"
    "  --output Y.npy        result: (N, L_out, Cout) for nlc, (N, Cout, L_out) for ncl\n"
    "                        (2-D for an unbatched input); written atomically, only on success\n"
    "\n"
    "Parameters (K, Cin and Cout come from the weight's shape and --groups):\n"
    "  --stride N            stride >= 1 (default 1)\n"
    "  --padding N           crop N positions from both ends of the full output (default 0)\n"
    "  --padding LEFT,RIGHT  crop LEFT positions from the start and RIGHT from the end\n"
    "  --output-padding N    extra positions at the end; must be smaller than the stride or\n"
    "                        the dilation (default 0)\n"
    "  --dilation N          kernel dilation >= 1 (default 1)\n"
    "  --groups N            channel groups; Cin and Cout divisible by N (default 1)\n"
    "  L_out = (L - 1)*stride - left - right + dilation*(K - 1) + output_padding + 1\n"
    "\n"
    "Layouts (--layout, default nlc):\n"
    "  nlc   channels-last, MAX's default (permute=False): input (N, L, Cin)\n"
    "  ncl   channels-first, PyTorch's layout (MAX permute=True): input (N, Cin, L)\n"
    "\n"
    "Weight orders (--weight-order, default max):\n"
    "  max       (K, Cout/groups, Cin): MAX's order, PyTorch's array with its axes reversed\n"
    "  pytorch   (Cin, Cout/groups, K): nn.ConvTranspose1d.weight\n"
    "\n"
    "Storage types (--dtype, default f32); arithmetic is always at least fp32:\n"
    "  f32    input and output '<f4'\n"
    "  f16    input and output '<f2'\n"
    "  bf16   input and output '<u2' holding bfloat16 bit patterns (numpy has no bfloat16)\n"
    "  The input must hold exactly the --dtype's type. The weight and bias may hold '<f4'\n"
    "  (converted with round-to-nearest-even) or the --dtype's own type.\n"
    "\n"
    "Device:\n"
    "  --device SELECTOR     \"gpu\", \"cpu\", \"any\", \"P:D\" (platform:device index) or a\n"
    "                        case-insensitive substring of the device or platform name\n"
    "                        (default: a GPU if any, else a CPU). A non-empty CLCONVT_DEVICE\n"
    "                        environment variable overrides it.\n"
    "\n"
    "Options may also be written --name=value. Each may be given once.\n"
    "  --help                show this text and exit\n"
    "  --version             show the version and exit\n"
    "\n"
    "Exit status:\n"
    "  0   success: the output file was written\n"
    "  1   failure: an unreadable or invalid file, a shape or type mismatch, a parameter the\n"
    "      operator refuses, a device or OpenCL error\n"
    "  2   usage error: an unknown, repeated, missing or malformed option\n"
    "On failure one line \"" PROGRAM ": <message>\" goes to stderr and the output file is\n"
    "not created or changed.\n";

static void set_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t err_size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* Prints the one-line error report; embedded newlines (an OpenCL build log) are folded. */
static void report(const char *message) {
    fputs(PROGRAM ": ", stderr);
    for (const char *p = message; *p; ++p) {
        if (*p == '\n') {
            if (p[1] != '\0')
                fputs(" | ", stderr);
        } else if (*p != '\r') {
            fputc(*p, stderr);
        }
    }
    fputc('\n', stderr);
}

/* ---- Argument parsing ---------------------------------------------------------------------- */

/* Strict integer: the whole string, decimal, no leading space, within int64_t. */
static int parse_int(const char *name, const char *text, int64_t *out, char *err, size_t err_size) {
    char *end = NULL;
    errno = 0;
    const long long v = strtoll(text, &end, 10);
    const int digit_first =
        (text[0] >= '0' && text[0] <= '9') ||
        ((text[0] == '-' || text[0] == '+') && text[1] >= '0' && text[1] <= '9');
    if (!digit_first || end == text || *end != '\0') {
        set_error(err, err_size, "%s expects an integer, got '%s'", name, text);
        return EXIT_USAGE;
    }
    if (errno == ERANGE) {
        set_error(err, err_size, "%s value '%s' is out of range", name, text);
        return EXIT_USAGE;
    }
    *out = (int64_t)v;
    return 0;
}

/* "N" (symmetric) or "LEFT,RIGHT". */
static int parse_padding(const char *text, options *opt, char *err, size_t err_size) {
    const char *comma = strchr(text, ',');
    if (comma == NULL) {
        if (parse_int("--padding", text, &opt->pad_left, err, err_size) != 0)
            return EXIT_USAGE;
        opt->pad_right = opt->pad_left;
        return 0;
    }
    char left[64];
    const size_t left_len = (size_t)(comma - text);
    int bad = left_len >= sizeof left;
    if (!bad) {
        memcpy(left, text, left_len);
        left[left_len] = '\0';
        bad = parse_int("--padding", left, &opt->pad_left, err, err_size) != 0 ||
              parse_int("--padding", comma + 1, &opt->pad_right, err, err_size) != 0;
    }
    if (bad) {
        set_error(err, err_size, "--padding expects N or LEFT,RIGHT (integers), got '%s'", text);
        return EXIT_USAGE;
    }
    return 0;
}

/* Looks text up in names[count]; returns its index or -1. */
static int lookup(const char *text, const char *const *names, int count) {
    for (int i = 0; i < count; ++i)
        if (strcmp(text, names[i]) == 0)
            return i;
    return -1;
}

static int parse_choice(const char *name, const char *text, const char *const *names, int count,
                        int *out, char *err, size_t err_size) {
    const int i = lookup(text, names, count);
    if (i < 0) {
        set_error(err, err_size, "%s must be %s%s%s%s%s, got '%s'", name, names[0],
                  count > 2 ? ", " : " or ", names[1], count > 2 ? " or " : "",
                  count > 2 ? names[2] : "", text);
        return EXIT_USAGE;
    }
    *out = i;
    return 0;
}

/* Stores the value of one option. */
static int set_option(option_id id, const char *value, options *opt, char *err, size_t err_size) {
    static const char *const layouts[] = {"nlc", "ncl"};        /* index = clconvt_layout */
    static const char *const orders[] = {"max", "pytorch"};     /* index = clconvt_weight_order */
    static const char *const dtypes[] = {"f32", "f16", "bf16"}; /* index = clconvt_dtype */
    const char *name = option_names[id];
    int choice = 0, rc = 0;
    switch (id) {
    case OPT_INPUT: opt->input = value; break;
    case OPT_WEIGHT: opt->weight = value; break;
    case OPT_BIAS: opt->bias = value; break;
    case OPT_OUTPUT: opt->output = value; break;
    case OPT_DEVICE: opt->device = value; break;
    case OPT_STRIDE: return parse_int(name, value, &opt->stride, err, err_size);
    case OPT_PADDING: return parse_padding(value, opt, err, err_size);
    case OPT_OUTPUT_PADDING: return parse_int(name, value, &opt->output_padding, err, err_size);
    case OPT_DILATION: return parse_int(name, value, &opt->dilation, err, err_size);
    case OPT_GROUPS: return parse_int(name, value, &opt->groups, err, err_size);
    case OPT_LAYOUT:
        rc = parse_choice(name, value, layouts, 2, &choice, err, err_size);
        opt->layout = (clconvt_layout)choice;
        return rc;
    case OPT_WEIGHT_ORDER:
        rc = parse_choice(name, value, orders, 2, &choice, err, err_size);
        opt->order = (clconvt_weight_order)choice;
        return rc;
    case OPT_DTYPE:
        rc = parse_choice(name, value, dtypes, 3, &choice, err, err_size);
        opt->dtype = (clconvt_dtype)choice;
        return rc;
    case OPT_COUNT: break;
    }
    if (*value == '\0') {
        set_error(err, err_size, "%s needs a non-empty value", name);
        return EXIT_USAGE;
    }
    return 0;
}

/*
 * Splits "--name=value" or "--name value" at argv[*i]; returns the option's id and its value
 * (advancing *i past a separate value), or a usage error.
 */
static int next_option(int argc, char **argv, int *i, option_id *id, const char **value, char *err,
                       size_t err_size) {
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    const size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
    char name[32];
    int found = -1;
    if (strncmp(arg, "--", 2) == 0 && name_len < sizeof name) {
        memcpy(name, arg, name_len);
        name[name_len] = '\0';
        found = lookup(name, option_names, OPT_COUNT);
    }
    if (found < 0) {
        set_error(err, err_size, "%s '%s' (see --help)",
                  arg[0] == '-' ? "unknown option" : "unexpected argument", arg);
        return EXIT_USAGE;
    }
    *id = (option_id)found;
    if (eq != NULL) {
        *value = eq + 1;
        return 0;
    }
    /* A following "--something" is a forgotten value, not a value; "-1" is a value. */
    if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0) {
        set_error(err, err_size, "%s needs a value (see --help)", option_names[found]);
        return EXIT_USAGE;
    }
    *value = argv[++*i];
    return 0;
}

static void options_init(options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->stride = 1;
    opt->dilation = 1;
    opt->groups = 1;
    opt->layout = CLCONVT_LAYOUT_NLC;
    opt->order = CLCONVT_WEIGHT_MAX;
    opt->dtype = CLCONVT_F32;
}

/* Returns PARSED_RUN, PARSED_HELP, PARSED_VERSION, or EXIT_USAGE with a message in err. */
static int parse_args(int argc, char **argv, options *opt, char *err, size_t err_size) {
    options_init(opt);
    unsigned seen = 0;
    /* --help and --version win over anything else on the line, as users expect. */
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return PARSED_HELP;
        if (strcmp(argv[i], "--version") == 0)
            return PARSED_VERSION;
    }
    for (int i = 1; i < argc; ++i) {
        option_id id = OPT_COUNT;
        const char *value = NULL;
        if (next_option(argc, argv, &i, &id, &value, err, err_size) != 0)
            return EXIT_USAGE;
        if (seen & (1u << id)) {
            set_error(err, err_size, "%s given more than once", option_names[id]);
            return EXIT_USAGE;
        }
        seen |= 1u << id;
        if (set_option(id, value, opt, err, err_size) != 0)
            return EXIT_USAGE;
    }
    static const option_id required[] = {OPT_INPUT, OPT_WEIGHT, OPT_OUTPUT};
    for (size_t r = 0; r < sizeof required / sizeof required[0]; ++r) {
        if (!(seen & (1u << required[r]))) {
            set_error(err, err_size, "missing required option %s (see --help)",
                      option_names[required[r]]);
            return EXIT_USAGE;
        }
    }
    return PARSED_RUN;
}

/* ---- Files and shapes ---------------------------------------------------------------------- */

static npy_type npy_type_of(clconvt_dtype dtype) {
    return dtype == CLCONVT_F16 ? NPY_F16 : dtype == CLCONVT_BF16 ? NPY_U16 : NPY_F32;
}

/* "'<f4' (f32)" and so on: the file's type and what clconvt calls it. */
static const char *npy_type_label(npy_type type) {
    switch (type) {
    case NPY_F32: return "'<f4' (f32)";
    case NPY_F64: return "'<f8' (f64)";
    case NPY_F16: return "'<f2' (f16)";
    case NPY_U16: return "'<u2' (bf16)";
    }
    return "an unknown type";
}

/* Formats an array's shape as Python does: "(5,)", "(3, 4)". Truncates rather than overflows. */
static void format_shape(const npy_array *a, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = -1; i <= a->ndim && used < size; ++i) {
        int n;
        if (i < 0)
            n = snprintf(buf + used, size - used, "(");
        else if (i == a->ndim)
            n = snprintf(buf + used, size - used, "%s", a->ndim == 1 ? ",)" : ")");
        else
            n = snprintf(buf + used, size - used, "%s%" PRId64, i ? ", " : "", a->shape[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* Reads a weight or bias, which may be f32 or the run's dtype. */
static int read_parameter_file(const char *option, const char *path, clconvt_dtype dtype,
                               npy_array *out, clconvt_dtype *host_dtype, char *err,
                               size_t err_size) {
    if (npy_read(path, out, err, err_size) != 0)
        return EXIT_FAILURE_RUN;
    if (out->type == NPY_F32) {
        *host_dtype = CLCONVT_F32;
        return 0;
    }
    if (out->type == npy_type_of(dtype)) {
        *host_dtype = dtype;
        return 0;
    }
    set_error(err, err_size, "%s %s holds %s, but with --dtype %s it must hold '<f4' (f32) or %s",
              option, path, npy_type_label(out->type), clconvt_dtype_name(dtype),
              npy_type_label(npy_type_of(dtype)));
    return EXIT_FAILURE_RUN;
}

/* Derives Cin, Cout and K from the weight's shape, its order and the groups. */
static int weight_geometry(const options *opt, const npy_array *w, clconvt_params *params,
                           char *err, size_t err_size) {
    char shape[256];
    format_shape(w, shape, sizeof shape);
    if (w->ndim != 3) {
        set_error(err, err_size, "--weight %s has shape %s, but a weight is 3-D: %s", opt->weight,
                  shape,
                  opt->order == CLCONVT_WEIGHT_MAX ? "(K, Cout/groups, Cin) in max order"
                                                   : "(Cin, Cout/groups, K) in pytorch order");
        return EXIT_FAILURE_RUN;
    }
    const int max = opt->order == CLCONVT_WEIGHT_MAX;
    const int64_t cin = w->shape[max ? 2 : 0], cout_g = w->shape[1], k = w->shape[max ? 0 : 2];
    /* groups <= 0 is passed on unmultiplied so the library reports it by name. */
    int64_t cout = cout_g;
    if (opt->groups > 0) {
        if (cout_g > INT64_MAX / opt->groups) {
            set_error(err, err_size,
                      "--weight %s: Cout/groups = %" PRId64 " times --groups %" PRId64 " overflows",
                      opt->weight, cout_g, opt->groups);
            return EXIT_FAILURE_RUN;
        }
        cout = cout_g * opt->groups;
    }
    clconvt_params_init(params, cin, cout, k);
    params->stride = opt->stride;
    params->pad_left = opt->pad_left;
    params->pad_right = opt->pad_right;
    params->output_padding = opt->output_padding;
    params->dilation = opt->dilation;
    params->groups = opt->groups;
    params->has_bias = opt->bias != NULL;
    params->layout = opt->layout;
    params->dtype = opt->dtype;
    return 0;
}

/* Input geometry: batch, length, and whether it was unbatched (2-D). */
typedef struct input_geometry {
    int64_t batch;
    int64_t length;
    int unbatched;
} input_geometry;

static int input_geometry_of(const options *opt, const npy_array *x, int64_t cin, input_geometry *g,
                             char *err, size_t err_size) {
    char shape[256];
    format_shape(x, shape, sizeof shape);
    const int ncl = opt->layout == CLCONVT_LAYOUT_NCL;
    const char *layout = ncl ? "ncl" : "nlc";
    if (x->ndim != 2 && x->ndim != 3) {
        set_error(err, err_size,
                  "--input %s has shape %s, but with layout %s it must be %s or unbatched %s",
                  opt->input, shape, layout, ncl ? "(N, Cin, L)" : "(N, L, Cin)",
                  ncl ? "(Cin, L)" : "(L, Cin)");
        return EXIT_FAILURE_RUN;
    }
    const int first = x->ndim - 2; /* index of the first non-batch axis */
    const int64_t channels = x->shape[ncl ? first : first + 1];
    g->unbatched = x->ndim == 2;
    g->batch = g->unbatched ? 1 : x->shape[0];
    g->length = x->shape[ncl ? first + 1 : first];
    if (channels != cin) {
        set_error(err, err_size,
                  "--input %s has %" PRId64 " channels (shape %s, layout %s) but the weight "
                  "expects Cin = %" PRId64,
                  opt->input, channels, shape, layout, cin);
        return EXIT_FAILURE_RUN;
    }
    return 0;
}

static int check_bias(const options *opt, const npy_array *b, int64_t cout, char *err,
                      size_t err_size) {
    if (b->ndim == 1 && b->shape[0] == cout)
        return 0;
    char shape[256];
    format_shape(b, shape, sizeof shape);
    set_error(err, err_size,
              "--bias %s has shape %s, but the layer has Cout = %" PRId64
              " (a bias is 1-D with Cout values)",
              opt->bias, shape, cout);
    return EXIT_FAILURE_RUN;
}

/* Reports the library's last error (or the status name if it left none). */
static int library_error(clconvt_status status, char *err, size_t err_size) {
    const char *message = clconvt_last_error();
    set_error(err, err_size, "%s", message && *message ? message : clconvt_status_string(status));
    return EXIT_FAILURE_RUN;
}

/* Bytes of batch * cout * length elements of dtype, or 0 on overflow. */
static size_t output_bytes(int64_t batch, int64_t cout, int64_t length, clconvt_dtype dtype) {
    const uint64_t size = clconvt_dtype_size(dtype);
    uint64_t total = size;
    const int64_t dims[] = {batch, cout, length};
    for (int i = 0; i < 3; ++i) {
        if (dims[i] < 0 || (dims[i] != 0 && total > UINT64_MAX / (uint64_t)dims[i]))
            return 0;
        total *= (uint64_t)dims[i];
    }
    if (total > SIZE_MAX)
        return 0;
    return total ? (size_t)total : 1;
}

/* ---- The run ------------------------------------------------------------------------------- */

/* Files read for a run, with what the library needs to know of them. */
typedef struct run_inputs {
    npy_array x;
    npy_array w;
    npy_array b;
    clconvt_dtype w_dtype;
    clconvt_dtype b_dtype;
    clconvt_params params;
    input_geometry geometry;
    int64_t length_out;
} run_inputs;

/* Reads and checks every file, and lets the library validate the parameters. */
static int prepare(const options *opt, run_inputs *in, char *err, size_t err_size) {
    if (npy_read(opt->input, &in->x, err, err_size) != 0)
        return EXIT_FAILURE_RUN;
    if (in->x.type != npy_type_of(opt->dtype)) {
        set_error(err, err_size, "--input %s holds %s but --dtype is %s", opt->input,
                  npy_type_label(in->x.type), clconvt_dtype_name(opt->dtype));
        return EXIT_FAILURE_RUN;
    }
    int rc = read_parameter_file("--weight", opt->weight, opt->dtype, &in->w, &in->w_dtype, err,
                                 err_size);
    if (rc == 0)
        rc = weight_geometry(opt, &in->w, &in->params, err, err_size);
    if (rc == 0)
        rc = input_geometry_of(opt, &in->x, in->params.in_channels, &in->geometry, err, err_size);
    if (rc == 0 && opt->bias != NULL)
        rc = read_parameter_file("--bias", opt->bias, opt->dtype, &in->b, &in->b_dtype, err,
                                 err_size);
    if (rc == 0 && opt->bias != NULL)
        rc = check_bias(opt, &in->b, in->params.out_channels, err, err_size);
    if (rc != 0)
        return rc;
    const clconvt_status st =
        clconvt_output_length(&in->params, in->geometry.length, &in->length_out);
    return st == CLCONVT_SUCCESS ? 0 : library_error(st, err, err_size);
}

/* Opens the device, stages the layer and runs the forward into y. */
static int compute(const options *opt, const run_inputs *in, void *y, char *err, size_t err_size) {
    clconvt_device *device = NULL;
    clconvt_layer *layer = NULL;
    clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, opt->device, &device);
    if (st == CLCONVT_SUCCESS)
        st = clconvt_layer_create(device, &in->params, &layer);
    if (st == CLCONVT_SUCCESS)
        st = clconvt_layer_set_weight(layer, in->w.data, opt->order, in->w_dtype);
    if (st == CLCONVT_SUCCESS && opt->bias != NULL)
        st = clconvt_layer_set_bias(layer, in->b.data, in->b_dtype);
    if (st == CLCONVT_SUCCESS)
        st = clconvt_layer_forward_host(layer, in->x.data, y, in->geometry.batch,
                                        in->geometry.length);
    /* Capture the message before releasing, which may overwrite the thread's last error. */
    const int rc = st == CLCONVT_SUCCESS ? 0 : library_error(st, err, err_size);
    clconvt_layer_release(layer);
    clconvt_device_release(device);
    return rc;
}

static int write_output(const options *opt, const run_inputs *in, const void *y, char *err,
                        size_t err_size) {
    const input_geometry *g = &in->geometry;
    const int64_t cout = in->params.out_channels, lout = in->length_out;
    int64_t shape[3];
    int ndim = 0;
    if (!g->unbatched)
        shape[ndim++] = g->batch;
    shape[ndim++] = opt->layout == CLCONVT_LAYOUT_NCL ? cout : lout;
    shape[ndim++] = opt->layout == CLCONVT_LAYOUT_NCL ? lout : cout;
    if (npy_write(opt->output, npy_type_of(opt->dtype), ndim, shape, y, err, err_size) != 0)
        return EXIT_FAILURE_RUN;
    return 0;
}

static int run(const options *opt, char *err, size_t err_size) {
    run_inputs in;
    memset(&in, 0, sizeof in);
    void *y = NULL;
    int rc = prepare(opt, &in, err, err_size);
    if (rc != 0)
        goto cleanup;
    const size_t bytes =
        output_bytes(in.geometry.batch, in.params.out_channels, in.length_out, opt->dtype);
    if (bytes == 0) {
        set_error(err, err_size,
                  "output of %" PRId64 " x %" PRId64 " x %" PRId64
                  " elements is too large to address",
                  in.geometry.batch, in.params.out_channels, in.length_out);
        rc = EXIT_FAILURE_RUN;
        goto cleanup;
    }
    y = malloc(bytes);
    if (y == NULL) {
        set_error(err, err_size, "out of memory for the %zu-byte output", bytes);
        rc = EXIT_FAILURE_RUN;
        goto cleanup;
    }
    rc = compute(opt, &in, y, err, err_size);
    if (rc == 0)
        rc = write_output(opt, &in, y, err, err_size);
cleanup:
    free(y);
    npy_free(&in.x);
    npy_free(&in.w);
    npy_free(&in.b);
    return rc;
}

int main(int argc, char **argv) {
    options opt;
    char err[4096] = "";
    const int parsed = parse_args(argc, argv, &opt, err, sizeof err);
    if (parsed == PARSED_HELP) {
        fputs(help_text, stdout);
        return EXIT_OK;
    }
    if (parsed == PARSED_VERSION) {
        printf("%s %s\n", PROGRAM, CLCONVT_VERSION);
        return EXIT_OK;
    }
    if (parsed != PARSED_RUN) {
        report(err);
        return EXIT_USAGE;
    }
    const int rc = run(&opt, err, sizeof err);
    if (rc != 0)
        report(err);
    return rc;
}
