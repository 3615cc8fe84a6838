#ifndef EFSEARCH_ENGINE_KERNELS_H
#define EFSEARCH_ENGINE_KERNELS_H

/// The engine's AVX-512 inference kernels (NHWC, float32), called only after `efk_cpu_has_avx512()`.
/// The AVX2 versions of the same kernels are the Swift ones in `Sources/Engine/Kernels`; both read the same
/// packed weights and compute each output element as the same ascending FMA chain.

/// Activation codes for the epilogues.
enum {
    EFK_IDENTITY = 0,
    EFK_SILU = 1,
    EFK_RELU = 2,
    EFK_RELU6 = 3,
    EFK_SIGMOID = 4,
};

/// 1 when the CPU and the OS support AVX-512 F, DQ, BW and VL (the kernels below use them), else 0.
int efk_cpu_has_avx512(void);

/// Pointwise (1x1) convolution with its epilogue, for pixels [pixelBegin, pixelEnd) and 16-channel output
/// blocks [blockBegin, blockEnd):
///   y[p, o] = act(sum_c x[p, c] * W[o, c] + shift[o]) (+ residual[p, o] when residual is not NULL)
/// x `[P, cin]`, y and residual `[P, cout]`; `packed` is `[ceil(cout / 16)][cin][16]` (zero-padded).
void efk_pointwise_avx512(const float *x, const float *packed, const float *shift, const float *residual, float *y,
                          long pixelBegin, long pixelEnd, long blockBegin, long blockEnd, long cin, long cout, int activation);

/// Dense kxk convolution with its epilogue, straight from the zero-padded input `[N, Hp, Wp, cin]` (no im2col),
/// over output rows [rowBegin, rowEnd) of `N * outHeight` and 16-channel output blocks [blockBegin, blockEnd); `packed` as for the pointwise kernel over the patch
/// `(ky, kx, c)` (`cin * kernel * kernel` deep). y and residual `[N, outHeight, outWidth, cout]`.
void efk_conv_avx512(const float *padded, const float *packed, const float *shift, const float *residual, float *y,
                     long paddedHeight, long paddedWidth, long cin, long outHeight, long outWidth, long cout,
                     long kernel, long stride, long dilation, long rowBegin, long rowEnd, long blockBegin, long blockEnd, int activation);

/// Sets this thread's MXCSR to flush denormal results to zero and treat denormal inputs as zero (FTZ and DAZ), as
/// inference runtimes do: an operation on a denormal float costs a hundred times a normal one.
void efk_flush_denormals(void);

/// The x86 `pause` instruction, for spin-waits.
void efk_pause(void);

/// Depthwise kxk convolution with batch norm (`scale`, `shift`) and activation, over output rows
/// [rowBegin, rowEnd) of `batch * outHeight`. When `sums` (`[N * Ho, C]`) is not NULL, adds each output row's
/// values per channel into `sums + row * C` (squeeze-excite's pooling). x `[N, H, W, C]`, w `[k, k, C]`, y `[N, Ho, Wo, C]`.
void efk_depthwise_avx512(const float *x, const float *w, const float *scale, const float *shift, float *y, float *sums,
                          long height, long width, long channels, long outHeight, long outWidth,
                          long kernel, long stride, long dilation, long padding, long rowBegin, long rowEnd, int activation);

/// An inverted-residual block's expansion (pointwise, packed weights, `expandShift`, `expandActivation`) and
/// depthwise convolution (`w`, `scale`, `shift`, `activation`) together, for output rows [rowBegin, rowEnd) of
/// `N * outHeight`: each expanded input row is computed once into `ring` (scratch of
/// `((kernel - 1) * dilation + 1) * (width + 2 * padding) * mid` floats, one per thread; rows with zero borders)
/// just before the depthwise rows that read it, so the expanded tensor never goes to memory. `rowSums` (`[N * outHeight, mid]`, or NULL): each
/// output row's per-channel sums. x `[N, H, W, cin]`, y `[N, outHeight, outWidth, mid]`.
void efk_expand_depthwise_avx512(const float *x, const float *packed, const float *expandShift, int expandActivation,
                                 const float *w, const float *scale, const float *shift, int activation, float *y, float *rowSums, float *ring,
                                 long height, long width, long cin, long mid, long outHeight, long outWidth,
                                 long kernel, long stride, long dilation, long padding, long rowBegin, long rowEnd);

/// y[o] = act(dot(w[o, :], x) + bias[o]) for o in [rowBegin, rowEnd); w `[rows, k]` row-major.
void efk_gemv_avx512(const float *w, const float *x, const float *bias, float *y, long rowBegin, long rowEnd, long k, int activation);

/// dst[b][c][0..<16] = src[b][c][0..<16] * gate[c] for b in [0, blocks): packed pointwise weights with a
/// per-input-channel factor folded in (squeeze-excite's gate).
void efk_scale_packed_avx512(const float *src, const float *gate, float *dst, long blocks, long cin);

/// Batch norm in training, over rows [rowBegin, rowEnd) of `[rows, channels]`, with the arithmetic of the Swift
/// kernels (`BatchNormKernels`) operation for operation, so that both give the same bits:
/// out[c] = sum over the rows, in row order, in double, of x[r, c] (`mean` NULL) or of ((double)(x[r, c] - mean[c]))^2.
void efk_bn_sums_avx512(const float *x, const float *mean, double *out, long rowBegin, long rowEnd, long channels);
/// sumDY[c] = sum of dy[r, c], sumDYXhat[c] = sum of dy[r, c] * xhat[r, c] with xhat = (x - mean) * invStd in float,
/// both in double, in row order.
void efk_bn_backward_sums_avx512(const float *x, const float *dy, const float *mean, const float *invStd,
                                 double *sumDY, double *sumDYXhat, long rowBegin, long rowEnd, long channels);
/// y = (x - mean) * invStd * gamma + beta, evaluated left to right in float.
void efk_bn_normalize_avx512(const float *x, float *y, const float *mean, const float *invStd, const float *gamma, const float *beta,
                             long rowBegin, long rowEnd, long channels);
/// dx = a * ((dy - b) - xhat * cTerm) with xhat = (x - mean) * invStd, in float; dx may alias dy.
void efk_bn_backward_avx512(const float *x, const float *dy, float *dx, const float *mean, const float *invStd,
                            const float *a, const float *b, const float *cTerm, long rowBegin, long rowEnd, long channels);

#endif
