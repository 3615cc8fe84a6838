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

int cgsl_cholesky_decompose(double *a, size_t n) {
    if (n == 0) return GSL_EINVAL;
    gsl_matrix_view view = gsl_matrix_view_array(a, n, n);
    return gsl_linalg_cholesky_decomp1(&view.matrix);
}

int cgsl_cholesky_invert(double *a, size_t n) {
    if (n == 0) return GSL_EINVAL;
    gsl_matrix_view view = gsl_matrix_view_array(a, n, n);
    return gsl_linalg_cholesky_invert(&view.matrix);
}

#include <gsl/gsl_multimin.h>

typedef struct {
    cgsl_objective objective;
    void *context;
} cgsl_minimize_context;

static double cgsl_f(const gsl_vector *x, void *params) {
    cgsl_minimize_context *c = params;
    return c->objective(x->data, NULL, x->size, c->context);
}

static void cgsl_df(const gsl_vector *x, void *params, gsl_vector *g) {
    cgsl_minimize_context *c = params;
    c->objective(x->data, g->data, x->size, c->context);
}

static void cgsl_fdf(const gsl_vector *x, void *params, double *f, gsl_vector *g) {
    cgsl_minimize_context *c = params;
    *f = c->objective(x->data, g->data, x->size, c->context);
}

int cgsl_minimize_bfgs(size_t n, double *x, cgsl_objective objective, void *context, size_t max_iterations,
                       double gradient_tolerance, double *minimum) {
    if (n == 0) return GSL_EINVAL;
    cgsl_minimize_context c = {objective, context};
    gsl_multimin_function_fdf function = {&cgsl_f, &cgsl_df, &cgsl_fdf, n, &c};
    gsl_vector *start = gsl_vector_alloc(n);
    for (size_t i = 0; i < n; i++) gsl_vector_set(start, i, x[i]);
    gsl_multimin_fdfminimizer *s = gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, n);
    gsl_multimin_fdfminimizer_set(s, &function, start, 0.1, 0.1);
    int status = GSL_CONTINUE;
    for (size_t iteration = 0; iteration < max_iterations && status == GSL_CONTINUE; iteration++) {
        if (gsl_multimin_fdfminimizer_iterate(s)) break;  // no further progress along the line
        status = gsl_multimin_test_gradient(s->gradient, gradient_tolerance);
    }
    for (size_t i = 0; i < n; i++) x[i] = gsl_vector_get(s->x, i);
    *minimum = s->f;
    gsl_multimin_fdfminimizer_free(s);
    gsl_vector_free(start);
    return status == GSL_SUCCESS ? GSL_SUCCESS : GSL_CONTINUE;
}

#include <gsl/gsl_blas.h>

int cgsl_solve_lower_many(const double *l, size_t n, double *b, size_t m) {
    if (n == 0 || m == 0) return GSL_EINVAL;
    gsl_matrix_const_view L = gsl_matrix_const_view_array(l, n, n);
    gsl_matrix_view B = gsl_matrix_view_array(b, n, m);
    return gsl_blas_dtrsm(CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, 1.0, &L.matrix, &B.matrix);
}
