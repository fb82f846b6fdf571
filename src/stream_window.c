/* The frame arithmetic of a stream: see stream_window.h. */
#include "stream_window.h"

/* floor(a / b) for b > 0 and any a. */
static int64_t floor_div(int64_t a, int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static int64_t reach(const clconvt_params *p) {
    return p->dilation * (p->kernel_length - 1);
}

int64_t clconvt_stream_final_outputs(const clconvt_params *p, int64_t consumed) {
    if (consumed <= 0)
        return 0;
    /* Outputs no later input changes: o < consumed * stride - pad_left. */
    const int64_t settled = consumed * p->stride - p->pad_left;
    /* Outputs of a sequence ending now (output padding included: it is added whatever the
     * length). */
    const int64_t exist =
        (consumed - 1) * p->stride - p->pad_left - p->pad_right + reach(p) + p->output_padding + 1;
    const int64_t final = settled < exist ? settled : exist;
    return final > 0 ? final : 0;
}

int64_t clconvt_stream_first_input(const clconvt_params *p, int64_t first_output,
                                   int64_t consumed) {
    /* The first input whose last tap can land at first_output, rounded down (so the piece's left
     * padding stays >= 0). */
    int64_t first = floor_div(first_output + p->pad_left - reach(p), p->stride);
    first = first > 0 ? first : 0;
    return first < consumed - 1 ? first : consumed - 1;
}

int64_t clconvt_stream_piece_pad(const clconvt_params *p, int64_t first_input,
                                 int64_t first_output) {
    return p->pad_left + first_output - first_input * p->stride;
}

int64_t clconvt_stream_tail_outputs(const clconvt_params *p) {
    const int64_t tail = reach(p) + p->output_padding + 1 - p->stride - p->pad_right;
    return tail > 0 ? tail : 0;
}
