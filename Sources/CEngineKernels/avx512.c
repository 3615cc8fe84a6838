// The engine's AVX-512 inference kernels. Every function in this file is compiled for AVX-512 (the pragma
// below) and is only called after efk_cpu_has_avx512() said yes; cpu.c, which decides, is compiled for the
// baseline.
#include "CEngineKernels.h"

#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,avx512f,avx512dq,avx512bw,avx512vl"))), apply_to = function)

#define INLINE static inline __attribute__((always_inline))

// MARK: - Activations

/// exp(x): the same Cephes-style reduction and polynomial as the Swift `vectorExp`, with the 2^n scaling done by
/// `vscalefps`. Inputs are clamped to [-87.3, 88.3].
INLINE __m512 exp512(__m512 input) {
    __m512 x = _mm512_max_ps(_mm512_min_ps(input, _mm512_set1_ps(88.3f)), _mm512_set1_ps(-87.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.4426950408889634f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.1219444e-4f), r);
    __m512 y = _mm512_fmadd_ps(_mm512_set1_ps(1.9875691500e-4f), r, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1)));
    return _mm512_scalef_ps(y, n);
}

/// 1 / (1 + exp(-x)), with the reciprocal from `vrcp14ps` and one Newton step (relative error below 1e-7).
INLINE __m512 sigmoid512(__m512 x) {
    __m512 d = _mm512_add_ps(_mm512_set1_ps(1), exp512(_mm512_sub_ps(_mm512_setzero_ps(), x)));
    __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2)));
}

INLINE __m512 activate(__m512 v, int activation) {
    switch (activation) {
    case EFK_SILU: return _mm512_mul_ps(v, sigmoid512(v));
    case EFK_RELU: return _mm512_max_ps(v, _mm512_setzero_ps());
    case EFK_RELU6: return _mm512_min_ps(_mm512_max_ps(v, _mm512_setzero_ps()), _mm512_set1_ps(6));
    case EFK_SIGMOID: return sigmoid512(v);
    default: return v;
    }
}

INLINE __mmask16 lanes(long count) { return count >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << count) - 1); }

// MARK: - Pointwise convolution

/// The epilogue of an R x NB tile: shift, activation, residual, masked store of pixels p..<p+R, blocks block..<block+NB.
INLINE void store_tile(__m512 acc[12][2], const float *shift, const float *residual, float *y, long p, long block, long cout,
                       int R, int NB, int activation) {
#pragma clang loop unroll(full)
    for (int j = 0; j < NB; j++) {
        long o = (block + j) * 16;
        __mmask16 m = lanes(cout - o);
        __m512 s = _mm512_maskz_loadu_ps(m, shift + o);
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++) {
            __m512 v = activate(_mm512_add_ps(acc[r][j], s), activation);
            if (residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, residual + (p + r) * cout + o));
            _mm512_mask_storeu_ps(y + (p + r) * cout + o, m, v);
        }
    }
}

/// The micro-kernel's inner loop: acc[r][j] += source[r * step + c] * w_j[c][0..<16] over c < depth, for R rows
/// and NB (1 or 2) blocks of 16 outputs, each element one FMA chain in ascending c.
INLINE void multiply_accumulate(__m512 acc[12][2], const float *source, long step, const float *w0, const float *w1, long depth, int R, int NB) {
    for (long c = 0; c < depth; c++) {
        __m512 b0 = _mm512_loadu_ps(w0 + c * 16);
        __m512 b1 = NB == 2 ? _mm512_loadu_ps(w1 + c * 16) : b0;
#pragma clang loop unroll(full)
        for (int r = 0; r < R; r++) {
            __m512 a = _mm512_set1_ps(source[r * step + c]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            if (NB == 2) acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
    }
}

/// R pixels x NB (1 or 2) output blocks of 16: R * NB accumulators over the whole input depth, then the epilogue.
INLINE void pointwise_tile(const float *x, const float *packed, const float *shift, const float *residual, float *y,
                           long p, long block, long cin, long cout, int R, int NB, int activation) {
    __m512 acc[12][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) acc[r][j] = _mm512_setzero_ps();
    }
    const float *w0 = packed + block * cin * 16;
    const float *w1 = w0 + cin * 16;
    multiply_accumulate(acc, x + p * cin, cin, w0, w1, cin, R, NB);
    store_tile(acc, shift, residual, y, p, block, cout, R, NB, activation);
}

INLINE void pointwise_run(const float *x, const float *packed, const float *shift, const float *residual, float *y,
                          long pixelBegin, long pixelEnd, long blockBegin, long blockEnd, long cin, long cout, int activation) {
    // Output blocks per group so that the group's weights stay in L2 (about 512 KiB of them).
    long groupBlocks = 512 * 1024 / (cin * 64);
    groupBlocks = groupBlocks < 2 ? 2 : groupBlocks & ~1L;
    for (long group = blockBegin; group < blockEnd; group += groupBlocks) {
        long groupEnd = group + groupBlocks < blockEnd ? group + groupBlocks : blockEnd;
        long p = pixelBegin;
        for (; p + 12 <= pixelEnd; p += 12) {
            long block = group;
            for (; block + 2 <= groupEnd; block += 2) pointwise_tile(x, packed, shift, residual, y, p, block, cin, cout, 12, 2, activation);
            if (block < groupEnd) pointwise_tile(x, packed, shift, residual, y, p, block, cin, cout, 12, 1, activation);
        }
        if (p < pixelEnd) {
            // The last 1-11 pixels as one narrower tile.
            long block = group;
            switch (pixelEnd - p) {
#define TAIL(R) \
            case R: \
                for (; block + 2 <= groupEnd; block += 2) pointwise_tile(x, packed, shift, residual, y, p, block, cin, cout, R, 2, activation); \
                if (block < groupEnd) pointwise_tile(x, packed, shift, residual, y, p, block, cin, cout, R, 1, activation); \
                break;
            TAIL(1) TAIL(2) TAIL(3) TAIL(4) TAIL(5) TAIL(6) TAIL(7) TAIL(8) TAIL(9) TAIL(10) TAIL(11)
#undef TAIL
            }
        }
    }
}

void efk_pointwise_avx512(const float *x, const float *packed, const float *shift, const float *residual, float *y,
                          long pixelBegin, long pixelEnd, long blockBegin, long blockEnd, long cin, long cout, int activation) {
    // One specialisation per activation, so that the epilogue has no branch.
    switch (activation) {
    case EFK_SILU: pointwise_run(x, packed, shift, residual, y, pixelBegin, pixelEnd, blockBegin, blockEnd, cin, cout, EFK_SILU); break;
    case EFK_RELU: pointwise_run(x, packed, shift, residual, y, pixelBegin, pixelEnd, blockBegin, blockEnd, cin, cout, EFK_RELU); break;
    case EFK_RELU6: pointwise_run(x, packed, shift, residual, y, pixelBegin, pixelEnd, blockBegin, blockEnd, cin, cout, EFK_RELU6); break;
    default: pointwise_run(x, packed, shift, residual, y, pixelBegin, pixelEnd, blockBegin, blockEnd, cin, cout, EFK_IDENTITY); break;
    }
}

// MARK: - Dense kxk convolution

/// R adjacent output pixels of one row x NB output blocks, reading the zero-padded input directly (no im2col):
/// `source` is the padded input at the first pixel's (ky, kx) = (0, 0); pixels are `step` floats apart.
INLINE void direct_tile(const float *source, const float *packed, const float *shift, const float *residual, float *y,
                        long p, long block, long step, long paddedWidth, long cin, long kernel, long dilation, long cout, int R, int NB, int activation) {
    __m512 acc[12][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < R; r++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < NB; j++) acc[r][j] = _mm512_setzero_ps();
    }
    long patch = kernel * kernel * cin;
    const float *w0 = packed + block * patch * 16;
    const float *w1 = w0 + patch * 16;
    for (long ky = 0; ky < kernel; ky++) {
        for (long kx = 0; kx < kernel; kx++) {
            const float *tap = source + (ky * dilation * paddedWidth + kx * dilation) * cin;
            long offset = (ky * kernel + kx) * cin * 16;
            multiply_accumulate(acc, tap, step, w0 + offset, w1 + offset, cin, R, NB);
        }
    }
    store_tile(acc, shift, residual, y, p, block, cout, R, NB, activation);
}

INLINE void direct_run(const float *padded, const float *packed, const float *shift, const float *residual, float *y,
                       long paddedHeight, long paddedWidth, long cin, long outHeight, long outWidth, long cout,
                       long kernel, long stride, long dilation, long rowBegin, long rowEnd, long blockBegin, long blockEnd, int activation) {
    // Output blocks per group so that the group's weights stay in L2 (about 512 KiB of them) while the rows go by:
    // a late Fused-MBConv layer has megabytes of weights and few pixels, and would otherwise read them from
    // memory once per 12-pixel tile.
    long groupBlocks = 512 * 1024 / (kernel * kernel * cin * 64);
    groupBlocks = groupBlocks < 2 ? 2 : groupBlocks & ~1L;
    for (long group = blockBegin; group < blockEnd; group += groupBlocks) {
        long groupEnd = group + groupBlocks < blockEnd ? group + groupBlocks : blockEnd;
        for (long row = rowBegin; row < rowEnd; row++) {
            long n = row / outHeight, oy = row % outHeight;
            const float *line = padded + ((n * paddedHeight + oy * stride) * paddedWidth) * cin;
            long step = stride * cin;
            long ox = 0;
            for (; ox < outWidth; ox += 12) {
                long count = outWidth - ox < 12 ? outWidth - ox : 12;
                const float *source = line + ox * step;
                long p = row * outWidth + ox;
                long block = group;
                if (count == 12) {
                    for (; block + 2 <= groupEnd; block += 2)
                        direct_tile(source, packed, shift, residual, y, p, block, step, paddedWidth, cin, kernel, dilation, cout, 12, 2, activation);
                    if (block < groupEnd)
                        direct_tile(source, packed, shift, residual, y, p, block, step, paddedWidth, cin, kernel, dilation, cout, 12, 1, activation);
                } else {
                    // The row's last 1-11 pixels as one narrower tile: each weight is loaded once for all of them.
                    switch (count) {
#define TAIL(R) \
                    case R: \
                        for (; block + 2 <= groupEnd; block += 2) \
                            direct_tile(source, packed, shift, residual, y, p, block, step, paddedWidth, cin, kernel, dilation, cout, R, 2, activation); \
                        if (block < groupEnd) \
                            direct_tile(source, packed, shift, residual, y, p, block, step, paddedWidth, cin, kernel, dilation, cout, R, 1, activation); \
                        break;
                    TAIL(1) TAIL(2) TAIL(3) TAIL(4) TAIL(5) TAIL(6) TAIL(7) TAIL(8) TAIL(9) TAIL(10) TAIL(11)
#undef TAIL
                    }
                }
            }
        }
    }
}

void efk_conv_avx512(const float *padded, const float *packed, const float *shift, const float *residual, float *y,
                     long paddedHeight, long paddedWidth, long cin, long outHeight, long outWidth, long cout,
                     long kernel, long stride, long dilation, long rowBegin, long rowEnd, long blockBegin, long blockEnd, int activation) {
    switch (activation) {
    case EFK_SILU:
        direct_run(padded, packed, shift, residual, y, paddedHeight, paddedWidth, cin, outHeight, outWidth, cout, kernel, stride, dilation, rowBegin, rowEnd, blockBegin, blockEnd, EFK_SILU);
        break;
    case EFK_RELU:
        direct_run(padded, packed, shift, residual, y, paddedHeight, paddedWidth, cin, outHeight, outWidth, cout, kernel, stride, dilation, rowBegin, rowEnd, blockBegin, blockEnd, EFK_RELU);
        break;
    case EFK_RELU6:
        direct_run(padded, packed, shift, residual, y, paddedHeight, paddedWidth, cin, outHeight, outWidth, cout, kernel, stride, dilation, rowBegin, rowEnd, blockBegin, blockEnd, EFK_RELU6);
        break;
    default:
        direct_run(padded, packed, shift, residual, y, paddedHeight, paddedWidth, cin, outHeight, outWidth, cout, kernel, stride, dilation, rowBegin, rowEnd, blockBegin, blockEnd, EFK_IDENTITY);
        break;
    }
}

// MARK: - Depthwise convolution

/// The depthwise epilogue for G adjacent pixels of one channel block: batch norm, activation, masked store, and
/// the pixels' sum added to `sums` (when given).
INLINE void depthwise_store(__m512 acc[8], const float *scale, const float *shift, float *out, float *sums, long channel, long channels,
                            __mmask16 m, int G, int activation) {
    __m512 s = _mm512_maskz_loadu_ps(m, scale + channel), t = _mm512_maskz_loadu_ps(m, shift + channel);
    __m512 total = _mm512_setzero_ps();
#pragma clang loop unroll(full)
    for (int g = 0; g < G; g++) {
        __m512 v = activate(_mm512_fmadd_ps(acc[g], s, t), activation);
        _mm512_mask_storeu_ps(out + g * channels + channel, m, v);
        total = _mm512_add_ps(total, v);
    }
    if (sums) _mm512_mask_storeu_ps(sums + channel, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + channel), total));
}

/// G adjacent output pixels (the whole kernel inside the input) for one block of 16 channels.
INLINE void depthwise_group(const float *const *lines, const float *w, const float *scale, const float *shift, float *out, float *sums,
                            long ix0, long channel, long channels, long kernel, long stride, long dilation, int G, int activation) {
    __mmask16 m = lanes(channels - channel);
    __m512 acc[8];
#pragma clang loop unroll(full)
    for (int g = 0; g < G; g++) acc[g] = _mm512_setzero_ps();
    for (long ky = 0; ky < kernel; ky++) {
        const float *line = lines[ky];
        if (!line) continue;
        const float *weights = w + ky * kernel * channels + channel;
        for (long kx = 0; kx < kernel; kx++) {
            __m512 wv = _mm512_maskz_loadu_ps(m, weights + kx * channels);
            const float *source = line + (ix0 + kx * dilation) * channels + channel;
#pragma clang loop unroll(full)
            for (int g = 0; g < G; g++) acc[g] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, source + g * stride * channels), wv, acc[g]);
        }
    }
    depthwise_store(acc, scale, shift, out, sums, channel, channels, m, G, activation);
}

/// One output pixel near a border: only the taps inside the input.
INLINE void depthwise_edge(const float *const *lines, const float *w, const float *scale, const float *shift, float *out, float *sums,
                           long ix0, long width, long channels, long kernel, long dilation, int activation) {
    for (long channel = 0; channel < channels; channel += 16) {
        __mmask16 m = lanes(channels - channel);
        __m512 acc = _mm512_setzero_ps();
        for (long ky = 0; ky < kernel; ky++) {
            const float *line = lines[ky];
            if (!line) continue;
            for (long kx = 0; kx < kernel; kx++) {
                long ix = ix0 + kx * dilation;
                if (ix < 0 || ix >= width) continue;
                __m512 wv = _mm512_maskz_loadu_ps(m, w + (ky * kernel + kx) * channels + channel);
                acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, line + ix * channels + channel), wv, acc);
            }
        }
        __m512 v = activate(_mm512_fmadd_ps(acc, _mm512_maskz_loadu_ps(m, scale + channel), _mm512_maskz_loadu_ps(m, shift + channel)), activation);
        _mm512_mask_storeu_ps(out + channel, m, v);
        if (sums) _mm512_mask_storeu_ps(sums + channel, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, sums + channel), v));
    }
}

/// G adjacent output pixels of a stride-1, undilated KxK kernel (K = 3 or 5), for one block of 16 channels:
/// each input pixel of a kernel row is loaded once and used for every output it touches (G + K - 1 loads and K
/// weight loads per kernel row for G * K multiply-adds), in the same (ky, kx) order as `depthwise_group`.
INLINE void depthwise_block(const float *const *lines, const float *w, const float *scale, const float *shift, float *out, float *sums,
                            long ix0, long channel, long channels, int K, int G, int activation) {
    __mmask16 m = lanes(channels - channel);
    __m512 acc[8];
#pragma clang loop unroll(full)
    for (int g = 0; g < G; g++) acc[g] = _mm512_setzero_ps();
#pragma clang loop unroll(full)
    for (int ky = 0; ky < K; ky++) {
        const float *source = lines[ky] + ix0 * channels + channel;
        __m512 in[12];
#pragma clang loop unroll(full)
        for (int j = 0; j < G + K - 1; j++) in[j] = _mm512_maskz_loadu_ps(m, source + j * channels);
#pragma clang loop unroll(full)
        for (int kx = 0; kx < K; kx++) {
            __m512 wv = _mm512_maskz_loadu_ps(m, w + (ky * K + kx) * channels + channel);
#pragma clang loop unroll(full)
            for (int g = 0; g < G; g++) acc[g] = _mm512_fmadd_ps(in[g + kx], wv, acc[g]);
        }
    }
    depthwise_store(acc, scale, shift, out, sums, channel, channels, m, G, activation);
}

/// The interior columns [begin, end) of a row with a stride-1, undilated KxK kernel and every kernel row inside
/// (or zero): groups of 8, then 4, then single pixels.
INLINE void depthwise_interior(const float *const *lines, const float *w, const float *scale, const float *shift, float *outRow, float *sums,
                               long begin, long end, long channels, long padding, int K, int activation) {
    long ox = begin;
    for (; ox + 8 <= end; ox += 8)
        for (long channel = 0; channel < channels; channel += 16)
            depthwise_block(lines, w, scale, shift, outRow + ox * channels, sums, ox - padding, channel, channels, K, 8, activation);
    for (; ox + 4 <= end; ox += 4)
        for (long channel = 0; channel < channels; channel += 16)
            depthwise_block(lines, w, scale, shift, outRow + ox * channels, sums, ox - padding, channel, channels, K, 4, activation);
    for (; ox < end; ox++)
        for (long channel = 0; channel < channels; channel += 16)
            depthwise_block(lines, w, scale, shift, outRow + ox * channels, sums, ox - padding, channel, channels, K, 1, activation);
}

/// A row of zeros at least `floats` long (per thread, grown on demand): the kernel rows above and below the
/// input, so that the fast paths need no row checks. NULL if it cannot be allocated (the slow path copes).
static const float *zero_row(long floats) {
    static __thread float *row = 0;
    static __thread long capacity = 0;
    if (floats > capacity) {
        free(row);
        row = calloc((size_t)floats, sizeof(float));
        capacity = row ? floats : 0;
    }
    return row;
}

/// One output row from the input rows under the kernel (`lines[ky]`, NULL outside the input).
INLINE void depthwise_row(const float *const *lines, const float *w, const float *scale, const float *shift, float *outRow, float *sums,
                          long width, long channels, long outWidth, long kernel, long stride, long dilation, long padding, int activation) {
    // Output columns whose whole kernel lies inside the input.
    long interiorBegin = (padding + stride - 1) / stride;
    long last = width - 1 - (kernel - 1) * dilation + padding;
    long interiorEnd = last < 0 ? 0 : last / stride + 1;
    if (interiorEnd > outWidth) interiorEnd = outWidth;
    if (interiorBegin > interiorEnd) interiorBegin = interiorEnd;
    long ox = 0;
    for (; ox < interiorBegin; ox++)
        depthwise_edge(lines, w, scale, shift, outRow + ox * channels, sums, ox * stride - padding, width, channels, kernel, dilation, activation);
    int inside = 1;
    for (long ky = 0; ky < kernel; ky++) inside = inside && lines[ky];
    if (inside && stride == 1 && dilation == 1 && (kernel == 3 || kernel == 5)) {
        if (kernel == 3) depthwise_interior(lines, w, scale, shift, outRow, sums, ox, interiorEnd, channels, padding, 3, activation);
        else depthwise_interior(lines, w, scale, shift, outRow, sums, ox, interiorEnd, channels, padding, 5, activation);
        ox = interiorEnd;
    }
    for (; ox + 4 <= interiorEnd; ox += 4)
        for (long channel = 0; channel < channels; channel += 16)
            depthwise_group(lines, w, scale, shift, outRow + ox * channels, sums, ox * stride - padding, channel, channels, kernel, stride, dilation, 4, activation);
    for (; ox < interiorEnd; ox++)
        for (long channel = 0; channel < channels; channel += 16)
            depthwise_group(lines, w, scale, shift, outRow + ox * channels, sums, ox * stride - padding, channel, channels, kernel, stride, dilation, 1, activation);
    for (; ox < outWidth; ox++)
        depthwise_edge(lines, w, scale, shift, outRow + ox * channels, sums, ox * stride - padding, width, channels, kernel, dilation, activation);
}

static void depthwise_row_any(const float *const *lines, const float *w, const float *scale, const float *shift, float *outRow, float *sums,
                              long width, long channels, long outWidth, long kernel, long stride, long dilation, long padding, int activation) {
    switch (activation) {
    case EFK_SILU: depthwise_row(lines, w, scale, shift, outRow, sums, width, channels, outWidth, kernel, stride, dilation, padding, EFK_SILU); break;
    case EFK_RELU: depthwise_row(lines, w, scale, shift, outRow, sums, width, channels, outWidth, kernel, stride, dilation, padding, EFK_RELU); break;
    case EFK_RELU6: depthwise_row(lines, w, scale, shift, outRow, sums, width, channels, outWidth, kernel, stride, dilation, padding, EFK_RELU6); break;
    default: depthwise_row(lines, w, scale, shift, outRow, sums, width, channels, outWidth, kernel, stride, dilation, padding, EFK_IDENTITY); break;
    }
}

/// Moves a ring of input rows (it holds rows [*next - ringRows, *next) of image *image) to output row `row`:
/// restarts it at the first input row that output row reads when the ring does not reach that far, and returns
/// the last one it reads (both clamped to the image).
INLINE long ring_advance(long row, long height, long outHeight, long kernel, long stride, long dilation, long padding, long *image, long *next) {
    long n = row / outHeight, oy = row % outHeight;
    long first = oy * stride - padding, last = first + (kernel - 1) * dilation;
    if (first < 0) first = 0;
    if (last > height - 1) last = height - 1;
    if (n != *image || *next < first) {
        *image = n;
        *next = first;
    }
    return last;
}

/// The kernel's rows for output row `row` in a ring of `rowFloats`-float rows (`zeros` outside the image).
INLINE void ring_lines(const float **lines, const float *ring, const float *zeros, long rowFloats, long ringRows, long row, long height, long outHeight,
                       long kernel, long stride, long dilation, long padding) {
    long oy = row % outHeight;
    for (long ky = 0; ky < kernel; ky++) {
        long iy = oy * stride - padding + ky * dilation;
        lines[ky] = iy >= 0 && iy < height ? ring + (iy % ringRows) * rowFloats : zeros;
    }
}

void efk_expand_depthwise_avx512(const float *x, const float *packed, const float *expandShift, int expandActivation,
                                 const float *w, const float *scale, const float *shift, int activation, float *y, float *rowSums, float *ring,
                                 long height, long width, long cin, long mid, long outHeight, long outWidth,
                                 long kernel, long stride, long dilation, long padding, long rowBegin, long rowEnd) {
    if (kernel > 16) return;
    long ringRows = (kernel - 1) * dilation + 1;
    long blocks = (mid + 15) / 16;
    long image = -1, next = 0;  // the ring holds input rows [next - ringRows, next) of `image`
    const float *lines[16];
    // Ring rows have `padding` zero pixels on both sides (the expansion writes between them), so that every
    // output pixel of the depthwise convolution takes the interior paths (see depthwise_run).
    long paddedWidth = width + 2 * padding;
    const float *zeros = zero_row(paddedWidth * mid);  // NULL if it cannot be allocated: the row paths then skip those taps
    for (long slot = 0; slot < ringRows; slot++) {
        memset(ring + slot * paddedWidth * mid, 0, (size_t)(padding * mid) * sizeof(float));
        memset(ring + (slot * paddedWidth + padding + width) * mid, 0, (size_t)(padding * mid) * sizeof(float));
    }
    for (long row = rowBegin; row < rowEnd; row++) {
        long lastRow = ring_advance(row, height, outHeight, kernel, stride, dilation, padding, &image, &next);
        for (; next <= lastRow; next++)
            efk_pointwise_avx512(x + (image * height + next) * width * cin, packed, expandShift, 0, ring + ((next % ringRows) * paddedWidth + padding) * mid,
                                 0, width, 0, blocks, cin, mid, expandActivation);
        ring_lines(lines, ring, zeros, paddedWidth * mid, ringRows, row, height, outHeight, kernel, stride, dilation, padding);
        float *sums = 0;
        if (rowSums) {
            sums = rowSums + row * mid;
            for (long c = 0; c < mid; c++) sums[c] = 0;
        }
        depthwise_row_any(lines, w, scale, shift, y + row * outWidth * mid, sums, paddedWidth, mid, outWidth, kernel, stride, dilation, 0, activation);
    }
}

/// Per-thread scratch of at least `floats` (grown on demand, contents undefined); NULL if it cannot be allocated.
static float *padded_ring(long floats) {
    static __thread float *ring = 0;
    static __thread long capacity = 0;
    if (floats > capacity) {
        free(ring);
        ring = malloc((size_t)floats * sizeof(float));
        capacity = ring ? floats : 0;
    }
    return ring;
}

INLINE void depthwise_run(const float *x, const float *w, const float *scale, const float *shift, float *y, float *sums,
                          long height, long width, long channels, long outHeight, long outWidth,
                          long kernel, long stride, long dilation, long padding, long rowBegin, long rowEnd, int activation) {
    const float *lines[16];
    // The input rows under the kernel go into a ring of rows with `padding` zero pixels on both sides, each row
    // copied once, so that every output pixel takes the interior paths: on small maps (late stages, 7x7 and 14x14
    // with 5x5 kernels) most pixels are near a border, and the border path (one pixel at a time, a bounds check
    // per tap) cost more than the rest of the layer. Zero taps add exact zeros, so each output is the same.
    long ringRows = (kernel - 1) * dilation + 1, paddedWidth = width + 2 * padding;
    float *ring = padding > 0 ? padded_ring(ringRows * paddedWidth * channels) : 0;
    const float *zeros = ring ? zero_row(paddedWidth * channels) : 0;
    if (ring && zeros) {
        long image = -1, next = 0;  // the ring holds input rows [next - ringRows, next) of `image`
        for (long row = rowBegin; row < rowEnd; row++) {
            long lastRow = ring_advance(row, height, outHeight, kernel, stride, dilation, padding, &image, &next);
            for (; next <= lastRow; next++) {
                float *target = ring + (next % ringRows) * paddedWidth * channels;
                memset(target, 0, (size_t)(padding * channels) * sizeof(float));
                memcpy(target + padding * channels, x + ((image * height + next) * width) * channels, (size_t)(width * channels) * sizeof(float));
                memset(target + (padding + width) * channels, 0, (size_t)(padding * channels) * sizeof(float));
            }
            ring_lines(lines, ring, zeros, paddedWidth * channels, ringRows, row, height, outHeight, kernel, stride, dilation, padding);
            depthwise_row(lines, w, scale, shift, y + row * outWidth * channels, sums ? sums + row * channels : 0, paddedWidth, channels, outWidth,
                          kernel, stride, dilation, 0, activation);
        }
        return;
    }
    for (long row = rowBegin; row < rowEnd; row++) {
        long n = row / outHeight, oy = row % outHeight;
        for (long ky = 0; ky < kernel; ky++) {
            long iy = oy * stride - padding + ky * dilation;
            lines[ky] = iy >= 0 && iy < height ? x + ((n * height + iy) * width) * channels : zero_row(width * channels);
        }
        depthwise_row(lines, w, scale, shift, y + row * outWidth * channels, sums ? sums + row * channels : 0, width, channels, outWidth, kernel, stride,
                      dilation, padding, activation);
    }
}

void efk_depthwise_avx512(const float *x, const float *w, const float *scale, const float *shift, float *y, float *sums,
                          long height, long width, long channels, long outHeight, long outWidth,
                          long kernel, long stride, long dilation, long padding, long rowBegin, long rowEnd, int activation) {
    if (kernel > 16) return;
    switch (activation) {
    case EFK_SILU:
        depthwise_run(x, w, scale, shift, y, sums, height, width, channels, outHeight, outWidth, kernel, stride, dilation, padding, rowBegin, rowEnd, EFK_SILU);
        break;
    case EFK_RELU:
        depthwise_run(x, w, scale, shift, y, sums, height, width, channels, outHeight, outWidth, kernel, stride, dilation, padding, rowBegin, rowEnd, EFK_RELU);
        break;
    case EFK_RELU6:
        depthwise_run(x, w, scale, shift, y, sums, height, width, channels, outHeight, outWidth, kernel, stride, dilation, padding, rowBegin, rowEnd, EFK_RELU6);
        break;
    default:
        depthwise_run(x, w, scale, shift, y, sums, height, width, channels, outHeight, outWidth, kernel, stride, dilation, padding, rowBegin, rowEnd, EFK_IDENTITY);
        break;
    }
}

// MARK: - Small dense layers

void efk_gemv_avx512(const float *w, const float *x, const float *bias, float *y, long rowBegin, long rowEnd, long k, int activation) {
    long o = rowBegin;
    for (; o + 4 <= rowEnd; o += 4) {
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        const float *r0 = w + o * k, *r1 = r0 + k, *r2 = r1 + k, *r3 = r2 + k;
        for (long c = 0; c < k; c += 16) {
            __mmask16 m = lanes(k - c);
            __m512 v = _mm512_maskz_loadu_ps(m, x + c);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r0 + c), v, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r1 + c), v, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r2 + c), v, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r3 + c), v, a3);
        }
        __m128 sums = _mm_setr_ps(_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3));
        if (bias) sums = _mm_add_ps(sums, _mm_loadu_ps(bias + o));
        __m512 v = activate(_mm512_castps128_ps512(sums), activation);
        _mm_storeu_ps(y + o, _mm512_castps512_ps128(v));
    }
    for (; o < rowEnd; o++) {
        __m512 a = _mm512_setzero_ps();
        const float *r = w + o * k;
        for (long c = 0; c < k; c += 16) {
            __mmask16 m = lanes(k - c);
            a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, r + c), _mm512_maskz_loadu_ps(m, x + c), a);
        }
        float sum = _mm512_reduce_add_ps(a) + (bias ? bias[o] : 0);
        y[o] = _mm_cvtss_f32(_mm512_castps512_ps128(activate(_mm512_set1_ps(sum), activation)));
    }
}

void efk_scale_packed_avx512(const float *src, const float *gate, float *dst, long blocks, long cin) {
    for (long b = 0; b < blocks; b++) {
        for (long c = 0; c < cin; c++) {
            long offset = (b * cin + c) * 16;
            _mm512_storeu_ps(dst + offset, _mm512_mul_ps(_mm512_loadu_ps(src + offset), _mm512_set1_ps(gate[c])));
        }
    }
}

// MARK: - Batch norm in training
//
// The same arithmetic as the Swift kernels in Normalization.swift, operation for operation: per-channel sums in
// double, added row after row in order; the element-wise passes in float without contraction. Both paths give the
// same bits.

/// Widens 16 floats to two vectors of 8 doubles.
INLINE void widen(__m512 v, __m512d *lo, __m512d *hi) {
    *lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    *hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
}

INLINE void store_sums(double *out, __mmask16 m, __m512d lo, __m512d hi) {
    _mm512_mask_storeu_pd(out, (__mmask8)(m & 0xFF), lo);
    _mm512_mask_storeu_pd(out + 8, (__mmask8)(m >> 8), hi);
}

void efk_bn_sums_avx512(const float *x, const float *mean, double *out, long rowBegin, long rowEnd, long channels) {
    for (long c0 = 0; c0 < channels; c0 += 64) {
        __m512d lo[4], hi[4];
        __m512 mu[4];
        __mmask16 m[4];
#pragma clang loop unroll(full)
        for (int j = 0; j < 4; j++) {
            long c = c0 + 16 * j;
            m[j] = c < channels ? lanes(channels - c) : 0;
            mu[j] = mean ? _mm512_maskz_loadu_ps(m[j], mean + c) : _mm512_setzero_ps();
            lo[j] = _mm512_setzero_pd();
            hi[j] = _mm512_setzero_pd();
        }
        for (long r = rowBegin; r < rowEnd; r++) {
            const float *row = x + r * channels + c0;
#pragma clang loop unroll(full)
            for (int j = 0; j < 4; j++) {
                if (!m[j]) continue;
                __m512 v = _mm512_maskz_loadu_ps(m[j], row + 16 * j);
                __m512d l, h;
                if (mean) {
                    widen(_mm512_sub_ps(v, mu[j]), &l, &h);
                    l = _mm512_mul_pd(l, l);
                    h = _mm512_mul_pd(h, h);
                } else {
                    widen(v, &l, &h);
                }
                lo[j] = _mm512_add_pd(lo[j], l);
                hi[j] = _mm512_add_pd(hi[j], h);
            }
        }
#pragma clang loop unroll(full)
        for (int j = 0; j < 4; j++) {
            if (m[j]) store_sums(out + c0 + 16 * j, m[j], lo[j], hi[j]);
        }
    }
}

void efk_bn_backward_sums_avx512(const float *x, const float *dy, const float *mean, const float *invStd,
                                 double *sumDY, double *sumDYXhat, long rowBegin, long rowEnd, long channels) {
    for (long c0 = 0; c0 < channels; c0 += 32) {
        __m512d dLo[2], dHi[2], pLo[2], pHi[2];
        __m512 mu[2], is[2];
        __mmask16 m[2];
#pragma clang loop unroll(full)
        for (int j = 0; j < 2; j++) {
            long c = c0 + 16 * j;
            m[j] = c < channels ? lanes(channels - c) : 0;
            mu[j] = _mm512_maskz_loadu_ps(m[j], mean + c);
            is[j] = _mm512_maskz_loadu_ps(m[j], invStd + c);
            dLo[j] = dHi[j] = pLo[j] = pHi[j] = _mm512_setzero_pd();
        }
        for (long r = rowBegin; r < rowEnd; r++) {
            long offset = r * channels + c0;
#pragma clang loop unroll(full)
            for (int j = 0; j < 2; j++) {
                if (!m[j]) continue;
                __m512 g = _mm512_maskz_loadu_ps(m[j], dy + offset + 16 * j);
                __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m[j], x + offset + 16 * j), mu[j]), is[j]);
                __m512d gl, gh, xl, xh;
                widen(g, &gl, &gh);
                widen(xhat, &xl, &xh);
                dLo[j] = _mm512_add_pd(dLo[j], gl);
                dHi[j] = _mm512_add_pd(dHi[j], gh);
                pLo[j] = _mm512_add_pd(pLo[j], _mm512_mul_pd(gl, xl));
                pHi[j] = _mm512_add_pd(pHi[j], _mm512_mul_pd(gh, xh));
            }
        }
#pragma clang loop unroll(full)
        for (int j = 0; j < 2; j++) {
            if (!m[j]) continue;
            store_sums(sumDY + c0 + 16 * j, m[j], dLo[j], dHi[j]);
            store_sums(sumDYXhat + c0 + 16 * j, m[j], pLo[j], pHi[j]);
        }
    }
}

void efk_bn_normalize_avx512(const float *x, float *y, const float *mean, const float *invStd, const float *gamma, const float *beta,
                             long rowBegin, long rowEnd, long channels) {
    for (long r = rowBegin; r < rowEnd; r++) {
        const float *in = x + r * channels;
        float *out = y + r * channels;
        for (long c = 0; c < channels; c += 16) {
            __mmask16 m = lanes(channels - c);
            __m512 v = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, in + c), _mm512_maskz_loadu_ps(m, mean + c));
            v = _mm512_mul_ps(_mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, invStd + c)), _mm512_maskz_loadu_ps(m, gamma + c));
            _mm512_mask_storeu_ps(out + c, m, _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, beta + c)));
        }
    }
}

void efk_bn_backward_avx512(const float *x, const float *dy, float *dx, const float *mean, const float *invStd,
                            const float *a, const float *b, const float *cTerm, long rowBegin, long rowEnd, long channels) {
    for (long r = rowBegin; r < rowEnd; r++) {
        long offset = r * channels;
        for (long c = 0; c < channels; c += 16) {
            __mmask16 m = lanes(channels - c);
            __m512 xhat = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + offset + c), _mm512_maskz_loadu_ps(m, mean + c)),
                                        _mm512_maskz_loadu_ps(m, invStd + c));
            __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dy + offset + c), _mm512_maskz_loadu_ps(m, b + c));
            t = _mm512_sub_ps(t, _mm512_mul_ps(xhat, _mm512_maskz_loadu_ps(m, cTerm + c)));
            _mm512_mask_storeu_ps(dx + offset + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + c), t));
        }
    }
}

#pragma clang attribute pop
