/*
 * The gemm path: for a chunk of samples and input positions, CLBlast computes the column buffer
 * col = W^T x (per group: (Cout_g * K) x Cin_g times Cin_g x positions), then our col2im kernel
 * (cl/col2im.cl) gathers it into the output with the bias. It needs a column buffer (the phase
 * paths need none), so its size is bounded: the batch, and if need be the input length, are split
 * into chunks. A contender for GPUs with large channel counts; on PoCL the phase kernels are
 * faster. Only in builds with CLBlast (src/paths/paths.h).
 */
#include "paths.h"

#if CLCONVT_HAVE_CLBLAST

#include <clblast_c.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "../device.h"
#include "../env.h"
#include "../error.h"
#include "../kernel_launch.h"
#include "../stride.h"

extern const char clconvt_source_col2im[];

/* Default bound of the column buffer; CLCONVT_GEMM_COLUMN_BYTES lowers or raises it (tests use it
 * to exercise the splitting on small data). */
#define DEFAULT_COLUMN_BYTES ((size_t)64 << 20)

typedef struct chunking {
    int64_t samples, positions; /* per chunk */
    size_t column_bytes;
} chunking;

static size_t column_limit(const clconvt_device *device) {
    static atomic_int warned;
    uint64_t limit = DEFAULT_COLUMN_BYTES;
    clconvt_env_bytes("CLCONVT_GEMM_COLUMN_BYTES", &warned, &limit);
    return (size_t)(limit < device->max_alloc_bytes ? limit : device->max_alloc_bytes);
}

/* Samples and positions per chunk so that the column buffer stays within the limit. */
static clconvt_status choose_chunks(const path_launch *l, chunking *out) {
    const clconvt_params *p = l->params;
    const clconvt_device *device = l->device;
    const int64_t batch = l->batch, length_in = l->length_in;
    const size_t limit = column_limit(device);
    /* One input position of one sample: every group's Cout_g * K column entries. */
    const size_t per_position = (size_t)p->out_channels * (size_t)p->kernel_length * sizeof(float);
    /* The limit is a target: one position is processed even when it alone exceeds it. */
    if (per_position > device->max_alloc_bytes)
        return clconvt_fail(CLCONVT_ERROR_TOO_LARGE,
                            "the gemm path's column buffer needs %zu bytes per input position, "
                            "more than the device's largest allocation (%llu bytes)",
                            per_position, (unsigned long long)device->max_alloc_bytes);
    const size_t positions = per_position > limit ? 1 : limit / per_position;
    if ((size_t)length_in <= positions) {
        const size_t samples = positions / (size_t)length_in;
        out->samples = (int64_t)samples < batch ? (int64_t)samples : batch;
        out->positions = length_in;
    } else {
        out->samples = 1;
        out->positions = (int64_t)positions;
    }
    out->column_bytes = (size_t)out->samples * (size_t)out->positions * per_position;
    return CLCONVT_SUCCESS;
}

/* Every CLBlast call of the process goes through this lock. CLBlast 1.5 is not safe to call from
 * two threads at once: the first GEMM of a device fills its kernel-parameter database, and two
 * threads doing so race (AddressSanitizer: a heap use after free in
 * clblast::Database::Database, with gemm forwards of one layer on two threads). A call only
 * enqueues work (and, the first time per device, compiles), so holding it costs little. */
static pthread_mutex_t clblast_lock = PTHREAD_MUTEX_INITIALIZER;

static clconvt_status clblast_failed(const char *call, CLBlastStatusCode code) {
    if (code < 0 && code > -100) /* an OpenCL error passed through */
        return clconvt_fail_cl(call, (cl_int)code);
    return clconvt_fail(CLCONVT_ERROR_OPENCL, "%s failed with CLBlast status %d", call, (int)code);
}

/* One forward on the gemm path: what every chunk's commands use. */
typedef struct gemm_run {
    const path_launch *launch;
    const clconvt_params *params;
    cl_mem col;
    cl_event *gemms; /* one per group: the GEMMs of the chunk being enqueued */
} gemm_run;

/* Samples [n0, n0 + samples) and input positions [i_lo, i_lo + count). */
typedef struct chunk {
    int64_t n0, samples, i_lo, count;
} chunk;

/* col[n][g] = W_g^T x[n][g] for the chunk; r->gemms[g] gets group g's event (the caller releases
 * those that are not NULL). */
static clconvt_status enqueue_gemms(const gemm_run *r, const chunk *c) {
    const clconvt_params *p = r->params;
    const size_t groups = (size_t)p->groups, cin = (size_t)p->in_channels;
    const size_t cin_g = cin / groups, m = (size_t)(p->out_channels / p->groups * p->kernel_length);
    const size_t l_in = (size_t)r->launch->length_in, n = (size_t)c->count;
    const size_t n0 = (size_t)c->n0, i_lo = (size_t)c->i_lo;
    const int ncl = p->layout == CLCONVT_LAYOUT_NCL;
    cl_command_queue queue = r->launch->queue;
    for (size_t g = 0; g < groups; ++g) {
        /* NCL: x[n] is Cin x L_in, its group block a Cin_g x L_in matrix. NLC: x[n] is
         * L_in x Cin, so the group block is the transpose of an L_in x Cin_g matrix. */
        const size_t b_offset =
            ncl ? (n0 * cin + g * cin_g) * l_in + i_lo : (n0 * l_in + i_lo) * cin + g * cin_g;
        pthread_mutex_lock(&clblast_lock);
        const CLBlastStatusCode code = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, CLBlastTransposeNo,
            ncl ? CLBlastTransposeNo : CLBlastTransposeYes, m, n, cin_g, 1.0f, r->launch->weight,
            g * m * cin_g, cin_g, 0, r->launch->in, b_offset, ncl ? l_in : cin, cin * l_in, 0.0f,
            r->col, g * m * n, n, groups * m * n, (size_t)c->samples, &queue, &r->gemms[g]);
        pthread_mutex_unlock(&clblast_lock);
        if (code != CLBlastSuccess)
            return clblast_failed("CLBlastSgemmStridedBatched", code);
    }
    return CLCONVT_SUCCESS;
}

/* Gather the chunk's columns into outputs [o_first, o_first + o_count), after the chunk's GEMMs. */
static clconvt_status enqueue_col2im(const gemm_run *r, const chunk *c, int64_t o_first,
                                     int64_t o_count, cl_event *done) {
    const path_launch *l = r->launch;
    const clconvt_params *p = r->params;
    const phase_steps steps = clconvt_phase_steps(p);
    const cl_int has_bias = p->has_bias != 0, cout_g = (cl_int)(p->out_channels / p->groups);
    const cl_int groups = (cl_int)p->groups, k_len = (cl_int)p->kernel_length;
    const cl_int dilation = (cl_int)p->dilation, acc = c->i_lo > 0;
    const cl_long pad = l->pad_left, l_out = l->length_out, first = o_first, n_out = o_count;
    const cl_long lo = c->i_lo, chunk_length = c->count, n_first = c->n0;
    cl_mem col = r->col, out = l->out;
    cl_mem bias = l->bias ? l->bias : col; /* never read without a bias */
    size_t global[3], local[3];
    clconvt_path_grid(l->plan, p, c->samples, o_count, pad, global, local);
    const kernel_argument args[] = {
        {sizeof col, &col},
        {sizeof bias, &bias},
        {sizeof out, &out},
        {sizeof has_bias, &has_bias},
        {sizeof cout_g, &cout_g},
        {sizeof groups, &groups},
        {sizeof k_len, &k_len},
        {sizeof dilation, &dilation},
        {sizeof steps.tap_step, &steps.tap_step},
        {sizeof steps.dm, &steps.dm},
        {sizeof pad, &pad},
        {sizeof l_out, &l_out},
        {sizeof first, &first},
        {sizeof n_out, &n_out},
        {sizeof lo, &lo},
        {sizeof chunk_length, &chunk_length},
        {sizeof n_first, &n_first},
        {sizeof acc, &acc},
    };
    const kernel_grid grid = {3, global, local, (cl_uint)groups, r->gemms, done};
    return clconvt_kernel_launch(l->program, l->plan->path->kernel, args,
                                 sizeof args / sizeof args[0], l->queue, &grid);
}

/* The outputs [*o_first, *o_end) the chunk's inputs reach; the first chunk of a row covers all of
 * it (outputs no input reaches get the bias alone). */
static void chunk_outputs(const gemm_run *r, const chunk *c, int64_t *o_first, int64_t *o_end) {
    const clconvt_params *p = r->params;
    const int64_t length_out = r->launch->length_out, pad_left = r->launch->pad_left;
    const int64_t reach = p->dilation * (p->kernel_length - 1); /* an input's output span */
    *o_first = 0;
    *o_end = length_out;
    if (c->i_lo > 0) {
        *o_first = c->i_lo * p->stride - pad_left;
        *o_end = (c->i_lo + c->count - 1) * p->stride - pad_left + reach + 1;
        *o_first = *o_first < 0 ? 0 : *o_first;
        *o_end = *o_end > length_out ? length_out : *o_end;
    }
}

/* One chunk: its GEMMs after wait (the previous chunk's last command, or the caller's wait list
 * for the first chunk), then col2im after the GEMMs; *step gets the chunk's last command. Every
 * command waits on the one before, so any queue works, out-of-order ones included: the column
 * buffer is rewritten only after the previous col2im read it, and the accumulation of a row's
 * chunks into the output happens in order. */
static clconvt_status enqueue_chunk(const gemm_run *r, const chunk *c, cl_uint num_wait,
                                    const cl_event *wait, cl_event *step) {
    const cl_uint groups = (cl_uint)r->params->groups;
    cl_command_queue queue = r->launch->queue;
    cl_int err = CL_SUCCESS;
    clconvt_status status = CLCONVT_SUCCESS;
    /* CLBlast takes no wait list: a barrier holds its GEMMs back instead. */
    if (num_wait > 0 &&
        (err = clEnqueueBarrierWithWaitList(queue, num_wait, wait, NULL)) != CL_SUCCESS)
        status = clconvt_fail_cl("clEnqueueBarrierWithWaitList", err);
    if (status == CLCONVT_SUCCESS)
        status = enqueue_gemms(r, c);
    int64_t o_first, o_end;
    chunk_outputs(r, c, &o_first, &o_end);
    if (status == CLCONVT_SUCCESS && o_end > o_first)
        status = enqueue_col2im(r, c, o_first, o_end - o_first, step);
    else if (status == CLCONVT_SUCCESS &&
             (err = clEnqueueMarkerWithWaitList(queue, groups, r->gemms, step)) != CL_SUCCESS)
        status = clconvt_fail_cl("clEnqueueMarkerWithWaitList", err);
    for (cl_uint g = 0; g < groups; ++g)
        if (r->gemms[g] != NULL) {
            clReleaseEvent(r->gemms[g]);
            r->gemms[g] = NULL;
        }
    return status;
}

/* CLBlast keeps the programs it builds in a process-wide cache keyed by context and device, and a
 * program holds its context: without this, each device opened and released leaks its context
 * (3 MB on PoCL), and at exit CLBlast's static cache releases programs of contexts that are gone
 * (Oclgrind aborts). CLBlast 1.5 can only clear the whole cache (CLBlastClearCache: its programs
 * and compiled binaries, for every context), so other devices' next GEMMs build their kernels
 * again. It takes clblast_lock like every CLBlast call; a GEMM enqueued before holds a shared
 * reference to its program, which outlives the clearing. The device calls it before it releases
 * its context, once a gemm forward set it as the device's release hook. */
static void forget_device(clconvt_device *device) {
    (void)device;
    pthread_mutex_lock(&clblast_lock);
    CLBlastClearCache();
    pthread_mutex_unlock(&clblast_lock);
}

static clconvt_status enqueue(const path_launch *l) {
    chunking chunks = {0, 0, 0};
    gemm_run r = {l, l->params, NULL, NULL};
    cl_event step = NULL;
    atomic_store(&l->device->release_hook, forget_device);
    r.gemms = calloc((size_t)l->params->groups, sizeof *r.gemms);
    clconvt_status status = r.gemms != NULL
                                ? CLCONVT_SUCCESS
                                : clconvt_fail(CLCONVT_ERROR_OUT_OF_HOST_MEMORY,
                                               "out of host memory for the gemm path's events");
    if (status == CLCONVT_SUCCESS)
        status = choose_chunks(l, &chunks);
    if (status == CLCONVT_SUCCESS)
        status = clconvt_device_buffer_create(l->device, CL_MEM_READ_WRITE, chunks.column_bytes,
                                              NULL, "gemm column buffer", &r.col);
    const int64_t batch = l->batch, length_in = l->length_in;
    for (int64_t n0 = 0; status == CLCONVT_SUCCESS && n0 < batch; n0 += chunks.samples) {
        const int64_t samples = batch - n0 < chunks.samples ? batch - n0 : chunks.samples;
        for (int64_t i_lo = 0; status == CLCONVT_SUCCESS && i_lo < length_in;
             i_lo += chunks.positions) {
            const int64_t count =
                length_in - i_lo < chunks.positions ? length_in - i_lo : chunks.positions;
            const chunk c = {n0, samples, i_lo, count};
            cl_event before = step;
            step = NULL;
            status =
                enqueue_chunk(&r, &c, before ? 1 : l->num_wait, before ? &before : l->wait, &step);
            if (before != NULL)
                clReleaseEvent(before);
        }
    }
    if (status == CLCONVT_SUCCESS && l->done != NULL)
        *l->done = step; /* the last col2im: it waits, through the chain, on every command before */
    else if (step != NULL)
        clReleaseEvent(step);
    free(r.gemms);
    /* Released now, freed by the runtime once the enqueued commands that use it are done. */
    clconvt_device_buffer_release(l->device, r.col);
    return status;
}

/* ---- The descriptor ------------------------------------------------------------------------ */

/* The built-in choice for GPUs with large channel counts: CLBlast's tuned GEMM, then col2im. */
static int suits(const device_caps *caps, const clconvt_params *params, plan *out) {
    const int64_t cin_g = params->in_channels / params->groups;
    const int64_t cout_g = params->out_channels / params->groups;
    if ((caps->type & CL_DEVICE_TYPE_CPU) != 0 || params->dtype != CLCONVT_F32 ||
        params->groups != 1 || cin_g * cout_g < 65536)
        return 0;
    *out = clconvt_path_gemm.usual;
    return 1;
}

static const char *check(const clconvt_params *params, const plan *p) {
    if (params->dtype != CLCONVT_F32)
        return "the gemm path (CLBlast SGEMM) needs f32 storage";
    if (p->vec != 1 || p->tile_p != 1 || p->tile_c != 1)
        return "the gemm path takes no vec, p or c";
    return NULL;
}

/* W^T per group: (Cout_g * K) x Cin_g */
static int64_t packed_index(const plan *p, const clconvt_params *params, int64_t g, int64_t k,
                            int64_t ci_local, int64_t c) {
    (void)p;
    const int64_t k_len = params->kernel_length, cin_g = params->in_channels / params->groups;
    return ((g * (params->out_channels / params->groups) + c) * k_len + k) * cin_g + ci_local;
}

/* col2im's grid: one work-item per output position and channel of each sample (its channel
 * tiles are single channels, so clconvt_path_channel_tiles counts out_channels). */
static int64_t position_tiles(const plan *p, const clconvt_params *params, int64_t length_out,
                              int64_t pad_left) {
    (void)p;
    (void)params;
    (void)pad_left;
    return length_out;
}

static int64_t batch_items(const plan *p, const clconvt_params *params, int64_t batch) {
    (void)p;
    (void)params;
    return batch;
}

static void local_size(plan *p, const clconvt_params *params, int phases_given) {
    (void)phases_given;
    clconvt_path_default_local(p, params);
}

/* col2im: one sum */
static private_memory private_floats(const plan *p, const clconvt_params *params) {
    (void)p;
    (void)params;
    return (private_memory){1, 1 + 16};
}

static void build_options(const plan *p, const clconvt_params *params, char *options, size_t size) {
    clconvt_path_options(p, params, PATH_OPTION_LAYOUT, 0, 0, options, size);
}

const kernel_path clconvt_path_gemm = {
    .name = "gemm",
    .source = clconvt_source_col2im, /* the col2im half; one work-item per output element */
    .source_file = "col2im.cl",
    .kernel = "col2im_forward",
    .usual = {.path = &clconvt_path_gemm, .vec = 1, .tile_p = 1, .tile_c = 1},
    .default_rank = 0,
    .suits = suits,
    .keys = PLAN_KEY_LP | PLAN_KEY_LC | PLAN_KEY_LR,
    .no_lr = 1,
    .input_read_elsewhere = 1,
    .check = check,
    .packed_dims = clconvt_path_tiled_dims,
    .packed_index = packed_index,
    .position_tiles = position_tiles, /* of col2im, for each chunk's outputs */
    .batch_items = batch_items,
    .local_size = local_size,
    .private_memory = private_floats,
    .build_options = build_options,
    .enqueue = enqueue,
};

#else
typedef int clconvt_gemm_absent; /* ISO C wants a declaration in every file */
#endif
