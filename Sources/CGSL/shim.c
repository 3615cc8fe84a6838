#include "CGSL.h"
#include <gsl/gsl_randist.h>

const gsl_rng_type *cgsl_rng_mt19937(void) { return gsl_rng_mt19937; }
const gsl_qrng_type *cgsl_qrng_sobol(void) { return gsl_qrng_sobol; }
void cgsl_disable_abort_on_error(void) { gsl_set_error_handler_off(); }
double cgsl_ran_gaussian(const gsl_rng *rng, double sigma) { return gsl_ran_gaussian_ziggurat(rng, sigma); }

#include <gsl/gsl_multifit.h>

int cgsl_weighted_least_squares(const double *x, const double *y, const double *w, size_t n, size_t p, double *coefficients, double *chisq) {
    if (n == 0 || p == 0 || n < p) return GSL_EINVAL;
    gsl_matrix *X = gsl_matrix_alloc(n, p);
    gsl_vector *Y = gsl_vector_alloc(n), *W = gsl_vector_alloc(n), *C = gsl_vector_alloc(p);
    gsl_matrix *cov = gsl_matrix_alloc(p, p);
    gsl_multifit_linear_workspace *work = gsl_multifit_linear_alloc(n, p);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < p; j++) gsl_matrix_set(X, i, j, x[i * p + j]);
        gsl_vector_set(Y, i, y[i]);
        gsl_vector_set(W, i, w[i]);
    }
    int status = gsl_multifit_wlinear(X, W, Y, C, cov, chisq, work);
    for (size_t j = 0; j < p; j++) coefficients[j] = gsl_vector_get(C, j);
    gsl_multifit_linear_free(work);
    gsl_matrix_free(cov);
    gsl_vector_free(C);
    gsl_vector_free(W);
    gsl_vector_free(Y);
    gsl_matrix_free(X);
    return status;
}

#include <gsl/gsl_linalg.h>
#include <math.h>

int cgsl_log_abs_determinant(const double *a, size_t n, double *logdet, int *sign) {
    if (n == 0) return GSL_EINVAL;
    gsl_matrix *A = gsl_matrix_alloc(n, n);
    gsl_permutation *p = gsl_permutation_alloc(n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) gsl_matrix_set(A, i, j, a[i * n + j]);
    int signum = 0;
    int status = gsl_linalg_LU_decomp(A, p, &signum);
    if (status == 0) {
        *sign = gsl_linalg_LU_sgndet(A, signum);
        *logdet = *sign == 0 ? -INFINITY : gsl_linalg_LU_lndet(A);
    }
    gsl_permutation_free(p);
    gsl_matrix_free(A);
    return status;
}
