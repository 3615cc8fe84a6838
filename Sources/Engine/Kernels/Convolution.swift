/// Dense 2-D convolution in NHWC with OpenBLAS: 1x1 stride-1 convolutions are one GEMM over the batch;
/// others go through im2col. No bias (batch norm follows every convolution).
///
/// Shapes: input `x` `[N, H, W, Cin]`; weight `w` `[Cout, kh, kw, Cin]` (OHWI: row `o` is one filter in
/// the same order as an im2col row); output `y` `[N, Ho, Wo, Cout]`. Padding is `dilation * (k - 1) / 2`
/// on every side (odd kernels), so `Ho = (H - 1) / stride + 1`.
public struct ConvGeometry: Hashable, Sendable {
    public var batch: Int, height: Int, width: Int
    public var inChannels: Int, outChannels: Int
    public var kernel: Int, stride: Int, dilation: Int

    public init(batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, dilation: Int = 1) {
        self.batch = batch
        self.height = height
        self.width = width
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
    }

    public var padding: Int { dilation * (kernel - 1) / 2 }
    public var outHeight: Int { (height + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1 }
    public var outWidth: Int { (width + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1 }
    /// Rows of the GEMM: output pixels over the batch.
    public var rows: Int { batch * outHeight * outWidth }
    /// Columns of an im2col row: `kh * kw * Cin`.
    public var patch: Int { kernel * kernel * inChannels }
    /// Whether the input itself is the im2col matrix.
    public var isPointwise: Bool { kernel == 1 && stride == 1 }
}

public enum ConvolutionKernels {
    /// `y = conv(x, w)`, then the epilogue if given. `cols` is scratch of `g.rows * g.patch` floats (unused
    /// for pointwise convolutions); it holds the whole im2col matrix afterwards, for backward.
    ///
    /// Work goes in tiles of output rows: im2col of the tile, its GEMM, and the epilogue while the tile is
    /// still in cache. Tiles are spread over the threads; each runs a single-threaded GEMM.
    public static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, cols: UnsafeMutablePointer<Float>?, epilogue: Epilogue? = nil) {
        // About 64 KiB of output per tile, at least 16 rows.
        let tile = max(16, min(512, 16_384 / max(1, g.outChannels)))
        let tiles = (g.rows + tile - 1) / tile
        Parallel.forEachChunk(tiles) { range in
            for t in range {
                let rows = (t * tile)..<min(g.rows, (t + 1) * tile)
                let a: UnsafePointer<Float>
                if g.isPointwise {
                    a = x + rows.lowerBound * g.inChannels
                } else {
                    im2col(g, x: x, cols: cols!, rows: rows)
                    a = UnsafePointer(cols! + rows.lowerBound * g.patch)
                }
                let out = y + rows.lowerBound * g.outChannels
                BLAS.sgemm(transposeB: true, m: rows.count, n: g.outChannels, k: g.patch, a: a, b: w, c: out)
                epilogue?.applySerial(to: out, rows: rows.count, channels: g.outChannels)
            }
        }
    }

    /// Backward: `dW += colsᵀ-product`, and `dX = col2im(dY · W)` when `dX` is given (overwritten).
    /// `cols` must hold `im2col(x)` from the forward pass (or be nil for pointwise convolutions);
    /// `dCols` is scratch of `g.rows * g.patch` floats (unused for pointwise convolutions).
    public static func backward(
        _ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, dY: UnsafePointer<Float>,
        dW: UnsafeMutablePointer<Float>, dX: UnsafeMutablePointer<Float>?,
        cols: UnsafePointer<Float>?, dCols: UnsafeMutablePointer<Float>?
    ) {
        let a: UnsafePointer<Float> = g.isPointwise ? x : cols!
        // dW [Cout, K] += dYᵀ [Cout, M] · cols [M, K]
        Parallel.sgemm(transposeA: true, m: g.outChannels, n: g.patch, k: g.rows, a: dY, lda: g.outChannels, b: a, beta: 1, c: dW)
        guard let dX else { return }
        if g.isPointwise {
            // dX [M, Cin] = dY [M, Cout] · W [Cout, Cin]
            Parallel.sgemm(m: g.rows, n: g.patch, k: g.outChannels, a: dY, b: w, c: dX)
        } else {
            Parallel.sgemm(m: g.rows, n: g.patch, k: g.outChannels, a: dY, b: w, c: dCols!)
            col2im(g, dCols: dCols!, dX: dX)
        }
    }

    /// cols `[N * Ho * Wo, kh * kw * Cin]`: row (n, oy, ox) holds the input patch in (ky, kx, ci) order,
    /// zeros where the patch hangs over the padding.
    /// Fills the cols rows in `rows` (indices of output pixels over the batch), single-threaded.
    public static func im2col(_ g: ConvGeometry, x: UnsafePointer<Float>, cols: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let (ho, wo, cin, k, p) = (g.outHeight, g.outWidth, g.inChannels, g.kernel, g.padding)
        for pixel in rows {
            let row = pixel / wo, ox = pixel % wo
            let n = row / ho, oy = row % ho
            var out = cols + (pixel * g.patch)
            for ky in 0..<k {
                let iy = oy * g.stride - p + ky * g.dilation
                for kx in 0..<k {
                    let ix = ox * g.stride - p + kx * g.dilation
                    if iy >= 0 && iy < g.height && ix >= 0 && ix < g.width {
                        out.update(from: x + (((n * g.height + iy) * g.width + ix) * cin), count: cin)
                    } else {
                        out.update(repeating: 0, count: cin)
                    }
                    out += cin
                }
            }
        }
    }

    /// dX `[N, H, W, Cin]` = the sum of every cols entry that read each input element (a gather over input
    /// rows, so threads never write the same element).
    public static func col2im(_ g: ConvGeometry, dCols: UnsafePointer<Float>, dX: UnsafeMutablePointer<Float>) {
        let (ho, wo, cin, k, p, s, d) = (g.outHeight, g.outWidth, g.inChannels, g.kernel, g.padding, g.stride, g.dilation)
        Parallel.forEachChunk(g.batch * g.height, minimumChunk: 4) { range in
            for row in range {
                let n = row / g.height, iy = row % g.height
                let target = dX + (row * g.width * cin)
                target.update(repeating: 0, count: g.width * cin)
                for ky in 0..<k {
                    let ty = iy + p - ky * d
                    guard ty >= 0, ty % s == 0 else { continue }
                    let oy = ty / s
                    guard oy < ho else { continue }
                    for ix in 0..<g.width {
                        let out = target + ix * cin
                        for kx in 0..<k {
                            let tx = ix + p - kx * d
                            guard tx >= 0, tx % s == 0 else { continue }
                            let ox = tx / s
                            guard ox < wo else { continue }
                            let source = dCols + (((n * ho + oy) * wo + ox) * g.patch + (ky * k + kx) * cin)
                            for c in 0..<cin { out[c] += source[c] }
                        }
                    }
                }
            }
        }
    }

    /// The plain definition, for tests: direct loops, no GEMM.
    public static func referenceForward(_ g: ConvGeometry, x: [Float], w: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: g.rows * g.outChannels)
        for n in 0..<g.batch {
            for oy in 0..<g.outHeight {
                for ox in 0..<g.outWidth {
                    for o in 0..<g.outChannels {
                        var sum: Float = 0
                        for ky in 0..<g.kernel {
                            for kx in 0..<g.kernel {
                                let iy = oy * g.stride - g.padding + ky * g.dilation
                                let ix = ox * g.stride - g.padding + kx * g.dilation
                                guard iy >= 0, iy < g.height, ix >= 0, ix < g.width else { continue }
                                for c in 0..<g.inChannels {
                                    sum += x[((n * g.height + iy) * g.width + ix) * g.inChannels + c]
                                        * w[((o * g.kernel + ky) * g.kernel + kx) * g.inChannels + c]
                                }
                            }
                        }
                        y[((n * g.outHeight + oy) * g.outWidth + ox) * g.outChannels + o] = sum
                    }
                }
            }
        }
        return y
    }
}
