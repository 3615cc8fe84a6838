// OpenBLAS's CBLAS interface (Debian: libopenblas-dev). Never include GSL's gsl_cblas.h here.
#include <cblas.h>
