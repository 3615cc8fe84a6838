#ifndef EFSEARCH_CGSL_H
#define EFSEARCH_CGSL_H

// The parts of GSL efsearch uses. GSL's BLAS headers (gsl_blas.h, gsl_cblas.h, gsl_multifit.h) stay out
// of this module: their CBLAS enums clash with OpenBLAS's cblas.h, which the CBLAS module includes.
#include <gsl/gsl_rng.h>
#include <gsl/gsl_qrng.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_errno.h>

// GSL exposes its generator types as mutable globals, which Swift 6's strict concurrency rejects.
// These accessors return them by value.
const gsl_rng_type *cgsl_rng_mt19937(void);
const gsl_qrng_type *cgsl_qrng_sobol(void);

// gsl_ran_gaussian_ziggurat; gsl_randist.h pulls in gsl_matrix and, through it, GSL's CBLAS types.
double cgsl_ran_gaussian(const gsl_rng *rng, double sigma);

// Weighted linear least squares (gsl_multifit_wlinear, SVD-based): minimises sum_i w_i (y_i - x_i . c)^2 over c.
// x is row-major n x p; fills coefficients (p values) and chisq. Returns GSL's status (0 on success).
int cgsl_weighted_least_squares(const double *x, const double *y, const double *w, size_t n, size_t p, double *coefficients, double *chisq);

// log |det A| and the sign of det A for a row-major n x n matrix (LU decomposition with partial pivoting,
// gsl_linalg_LU_decomp / gsl_linalg_LU_lndet / gsl_linalg_LU_sgndet). A singular matrix gives sign 0 and
// logdet -inf. Returns GSL's status (0 on success).
int cgsl_log_abs_determinant(const double *a, size_t n, double *logdet, int *sign);

// Turns GSL's default error handler (which aborts) off, once; errors are returned as status codes.
void cgsl_disable_abort_on_error(void);

#endif
