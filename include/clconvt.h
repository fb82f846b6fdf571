/*
 * clconvt — ConvTranspose1d on any OpenCL device.
 *
 * The one public header. It computes the transposed 1-D convolution of Modular MAX's
 * max.nn.ConvTranspose1d (and PyTorch's nn.ConvTranspose1d):
 *
 *   for n, group g, ci in g, i in [0, L_in), k in [0, K), co in g:
 *       o = i*stride - pad_left + k*dilation
 *       if 0 <= o < L_out: y[n, co, o] += x[n, ci, i] * w[ci, co - g*Cout_g, k]
 *   y[n, co, o] += bias[co]
 *
 *   L_out = (L_in - 1)*stride - pad_left - pad_right + dilation*(K - 1) + output_padding + 1
 *
 * Infinities and NaNs in x, the weight or the bias propagate exactly as in this scatter (PyTorch's
 * result): an output is NaN, or an infinity, exactly where the scatter's sum makes it one, on every
 * kernel path and dtype; no term outside that sum (a tap outside the input, a padded tap) is added.
 *
 * Conventions:
 * - Every function that can fail returns a clconvt_status; on failure clconvt_last_error() holds a
 *   sentence naming what was wrong, nothing was written to any output, and nothing leaked.
 * - Handles are opaque. A device may be shared by any number of layers and threads. A layer's
 *   forward functions may be called from several threads at once, and its weight and bias may be
 *   set (or read back) while other threads forward: each forward uses the weight and the bias it
 *   started with, each entirely the old or entirely the new one.
 * - Sizes and lengths are int64_t so that a negative value can be reported, not wrapped.
 *
 * ABI: the shared library is libclconvt.so.MAJOR (the soname names only the major version), and
 * within a major version it only grows, so a program built against an older MAJOR.x runs on any
 * newer MAJOR.y. Every exported function carries the symbol version of the release that added it
 * (CLCONVT_0.1, CLCONVT_0.2, ...: src/clconvt.map). To keep that promise:
 * - the public structs (clconvt_params, clconvt_device_info) keep their layout and the enums their
 *   values within a major version; only a new major version changes them;
 * - a new layer option comes as a setter function on the layer (clconvt_layer_set_<option>, with
 *   the old behaviour as the default), never as a new field of clconvt_params;
 * - a new function goes into a new version node of the symbol map for its release (inheriting
 *   the one before), and the minor version goes up; a changed or removed function needs a new
 *   major version (and a new soname).
 * Compare CLCONVT_VERSION_* (the header a program was compiled with) with clconvt_version_numbers
 * (the library it runs on) to check that the library is at least as new as the header.
 */
#ifndef CLCONVT_H
#define CLCONVT_H

#include <stddef.h>
#include <stdint.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's own sources are compiled with CLCONVT_BUILDING (src/meson.build): on Windows
 * they export the functions, and every other program imports them. */
#if defined(_WIN32) || defined(__CYGWIN__)
#ifdef CLCONVT_BUILDING
#define CLCONVT_API __declspec(dllexport)
#else
#define CLCONVT_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define CLCONVT_API __attribute__((visibility("default")))
#else
#define CLCONVT_API
#endif

/* ---- Version -------------------------------------------------------------------------------- */

/* The version of this header; equal to the Meson project's version (meson.build checks it). */
#define CLCONVT_VERSION_MAJOR 0
#define CLCONVT_VERSION_MINOR 3
#define CLCONVT_VERSION_PATCH 0
#define CLCONVT_VERSION_STRING "0.3.0"

/** Nonzero when this header is version major.minor.patch or newer (for #if). */
#define CLCONVT_VERSION_AT_LEAST(major, minor, patch)                                              \
    (CLCONVT_VERSION_MAJOR != (major)   ? CLCONVT_VERSION_MAJOR > (major)                          \
     : CLCONVT_VERSION_MINOR != (minor) ? CLCONVT_VERSION_MINOR > (minor)                          \
                                        : CLCONVT_VERSION_PATCH >= (patch))

/** The version of the library the program runs on ("0.3.0"), a constant string. Since 0.2. */
CLCONVT_API const char *clconvt_version(void);

/**
 * The running library's version as numbers; any pointer may be NULL. A program compiled against
 * this header needs major == CLCONVT_VERSION_MAJOR and minor >= CLCONVT_VERSION_MINOR. Since 0.2.
 */
CLCONVT_API void clconvt_version_numbers(int *major, int *minor, int *patch);

/**
 * 1 when this build of the library has the kernel path of that name (as a plan string names it:
 * "phase", "gemm", ...; see clconvt_layer_create_with_plan), else 0 (NULL, an unknown name, or a
 * path left out of the build: "gemm" needs CLBlast, meson option -Dclblast). Since 0.2.
 */
CLCONVT_API int clconvt_has_path(const char *name);

/* ---- Status codes --------------------------------------------------------------------------- */

/** Result of every fallible call. 0 is success; every failure is negative. */
typedef enum clconvt_status {
    CLCONVT_SUCCESS = 0,
    CLCONVT_ERROR_INVALID_ARGUMENT = -1,  /**< a NULL handle or pointer, an unknown enum value */
    CLCONVT_ERROR_INVALID_PARAMETER = -2, /**< a layer parameter breaks a rule of the operator */
    CLCONVT_ERROR_SHAPE_MISMATCH = -3,    /**< a tensor's size disagrees with the layer */
    CLCONVT_ERROR_TOO_LARGE = -4, /**< a size overflows, or exceeds what the device allows */
    CLCONVT_ERROR_OUT_OF_HOST_MEMORY = -5, /**< malloc failed */
    CLCONVT_ERROR_NO_DEVICE = -6, /**< no OpenCL device matches the requested kind/selector */
    CLCONVT_ERROR_OPENCL = -7,    /**< an OpenCL call failed; the message names it and its code */
    CLCONVT_ERROR_BUILD = -8,     /**< a kernel failed to compile; the message has the log */
    CLCONVT_ERROR_NOT_READY = -9, /**< forward before the weights (or bias) were set */
    CLCONVT_ERROR_UNSUPPORTED =
        -10,                       /**< the device, a file's data type or a path of another build */
    CLCONVT_ERROR_FILE = -11,      /**< a file cannot be read, or is not valid in its format */
    CLCONVT_ERROR_NOT_FOUND = -12, /**< a named tensor is not in the file */
} clconvt_status;

/** A short constant English name for a status ("invalid parameter"); never NULL. */
CLCONVT_API const char *clconvt_status_string(clconvt_status status);

/**
 * The message of the last failure on the calling thread: which parameter, its value and the rule,
 * or which OpenCL call failed with its code (and the build log for a compile failure).
 * Thread-local; valid until the next clconvt call on this thread. Empty if nothing failed yet.
 */
CLCONVT_API const char *clconvt_last_error(void);

/* ---- Enumerations --------------------------------------------------------------------------- */

/** Activation layout. NLC is MAX's default (permute=False); NCL is PyTorch's (MAX permute=True). */
typedef enum clconvt_layout {
    CLCONVT_LAYOUT_NLC = 0, /**< input (N, L_in, Cin), output (N, L_out, Cout): channels-last */
    CLCONVT_LAYOUT_NCL = 1, /**< input (N, Cin, L_in), output (N, Cout, L_out): channels-first */
} clconvt_layout;

/** Order of a weight array handed to clconvt_layer_set_weight. */
typedef enum clconvt_weight_order {
    CLCONVT_WEIGHT_MAX = 0, /**< (K, Cout/groups, Cin): PyTorch's array with its axes reversed */
    CLCONVT_WEIGHT_PYTORCH = 1, /**< (Cin, Cout/groups, K): nn.ConvTranspose1d.weight */
} clconvt_weight_order;

/** Storage type of tensors. Arithmetic is always at least fp32. */
typedef enum clconvt_dtype {
    CLCONVT_F32 = 0,  /**< IEEE binary32 */
    CLCONVT_F16 = 1,  /**< IEEE binary16 storage */
    CLCONVT_BF16 = 2, /**< bfloat16 storage (the upper 16 bits of a binary32) */
} clconvt_dtype;

/** Bytes per element of a dtype (4 or 2); 0 for an unknown value. */
CLCONVT_API size_t clconvt_dtype_size(clconvt_dtype dtype);

/** Short name of a dtype ("f32", "f16", "bf16"); "unknown" for an unknown value. */
CLCONVT_API const char *clconvt_dtype_name(clconvt_dtype dtype);

/**
 * The dtype a name stands for: "f32", "f16" or "bf16" (clconvt_dtype_name's names), or the long
 * names "float32", "float16" or "bfloat16" (PyTorch's and NumPy's spelling). Letters may be in any
 * case ("F16", as safetensors writes it, is f16). On failure *out is untouched and the status is
 * CLCONVT_ERROR_INVALID_ARGUMENT, with a message naming the value and the accepted names
 * ("dtype name 'f64' is not one of f32, f16, bf16 (or float32, float16, bfloat16)"). Every clconvt
 * tool parses its dtype options and columns with this function.
 */
CLCONVT_API clconvt_status clconvt_dtype_from_name(const char *name, clconvt_dtype *out);

/**
 * Convert count elements from src_dtype to dst_dtype (src and dst must not overlap unless equal).
 * Narrowing rounds to nearest, ties to even; NaN stays NaN, overflow gives infinity.
 */
CLCONVT_API clconvt_status clconvt_convert(const void *src, clconvt_dtype src_dtype, void *dst,
                                           clconvt_dtype dst_dtype, size_t count);

/** Kind of device to open. */
typedef enum clconvt_device_kind {
    CLCONVT_DEVICE_ANY = 0, /**< a GPU if there is one, else a CPU, else any other device */
    CLCONVT_DEVICE_GPU = 1, /**< GPUs only */
    CLCONVT_DEVICE_CPU = 2, /**< CPU devices only (PoCL's, Intel's, ...) */
} clconvt_device_kind;

/* ---- Layer parameters ----------------------------------------------------------------------- */

/** Every parameter of a ConvTranspose1d layer. Fill it with clconvt_params_init, then adjust. */
typedef struct clconvt_params {
    int64_t in_channels;    /**< Cin >= 1, divisible by groups */
    int64_t out_channels;   /**< Cout >= 1, divisible by groups */
    int64_t kernel_length;  /**< K >= 1 */
    int64_t stride;         /**< >= 1 */
    int64_t pad_left;       /**< >= 0; positions cropped from the start of the full output */
    int64_t pad_right;      /**< >= 0; positions cropped from its end (symmetric: both equal) */
    int64_t output_padding; /**< >= 0, smaller than stride or dilation (PyTorch's rule) */
    int64_t dilation;       /**< >= 1 */
    int64_t groups;         /**< >= 1; groups == Cin == Cout is depthwise */
    int has_bias;           /**< nonzero: the layer adds a bias (set with clconvt_layer_set_bias) */
    clconvt_layout layout;  /**< activation layout */
    clconvt_dtype dtype;    /**< storage type of input, output, weight and bias */
} clconvt_params;

/**
 * Fill *params with MAX's defaults for a layer of the given channels and kernel length: stride 1,
 * no padding, no output padding, dilation 1, groups 1, no bias, channels-last (NLC), fp32.
 */
CLCONVT_API void clconvt_params_init(clconvt_params *params, int64_t in_channels,
                                     int64_t out_channels, int64_t kernel_length);

/**
 * Check every rule of *params (see the SPEC's validation section). CLCONVT_SUCCESS, or
 * CLCONVT_ERROR_INVALID_PARAMETER with a message naming the parameter, its value and the rule.
 */
CLCONVT_API clconvt_status clconvt_params_validate(const clconvt_params *params);

/**
 * Output length for an input of length_in: validates *params and length_in (>= 1) and refuses a
 * result <= 0 ("calculated output length is -3, which is too small") or one that overflows.
 */
CLCONVT_API clconvt_status clconvt_output_length(const clconvt_params *params, int64_t length_in,
                                                 int64_t *length_out);

/* ---- Devices -------------------------------------------------------------------------------- */

typedef struct clconvt_device clconvt_device;

/**
 * Open an OpenCL device with its own context and in-order queue.
 * selector: NULL, or one of "gpu", "cpu", "any" (in any case), "P:D" (platform and device index,
 * as listed by clconvt-info: unsigned decimal numbers below 2^32), or a case-insensitive substring
 * of the device or platform name. A non-empty CLCONVT_DEVICE environment variable overrides both
 * kind and selector. Fails with CLCONVT_ERROR_NO_DEVICE (message lists what exists) when nothing
 * matches, and with CLCONVT_ERROR_INVALID_ARGUMENT for an index pair with a sign or past 2^32 - 1
 * ("0:-0", "4294967296:0").
 */
CLCONVT_API clconvt_status clconvt_device_open(clconvt_device_kind kind, const char *selector,
                                               clconvt_device **out);

/**
 * Use a caller's context, device (one of the context's) and (optionally NULL) queue, which must be
 * of that context and device. clconvt retains them while the handle lives and releases only its
 * own references: the caller keeps ownership. With queue == NULL an in-order queue is created on
 * the context and owned by the handle. The queue may be out of order
 * (CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE), as may the queue passed to clconvt_layer_forward:
 * every command clconvt enqueues waits on an event of the one before it.
 */
CLCONVT_API clconvt_status clconvt_device_wrap(cl_context context, cl_device_id device,
                                               cl_command_queue queue, clconvt_device **out);

/**
 * Release a device handle (NULL is ignored). Every layer made on it must be released first.
 * When a gemm layer ran on it, this also empties CLBlast's process-wide kernel cache (CLBlast can
 * only clear all of it), so that no program of the context outlives it: gemm layers of other
 * devices build CLBlast's kernels again on their next forward.
 */
CLCONVT_API void clconvt_device_release(clconvt_device *device);

/** What clconvt knows of a device; strings are owned by the handle. */
typedef struct clconvt_device_info {
    const char *name;           /**< CL_DEVICE_NAME */
    const char *vendor;         /**< CL_DEVICE_VENDOR */
    const char *platform;       /**< CL_PLATFORM_NAME */
    const char *driver_version; /**< CL_DRIVER_VERSION */
    cl_device_type type;        /**< CL_DEVICE_TYPE_GPU, _CPU, ... */
    uint64_t max_alloc_bytes;   /**< CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    uint64_t global_mem_bytes;  /**< CL_DEVICE_GLOBAL_MEM_SIZE */
    uint64_t local_mem_bytes;   /**< CL_DEVICE_LOCAL_MEM_SIZE */
    uint32_t compute_units;     /**< CL_DEVICE_MAX_COMPUTE_UNITS */
    size_t max_work_group_size; /**< CL_DEVICE_MAX_WORK_GROUP_SIZE */
    int has_fp16;               /**< cl_khr_fp16 (native half arithmetic) is available */
    uint64_t programs_built;    /**< kernel programs compiled on this handle so far */
    uint64_t allocated_bytes;   /**< device memory clconvt holds now (weights, staging buffers) */
    uint64_t peak_allocated_bytes; /**< the most it held at once; see clconvt_device_reset_peak */
} clconvt_device_info;

/** Fill *info for a device handle. */
CLCONVT_API clconvt_status clconvt_device_get_info(const clconvt_device *device,
                                                   clconvt_device_info *info);

/** Restart the peak of clconvt_device_info.peak_allocated_bytes from what is allocated now. */
CLCONVT_API void clconvt_device_reset_peak(clconvt_device *device);

/** The handle's context, device and queue (not retained for the caller). */
CLCONVT_API cl_context clconvt_device_context(const clconvt_device *device);
CLCONVT_API cl_device_id clconvt_device_id(const clconvt_device *device);
CLCONVT_API cl_command_queue clconvt_device_queue(const clconvt_device *device);

/* ---- Layers --------------------------------------------------------------------------------- */

typedef struct clconvt_layer clconvt_layer;

/**
 * Create a layer on a device. *params is validated and copied. The layer needs its weight (and its
 * bias when params->has_bias) before a forward. Its kernel plan is CLCONVT_PLAN's when set, else
 * the tuning database's for this device and shape (README.md, "Tuning"), else the built-in one; a
 * database plan that fails on the device gives way to the built-in one (a warning on stderr).
 */
CLCONVT_API clconvt_status clconvt_layer_create(clconvt_device *device,
                                                const clconvt_params *params, clconvt_layer **out);

/**
 * clconvt_layer_create with a forced kernel plan, for tuning and testing. plan: NULL for the
 * planner's choice (as clconvt_layer_create), or a plan string: a path name ("phase", "phase_pos"
 * or "phase_fold" for NCL, "phase_chan" or "phase_dw" for NLC, "gemm"; README.md describes each)
 * optionally followed by ":key=value,..." with keys vec (vector width 4, 8 or 16), p (positions
 * per work-item), c (output channels per work-item), lp and lc (work-group extent over position
 * and channel tiles, both or neither), lr (phases per work-group), chunk (input channels per
 * reduction chunk, phase_pos and phase_fold only) and pt (phase_fold only: register tiles of p
 * positions per work-item, reduced block by block of chunk input channels, so that a block's
 * weights are reused from the cache by every tile; no barrier), e.g.
 * "phase_pos:vec=16,p=32,c=12,lp=2,lc=8,chunk=128".
 * Values are unsigned decimal numbers in 1..4096 (chunk: 0..4096), each key at most once. The
 * CLCONVT_PLAN environment variable forces a plan the same way for clconvt_layer_create.
 * A plan the path cannot run (wrong layout, bad vector width) is refused with a message, and so
 * is one the device cannot hold: a register tile of more than 1024 accumulators per work-item
 * (p x c; phase_dw: p x vec; phase_fold: p x vec x c / (vec / stride)), or, on a CPU device, a
 * work-group whose work-items hold more private memory together than a quarter of the thread
 * stack (RLIMIT_STACK; 2 MiB of 8): PoCL keeps them all on one worker thread's stack.
 * A build without CLBlast (clconvt_has_path("gemm") == 0) refuses "gemm" with
 * CLCONVT_ERROR_UNSUPPORTED, and its planner never chooses it.
 */
CLCONVT_API clconvt_status clconvt_layer_create_with_plan(clconvt_device *device,
                                                          const clconvt_params *params,
                                                          const char *plan, clconvt_layer **out);

/** Number of weight elements: Cin * (Cout / groups) * K. */
CLCONVT_API int64_t clconvt_layer_weight_count(const clconvt_layer *layer);

/**
 * Stage the weight: host holds clconvt_layer_weight_count() elements of host_dtype in the given
 * order (MAX's (K, Cout/groups, Cin) or PyTorch's (Cin, Cout/groups, K)). They are converted to the
 * layer's dtype and packed for the kernel, in one pass over host, into the device copy (written in
 * place through a mapping on CPU devices); no other copy is kept (clconvt_layer_get_weight reads
 * the device copy back). Threads: a weight of at least 2^19 elements is split, by blocks of 64
 * input channels, between the calling thread and up to 3 threads that it starts and joins before it
 * returns (one part per online CPU, at least 2^18 elements each): most of a large weight's staging
 * is the OS faulting in fresh pages, and that runs on every core at once. Replaces any earlier
 * weight. Safe while other threads forward on the layer: a forward that started before uses the old
 * weight entirely (the commands it enqueued keep it alive), one that starts after uses the new one;
 * a weight and a bias set one after the other are two replacements, and a forward may start between
 * them.
 */
CLCONVT_API clconvt_status clconvt_layer_set_weight(clconvt_layer *layer, const void *host,
                                                    clconvt_weight_order order,
                                                    clconvt_dtype host_dtype);

/**
 * Stage the bias: host holds Cout elements of host_dtype. Refused on a layer made without
 * has_bias. Replaces any earlier bias; safe during forwards, as clconvt_layer_set_weight.
 */
CLCONVT_API clconvt_status clconvt_layer_set_bias(clconvt_layer *layer, const void *host,
                                                  clconvt_dtype host_dtype);

/**
 * Copy the staged weight, in MAX order and the layer's dtype, to host (weight_count elements):
 * exactly the values staged, read back from the device copy (a blocking read on the device's
 * queue, after what is already enqueued there; host is written only on success).
 */
CLCONVT_API clconvt_status clconvt_layer_get_weight(const clconvt_layer *layer, void *host);

/**
 * Enqueue a forward on device buffers. in holds batch * Cin * length_in elements and out room for
 * batch * Cout * L_out elements of the layer's dtype, in its layout; the sizes of both are checked.
 * Both must be buffers (or sub-buffers; not images) of the device's context, and the bytes the
 * forward reads from in must not overlap those it writes to out.
 * queue: NULL for the device's own queue, or any queue on the device's context and device.
 * The call waits on wait_list (events of the device's context) and, when done != NULL, returns an
 * event that completes with the output (the caller releases it). batch == 0 is legal and writes
 * nothing. Never compiles for a new length or batch: programs depend only on the layer's
 * parameters.
 */
CLCONVT_API clconvt_status clconvt_layer_forward(clconvt_layer *layer, cl_command_queue queue,
                                                 cl_mem in, cl_mem out, int64_t batch,
                                                 int64_t length_in, cl_uint num_wait,
                                                 const cl_event *wait_list, cl_event *done);

/**
 * Forward on host memory: copies in to the device, runs, copies out back and waits. in and out are
 * as for clconvt_layer_forward, in host memory (any alignment of their element type). On a CPU
 * device the kernels read in (except the gemm path's) and write out in place (CL_MEM_USE_HOST_PTR)
 * instead of through copies, unless the two arrays overlap or NCL work is split into ranges of
 * positions. In place is the runtime's choice: PoCL 3.1 takes arrays aligned to 64 bytes as they
 * are (aligned_alloc(64, ...), PyTorch's tensors), but copies arrays of malloc's 16-byte alignment
 * through fresh memory of its own, whose page faults make a first call slower (a depthwise
 * 512-channel layer's first forward_host: 1.8-2.0 ms, 0.8-1.2 aligned). Work larger than the
 * device's largest allocation is split into pieces computed one after another. out is untouched
 * on failure, except that when a later piece of split work fails,
 * the outputs of the pieces before it have been written, and that on a CPU device a failure to
 * map out back after the kernels ran (clEnqueueMapBuffer, clEnqueueUnmapMemObject) leaves what
 * they wrote there.
 */
CLCONVT_API clconvt_status clconvt_layer_forward_host(clconvt_layer *layer, const void *in,
                                                      void *out, int64_t batch, int64_t length_in);

/** The layer's parameters (a copy). */
CLCONVT_API void clconvt_layer_get_params(const clconvt_layer *layer, clconvt_params *params);

/** The layer's full plan string (as clconvt_layer_create_with_plan takes), into text[size]. */
CLCONVT_API clconvt_status clconvt_layer_plan(const clconvt_layer *layer, char *text, size_t size);

/** Name of the kernel path the planner chose for this layer (e.g. "phase"), for diagnostics. */
CLCONVT_API const char *clconvt_layer_plan_name(const clconvt_layer *layer);

/** Release a layer (NULL is ignored). Waits for nothing: finish its forwards first. */
CLCONVT_API void clconvt_layer_release(clconvt_layer *layer);

/* ---- Fused input activation (CLCONVT_0.3) -------------------------------------------------- */

/**
 * The activation a layer applies to its input before the ConvTranspose1d (the value each precedes
 * in its use: HiFi-GAN and MelGAN put a LeakyReLU before every upsampler, DAC a Snake1d, EnCodec's
 * SEANet decoder an ELU). x is an input value and alpha its parameter.
 */
typedef enum clconvt_activation {
    CLCONVT_ACTIVATION_NONE = 0,       /**< x (the default); count 0 */
    CLCONVT_ACTIVATION_LEAKY_RELU = 1, /**< x >= 0 ? x : alpha * x; count 1 (the slope) */
    CLCONVT_ACTIVATION_ELU = 2,        /**< x > 0 ? x : alpha * (exp(x) - 1) (as expm1); count 1 */
    /** DAC's Snake1d: x + sin(alpha_c * x)^2 / (alpha_c + 1e-9), with alpha_c the alpha of x's
     * input channel c (over all groups); count Cin */
    CLCONVT_ACTIVATION_SNAKE = 3,
} clconvt_activation;

/**
 * Fuse an input activation into the layer: from now on its forwards compute
 * y = ConvTranspose1d(activation(x)), the activation computed in fp32 on each input value decoded
 * from the layer's dtype, on every kernel path and dtype, by clconvt_layer_forward,
 * clconvt_layer_forward_host and the streams made on the layer. Where it runs:
 * - by default, as a pass of its own over the input just before the layer's kernel, in the same
 *   forward (one more read and write of the input, into a scratch buffer of batch x Cin x
 *   length_in values of the dtype: on the device's queue the layer's own, kept and grown to the
 *   largest input until the layer is released; on a caller's queue one of the forward's own,
 *   released with it): the activated value is stored in the layer's dtype, so in f16 and bf16 it
 *   is rounded to it (as a PyTorch model in that dtype rounds its activation's output); in f32
 *   nothing is rounded. On today's kernels, which activate an input value once per channel tile
 *   (and per tap in most layers), this is the faster way on layers of much work per input value
 *   (BENCHMARKS.md); a LeakyReLU on an f32 layer runs in the kernel (below) when out_channels /
 *   groups x kernel_length is below 128, or below 512 for an NCL layer of dilation 1 whose
 *   kernel_length is a multiple of the stride and at most twice it;
 * - with CLCONVT_INPUT_ACTIVATION=kernel in the environment (read when the activation is set),
 *   inside the phase paths' kernels, as each input value is loaded, not rounded back to the dtype
 *   (no pass over memory of its own, but computed again at each load); =pass takes the pass for
 *   every layer. The gemm path (its GEMMs are CLBlast's) always takes the pass.
 * alpha holds count floats: none for CLCONVT_ACTIVATION_NONE (count 0; alpha may be NULL), the
 * slope of LeakyReLU or the alpha of ELU (count 1), or Snake's alpha of each input channel
 * (count Cin; DAC stores it as a (1, Cin, 1) tensor). Each must be a finite number. A bad kind,
 * count or alpha fails with CLCONVT_ERROR_INVALID_ARGUMENT and a sentence naming it, and changes
 * nothing. Each kind is a program of its own, compiled (or read from the disk cache) by the first
 * call that sets it on a layer of these parameters; new parameters of the same kind compile
 * nothing. Replaces any earlier activation; safe while other threads forward, as
 * clconvt_layer_set_weight (a forward uses entirely the old or entirely the new activation).
 * The activation is no part of a checkpoint: clconvt_layer_load_safetensors sets the weight and
 * bias only and leaves it as it is (in PyTorch the activation is a module of its own; a Snake's
 * alpha is read from the checkpoint by name, as clconvt-run's snake:@NAME does).
 */
CLCONVT_API clconvt_status clconvt_layer_set_input_activation(clconvt_layer *layer,
                                                              clconvt_activation kind,
                                                              const float *alpha, int64_t count);

/* ---- Weight norm and checkpoints ------------------------------------------------------------ */

/**
 * Stage a weight-normalised weight (PyTorch's weight_norm with dim=0, MAX's
 * WeightNormConvTranspose1d): w = g * v / ||v||, where the norm is taken per input channel, over
 * every other axis of v. g holds Cin values of host_dtype (PyTorch stores it as shape
 * (Cin, 1, 1)); v holds clconvt_layer_weight_count() values of host_dtype in the given order,
 * like the weight of clconvt_layer_set_weight. The norms take one pass over v; the product, in
 * double precision and rounded to float32, is formed in clconvt_layer_set_weight's staging pass
 * (no copy of it is made), so the result equals staging that float32 product. An input channel
 * whose v is all zeros has no direction and is refused (PyTorch would produce NaN).
 */
CLCONVT_API clconvt_status clconvt_layer_set_weight_norm(clconvt_layer *layer, const void *g,
                                                         const void *v, clconvt_weight_order order,
                                                         clconvt_dtype host_dtype);

/** Most dimensions clconvt_safetensors_tensor_shape reports. */
#define CLCONVT_SAFETENSORS_MAX_DIMS 8

/**
 * Shape and data type of the tensor tensor_name in the safetensors file at path, without reading
 * its data (to size a layer before creating it). The whole header is validated first, as by
 * clconvt_layer_load_safetensors. Writes ndim (0 .. CLCONVT_SAFETENSORS_MAX_DIMS) dimensions to
 * shape and, when dtype is not NULL, the tensor's type. Fails with CLCONVT_ERROR_NOT_FOUND when the
 * file has no such tensor, CLCONVT_ERROR_UNSUPPORTED when it is not F32, F16 or BF16 or has more
 * than CLCONVT_SAFETENSORS_MAX_DIMS dimensions, CLCONVT_ERROR_FILE when the file is unreadable or
 * malformed.
 */
CLCONVT_API clconvt_status clconvt_safetensors_tensor_shape(
    const char *path, const char *tensor_name, int64_t shape[CLCONVT_SAFETENSORS_MAX_DIMS],
    int *ndim, clconvt_dtype *dtype);

/**
 * Read the tensor tensor_name of the safetensors file at path into out, as count floats (its
 * values converted from F32, F16 or BF16, in the file's order): a parameter that is no part of a
 * layer, such as the alpha of a Snake activation before it (clconvt_layer_set_input_activation).
 * count must be the tensor's element count (clconvt_safetensors_tensor_shape gives its shape),
 * else CLCONVT_ERROR_SHAPE_MISMATCH; other failures as for clconvt_safetensors_tensor_shape. Added
 * in CLCONVT_0.3.
 */
CLCONVT_API clconvt_status clconvt_safetensors_read_tensor_f32(const char *path,
                                                               const char *tensor_name, float *out,
                                                               int64_t count);

/**
 * Load a layer's parameters from a safetensors checkpoint, by the names PyTorch and MAX give them:
 * "{name}.weight", or the weight-norm pair "{name}.weight_g" + "{name}.weight_v" (folded as by
 * clconvt_layer_set_weight_norm), and "{name}.bias". name "" means no prefix ("weight", "bias").
 * - The file is validated as a whole (header length, JSON, every tensor's dtype, shape and
 *   data_offsets, no overlaps or holes, no NUL character in a name or string); only the tensors
 *   needed are read. path must be a regular file: a FIFO or a device is refused, never read.
 * - Tensors may be F32, F16 or BF16 whatever the layer's dtype; they are converted.
 * - The weight's order comes from its shape: (Cin, Cout/groups, K) is a PyTorch checkpoint,
 *   (K, Cout/groups, Cin) a MAX one. When both fit (Cin == K), order_if_ambiguous decides.
 *   weight_g holds Cin values: shape (Cin, 1, 1), (Cin,) or (1, 1, Cin).
 * - A layer with has_bias needs "{name}.bias" (Cout values); a layer without has_bias refuses a
 *   file that has one (create the layer with has_bias = 1 to use it).
 * Failures name the file, the tensor and what is wrong (CLCONVT_ERROR_FILE, _NOT_FOUND,
 * _SHAPE_MISMATCH, _UNSUPPORTED, ...). A failure in reading or checking the file leaves the layer
 * unchanged; only a device failure while uploading can leave a new weight with the old bias.
 */
CLCONVT_API clconvt_status clconvt_layer_load_safetensors(clconvt_layer *layer, const char *path,
                                                          const char *name,
                                                          clconvt_weight_order order_if_ambiguous);

/* ---- Streams (since 0.3) -------------------------------------------------------------------- *
 *
 * A layer run on a sequence that arrives in chunks of input frames (real-time audio): the
 * concatenation of every push's and the finish's outputs is bit-identical to one
 * clconvt_layer_forward_host of the concatenated input, on every path and plan, for every split of
 * the input. A frame is one position of every channel: a chunk of n frames is a dense array
 * (batch, n, C) in NLC or (batch, C, n) in NCL, in the layer's dtype; so is each call's output,
 * (batch, n_out, Cout) or (batch, Cout, n_out) (in NCL, concatenating chunks is per row).
 * - A push emits every output frame that no later input can change: output o once the input
 *   frame (o + pad_left) div stride has arrived (and o exists even if the sequence ended there;
 *   with a pad_right larger than the last input's taps that is later). The finish emits the rest:
 *   the last input's taps, the output padding, less the right padding.
 * - The stream holds only the input halo the next outputs need (about
 *   ceil(dilation * (K - 1) / stride) frames), in device buffers it grows as pushes need.
 * - Each push uses the layer's weight and bias as they are when it starts: set them before the
 *   first push and leave them until the finish for an exact result.
 * - Errors leave the stream unchanged and write nothing: an out_capacity below the frames the call
 *   emits (CLCONVT_ERROR_SHAPE_MISMATCH), a push or finish after the finish without
 *   clconvt_stream_reset (CLCONVT_ERROR_INVALID_ARGUMENT), bad arguments.
 * - On the gemm path the result is bit-identical while the whole forward and each push fit one
 *   column-buffer chunk (CLCONVT_GEMM_COLUMN_BYTES, 64 MiB by default): a gemm forward split in
 *   chunks sums an output that straddles two in another order, so it depends on where they fall.
 * - A stream is not thread-safe: using one stream from two threads at once is the caller's bug
 *   (as is reading its outputs before its event completes). Streams of one layer may run on
 *   different threads, as forwards may. Release a stream before its layer.
 */

typedef struct clconvt_stream clconvt_stream;

/**
 * Create a stream of batch >= 1 sequences on a layer (which must outlive it). The layer needs its
 * weight (and bias) before the first push. Allocates nothing on the device yet.
 */
CLCONVT_API clconvt_status clconvt_stream_create(clconvt_layer *layer, int64_t batch,
                                                 clconvt_stream **out);

/**
 * The most output frames a call may emit, for sizing out: a push of n_in input frames emits at
 * most *max_out = n_in * stride + clconvt_stream_max_output(s, 0) frames (n_in * stride once past
 * the sequence's start), and a finish at most the value for n_in = 0. Depends only on the layer.
 */
CLCONVT_API clconvt_status clconvt_stream_max_output(const clconvt_stream *s, int64_t n_in,
                                                     int64_t *max_out);

/**
 * Push n_in >= 0 input frames from host memory (in may be NULL when n_in is 0) and write the
 * frames that became final to out, which has room for out_capacity frames (out may be NULL when
 * out_capacity is 0); *n_out gets their number (0 is common for the first pushes). Blocks until
 * out is written.
 */
CLCONVT_API clconvt_status clconvt_stream_push_host(clconvt_stream *s, const void *in, int64_t n_in,
                                                    void *out, int64_t out_capacity,
                                                    int64_t *n_out);

/**
 * End the sequence: write its remaining output frames to out (room for out_capacity frames) and
 * set *n_out. Fails, the stream unchanged, when the whole sequence gives no output (the message of
 * clconvt_output_length); a sequence of no frames gives none (*n_out = 0). Afterwards the stream
 * refuses pushes until clconvt_stream_reset.
 */
CLCONVT_API clconvt_status clconvt_stream_finish_host(clconvt_stream *s, void *out,
                                                      int64_t out_capacity, int64_t *n_out);

/**
 * clconvt_stream_push_host on device buffers: in holds the n_in frames (batch * Cin * n_in
 * elements; may be NULL when n_in is 0), out room for out_capacity frames (batch * Cout *
 * out_capacity elements); both buffers of the device's context, and out must not overlap in or be
 * a buffer the stream's earlier outputs are still being read from. queue: NULL for the device's
 * own, or any queue of its context and device (in order or not; pushes may use different queues).
 * The push's commands wait on wait (n_wait events of the context) and on the stream's previous
 * push; done, when not NULL, gets an event that completes when out is written and in has been
 * read (the caller releases it). *n_out is known when the call returns, before the event
 * completes. Returns without waiting.
 */
CLCONVT_API clconvt_status clconvt_stream_push(clconvt_stream *s, cl_command_queue queue, cl_mem in,
                                               int64_t n_in, cl_mem out, int64_t out_capacity,
                                               int64_t *n_out, cl_uint n_wait, const cl_event *wait,
                                               cl_event *done);

/** clconvt_stream_finish_host on a device buffer, with queue and events as clconvt_stream_push. */
CLCONVT_API clconvt_status clconvt_stream_finish(clconvt_stream *s, cl_command_queue queue,
                                                 cl_mem out, int64_t out_capacity, int64_t *n_out,
                                                 cl_uint n_wait, const cl_event *wait,
                                                 cl_event *done);

/** Start a new sequence on the same layer (after a finish, or to drop the current one). NULL is
 * ignored. Keeps the stream's buffers; commands of earlier pushes still order the next one. */
CLCONVT_API void clconvt_stream_reset(clconvt_stream *s);

/** Release a stream (NULL is ignored); its pending commands finish on their own. */
CLCONVT_API void clconvt_stream_release(clconvt_stream *s);

/* ---- EXPERIMENTAL: for clconvt-tune ---------------------------------------------------------
 *
 * What the tuner needs from the planner and the tuning database, so that it links the public
 * library only. These functions and types may change or go in any release, minor or patch,
 * without notice: use them for tools shipped with clconvt, never in an application. Plans and
 * shape classes are passed as strings only (the plan strings of clconvt_layer_create_with_plan,
 * the shape classes of README.md's "Tuning" section).
 */

/** Bytes a plan string and a shape class may take, NUL included. */
#define CLCONVT_EXPERIMENTAL_PLAN_MAX 256
#define CLCONVT_EXPERIMENTAL_CLASS_MAX 96
#define CLCONVT_EXPERIMENTAL_SHAPE_MAX 128

/** clconvt_experimental_plan_check: narrow a work-group wider than the layer's channel tiles. */
#define CLCONVT_EXPERIMENTAL_PLAN_FIT_WORK_GROUP 1u
/** clconvt_experimental_plan_check: on a GPU, refuse a register tile of more than 32 accumulators
 * per work-item (the GPU register budget, README "GPU tiles"); no effect on other devices. */
#define CLCONVT_EXPERIMENTAL_PLAN_REGISTER_BUDGET 2u
/** clconvt_experimental_plan_check: give a cache-blocked phase_fold plan (pt above 1) the chunk
 * the planner sizes from the device's caches for its tile (the input channels whose weights and
 * inputs fill a quarter of one core's L1 data cache), whatever chunk the text says; no effect on
 * other plans. */
#define CLCONVT_EXPERIMENTAL_PLAN_CACHE_BLOCK 4u

/**
 * Check the plan string text for a layer of *params on device without compiling anything, and
 * write the library's own spelling of it (what clconvt_layer_plan would report for a layer made
 * with it) to normalised[size]. With CLCONVT_EXPERIMENTAL_PLAN_FIT_WORK_GROUP in flags, a
 * work-group extent lc larger than the layer's channel tiles is narrowed to them first; with
 * CLCONVT_EXPERIMENTAL_PLAN_REGISTER_BUDGET, a plan over a GPU's register budget is refused; with
 * CLCONVT_EXPERIMENTAL_PLAN_CACHE_BLOCK, a cache-blocked phase_fold plan gets its block. Fails,
 * writing nothing, when the plan is refused for the layer (the message says why), when its
 * normalised string would not read back as the same plan, or when it does not fit in size.
 */
CLCONVT_API clconvt_status clconvt_experimental_plan_check(const clconvt_device *device,
                                                           const clconvt_params *params,
                                                           const char *text, unsigned flags,
                                                           char *normalised, size_t size);

/**
 * The built-in plan of a layer of *params on device (what clconvt_layer_create chooses without
 * CLCONVT_PLAN and without a tuning database), as a plan string into text[size].
 */
CLCONVT_API clconvt_status clconvt_experimental_plan_default(const clconvt_device *device,
                                                             const clconvt_params *params,
                                                             char *text, size_t size);

/** The tuning database's shape class of a layer of *params ("ncl/f32/s8/cin512/cout256/taps2/g1"),
 * into text[size]. */
CLCONVT_API clconvt_status clconvt_experimental_shape_class(const clconvt_params *params,
                                                            char *text, size_t size);

/** Who a device is to the tuning database; the strings are owned by the device handle. */
typedef struct clconvt_experimental_identity {
    const char *vendor, *name, *driver; /**< CL_DEVICE_VENDOR, CL_DEVICE_NAME, CL_DRIVER_VERSION */
    const char *type;                   /**< "cpu", "gpu", "accelerator", "custom" or "other" */
    const char *platform;               /**< CL_PLATFORM_NAME (recorded, not matched) */
} clconvt_experimental_identity;

CLCONVT_API clconvt_status clconvt_experimental_identity_of(const clconvt_device *device,
                                                            clconvt_experimental_identity *out);

/** What the tuner recorded for one shape class of one device. */
typedef struct clconvt_experimental_tuning_entry {
    char plan[CLCONVT_EXPERIMENTAL_PLAN_MAX];         /**< the plan measured fastest */
    char default_plan[CLCONVT_EXPERIMENTAL_PLAN_MAX]; /**< the built-in plan it was timed against */
    char shape[CLCONVT_EXPERIMENTAL_SHAPE_MAX];       /**< the name of the row measured */
    double median_ms;                                 /**< median forward time of plan */
    double default_ms; /**< median forward time of default_plan; < 0: not measured */
    double max_error;  /**< normalised error of plan's output against the float64 reference */
    int64_t batch, length_in; /**< the sizes of the row measured */
    int tried, candidates;    /**< candidates measured, and listed */
    int complete;             /**< nonzero: every listed candidate was measured */
} clconvt_experimental_tuning_entry;

/**
 * Look up the entry of exactly this device (vendor, name, driver and type) for shape_class in the
 * tuning database at path (which must be valid, as clconvt_layer_create would read it). *found
 * gets 1 and *entry the entry (numbers the file lacks are -1, strings ""), or 0 when the file or
 * the entry does not exist. Fails with CLCONVT_ERROR_FILE, naming the file and the problem, when
 * it cannot be read or is not a valid database.
 */
CLCONVT_API clconvt_status clconvt_experimental_tuning_db_get(
    const char *path, const clconvt_device *device, const char *shape_class,
    clconvt_experimental_tuning_entry *entry, int *found);

/**
 * Record *entry for (device, shape_class) in the database at path: the file is read again (another
 * run may have written it since), the entry replaces this device's one for the class (the
 * device's platform and an "updated" UTC time are recorded too), and the result is written
 * atomically (a temporary beside path, renamed over it; src/file_output.h). Everything else in the
 * file is kept. Fails with CLCONVT_ERROR_FILE (the file then unchanged) when it cannot be read,
 * is not a valid database, or cannot be written.
 */
CLCONVT_API clconvt_status clconvt_experimental_tuning_db_put(
    const char *path, const clconvt_device *device, const char *shape_class,
    const clconvt_experimental_tuning_entry *entry);

/* ---- EXPERIMENTAL: plans for a device one does not have (clconvt-info --plans) -------------- */

/**
 * The built-in device profiles, in order: index 0, 1, ... give a profile's name ("sm90", "gfx1030",
 * "gfx90a", "xe", "cpu", "cpu-avx2") and, when description is not NULL, a one-line description
 * of the device class it stands for; past the last, NULL. A profile holds what the planner reads
 * of a device (type, vendor, local memory, largest work-group and allocation, compute units,
 * subgroup width; caches and vector width on CPUs), as the vendor's OpenCL driver reports them for
 * a typical device of the class.
 */
CLCONVT_API const char *clconvt_experimental_profile_name(size_t index, const char **description);

/**
 * CLCONVT_SUCCESS when profile names a built-in profile or is "device" (the device passed to
 * clconvt_experimental_plan_for_profile), else CLCONVT_ERROR_INVALID_ARGUMENT with a sentence
 * naming the profiles there are.
 */
CLCONVT_API clconvt_status clconvt_experimental_profile_check(const char *profile);

/** Bytes of a kernel's build options, NUL included. */
#define CLCONVT_EXPERIMENTAL_OPTIONS_MAX 256

/** What a device compiles and enqueues for one forward of a layer. */
typedef struct clconvt_experimental_kernel_plan {
    char plan[CLCONVT_EXPERIMENTAL_PLAN_MAX]; /**< as clconvt_layer_plan would report it */
    const char *kernel;      /**< the kernel's entry point ("phase_pos_forward"); static */
    const char *source_file; /**< the file of cl/ the kernel comes from ("phase_pos.cl"); static */
    /** The whole program text the library builds (cl/common.cl, a newline, source_file's text),
     * NUL-terminated; static. */
    const char *source;
    char options[CLCONVT_EXPERIMENTAL_OPTIONS_MAX]; /**< the build options, exactly as passed */
    /** The NDRange of one forward of a batch of 1 over the whole input: work-items (position
     * tiles, channel tiles, batch items) rounded up to whole work-groups, and the work-group. (The
     * gemm path's CLBlast GEMMs come first; these are its col2im kernel's.) */
    size_t global[3], local[3];
} clconvt_experimental_kernel_plan;

/**
 * The plan (CLCONVT_PLAN's when it is set, else the built-in one; never the tuning database's) of
 * a layer of *params on the device class of profile (a name clconvt_experimental_profile_name
 * gives; device is then ignored and may be NULL), or on device itself when profile is "device", for
 * an input of length_in: its plan string, kernel, program text, build options and NDRange into
 * *out, exactly as a layer on such a device would build and enqueue them. The work-group is
 * narrowed to the profile's (the device's) largest one, as a layer narrows it to its compiled
 * kernel's limit (on a GPU, a kernel with many registers may be allowed fewer than the device's
 * largest: a layer narrows further then). Opens and compiles nothing. Fails, writing nothing, for
 * an unknown profile, "device" without a device, invalid params, a length_in that gives no output,
 * or a CLCONVT_PLAN the planner refuses for this layer (its message then says why).
 */
CLCONVT_API clconvt_status clconvt_experimental_plan_for_profile(
    const char *profile, const clconvt_device *device, const clconvt_params *params,
    int64_t length_in, clconvt_experimental_kernel_plan *out);

#ifdef __cplusplus
}
#endif

#endif /* CLCONVT_H */
