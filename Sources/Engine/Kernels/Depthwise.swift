/// Depthwise kxk convolution in NHWC, vectorised over channels (8 at a time).
///
/// Shapes: `x` `[N, H, W, C]`; `w` `[kh, kw, C]`; `y` `[N, Ho, Wo, C]`; geometry as `ConvGeometry`
/// with `inChannels == outChannels == C`.
public enum DepthwiseKernels {
    /// `y = dwconv(x, w)`, then, if given, the epilogue `y = act(y * scale[c] + shift[c])` in the same pass. When
    /// `rowSums` (`[N * Ho, C]`) is given, each output row's per-channel sums are written there.
    public static func forward(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, epilogue: Epilogue? = nil,
                               rowSums: UnsafeMutablePointer<Float>? = nil) {
        struct Forward: ActivationSpecialised {
            let g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, epilogue: Epilogue?
            let rowSums: UnsafeMutablePointer<Float>?
            func run<A: VectorActivation>(_: A.Type) { DepthwiseKernels.forward(g, x: x, w: w, y: y, epilogue: epilogue, rowSums: rowSums, activation: A.self) }
        }
        Forward(g: g, x: x, w: w, y: y, epilogue: epilogue, rowSums: rowSums).run(for: epilogue?.activation)
    }

    static func forward<A: VectorActivation>(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, epilogue: Epilogue?,
                                             rowSums: UnsafeMutablePointer<Float>?, activation: A.Type) {
        let (c, ho, wo, k, s, d, p) = (g.inChannels, g.outHeight, g.outWidth, g.kernel, g.stride, g.dilation, g.padding)
        let vectors = c / 8
        @inline(__always) func finish(_ sum: SIMD8<Float>, _ offset: Int) -> SIMD8<Float> {
            guard let epilogue else { return sum }
            return A.apply(sum * epilogue.scale.loadVector(offset) + epilogue.shift.loadVector(offset))
        }
        Parallel.forEachChunk(g.batch * ho, minimumChunk: 2) { range in
            for row in range {
                let n = row / ho, oy = row % ho
                // The kernel rows that fall inside the input for this output row.
                var taps: [(ky: Int, line: UnsafePointer<Float>)] = []
                taps.reserveCapacity(k)
                for ky in 0..<k {
                    let iy = oy * s - p + ky * d
                    if iy >= 0 && iy < g.height { taps.append((ky, x + (n * g.height + iy) * g.width * c)) }
                }
                for ox in 0..<wo {
                    let out = y + (row * wo + ox) * c
                    let ix0 = ox * s - p
                    // kx range inside the input: all of it away from the borders.
                    var kxLow = 0, kxHigh = k
                    while kxLow < k && ix0 + kxLow * d < 0 { kxLow += 1 }
                    while kxHigh > kxLow && ix0 + (kxHigh - 1) * d >= g.width { kxHigh -= 1 }
                    var v = 0
                    // Four vectors (32 channels) of accumulators at a time stay in registers over all taps.
                    while v + 4 <= vectors {
                        let base = v * 8
                        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                        for tap in taps {
                            let weights = w + tap.ky * k * c + base
                            let pixels = tap.line + base
                            for kx in kxLow..<kxHigh {
                                let source = pixels + (ix0 + kx * d) * c
                                let weight = weights + kx * c
                                a0 = a0.addingProduct(source.loadVector(0), weight.loadVector(0))
                                a1 = a1.addingProduct(source.loadVector(8), weight.loadVector(8))
                                a2 = a2.addingProduct(source.loadVector(16), weight.loadVector(16))
                                a3 = a3.addingProduct(source.loadVector(24), weight.loadVector(24))
                            }
                        }
                        out.storeVector(finish(a0, base), base)
                        out.storeVector(finish(a1, base + 8), base + 8)
                        out.storeVector(finish(a2, base + 16), base + 16)
                        out.storeVector(finish(a3, base + 24), base + 24)
                        v += 4
                    }
                    while v < vectors {
                        let base = v * 8
                        var sum = SIMD8<Float>()
                        for tap in taps {
                            for kx in kxLow..<kxHigh {
                                sum = sum.addingProduct((tap.line + (ix0 + kx * d) * c).loadVector(base), (w + (tap.ky * k + kx) * c).loadVector(base))
                            }
                        }
                        out.storeVector(finish(sum, base), base)
                        v += 1
                    }
                    for channel in (vectors * 8)..<c {
                        var sum: Float = 0
                        for tap in taps {
                            for kx in kxLow..<kxHigh {
                                sum += tap.line[(ix0 + kx * d) * c + channel] * w[(tap.ky * k + kx) * c + channel]
                            }
                        }
                        if let epilogue { sum = A.apply(SIMD8(repeating: sum * epilogue.scale[channel] + epilogue.shift[channel]))[0] }
                        out[channel] = sum
                    }
                }
                if let rowSums {
                    let sums = rowSums + row * c, line = y + row * wo * c
                    sums.update(from: line, count: c)
                    for ox in 1..<max(1, wo) {
                        let pixel = line + ox * c
                        var channel = 0
                        while channel + 8 <= c { sums.storeVector(sums.loadVector(channel) + pixel.loadVector(channel), channel); channel += 8 }
                        while channel < c { sums[channel] += pixel[channel]; channel += 1 }
                    }
                }
            }
        }
    }

    /// Backward: `dX` (overwritten, if given) and `dW += ...`. `partials` is scratch of
    /// `Parallel.threads * kh * kw * C` floats: each chunk of images sums into its own slice, and the
    /// slices are added in a fixed order, so the result does not depend on timing.
    public static func backward(
        _ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, dY: UnsafePointer<Float>,
        dW: UnsafeMutablePointer<Float>, dX: UnsafeMutablePointer<Float>?, partials: UnsafeMutablePointer<Float>
    ) {
        let (c, ho, wo, k, p, s, d) = (g.inChannels, g.outHeight, g.outWidth, g.kernel, g.padding, g.stride, g.dilation)
        if let dX {
            // Gather over input rows: each thread owns whole rows of dX.
            Parallel.forEachChunk(g.batch * g.height, minimumChunk: 2) { range in
                for row in range {
                    let n = row / g.height, iy = row % g.height
                    let target = dX + row * g.width * c
                    target.update(repeating: 0, count: g.width * c)
                    for ky in 0..<k {
                        let ty = iy + p - ky * d
                        guard ty >= 0, ty % s == 0, ty / s < ho else { continue }
                        let oy = ty / s
                        for ix in 0..<g.width {
                            let out = target + ix * c
                            for kx in 0..<k {
                                let tx = ix + p - kx * d
                                guard tx >= 0, tx % s == 0, tx / s < wo else { continue }
                                let source = dY + ((n * ho + oy) * wo + tx / s) * c
                                let weights = w + (ky * k + kx) * c
                                var channel = 0
                                while channel + 8 <= c {
                                    out.storeVector(out.loadVector(channel) + source.loadVector(channel) * weights.loadVector(channel), channel)
                                    channel += 8
                                }
                                while channel < c {
                                    out[channel] += source[channel] * weights[channel]
                                    channel += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        // dW: partial sums per chunk of (image, output row), then a fixed-order reduction.
        let taps = k * k * c
        let chunks = min(Parallel.threads, g.batch * ho)
        partials.update(repeating: 0, count: chunks * taps)
        Parallel.forEachChunk(chunks) { chunkRange in
            for chunk in chunkRange {
                let partial = partials + chunk * taps
                let total = g.batch * ho
                for row in (total * chunk / chunks)..<(total * (chunk + 1) / chunks) {
                    let n = row / ho, oy = row % ho
                    for ky in 0..<k {
                        let iy = oy * s - p + ky * d
                        guard iy >= 0 && iy < g.height else { continue }
                        for ox in 0..<wo {
                            let gradient = dY + (row * wo + ox) * c
                            for kx in 0..<k {
                                let ix = ox * s - p + kx * d
                                guard ix >= 0 && ix < g.width else { continue }
                                let input = x + ((n * g.height + iy) * g.width + ix) * c
                                let target = partial + (ky * k + kx) * c
                                var channel = 0
                                while channel + 8 <= c {
                                    target.storeVector(target.loadVector(channel) + gradient.loadVector(channel) * input.loadVector(channel), channel)
                                    channel += 8
                                }
                                while channel < c {
                                    target[channel] += gradient[channel] * input[channel]
                                    channel += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        for chunk in 0..<chunks {
            let partial = partials + chunk * taps
            for index in 0..<taps { dW[index] += partial[index] }
        }
    }

    /// The plain definition, for tests.
    public static func referenceForward(_ g: ConvGeometry, x: [Float], w: [Float]) -> [Float] {
        let c = g.inChannels
        var y = [Float](repeating: 0, count: g.rows * c)
        for n in 0..<g.batch {
            for oy in 0..<g.outHeight {
                for ox in 0..<g.outWidth {
                    for channel in 0..<c {
                        var sum: Float = 0
                        for ky in 0..<g.kernel {
                            for kx in 0..<g.kernel {
                                let iy = oy * g.stride - g.padding + ky * g.dilation
                                let ix = ox * g.stride - g.padding + kx * g.dilation
                                guard iy >= 0, iy < g.height, ix >= 0, ix < g.width else { continue }
                                sum += x[((n * g.height + iy) * g.width + ix) * c + channel] * w[(ky * g.kernel + kx) * c + channel]
                            }
                        }
                        y[((n * g.outHeight + oy) * g.outWidth + ox) * c + channel] = sum
                    }
                }
            }
        }
        return y
    }
}

/// A per-channel affine map and activation applied to a convolution's output in the same pass
/// (batch norm folded for inference: `scale = gamma / sqrt(var + eps)`, `shift = beta - mean * scale`).
public struct Epilogue {
    public var scale: UnsafePointer<Float>
    public var shift: UnsafePointer<Float>
    public var activation: ActivationKind?

    public init(scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, activation: ActivationKind?) {
        self.scale = scale
        self.shift = shift
        self.activation = activation
    }

    /// Applies the epilogue in place to rows of `[rows, channels]`, on the calling thread.
    public func applySerial(to y: UnsafeMutablePointer<Float>, rows: Int, channels: Int) {
        struct Rows: ActivationSpecialised {
            let y: UnsafeMutablePointer<Float>, rows: Int, channels: Int, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>

            func run<A: VectorActivation>(_: A.Type) {
                let vectors = channels / 8
                for row in 0..<rows {
                    let line = y + row * channels
                    for v in 0..<vectors {
                        line.storeVector(A.apply(line.loadVector(v * 8) * scale.loadVector(v * 8) + shift.loadVector(v * 8)), v * 8)
                    }
                    for channel in (vectors * 8)..<channels {
                        line[channel] = A.apply(SIMD8(repeating: line[channel] * scale[channel] + shift[channel]))[0]
                    }
                }
            }
        }
        Rows(y: y, rows: rows, channels: channels, scale: scale, shift: shift).run(for: activation)
    }

    /// Applies the epilogue in place to rows of `[rows, channels]`, over the engine's threads.
    public func apply(to y: UnsafeMutablePointer<Float>, rows: Int, channels: Int) {
        Parallel.forEachChunk(rows, minimumChunk: 64) { range in
            applySerial(to: y + range.lowerBound * channels, rows: range.count, channels: channels)
        }
    }
}

public typealias ActivationKind = Architecture.Activation
import Architecture
