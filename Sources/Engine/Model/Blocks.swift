import Architecture
import Statistics

/// One block of a resolved network (`ds`, `ir`, `er` or `cn`), built from its `ResolvedBlock`, with
/// timm's module names for its parts.
public final class Block {
    public let spec: ResolvedBlock
    /// The units in forward order with timm's names (`conv_pw`, `conv_dw`, `conv_pwl`, `conv_exp`, `conv`)
    /// and the names of their batch norms (`bn1`, `bn2`, `bn3`).
    public let units: [(name: String, norm: String, unit: ConvUnit)]
    public let se: SqueezeExcite?
    /// Where the squeeze-excite sits: before the unit with this index (always before the last unit).
    let seBefore: Int
    /// Stochastic-depth rate of this block (used in training, on residual blocks only).
    public var dropPathRate: Float = 0

    private var input: Tensor?, sum: Tensor?, keep: [Float] = [], dInput: Tensor?
    /// Squeeze-excite's pooling in the fused inference path: per-row sums and the means.
    private var seRowSums: Tensor?, seMeans: Tensor?

    /// The last training forward's drop-path scale per image (0 dropped, 1 / survival kept); empty before one.
    public var dropPathScales: [Float] { keep }

    /// Builds the units of the block's recipe (`ResolvedBlock.forEachPart`), in its order and with its names.
    init(_ block: ResolvedBlock, eps: Float, momentum: Float) {
        spec = block
        var units: [(name: String, norm: String, unit: ConvUnit)] = []
        var se: SqueezeExcite?
        var seBefore = 0
        block.forEachPart { part in
            switch part {
            case .conv(let unit):
                units.append((unit.name, unit.norm, ConvUnit(unit, eps: eps, momentum: momentum)))
            case .squeezeExcite(let spec):
                se = SqueezeExcite(channels: spec.channels, reduced: spec.reduced, activation: spec.activation)
                seBefore = units.count
            }
        }
        precondition(se == nil || seBefore < units.count, "squeeze-excite comes before a block's last unit")
        self.units = units
        self.se = se
        self.seBefore = seBefore
    }

    func forward(_ x: Tensor, training: Bool, random: RandomGenerator?, profiler: LayerProfiler? = nil, arena: InferenceArena? = nil) -> Tensor {
        if !training && InferenceKernels.fused { return fusedForward(x, profiler: profiler, arena: arena) }
        input = x
        var h = x
        for (index, part) in units.enumerated() {
            if index == seBefore, let se { h = profiler.measure(spec.name + ".se") { se.forward(h, training: training) } }
            h = profiler.measure(spec.name + "." + part.name) { part.unit.forward(h, training: training) }
        }
        guard spec.hasResidual else { return h }
        let n = x.shape[0], perImage = x.count / n
        keep = [Float](repeating: 1, count: n)
        if training && dropPathRate > 0, let random {
            let survival = 1 - dropPathRate
            for image in 0..<n { keep[image] = random.uniform() < Double(survival) ? 1 / survival : 0 }
        }
        let out = Tensor.reuse(&sum, shape: x.shape)
        let scales = keep
        profiler.measure(spec.name + ".residual") {
            Parallel.forEachChunk(n) { range in
                for image in range {
                    let offset = image * perImage
                    for index in offset..<(offset + perImage) { out[index] = h[index] * scales[image] + x[index] }
                }
            }
        }
        return out
    }

    /// Inference with block-level fusion (`InferenceKernels.fused`): the unit before squeeze-excite also sums its
    /// output per channel (a depthwise unit, row by row in its epilogue), the gate goes into the weights of the
    /// pointwise unit after it, the residual is added in the last unit's epilogue, and an expansion runs together
    /// with the depthwise convolution after it (`ConvUnit.expandDepthwise`). Same result as `forward` in eval mode
    /// up to rounding. With an `arena`, the units' outputs go to its buffers (the block's input stays live until
    /// the residual is added).
    func fusedForward(_ x: Tensor, profiler: LayerProfiler?, arena: InferenceArena? = nil) -> Tensor {
        input = nil
        var h = x
        var means: Tensor?
        var index = 0
        while index < units.count {
            let (name, unit) = (spec.name + "." + units[index].name, units[index].unit)
            var gate: Tensor?
            if index == seBefore, let se, let means {
                let g = profiler.measure(spec.name + ".se") { se.inferenceGate(means: means.data, batch: h.shape[0]) }
                if unit.kind == .dense && unit.kernel == 1 && unit.stride == 1 {
                    gate = g
                } else {
                    h = profiler.measure(spec.name + ".se") { se.scale(h, by: g) }
                }
            }
            // An expansion and the depthwise unit after it in one pass, unless squeeze-excite sits between them or the
            // depthwise unit takes the residual; not under a profiler, which times the two apart (`bench --per-layer`,
            // latency calibration).
            let next = index + 1 < units.count ? units[index + 1].unit : nil
            let fusesNext = profiler == nil && gate == nil && seBefore != index + 1 && (index + 2 < units.count || !spec.hasResidual)
                && next.map { unit.fusesWithDepthwise($0, width: h.shape[2]) } ?? false
            let last = fusesNext ? next! : unit
            let lastIndex = fusesNext ? index + 1 : index
            let feedsSqueezeExcite = se != nil && lastIndex + 1 == seBefore
            let outRows = h.shape[0] * ((h.shape[1] - 1) / last.stride + 1)
            let rowSums = feedsSqueezeExcite && last.kind == .depthwise ? Tensor.reuse(&seRowSums, shape: [outRows, last.outChannels]) : nil
            let residual = lastIndex == units.count - 1 && spec.hasResidual ? x : nil
            let input = h
            h = profiler.measure(name) {
                fusesNext ? unit.expandDepthwise(input, last, rowSums: rowSums?.data, arena: arena, live: [x])
                    : unit.inferenceForward(input, rowSums: rowSums?.data, gate: gate.map { UnsafePointer($0.data) }, residual: residual,
                                            arena: arena, live: [x])
            }
            if feedsSqueezeExcite {
                let (n, pixels) = (h.shape[0], h.shape[1] * h.shape[2])
                let mean = Tensor.reuse(&seMeans, shape: [n, last.outChannels])
                profiler.measure(spec.name + ".se") {
                    if let rowSums {
                        InferenceKernels.poolRows(rowSums.data, mean.data, batch: n, rows: h.shape[1], pixels: pixels, channels: last.outChannels)
                    } else {
                        PoolingKernels.globalAverage(h.data, mean.data, batch: n, pixels: pixels, channels: last.outChannels)
                    }
                }
                means = mean
            }
            index = lastIndex + 1
        }
        if spec.hasResidual { keep = [Float](repeating: 1, count: x.shape[0]) }
        return h
    }

    func backward(_ dY: Tensor) -> Tensor {
        var grad = dY
        if spec.hasResidual && keep.contains(where: { $0 != 1 }) {
            let scaled = Tensor.reuse(&dInput, shape: dY.shape)
            let n = dY.shape[0], perImage = dY.count / n
            for image in 0..<n {
                for index in (image * perImage)..<((image + 1) * perImage) { scaled[index] = dY[index] * keep[image] }
            }
            grad = scaled
        }
        for index in units.indices.reversed() {
            grad = units[index].unit.backward(grad)!
            if index == seBefore, let se { grad = se.backward(grad) }
        }
        guard spec.hasResidual else { return grad }
        // The residual adds dY to the branch's input gradient.
        for index in 0..<grad.count { grad[index] += dY[index] }
        return grad
    }

    func releaseCaches() {
        input = nil; sum = nil; dInput = nil; seRowSums = nil; seMeans = nil
        units.forEach { $0.unit.releaseCaches() }
        se?.releaseCaches()
    }
}
