import Architecture

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

    func forward(_ x: Tensor, training: Bool, random: RandomGenerator?, profiler: LayerProfiler? = nil) -> Tensor {
        if !training && InferenceKernels.fused { return fusedForward(x, profiler: profiler) }
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
    /// pointwise unit after it, and the residual is added in the last unit's epilogue. Same result as `forward`
    /// in eval mode up to rounding.
    func fusedForward(_ x: Tensor, profiler: LayerProfiler?) -> Tensor {
        input = x
        var h = x
        var means: Tensor?
        var skip = -1
        for (index, part) in units.enumerated() where index != skip {
            var gate: Tensor?
            if index == seBefore, let se, let means {
                let g = profiler.measure(spec.name + ".se") { se.inferenceGate(means: means.data, batch: h.shape[0]) }
                if part.unit.kind == .dense && part.unit.kernel == 1 && part.unit.stride == 1 {
                    gate = g
                } else {
                    h = profiler.measure(spec.name + ".se") { se.scale(h, by: g) }
                }
            }
            let feedsSqueezeExcite = se != nil && index + 1 == seBefore
            let residual = index == units.count - 1 && spec.hasResidual ? x : nil
            let (n, unit) = (h.shape[0], part.unit)
            let outRows = n * ((h.shape[1] - 1) / unit.stride + 1)
            let rowSums = feedsSqueezeExcite && unit.kind == .depthwise ? Tensor.reuse(&seRowSums, shape: [outRows, unit.outChannels]) : nil
            // (Not under a profiler, which times the two units apart: `bench --per-layer` and latency calibration.)
            if profiler == nil, index + 1 < units.count, units[index + 1].unit.kind == .depthwise, gate == nil, residual == nil,
               unit.fusesWithDepthwise(units[index + 1].unit, width: h.shape[2]) {
                // The expansion and the depthwise convolution in one pass.
                let depthwise = units[index + 1].unit
                let sumsNeeded = se != nil && index + 2 == seBefore
                let outRows = n * ((h.shape[1] - 1) / depthwise.stride + 1)
                let sums = sumsNeeded ? Tensor.reuse(&seRowSums, shape: [outRows, depthwise.outChannels]) : nil
                let input = h
                h = profiler.measure(spec.name + "." + part.name) { unit.expandDepthwise(input, depthwise, rowSums: sums?.data) }
                skip = index + 1
                if sumsNeeded, let sums {
                    let mean = Tensor.reuse(&seMeans, shape: [n, depthwise.outChannels])
                    InferenceKernels.poolRows(sums.data, mean.data, batch: n, rows: h.shape[1], pixels: h.shape[1] * h.shape[2], channels: depthwise.outChannels)
                    means = mean
                }
                continue
            }
            h = profiler.measure(spec.name + "." + part.name) {
                unit.inferenceForward(h, rowSums: rowSums?.data, gate: gate.map { UnsafePointer($0.data) }, residual: residual)
            }
            if feedsSqueezeExcite {
                let mean = Tensor.reuse(&seMeans, shape: [n, unit.outChannels])
                profiler.measure(spec.name + ".se") {
                    if let rowSums {
                        InferenceKernels.poolRows(rowSums.data, mean.data, batch: n, rows: h.shape[1], pixels: h.shape[1] * h.shape[2], channels: unit.outChannels)
                    } else {
                        PoolingKernels.globalAverage(h.data, mean.data, batch: n, pixels: h.shape[1] * h.shape[2], channels: unit.outChannels)
                    }
                }
                means = mean
            }
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
