/* The cases of the correctness grid (grid_cases.h). */
#include "grid_cases.h"

/* Lengths short and long; the long ones cross many tiles and both borders. */
static const int64_t LENGTHS[] = {1, 2, 5, 33, 130, 7, 64, 3};
/* (Cin per group, Cout per group): starved, odd, and wider than one 16-channel tile. */
static const int64_t CHANNELS[][2] = {{1, 1}, {3, 5}, {7, 2}, {5, 13}, {2, 17}, {9, 33}, {1, 4}};

int grid_make_case(int64_t stride, int64_t dilation, int64_t k, int64_t i, clconvt_layout layout,
                   clconvt_dtype dtype, grid_case *out) {
    const int64_t mode = (k + i) % 4; /* 0 1 groups, 1 two groups, 2 three, 3 depthwise */
    const int64_t *ch = CHANNELS[(k * 3 + i) % 7];
    int64_t groups = mode == 1 ? 2 : mode == 2 ? 3 : 1;
    int64_t cin = ch[0] * groups, cout = ch[1] * groups;
    if (mode == 3) {
        groups = 6; /* depthwise: one input and one output channel per group */
        cin = cout = 6;
    }
    clconvt_params *p = &out->params;
    clconvt_params_init(p, cin, cout, k);
    p->groups = groups;
    p->stride = stride;
    p->dilation = dilation;
    p->layout = layout;
    p->dtype = dtype;
    p->has_bias = (int)((k + i) % 2);
    /* Every legal output_padding appears as K runs: it must stay below stride or dilation. */
    const int64_t limit = stride > dilation ? stride : dilation;
    p->output_padding = (k + i) % limit;
    /* Padding: none, symmetric, asymmetric either way, and cropping more than a stride. */
    switch ((k + 2 * i) % 5) {
    case 0: p->pad_left = p->pad_right = 0; break;
    case 1: p->pad_left = p->pad_right = k / 2; break;
    case 2: p->pad_left = k / 3, p->pad_right = k - 1; break;
    case 3: p->pad_left = k + stride, p->pad_right = 1; break;
    default: p->pad_left = 0, p->pad_right = stride + 2; break;
    }
    static const int64_t batches[] = {1, 3, 0, 1};
    out->batch = batches[(k + i) % 4];
    out->length_in = LENGTHS[(k * 5 + i) % 8];
    int64_t length_out;
    /* Too much padding for a short input gives no output: lengthen the input until it does. */
    for (int tries = 0; tries < 4; ++tries) {
        if (clconvt_output_length(p, out->length_in, &length_out) == CLCONVT_SUCCESS)
            return 1;
        out->length_in = out->length_in * 4 + 3;
    }
    return 0;
}
