// Compiled for the baseline CPU: decides whether the AVX-512 kernels in avx512.c may run.
#include "CEngineKernels.h"

#include <immintrin.h>

int efk_cpu_has_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl");
}

void efk_pause(void) { _mm_pause(); }

void efk_flush_denormals(void) { _mm_setcsr(_mm_getcsr() | 0x8040); }
