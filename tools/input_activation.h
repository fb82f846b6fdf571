/* clconvt-run's --input-activation: its value, and the activation it sets on a layer. */
#ifndef CLCONVT_TOOLS_INPUT_ACTIVATION_H
#define CLCONVT_TOOLS_INPUT_ACTIVATION_H

#include <stddef.h>

#include "clconvt.h"

typedef struct cli_activation {
    clconvt_activation kind; /* CLCONVT_ACTIVATION_NONE: no --input-activation */
    float parameter;         /* LeakyReLU's slope, ELU's alpha */
    const char *alpha_file;  /* Snake: the alphas in a .npy file, or */
    const char *alpha_name;  /* the name of their tensor in the --weights checkpoint */
} cli_activation;

/* Parse "leaky_relu:SLOPE", "elu:ALPHA", "snake:FILE.npy" or "snake:@NAME" into *out. Returns
 * 0, or -1 with a message in err[err_size]. */
int cli_activation_parse(const char *text, cli_activation *out, char *err, size_t err_size);

/* Set the activation on the layer (nothing for CLCONVT_ACTIVATION_NONE), Snake's alphas read
 * from their file or from the checkpoint weights: Cin values, of shape (Cin,) or (1, Cin, 1) as
 * DAC stores them. Returns 0, or -1 with a message in err. */
int cli_activation_apply(const cli_activation *a, const char *weights, clconvt_layer *layer,
                         char *err, size_t err_size);

#endif
