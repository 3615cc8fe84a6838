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

// In-place Cholesky decomposition of a symmetric positive-definite row-major n x n matrix
// (gsl_linalg_cholesky_decomp1): the lower triangle becomes L with A = L L^T (the upper one its transpose).
// Returns GSL's status (GSL_EDOM when the matrix is not positive definite).
int cgsl_cholesky_decompose(double *a, size_t n);

// Replaces a Cholesky factor (from cgsl_cholesky_decompose) by the inverse of the matrix it factors.
int cgsl_cholesky_invert(double *a, size_t n);

// Solves L X = B in place (gsl_blas_dtrsm): l is a row-major n x n lower triangle (a Cholesky factor from
// cgsl_cholesky_decompose; its upper triangle is not read), b row-major n x m.
int cgsl_solve_lower_many(const double *l, size_t n, double *b, size_t m);

// An objective for cgsl_minimize_bfgs: returns f(x) and, when gradient is not NULL, writes its gradient.
typedef double (*cgsl_objective)(const double *x, double *gradient, size_t n, void *context);

// Minimises f from x (overwritten by the minimiser) with GSL's BFGS (gsl_multimin_fdfminimizer_vector_bfgs2,
// first step 0.1, line tolerance 0.1) until the gradient's norm is below gradient_tolerance or
// max_iterations. Returns GSL_SUCCESS when converged, GSL_CONTINUE otherwise; *minimum is f at x.
int cgsl_minimize_bfgs(size_t n, double *x, cgsl_objective objective, void *context, size_t max_iterations,
                       double gradient_tolerance, double *minimum);

// Turns GSL's default error handler (which aborts) off, once; errors are returned as status codes.
void cgsl_disable_abort_on_error(void);

#endif
