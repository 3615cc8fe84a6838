import Architecture
import CEngineKernels
import Foundation

/// The vector instructions the inference kernels run on.
public enum KernelISA: String, CaseIterable, Sendable {
    /// 8-wide: the Swift kernels in this folder (the Engine is compiled for Haswell).
    case avx2
    /// 16-wide: the C kernels in `Sources/CEngineKernels`, compiled for AVX-512 and chosen at run time.
    case avx512
}

/// The inference kernels behind one interface, dispatched at run time to AVX-512 where the CPU has it and to
/// the AVX2 kernels elsewhere. Both read the same packed weights and compute each output element as the same
/// ascending FMA chain; they differ in the last bits only through the activation's reciprocal.
///
/// Layout: NHWC, as everywhere in the engine.
public enum InferenceKernels {
    /// Whether this CPU (and OS) runs AVX-512 F/DQ/BW/VL.
    public static let cpuHasAVX512: Bool = efk_cpu_has_avx512() != 0

    /// The preferred instruction set (`EngineConfiguration.isa`: AVX-512 unless `EFSEARCH_ISA=avx2` or the
    /// settings say otherwise).
    public static var preferred: KernelISA { EngineConfiguration.current.isa }

    /// The instruction set used now: AVX-512 when preferred and available, and the numerics are `fast`
    /// (`portable` promises the same bits on every AVX2 machine, so it keeps the AVX2 kernels).
    public static var isa: KernelISA { EngineConfiguration.current.kernelISA }

    /// Block-level fusion in inference (on by default): batch norm and activation in the convolutions' epilogues,
    /// squeeze-excite's pooling inside the depthwise convolution, its gate folded into the projection's weights,
    /// and the residual added in the projection's epilogue. Off, every unit is its own pass (the reference path;
    /// `efsearch bench --compare-unfused` times both).
    public static var fused: Bool { EngineConfiguration.current.fused }

    /// Whether inference runs expansions in one pass with their depthwise convolutions (`EngineRules`):
    /// block fusion on, with the AVX-512 kernels.
    public static var fusesExpansions: Bool { fused && isa == .avx512 }

    /// The inference kernels' vector width in floats: 16 with AVX-512, 8 with AVX2.
    public static var vectorLanes: Int { isa == .avx512 ? 16 : 8 }

    static func code(_ activation: Activation?) -> Int32 {
        switch activation {
        case .none: return Int32(EFK_IDENTITY)
        case .some(.silu): return Int32(EFK_SILU)
        case .some(.relu): return Int32(EFK_RELU)
        case .some(.relu6): return Int32(EFK_RELU6)
        }
    }

    /// `y[p, o] = act(x[p, :] · W[o, :] + shift[o]) (+ residual[p, o])` with weights packed by `PointwiseKernels.pack`.
    /// Shapes: `x` `[pixels, inChannels]`, `y` and `residual` `[pixels, outChannels]`.
    public static func pointwise(x: UnsafePointer<Float>, packed: UnsafePointer<Float>, shift: UnsafePointer<Float>, activation: Activation?,
                                 residual: UnsafePointer<Float>? = nil, y: UnsafeMutablePointer<Float>, pixels: Int, inChannels: Int, outChannels: Int) {
        guard isa == .avx512 else {
            PointwiseKernels.forward(x: x, packed: packed, shift: shift, activation: activation, residual: residual,
                                     y: y, pixels: pixels, inChannels: inChannels, outChannels: outChannels)
            return
        }
        let act = code(activation)
        let blocks = (outChannels + 15) / 16
        let tiles = (pixels + 11) / 12
        if tiles >= 4 * Parallel.threads || blocks < 4 {
            // Over pixels, in whole 12-pixel tiles.
            Parallel.forEachChunk(tiles) { range in
                efk_pointwise_avx512(x, packed, shift, residual, y, range.lowerBound * 12, min(pixels, range.upperBound * 12),
                                     0, blocks, inChannels, outChannels, act)
            }
        } else {
            // Few pixels (late stages, the classifier): over pairs of output blocks.
            let pairs = (blocks + 1) / 2
            Parallel.forEachChunk(pairs) { range in
                efk_pointwise_avx512(x, packed, shift, residual, y, 0, pixels, range.lowerBound * 2, min(blocks, range.upperBound * 2),
                                     inChannels, outChannels, act)
            }
        }
    }

    /// Dense kxk convolution with its epilogue on AVX-512, read straight from a zero-padded copy of the input
    /// (`padded`: scratch of `[N, H + 2p, W + 2p, Cin]`); weights packed over the patch `(ky, kx, c)`.
    static func conv(_ g: ConvGeometry, x: UnsafePointer<Float>, padded: UnsafeMutablePointer<Float>, packed: UnsafePointer<Float>, shift: UnsafePointer<Float>,
                     activation: Activation?, residual: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let (p, c) = (g.padding, g.inChannels)
        let (paddedHeight, paddedWidth) = (g.height + 2 * p, g.width + 2 * p)
        Parallel.forEachChunk(g.batch * paddedHeight, minimumChunk: 8) { rows in
            for row in rows {
                let n = row / paddedHeight, py = row % paddedHeight
                let target = padded + row * paddedWidth * c
                let iy = py - p
                guard iy >= 0 && iy < g.height else {
                    target.update(repeating: 0, count: paddedWidth * c)
                    continue
                }
                target.update(repeating: 0, count: p * c)
                (target + p * c).update(from: x + (n * g.height + iy) * g.width * c, count: g.width * c)
                (target + (p + g.width) * c).update(repeating: 0, count: p * c)
            }
        }
        let act = code(activation)
        let (rows, blocks) = (g.batch * g.outHeight, (g.outChannels + 15) / 16)
        if EngineRules.denseSplitsOverOutputs(kernel: g.kernel, inChannels: c, outChannels: g.outChannels,
                                              inputElements: g.batch * g.height * g.width * c, threads: Parallel.threads) {
            // Few rows and many weights: over pairs of output blocks, so that each thread reads its share of them.
            Parallel.forEachChunk(EngineRules.outputBlockPairs(g.outChannels)) { pairs in
                efk_conv_avx512(padded, packed, shift, residual, y, paddedHeight, paddedWidth, c, g.outHeight, g.outWidth, g.outChannels,
                                g.kernel, g.stride, g.dilation, 0, rows, pairs.lowerBound * 2, min(blocks, pairs.upperBound * 2), act)
            }
        } else {
            Parallel.forEachChunk(rows) { range in
                efk_conv_avx512(padded, packed, shift, residual, y, paddedHeight, paddedWidth, c, g.outHeight, g.outWidth, g.outChannels,
                                g.kernel, g.stride, g.dilation, range.lowerBound, range.upperBound, 0, blocks, act)
            }
        }
    }

    /// Depthwise convolution with its epilogue; when `rowSums` is given (`[N * Ho, C]`), each output row's
    /// per-channel sums go there (squeeze-excite's pooling, reduced in row order by `poolRows`, so the
    /// result does not depend on the thread count).
    public static func depthwise(_ g: ConvGeometry, x: UnsafePointer<Float>, w: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                                 epilogue: Epilogue, rowSums: UnsafeMutablePointer<Float>?) {
        guard isa == .avx512, g.kernel <= 16 else {
            DepthwiseKernels.forward(g, x: x, w: w, y: y, epilogue: epilogue, rowSums: rowSums)
            return
        }
        let act = code(epilogue.activation)
        Parallel.forEachChunk(g.batch * g.outHeight, minimumChunk: 2) { rows in
            if let rowSums { (rowSums + rows.lowerBound * g.inChannels).update(repeating: 0, count: rows.count * g.inChannels) }
            efk_depthwise_avx512(x, w, epilogue.scale, epilogue.shift, y, rowSums, g.height, g.width, g.inChannels, g.outHeight, g.outWidth,
                                 g.kernel, g.stride, g.dilation, g.padding, rows.lowerBound, rows.upperBound, act)
        }
    }

    /// `mean[n, c]` from per-row sums `[N * rows, C]`, added in row order.
    public static func poolRows(_ rowSums: UnsafePointer<Float>, _ mean: UnsafeMutablePointer<Float>, batch: Int, rows: Int, pixels: Int, channels: Int) {
        let scale = 1 / Float(pixels)
        for n in 0..<batch {
            let out = mean + n * channels
            out.update(from: rowSums + n * rows * channels, count: channels)
            for row in 1..<max(1, rows) {
                let source = rowSums + (n * rows + row) * channels
                for c in 0..<channels { out[c] += source[c] }
            }
            for c in 0..<channels { out[c] *= scale }
        }
    }

    /// `y[o] = f(w[o, :] · x + bias[o])` for `o < rows`, `f` the activation (`sigmoid` when `sigmoid` is true).
    /// Shapes: `w` `[rows, k]`, `x` `[k]`, `y` `[rows]`. Runs on the calling thread (squeeze-excite's tiny layers).
    public static func gemv(w: UnsafePointer<Float>, x: UnsafePointer<Float>, bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                            rows: Int, k: Int, activation: Activation?, sigmoid: Bool = false) {
        if isa == .avx512 {
            efk_gemv_avx512(w, x, bias, y, 0, rows, k, sigmoid ? Int32(EFK_SIGMOID) : code(activation))
            return
        }
        for o in 0..<rows {
            let row = w + o * k
            var acc = SIMD8<Float>()
            var c = 0
            while c + 8 <= k { acc = acc.addingProduct(row.loadVector(c), x.loadVector(c)); c += 8 }
            var sum = acc.sum()
            while c < k { sum += row[c] * x[c]; c += 1 }
            sum += bias?[o] ?? 0
            y[o] = sigmoid ? scalarSigmoid(sum) : activation.map { ActivationKernels.apply($0, sum) } ?? sum
        }
    }

    /// `dst[b][c][:] = src[b][c][:] * gate[c]`: packed pointwise weights (`[blocks][cin][16]`) with a factor
    /// per input channel folded in.
    public static func scalePacked(_ src: UnsafePointer<Float>, gate: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, blocks: Int, inChannels: Int) {
        if isa == .avx512 {
            efk_scale_packed_avx512(src, gate, dst, blocks, inChannels)
            return
        }
        for index in 0..<(blocks * inChannels) {
            let factor = SIMD8<Float>(repeating: gate[index % inChannels])
            dst.storeVector(src.loadVector(index * 16) * factor, index * 16)
            dst.storeVector(src.loadVector(index * 16 + 8) * factor, index * 16 + 8)
        }
    }
}
