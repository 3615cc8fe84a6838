/// The inference 1x1 convolution (stride 1) with its epilogue fused in registers: for the thin matrices of
/// batch-1 EfficientNets (12544 x 16 x 96 and the like) this beats a general GEMM, which packs both
/// operands on every call and makes extra passes for beta = 0 and the epilogue.
///
/// Shapes: `x` `[P, Cin]` (P = N * H * W pixels, NHWC); weights packed by `pack` as
/// `[ceil(Cout / 16)][Cin][16]` (zero-padded); `y` `[P, Cout]`.
public enum PointwiseKernels {
    /// Floats needed by the packed weights.
    public static func packedCount(inChannels: Int, outChannels: Int) -> Int { (outChannels + 15) / 16 * 16 * inChannels }

    /// Packs `w` `[Cout, Cin]` (times `scale[o]` per output channel when given, to fold batch norm in).
    public static func pack(_ w: UnsafePointer<Float>, scale: UnsafePointer<Float>?, inChannels: Int, outChannels: Int, into packed: UnsafeMutablePointer<Float>) {
        let blocks = (outChannels + 15) / 16
        packed.update(repeating: 0, count: blocks * 16 * inChannels)
        for o in 0..<outChannels {
            let factor = scale?[o] ?? 1
            let block = o / 16, lane = o % 16
            for c in 0..<inChannels { packed[(block * inChannels + c) * 16 + lane] = w[o * inChannels + c] * factor }
        }
    }

    /// `y = act(x · Wᵀ + shift) (+ residual)` with the packed (and scale-folded) weights; `residual`, when given,
    /// is `[pixels, outChannels]` like `y` and is added after the activation.
    public static func forward(x: UnsafePointer<Float>, packed: UnsafePointer<Float>, shift: UnsafePointer<Float>, activation: ActivationKind?,
                               residual: UnsafePointer<Float>? = nil, y: UnsafeMutablePointer<Float>, pixels: Int, inChannels: Int, outChannels: Int) {
        struct Run: ActivationSpecialised {
            let x: UnsafePointer<Float>, packed: UnsafePointer<Float>, shift: UnsafePointer<Float>, residual: UnsafePointer<Float>?
            let y: UnsafeMutablePointer<Float>, pixels: Int, inChannels: Int, outChannels: Int
            func run<A: VectorActivation>(_: A.Type) {
                PointwiseKernels.forward(x: x, packed: packed, shift: shift, residual: residual, y: y, pixels: pixels, inChannels: inChannels,
                                         outChannels: outChannels, activation: A.self)
            }
        }
        Run(x: x, packed: packed, shift: shift, residual: residual, y: y, pixels: pixels, inChannels: inChannels, outChannels: outChannels).run(for: activation)
    }

    static func forward<A: VectorActivation>(x: UnsafePointer<Float>, packed: UnsafePointer<Float>, shift: UnsafePointer<Float>, residual: UnsafePointer<Float>?,
                                             y: UnsafeMutablePointer<Float>, pixels: Int, inChannels cin: Int, outChannels cout: Int, activation: A.Type) {
        let blocks = (cout + 15) / 16
        // Output blocks per group so that the group's weights stay in L2 (about 192 KiB).
        let groupBlocks = max(1, min(blocks, 192 * 1024 / (cin * 64)))
        let pixelBlocks = (pixels + 5) / 6
        Parallel.forEachChunk(pixelBlocks, minimumChunk: 4) { range in
            var group = 0
            while group < blocks {
                let groupEnd = min(blocks, group + groupBlocks)
                for pixelBlock in range {
                    let p0 = pixelBlock * 6
                    let count = min(6, pixels - p0)
                    for block in group..<groupEnd {
                        let weights = packed + block * cin * 16
                        if count == 6 {
                            sixPixels(x + p0 * cin, weights, shift, residual.map { $0 + p0 * cout }, y + p0 * cout, cin: cin, cout: cout, block: block, activation: A.self)
                        } else {
                            for p in p0..<(p0 + count) {
                                onePixel(x + p * cin, weights, shift, residual.map { $0 + p * cout }, y + p * cout, cin: cin, cout: cout, block: block, activation: A.self)
                            }
                        }
                    }
                }
                group = groupEnd
            }
        }
    }

    @inline(__always)
    static func store<A: VectorActivation>(_ acc0: SIMD8<Float>, _ acc1: SIMD8<Float>, _ shift: UnsafePointer<Float>, _ residual: UnsafePointer<Float>?,
                                           _ out: UnsafeMutablePointer<Float>, cout: Int, block: Int, activation: A.Type) {
        let o = block * 16
        if o + 16 <= cout {
            var v0 = A.apply(acc0 + shift.loadVector(o)), v1 = A.apply(acc1 + shift.loadVector(o + 8))
            if let residual {
                v0 += residual.loadVector(o)
                v1 += residual.loadVector(o + 8)
            }
            out.storeVector(v0, o)
            out.storeVector(v1, o + 8)
        } else {
            for lane in 0..<(cout - o) {
                let value = lane < 8 ? acc0[lane] : acc1[lane - 8]
                out[o + lane] = A.apply(SIMD8(repeating: value + shift[o + lane]))[0] + (residual?[o + lane] ?? 0)
            }
        }
    }

    @inline(__always)
    static func sixPixels<A: VectorActivation>(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ shift: UnsafePointer<Float>, _ r: UnsafePointer<Float>?,
                                               _ y: UnsafeMutablePointer<Float>,
                                               cin: Int, cout: Int, block: Int, activation: A.Type) {
        var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a10 = SIMD8<Float>(), a11 = SIMD8<Float>()
        var a20 = SIMD8<Float>(), a21 = SIMD8<Float>(), a30 = SIMD8<Float>(), a31 = SIMD8<Float>()
        var a40 = SIMD8<Float>(), a41 = SIMD8<Float>(), a50 = SIMD8<Float>(), a51 = SIMD8<Float>()
        let x1 = x + cin, x2 = x + 2 * cin, x3 = x + 3 * cin, x4 = x + 4 * cin, x5 = x + 5 * cin
        var weights = w
        for c in 0..<cin {
            let w0 = weights.loadVector(0), w1 = weights.loadVector(8)
            weights += 16
            var s = SIMD8<Float>(repeating: x[c])
            a00 = a00.addingProduct(s, w0); a01 = a01.addingProduct(s, w1)
            s = SIMD8<Float>(repeating: x1[c])
            a10 = a10.addingProduct(s, w0); a11 = a11.addingProduct(s, w1)
            s = SIMD8<Float>(repeating: x2[c])
            a20 = a20.addingProduct(s, w0); a21 = a21.addingProduct(s, w1)
            s = SIMD8<Float>(repeating: x3[c])
            a30 = a30.addingProduct(s, w0); a31 = a31.addingProduct(s, w1)
            s = SIMD8<Float>(repeating: x4[c])
            a40 = a40.addingProduct(s, w0); a41 = a41.addingProduct(s, w1)
            s = SIMD8<Float>(repeating: x5[c])
            a50 = a50.addingProduct(s, w0); a51 = a51.addingProduct(s, w1)
        }
        store(a00, a01, shift, r, y, cout: cout, block: block, activation: A.self)
        store(a10, a11, shift, r.map { $0 + cout }, y + cout, cout: cout, block: block, activation: A.self)
        store(a20, a21, shift, r.map { $0 + 2 * cout }, y + 2 * cout, cout: cout, block: block, activation: A.self)
        store(a30, a31, shift, r.map { $0 + 3 * cout }, y + 3 * cout, cout: cout, block: block, activation: A.self)
        store(a40, a41, shift, r.map { $0 + 4 * cout }, y + 4 * cout, cout: cout, block: block, activation: A.self)
        store(a50, a51, shift, r.map { $0 + 5 * cout }, y + 5 * cout, cout: cout, block: block, activation: A.self)
    }

    @inline(__always)
    static func onePixel<A: VectorActivation>(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ shift: UnsafePointer<Float>, _ r: UnsafePointer<Float>?,
                                              _ y: UnsafeMutablePointer<Float>,
                                              cin: Int, cout: Int, block: Int, activation: A.Type) {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var weights = w
        for c in 0..<cin {
            let s = SIMD8<Float>(repeating: x[c])
            a0 = a0.addingProduct(s, weights.loadVector(0))
            a1 = a1.addingProduct(s, weights.loadVector(8))
            weights += 16
        }
        store(a0, a1, shift, r, y, cout: cout, block: block, activation: A.self)
    }
}
