#include "CGSL.h"
#include <gsl/gsl_randist.h>

const gsl_rng_type *cgsl_rng_mt19937(void) { return gsl_rng_mt19937; }
const gsl_qrng_type *cgsl_qrng_sobol(void) { return gsl_qrng_sobol; }
void cgsl_disable_abort_on_error(void) { gsl_set_error_handler_off(); }
double cgsl_ran_gaussian(const gsl_rng *rng, double sigma) { return gsl_ran_gaussian_ziggurat(rng, sigma); }
