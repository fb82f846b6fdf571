/*
 * The frame arithmetic of a stream (src/stream.c), in sequence coordinates: input frames
 * 0, 1, ... as pushed, output frames 0 .. L_out - 1 of one forward of the whole sequence. A push
 * computes its outputs as one piece of that forward (as forward_host.c computes a piece): the
 * layer's plan on a window of inputs, with the left padding that puts the piece's first output at
 * 0. Every output of the piece then sees exactly the taps, in the same order, that it sees in the
 * whole forward: the taps that land outside the window are the ones outside the sequence.
 */
#ifndef CLCONVT_STREAM_WINDOW_H
#define CLCONVT_STREAM_WINDOW_H

#include <stdint.h>

#include "clconvt.h"

/* Output frames that are final once `consumed` input frames have arrived: output o is final once
 * input (o + pad_left) div stride has arrived (no later input reaches it) and it is sure to exist
 * (o < L_out of a sequence that would end now). Nondecreasing in consumed. */
int64_t clconvt_stream_final_outputs(const clconvt_params *p, int64_t consumed);

/* The first input frame a piece whose first output is `first_output` needs (0 or more), at most
 * consumed - 1 so that a piece of outputs no input reaches (output padding) still has one input,
 * as forward_host.c's pieces. consumed >= 1. */
int64_t clconvt_stream_first_input(const clconvt_params *p, int64_t first_output, int64_t consumed);

/* The left padding of a piece whose window starts at input first_input and whose first output is
 * first_output: the whole forward's, shifted by the frames cut off on both sides (>= 0). */
int64_t clconvt_stream_piece_pad(const clconvt_params *p, int64_t first_input,
                                 int64_t first_output);

/* Output frames a finish may emit at most beyond those a push could: the tail of the last input's
 * taps, the output padding, less the right padding (>= 0). */
int64_t clconvt_stream_tail_outputs(const clconvt_params *p);

#endif
