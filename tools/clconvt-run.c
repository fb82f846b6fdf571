/*
 * clconvt-run: one ConvTranspose1d forward on .npy files, from the command line.
 *
 * Everything that can be checked without a device is checked first (arguments, files, shapes,
 * the library's parameter validation), so most mistakes are reported quickly and the device is
 * only opened for a run that can succeed. The output is written atomically and only after the
 * forward succeeded: a failed run never creates, truncates or replaces the output file. Devices
 * and FIFOs are written in place, never replaced (npy_write, src/file_output.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clconvt.h"
#include "input_activation.h"
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
    const char *weights;  /* a safetensors checkpoint, instead of --weight/--bias */
    const char *name;     /* the layer's tensor prefix in it ("" when not given) */
    const char *weight_g; /* a weight-norm pair in .npy files, instead of --weight */
    const char *weight_v;
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
    int64_t chunk;             /* --chunk: input frames per stream push; 0: one forward */
    cli_activation activation; /* --input-activation */
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
    OPT_WEIGHTS,
    OPT_NAME,
    OPT_WEIGHT_G,
    OPT_WEIGHT_V,
    OPT_CHUNK,
    OPT_INPUT_ACTIVATION,
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
    [OPT_WEIGHTS] = "--weights",
    [OPT_NAME] = "--name",
    [OPT_WEIGHT_G] = "--weight-g",
    [OPT_WEIGHT_V] = "--weight-v",
    [OPT_CHUNK] = "--chunk",
    [OPT_INPUT_ACTIVATION] = "--input-activation",
};

static const char help_text[] =
    "Usage: " PROGRAM " --input X.npy --weight W.npy [--bias B.npy] --output Y.npy [options]\n"
    "       " PROGRAM " --input X.npy --weights CKPT.safetensors --name PREFIX --output Y.npy\n"
    "                   [options]\n"
    "       " PROGRAM " --input X.npy --weight-g G.npy --weight-v V.npy [--bias B.npy]\n"
    "                   --output Y.npy [options]\n"
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
    "Checkpoints (instead of --weight and --bias):\n"
    "  --weights CKPT.safetensors\n"
    "                        a safetensors checkpoint (PyTorch's or MAX's); the layer's\n"
    "                        tensors are PREFIX.weight, or the weight-norm pair\n"
    "                        PREFIX.weight_g + PREFIX.weight_v (w = g * v / ||v||, folded\n"
    "                        once), and PREFIX.bias when the file has one. F32, F16 or BF16,\n"
    "                        whatever --dtype. The weight's order is read from its shape:\n"
    "                        (Cin, Cout/groups, K) PyTorch, (K, Cout/groups, Cin) MAX;\n"
    "                        --weight-order decides only when Cin == K\n"
    "  --name PREFIX         the layer's name in the checkpoint, e.g. ups.0 (default: none,\n"
    "                        the tensors are \"weight\" and \"bias\")\n"
    "  --weight-g G.npy      weight norm from .npy files: g, Cin values ((Cin, 1, 1) as\n"
    "  --weight-v V.npy      PyTorch stores it, (Cin,) or (1, 1, Cin)), and v, a weight in\n"
    "                        --weight-order; use with --bias as for --weight\n"
    "\n"
    "Parameters (K, Cin and Cout come from the weight's shape and --groups; a checkpoint\n"
    "does not store stride, padding and the rest, so give them as for --weight):\n"
    "  --stride N            stride >= 1 (default 1)\n"
    "  --padding N           crop N positions from both ends of the full output (default 0)\n"
    "  --padding LEFT,RIGHT  crop LEFT positions from the start and RIGHT from the end\n"
    "  --output-padding N    extra positions at the end; must be smaller than the stride or\n"
    "                        the dilation (default 0)\n"
    "  --dilation N          kernel dilation >= 1 (default 1)\n"
    "  --groups N            channel groups; Cin and Cout divisible by N (default 1)\n"
    "  L_out = (L - 1)*stride - left - right + dilation*(K - 1) + output_padding + 1\n"
    "\n"
    "Fused input activation (the layer computes ConvTranspose1d(activation(x)), in fp32):\n"
    "  --input-activation leaky_relu:SLOPE   x >= 0 ? x : SLOPE * x (HiFi-GAN: 0.1)\n"
    "  --input-activation elu:ALPHA          x > 0 ? x : ALPHA * (exp(x) - 1)\n"
    "  --input-activation snake:FILE.npy     x + sin(a_c x)^2 / (a_c + 1e-9), DAC's Snake1d,\n"
    "                        one alpha a_c per input channel: (Cin,) or (1, Cin, 1), f4 or f8\n"
    "  --input-activation snake:@NAME        the same, the alphas the tensor NAME of the\n"
    "                        --weights checkpoint (e.g. @block.0.alpha)\n"
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
    "  The input must hold exactly the --dtype's type. The weight and bias files (and\n"
    "  --weight-g/--weight-v) may hold '<f4' (converted with round-to-nearest-even) or the\n"
    "  --dtype's own type.\n"
    "\n"
    "The output (--output):\n"
    "  A new or regular file is written atomically, only on success: a temporary file beside\n"
    "  it, renamed over it, keeping an existing file's permissions. A read-only file (no write\n"
    "  permission, even for root) is refused, not replaced. A symbolic link is followed: the\n"
    "  file it leads to is replaced and the link stays; a dangling link is refused. A\n"
    "  character device (/dev/null, a terminal) or a FIFO is written in place, never replaced;\n"
    "  a FIFO needs its reader already running, and a failed write (/dev/full: \"No space left\n"
    "  on device\") is an error. Directories, block devices and sockets are refused.\n"
    "  Inputs (--input, --weight, --weights, ...) must be regular files: a FIFO or a device is\n"
    "  refused at once rather than waited on.\n"
    "\n"
    "Streaming:\n"
    "  --chunk N             run the input through the stream API (clconvt_stream_push_host)\n"
    "                        in chunks of N >= 1 input frames and write the concatenated\n"
    "                        output: identical to the run without --chunk\n"
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
    "not created or changed (a device or FIFO may have received part of it).\n";

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

/* --chunk N: a positive number of input frames. */
static int parse_chunk(const char *text, options *opt, char *err, size_t err_size) {
    if (parse_int("--chunk", text, &opt->chunk, err, err_size) != 0)
        return EXIT_USAGE;
    if (opt->chunk >= 1)
        return 0;
    set_error(err, err_size, "--chunk must be a positive number of input frames, got '%s'", text);
    return EXIT_USAGE;
}

/* Stores the value of one option. */
static int set_option(option_id id, const char *value, options *opt, char *err, size_t err_size) {
    static const char *const layouts[] = {"nlc", "ncl"};    /* index = clconvt_layout */
    static const char *const orders[] = {"max", "pytorch"}; /* index = clconvt_weight_order */
    const char *name = option_names[id];
    int choice = 0, rc = 0;
    switch (id) {
    case OPT_INPUT: opt->input = value; break;
    case OPT_WEIGHT: opt->weight = value; break;
    case OPT_BIAS: opt->bias = value; break;
    case OPT_OUTPUT: opt->output = value; break;
    case OPT_DEVICE: opt->device = value; break;
    case OPT_WEIGHTS: opt->weights = value; break;
    case OPT_NAME: opt->name = value; break;
    case OPT_WEIGHT_G: opt->weight_g = value; break;
    case OPT_WEIGHT_V: opt->weight_v = value; break;
    case OPT_INPUT_ACTIVATION: return cli_activation_parse(value, &opt->activation, err, err_size);
    case OPT_STRIDE: return parse_int(name, value, &opt->stride, err, err_size);
    case OPT_PADDING: return parse_padding(value, opt, err, err_size);
    case OPT_OUTPUT_PADDING: return parse_int(name, value, &opt->output_padding, err, err_size);
    case OPT_DILATION: return parse_int(name, value, &opt->dilation, err, err_size);
    case OPT_GROUPS: return parse_int(name, value, &opt->groups, err, err_size);
    case OPT_CHUNK: return parse_chunk(value, opt, err, err_size);
    case OPT_LAYOUT:
        rc = parse_choice(name, value, layouts, 2, &choice, err, err_size);
        opt->layout = (clconvt_layout)choice;
        return rc;
    case OPT_WEIGHT_ORDER:
        rc = parse_choice(name, value, orders, 2, &choice, err, err_size);
        opt->order = (clconvt_weight_order)choice;
        return rc;
    case OPT_DTYPE:
        /* The library's names (f32, float32, F32, ...); the message lists the short ones. */
        if (clconvt_dtype_from_name(value, &opt->dtype) == CLCONVT_SUCCESS)
            return 0;
        set_error(err, err_size, "%s must be f32, f16 or bf16, got '%s'", name, value);
        return EXIT_USAGE;
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

#define SEEN(id) ((seen & (1u << (id))) != 0)

/* One source of weights, and only the options that go with it. */
static int check_weight_source(unsigned seen, const char *opt_alpha_name, char *err,
                               size_t err_size) {
    const int sources =
        SEEN(OPT_WEIGHT) + SEEN(OPT_WEIGHTS) + (SEEN(OPT_WEIGHT_G) || SEEN(OPT_WEIGHT_V));
    if (sources == 0) {
        set_error(err, err_size,
                  "missing required option --weight (or --weights CKPT.safetensors, or "
                  "--weight-g with --weight-v; see --help)");
        return EXIT_USAGE;
    }
    if (sources > 1) {
        set_error(err, err_size,
                  "--weight, --weights and --weight-g/--weight-v are alternatives: give one");
        return EXIT_USAGE;
    }
    if (SEEN(OPT_WEIGHT_G) != SEEN(OPT_WEIGHT_V)) {
        set_error(err, err_size, "%s needs %s too (weight norm: w = g * v / ||v||)",
                  SEEN(OPT_WEIGHT_G) ? "--weight-g" : "--weight-v",
                  SEEN(OPT_WEIGHT_G) ? "--weight-v" : "--weight-g");
        return EXIT_USAGE;
    }
    if (SEEN(OPT_NAME) && !SEEN(OPT_WEIGHTS)) {
        set_error(err, err_size, "--name names a layer in a --weights checkpoint; give --weights");
        return EXIT_USAGE;
    }
    if (SEEN(OPT_INPUT_ACTIVATION) && !SEEN(OPT_WEIGHTS) && opt_alpha_name != NULL) {
        set_error(err, err_size,
                  "--input-activation snake:@%s names a tensor of a --weights checkpoint; give "
                  "--weights or snake:FILE.npy",
                  opt_alpha_name);
        return EXIT_USAGE;
    }
    if (SEEN(OPT_BIAS) && SEEN(OPT_WEIGHTS)) {
        set_error(err, err_size,
                  "--bias cannot be combined with --weights: the checkpoint's PREFIX.bias is "
                  "used when it has one");
        return EXIT_USAGE;
    }
    return 0;
}

/* Required options, in the order the usage line names them. */
static int check_combinations(unsigned seen, const options *opt, char *err, size_t err_size) {
    if (!SEEN(OPT_INPUT)) {
        set_error(err, err_size, "missing required option --input (see --help)");
        return EXIT_USAGE;
    }
    if (check_weight_source(seen, opt->activation.alpha_name, err, err_size) != 0)
        return EXIT_USAGE;
    if (!SEEN(OPT_OUTPUT)) {
        set_error(err, err_size, "missing required option --output (see --help)");
        return EXIT_USAGE;
    }
    return PARSED_RUN;
}

#undef SEEN

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
    return check_combinations(seen, opt, err, err_size);
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
    /* f32 is accepted with every dtype: name it once when it is the run's own type too. */
    const int only_f32 = npy_type_of(dtype) == NPY_F32;
    set_error(err, err_size, "%s %s holds %s, but with --dtype %s it must hold '<f4' (f32)%s%s",
              option, path, npy_type_label(out->type), clconvt_dtype_name(dtype),
              only_f32 ? "" : " or ", only_f32 ? "" : npy_type_label(npy_type_of(dtype)));
    return EXIT_FAILURE_RUN;
}

/*
 * Derives Cin, Cout and K from a weight's shape, its order and the groups. label says where the
 * weight came from ("--weight w.npy"); has_bias is whether a bias will be staged.
 */
static int weight_geometry(const options *opt, const char *label, const npy_array *w,
                           clconvt_weight_order order, int has_bias, clconvt_params *params,
                           char *err, size_t err_size) {
    char shape[256];
    format_shape(w, shape, sizeof shape);
    if (w->ndim != 3) {
        set_error(err, err_size, "%s has shape %s, but a weight is 3-D: %s", label, shape,
                  order == CLCONVT_WEIGHT_MAX ? "(K, Cout/groups, Cin) in max order"
                                              : "(Cin, Cout/groups, K) in pytorch order");
        return EXIT_FAILURE_RUN;
    }
    const int max = order == CLCONVT_WEIGHT_MAX;
    const int64_t cin = w->shape[max ? 2 : 0], cout_g = w->shape[1], k = w->shape[max ? 0 : 2];
    /* groups <= 0 is passed on unmultiplied so the library reports it by name. */
    int64_t cout = cout_g;
    if (opt->groups > 0) {
        if (cout_g > INT64_MAX / opt->groups) {
            set_error(err, err_size,
                      "%s: Cout/groups = %" PRId64 " times --groups %" PRId64 " overflows", label,
                      cout_g, opt->groups);
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
    params->has_bias = has_bias;
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

/* label says where the bias came from ("--bias b.npy"). */
static int check_bias(const char *label, const npy_array *b, int64_t cout, char *err,
                      size_t err_size) {
    if (b->ndim == 1 && b->shape[0] == cout)
        return 0;
    char shape[256];
    format_shape(b, shape, sizeof shape);
    set_error(err, err_size,
              "%s has shape %s, but the layer has Cout = %" PRId64
              " (a bias is 1-D with Cout values)",
              label, shape, cout);
    return EXIT_FAILURE_RUN;
}

/* Weight norm's g holds Cin values: (Cin, 1, 1) as PyTorch stores it, (Cin,) or (1, 1, Cin). */
static int check_g(const char *label, const npy_array *g, int64_t cin, char *err, size_t err_size) {
    const int64_t *s = g->shape;
    if ((g->ndim == 1 && s[0] == cin) || (g->ndim == 3 && s[0] == cin && s[1] == 1 && s[2] == 1) ||
        (g->ndim == 3 && s[0] == 1 && s[1] == 1 && s[2] == cin))
        return 0;
    char shape[256];
    format_shape(g, shape, sizeof shape);
    set_error(err, err_size,
              "%s has shape %s, but weight norm needs one value per input channel: (%" PRId64
              ", 1, 1), (%" PRId64 ",) or (1, 1, %" PRId64 ")",
              label, shape, cin, cin, cin);
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
    npy_array w; /* --weight, or v of --weight-v; for --weights only its shape */
    npy_array g; /* --weight-g; for --weights only its shape */
    npy_array b; /* --bias; for --weights only its shape */
    clconvt_dtype w_dtype;
    clconvt_dtype g_dtype;
    clconvt_dtype b_dtype;
    clconvt_weight_order order; /* --weight-order, or what a checkpoint's shapes say */
    clconvt_params params;
    input_geometry geometry;
    int64_t length_out;
} run_inputs;

/* Replaces an array's data by its float32 conversion (when its dtype is not float32 already). */
static int widen_to_f32(npy_array *a, clconvt_dtype *dtype, char *err, size_t err_size) {
    if (*dtype == CLCONVT_F32)
        return 0;
    float *f = malloc((a->count ? a->count : 1) * sizeof *f);
    if (f == NULL) {
        set_error(err, err_size, "out of memory converting %zu values to f32", a->count);
        return EXIT_FAILURE_RUN;
    }
    const clconvt_status st = clconvt_convert(a->data, *dtype, f, CLCONVT_F32, a->count);
    if (st != CLCONVT_SUCCESS) {
        free(f);
        return library_error(st, err, err_size);
    }
    free(a->data);
    a->data = f;
    a->type = NPY_F32;
    *dtype = CLCONVT_F32;
    return 0;
}

/* --weight W.npy, or the weight-norm pair --weight-g G.npy --weight-v V.npy. */
static int prepare_npy_weight(const options *opt, run_inputs *in, char *err, size_t err_size) {
    const char *option = opt->weight_v ? "--weight-v" : "--weight";
    const char *path = opt->weight_v ? opt->weight_v : opt->weight;
    char label[1024];
    snprintf(label, sizeof label, "%s %s", option, path);
    in->order = opt->order;
    int rc = read_parameter_file(option, path, opt->dtype, &in->w, &in->w_dtype, err, err_size);
    if (rc == 0)
        rc = weight_geometry(opt, label, &in->w, in->order, opt->bias != NULL, &in->params, err,
                             err_size);
    if (rc != 0 || opt->weight_g == NULL)
        return rc;
    snprintf(label, sizeof label, "--weight-g %s", opt->weight_g);
    rc = read_parameter_file("--weight-g", opt->weight_g, opt->dtype, &in->g, &in->g_dtype, err,
                             err_size);
    if (rc == 0)
        rc = check_g(label, &in->g, in->params.in_channels, err, err_size);
    /* The library takes g and v in one dtype: when the files differ, both become f32. */
    if (rc == 0 && in->g_dtype != in->w_dtype)
        rc = widen_to_f32(&in->g, &in->g_dtype, err, err_size);
    if (rc == 0 && in->g_dtype != in->w_dtype)
        rc = widen_to_f32(&in->w, &in->w_dtype, err, err_size);
    return rc;
}

_Static_assert(NPY_MAX_DIMS >= CLCONVT_SAFETENSORS_MAX_DIMS, "npy_array holds any tensor's shape");

/* The shape of a checkpoint's tensor, as an npy_array without data (for the shape checks). */
static clconvt_status checkpoint_shape(const char *path, const char *tensor, npy_array *out) {
    int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS];
    int ndim = 0;
    memset(out, 0, sizeof *out);
    const clconvt_status st = clconvt_safetensors_tensor_shape(path, tensor, shape, &ndim, NULL);
    if (st != CLCONVT_SUCCESS)
        return st;
    out->ndim = ndim;
    out->count = 1;
    for (int i = 0; i < ndim; ++i) {
        out->shape[i] = shape[i];
        out->count *= (size_t)shape[i];
    }
    return CLCONVT_SUCCESS;
}

/* The names of a checkpoint layer's tensors: "PREFIX.weight" and so on. */
typedef struct checkpoint_names {
    char weight[600], g[600], v[600], bias[600];
} checkpoint_names;

static int checkpoint_names_of(const options *opt, checkpoint_names *n, char *err,
                               size_t err_size) {
    const char *prefix = opt->name ? opt->name : "";
    const char *dot = *prefix ? "." : "";
    char *const bufs[4] = {n->weight, n->g, n->v, n->bias};
    static const char *const suffixes[4] = {"weight", "weight_g", "weight_v", "bias"};
    for (int i = 0; i < 4; ++i) {
        const int len = snprintf(bufs[i], sizeof n->weight, "%s%s%s", prefix, dot, suffixes[i]);
        if (len < 0 || (size_t)len >= sizeof n->weight) {
            set_error(err, err_size, "--name is too long (%zu characters)", strlen(prefix));
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* The input's channel count, or -1 when its rank is wrong (reported later, by name). */
static int64_t input_channels(const options *opt, const npy_array *x) {
    if (x->ndim != 2 && x->ndim != 3)
        return -1;
    return x->shape[x->ndim - 2 + (opt->layout == CLCONVT_LAYOUT_NCL ? 0 : 1)];
}

/*
 * The checkpoint weight's order, from its shape: Cin (from weight_g, else the input's channels)
 * leads in PyTorch order (Cin, Cout/groups, K) and ends MAX order (K, Cout/groups, Cin);
 * --weight-order decides only when it does both.
 */
static int checkpoint_order(const options *opt, const char *label, const npy_array *w, int64_t cin,
                            const char *cin_source, clconvt_weight_order *order, char *err,
                            size_t err_size) {
    *order = opt->order;
    if (w->ndim != 3 || cin < 0)
        return 0; /* weight_geometry or the input check reports it */
    const int pytorch = w->shape[0] == cin, max = w->shape[2] == cin;
    if (pytorch || max) {
        if (!(pytorch && max))
            *order = pytorch ? CLCONVT_WEIGHT_PYTORCH : CLCONVT_WEIGHT_MAX;
        return 0;
    }
    char shape[256];
    format_shape(w, shape, sizeof shape);
    set_error(err, err_size,
              "%s has shape %s, which fits Cin = %" PRId64 " (%s) in neither order: pytorch "
              "(Cin, Cout/groups, K) nor max (K, Cout/groups, Cin)",
              label, shape, cin, cin_source);
    return EXIT_FAILURE_RUN;
}

/* A checkpoint with one half of the weight-norm pair: name the half that is there and the one
 * that is missing, not the plain weight. */
static int half_a_pair(const options *opt, const char *has, const char *lacks, char *err,
                       size_t err_size) {
    set_error(err, err_size, "--weights %s has '%s' but no '%s' (weight norm needs both)",
              opt->weights, has, lacks);
    return EXIT_FAILURE_RUN;
}

/* Neither PREFIX.weight nor PREFIX.weight_v: perhaps only weight_g, else a wrong --name. */
static int missing_weight(const options *opt, const checkpoint_names *n, char *err,
                          size_t err_size) {
    npy_array g;
    const clconvt_status st = checkpoint_shape(opt->weights, n->g, &g);
    if (st == CLCONVT_SUCCESS)
        return half_a_pair(opt, n->g, n->v, err, err_size);
    if (st != CLCONVT_ERROR_NOT_FOUND)
        return library_error(st, err, err_size);
    set_error(err, err_size,
              "--weights %s has no tensor '%s' (nor the weight-norm pair '%s' + '%s'); is --name "
              "right?",
              opt->weights, n->weight, n->g, n->v);
    return EXIT_FAILURE_RUN;
}

/* --weights CKPT --name PREFIX: shapes and order from the file, before any device work. */
static int prepare_checkpoint(const options *opt, run_inputs *in, char *err, size_t err_size) {
    checkpoint_names n;
    char label[1024];
    int rc = checkpoint_names_of(opt, &n, err, err_size);
    if (rc != 0)
        return rc;
    clconvt_status st = checkpoint_shape(opt->weights, n.v, &in->w);
    const int norm = st == CLCONVT_SUCCESS;
    if (st == CLCONVT_ERROR_NOT_FOUND)
        st = checkpoint_shape(opt->weights, n.weight, &in->w);
    if (st == CLCONVT_ERROR_NOT_FOUND)
        return missing_weight(opt, &n, err, err_size);
    if (st == CLCONVT_SUCCESS && norm)
        st = checkpoint_shape(opt->weights, n.g, &in->g);
    if (st == CLCONVT_ERROR_NOT_FOUND)
        return half_a_pair(opt, n.v, n.g, err, err_size);
    if (st != CLCONVT_SUCCESS)
        return library_error(st, err, err_size);
    st = checkpoint_shape(opt->weights, n.bias, &in->b);
    if (st != CLCONVT_SUCCESS && st != CLCONVT_ERROR_NOT_FOUND)
        return library_error(st, err, err_size);
    const int has_bias = st == CLCONVT_SUCCESS;

    snprintf(label, sizeof label, "--weights %s: tensor '%s'", opt->weights, norm ? n.v : n.weight);
    const int64_t cin = norm ? (int64_t)in->g.count : input_channels(opt, &in->x);
    char source[700];
    if (norm)
        snprintf(source, sizeof source, "the length of '%s'", n.g);
    else
        snprintf(source, sizeof source, "the input's channels");
    rc = checkpoint_order(opt, label, &in->w, cin, source, &in->order, err, err_size);
    if (rc == 0)
        rc = weight_geometry(opt, label, &in->w, in->order, has_bias, &in->params, err, err_size);
    if (rc == 0 && norm) {
        snprintf(label, sizeof label, "--weights %s: tensor '%s'", opt->weights, n.g);
        rc = check_g(label, &in->g, in->params.in_channels, err, err_size);
    }
    if (rc == 0 && has_bias) {
        snprintf(label, sizeof label, "--weights %s: tensor '%s'", opt->weights, n.bias);
        rc = check_bias(label, &in->b, in->params.out_channels, err, err_size);
    }
    return rc;
}

/* Reads and checks every file, and lets the library validate the parameters. */
static int prepare(const options *opt, run_inputs *in, char *err, size_t err_size) {
    if (npy_read(opt->input, &in->x, err, err_size) != 0)
        return EXIT_FAILURE_RUN;
    if (in->x.type != npy_type_of(opt->dtype)) {
        set_error(err, err_size, "--input %s holds %s but --dtype is %s", opt->input,
                  npy_type_label(in->x.type), clconvt_dtype_name(opt->dtype));
        return EXIT_FAILURE_RUN;
    }
    int rc = opt->weights ? prepare_checkpoint(opt, in, err, err_size)
                          : prepare_npy_weight(opt, in, err, err_size);
    if (rc == 0)
        rc = input_geometry_of(opt, &in->x, in->params.in_channels, &in->geometry, err, err_size);
    if (rc == 0 && opt->bias != NULL)
        rc = read_parameter_file("--bias", opt->bias, opt->dtype, &in->b, &in->b_dtype, err,
                                 err_size);
    if (rc == 0 && opt->bias != NULL) {
        char label[1024];
        snprintf(label, sizeof label, "--bias %s", opt->bias);
        rc = check_bias(label, &in->b, in->params.out_channels, err, err_size);
    }
    if (rc != 0)
        return rc;
    const clconvt_status st =
        clconvt_output_length(&in->params, in->geometry.length, &in->length_out);
    return st == CLCONVT_SUCCESS ? 0 : library_error(st, err, err_size);
}

/* Stages the weight (and bias) from wherever the options say they are. */
static clconvt_status stage_parameters(const options *opt, const run_inputs *in,
                                       clconvt_layer *layer) {
    if (opt->weights != NULL)
        return clconvt_layer_load_safetensors(layer, opt->weights, opt->name ? opt->name : "",
                                              opt->order);
    clconvt_status st =
        opt->weight_g != NULL
            ? clconvt_layer_set_weight_norm(layer, in->g.data, in->w.data, in->order, in->w_dtype)
            : clconvt_layer_set_weight(layer, in->w.data, in->order, in->w_dtype);
    if (st == CLCONVT_SUCCESS && opt->bias != NULL)
        st = clconvt_layer_set_bias(layer, in->b.data, in->b_dtype);
    return st;
}

/* Frames [first, first + count) of a dense (batch, total, C) or (batch, C, total) array, to or
 * from a dense chunk of count frames: rows of frames of frame_bytes each. */
typedef struct frame_layout {
    size_t rows, frame_bytes;
} frame_layout;

static frame_layout frame_layout_of(const run_inputs *in, int64_t channels) {
    const size_t elem = clconvt_dtype_size(in->params.dtype);
    const int64_t batch = in->geometry.batch;
    if (in->params.layout == CLCONVT_LAYOUT_NCL)
        return (frame_layout){(size_t)(batch * channels), elem};
    return (frame_layout){(size_t)batch, (size_t)channels * elem};
}

static void copy_frames(frame_layout f, const char *src, int64_t src_total, int64_t src_first,
                        char *dst, int64_t dst_total, int64_t dst_first, int64_t count) {
    for (size_t r = 0; r < f.rows; ++r)
        memcpy(dst + (r * (size_t)dst_total + (size_t)dst_first) * f.frame_bytes,
               src + (r * (size_t)src_total + (size_t)src_first) * f.frame_bytes,
               (size_t)count * f.frame_bytes);
}

/* --chunk: the input pushed through a stream opt->chunk frames at a time, the outputs of the
 * pushes and the finish concatenated into y. */
static clconvt_status forward_in_chunks(const options *opt, const run_inputs *in,
                                        clconvt_layer *layer, void *y) {
    const frame_layout in_frames = frame_layout_of(in, in->params.in_channels);
    const frame_layout out_frames = frame_layout_of(in, in->params.out_channels);
    const int64_t length = in->geometry.length;
    clconvt_stream *stream = NULL;
    int64_t capacity = 0, emitted = 0, n_out = 0;
    char *chunk = NULL, *out = NULL;
    clconvt_status st = clconvt_stream_create(layer, in->geometry.batch, &stream);
    if (st == CLCONVT_SUCCESS)
        st = clconvt_stream_max_output(stream, opt->chunk, &capacity);
    if (st == CLCONVT_SUCCESS) {
        chunk = malloc(in_frames.rows * in_frames.frame_bytes * (size_t)opt->chunk);
        out = malloc(out_frames.rows * out_frames.frame_bytes * (size_t)capacity + 1);
        if (chunk == NULL || out == NULL)
            st = CLCONVT_ERROR_OUT_OF_HOST_MEMORY; /* library_error names the status */
    }
    for (int64_t first = 0, count = 0; st == CLCONVT_SUCCESS && first < length; first += count) {
        count = length - first < opt->chunk ? length - first : opt->chunk;
        copy_frames(in_frames, in->x.data, length, first, chunk, count, 0, count);
        st = clconvt_stream_push_host(stream, chunk, count, out, capacity, &n_out);
        if (st == CLCONVT_SUCCESS)
            copy_frames(out_frames, out, n_out, 0, y, in->length_out, emitted, n_out);
        emitted += n_out;
    }
    if (st == CLCONVT_SUCCESS)
        st = clconvt_stream_finish_host(stream, out, capacity, &n_out);
    if (st == CLCONVT_SUCCESS)
        copy_frames(out_frames, out, n_out, 0, y, in->length_out, emitted, n_out);
    clconvt_stream_release(stream);
    free(chunk);
    free(out);
    return st;
}

/* Opens the device, stages the layer and runs the forward into y. */
static int compute(const options *opt, const run_inputs *in, void *y, char *err, size_t err_size) {
    clconvt_device *device = NULL;
    clconvt_layer *layer = NULL;
    clconvt_status st = clconvt_device_open(CLCONVT_DEVICE_ANY, opt->device, &device);
    if (st == CLCONVT_SUCCESS)
        st = clconvt_layer_create(device, &in->params, &layer);
    if (st == CLCONVT_SUCCESS)
        st = stage_parameters(opt, in, layer);
    int activation_rc = 0;
    if (st == CLCONVT_SUCCESS && (activation_rc = cli_activation_apply(
                                      &opt->activation, opt->weights, layer, err, err_size)) != 0)
        st = CLCONVT_ERROR_INVALID_ARGUMENT; /* err holds the message */
    if (st == CLCONVT_SUCCESS)
        st = opt->chunk > 0 ? forward_in_chunks(opt, in, layer, y)
                            : clconvt_layer_forward_host(layer, in->x.data, y, in->geometry.batch,
                                                         in->geometry.length);
    /* Capture the message before releasing, which may overwrite the thread's last error. */
    const int rc = st == CLCONVT_SUCCESS ? 0
                   : activation_rc != 0  ? EXIT_FAILURE_RUN
                                         : library_error(st, err, err_size);
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
    npy_free(&in.g);
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
    /* A FIFO's reader that quits early must give "write failed: Broken pipe", not a silent kill. */
    signal(SIGPIPE, SIG_IGN);
    const int rc = run(&opt, err, sizeof err);
    if (rc != 0)
        report(err);
    return rc;
}
