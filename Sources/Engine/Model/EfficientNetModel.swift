import Architecture
import Foundation
import Statistics

/// Options of the engine's models that are not part of the architecture.
public struct ModelOptions: Sendable {
    /// Batch-norm epsilon and momentum (PyTorch convention). timm's `EfficientNet`: 1e-5 and 0.1.
    public var batchNormEps: Float = 1e-5
    public var batchNormMomentum: Float = 0.1
    /// Stochastic depth: the rate rises linearly from 0 at the first block to this at the last (timm).
    public var dropPathRate: Float = 0
    /// Dropout before the classifier; nil takes the network's.
    public var dropout: Float?

    public init() {}
}

/// A trainable EfficientNet-style network built from a resolved `Network`, in NHWC, with timm's module
/// names and initialisation.
public final class EfficientNetModel {
    public let network: Network
    public let stem: ConvUnit
    public let blocks: [[Block]]
    public let head: ConvUnit?
    public let classifierWeight: Parameter
    public let classifierBias: Parameter
    public var dropout: Float

    private var pooled: Tensor?, dropped: Tensor?, logits: Tensor?, dropMask: [Float] = []
    /// The last training forward's dropout scale per pooled feature (0 dropped, 1 / keep kept); empty without dropout.
    public var dropoutMask: [Float] { dropMask }
    private var dPooled: Tensor?, dFeatures: Tensor?, lastFeatures: Tensor?
    /// The classifier's weights packed for the inference kernels, and the weight version they came from.
    private var packedClassifier: Tensor?, packedClassifierVersion: [Int] = []
    /// The activation buffers of fused inference passes.
    private var arena = InferenceArena()

    public init(_ network: Network, options: ModelOptions = ModelOptions()) {
        self.network = network
        let eps = options.batchNormEps, momentum = options.batchNormMomentum
        stem = ConvUnit(network.stemUnit, eps: eps, momentum: momentum)
        blocks = network.stages.map { stage in stage.map { Block($0, eps: eps, momentum: momentum) } }
        head = network.headUnit.map { ConvUnit($0, eps: eps, momentum: momentum) }
        classifierWeight = Parameter(shape: [network.classes, network.featureChannels], decays: true)
        classifierBias = Parameter(shape: [network.classes], decays: false)
        dropout = options.dropout ?? Float(network.spec.dropout)
        let all = blocks.flatMap { $0 }
        for (index, block) in all.enumerated() {
            block.dropPathRate = options.dropPathRate * Float(index) / Float(max(1, all.count))
        }
    }

    /// Fills the weights as timm's `_init_weight_goog` does: convolutions N(0, sqrt(2 / fan_out)) with
    /// fan_out = kh * kw * out / groups, the classifier U(-1/sqrt(classes), 1/sqrt(classes)), biases 0,
    /// batch norm weight 1 and bias 0. Parameters are filled in state-dict order from one seeded generator.
    public func initialize(seed: UInt64) {
        let random = RandomGenerator(seed: seed)
        let (units, seFanOuts) = (convUnits, seFanOut)
        for (name, parameter) in namedParameters() {
            let value = parameter.value
            if name.hasSuffix("classifier.weight") {
                let range = 1 / Double(network.classes).squareRoot()
                for index in 0..<value.count { value[index] = Float((random.uniform() * 2 - 1) * range) }
            } else if name.hasSuffix(".bias") {
                value.fill(0)
            } else if let unit = units[name] {
                let sigma = (2 / Double(unit.fanOut)).squareRoot()
                for index in 0..<value.count { value[index] = Float(random.gaussian(sigma: sigma)) }
            } else if let fanOut = seFanOuts[name] {
                let sigma = (2 / Double(fanOut)).squareRoot()
                for index in 0..<value.count { value[index] = Float(random.gaussian(sigma: sigma)) }
            } else {
                value.fill(1)  // batch-norm weight
            }
            parameter.markModified()
        }
        for (_, norm) in namedNorms() {
            norm.runningMean.fill(0)
            norm.runningVar.fill(1)
            norm.batchesTracked = 0
            norm.markStatisticsModified()
        }
    }

    // MARK: - Forward and backward

    /// Logits `[N, classes]` for an NHWC input `[N, H, W, 3]`. In training, batch norm uses batch statistics
    /// and updates its running averages, and dropout and drop-path draw from `random`.
    /// With a profiler, each layer's time is recorded under its timm name.
    public func forward(_ x: Tensor, training: Bool, random: RandomGenerator? = nil, profiler: LayerProfiler? = nil) -> Tensor {
        forward(x, training: training, random: random, profiler: profiler, afterBlock: nil)
    }

    /// The forward pass; `afterBlock(index, output)` may replace each block's output (index 0 is the stem's,
    /// block i's is i + 1) with what the next layer gets.
    func forward(_ x: Tensor, training: Bool, random: RandomGenerator?, profiler: LayerProfiler?, afterBlock: ((Int, Tensor) -> Tensor)?) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[3] == 3, "input must be [N, H, W, 3], got \(x.shape)")
        let fused = !training && InferenceKernels.fused
        let arena = fused ? self.arena : nil
        var h = profiler.measure("conv_stem") { fused ? stem.inferenceForward(x, arena: arena) : stem.forward(x, training: training) }
        if let afterBlock { h = afterBlock(0, h) }
        var index = 0
        for stage in blocks {
            for block in stage {
                if let profiler, profiler.wholeBlocks {
                    let input = h
                    h = profiler.measure(block.spec.name) { block.forward(input, training: training, random: random, arena: arena) }
                } else {
                    h = block.forward(h, training: training, random: random, profiler: profiler, arena: arena)
                }
                index += 1
                if let afterBlock { h = afterBlock(index, h) }
            }
        }
        if let head {
            let input = h
            h = profiler.measure("conv_head") { fused ? head.inferenceForward(input, arena: arena) : head.forward(input, training: training) }
        }
        lastFeatures = fused ? nil : h
        let (n, pixels, features) = (h.shape[0], h.shape[1] * h.shape[2], h.shape[3])
        let pool = Tensor.reuse(&pooled, shape: [n, features])
        PoolingKernels.globalAverage(h.data, pool.data, batch: n, pixels: pixels, channels: features)
        var classifierInput = pool
        dropMask = []
        if training && dropout > 0, let random {
            let keep = 1 - dropout
            dropMask = (0..<pool.count).map { _ in random.uniform() < Double(keep) ? 1 / keep : 0 }
            let out = Tensor.reuse(&dropped, shape: pool.shape)
            for index in 0..<pool.count { out[index] = pool[index] * dropMask[index] }
            classifierInput = out
        }
        let out = Tensor.reuse(&logits, shape: [n, network.classes])
        profiler.measure("classifier") {
            if fused {
                // The classifier as a 1x1 convolution over the batch's pooled features, with its bias as the shift.
                let versions = [classifierWeight.version]
                if packedClassifier == nil || packedClassifierVersion != versions {
                    let packed = Tensor.reuse(&packedClassifier, shape: [PointwiseKernels.packedCount(inChannels: features, outChannels: network.classes)])
                    PointwiseKernels.pack(classifierWeight.value.data, scale: nil, inChannels: features, outChannels: network.classes, into: packed.data)
                    packedClassifierVersion = versions
                }
                InferenceKernels.pointwise(x: classifierInput.data, packed: packedClassifier!.data, shift: classifierBias.value.data, activation: nil,
                                           y: out.data, pixels: n, inChannels: features, outChannels: network.classes)
                return
            }
            LinearKernels.forward(x: classifierInput.data, w: classifierWeight.value.data, b: classifierBias.value.data, y: out.data,
                                  rows: n, inFeatures: features, outFeatures: network.classes)
        }
        return out
    }

    /// Backward from dLogits `[N, classes]` after a training forward: accumulates every parameter's gradient.
    public func backward(_ dLogits: Tensor) { backward(dLogits, beforeBlock: nil) }

    /// The backward pass; `beforeBlock(index, gradient)` sees the gradient that arrives at each block's output (the
    /// indices of `forward(afterBlock:)`) before it goes through the block, and may change it in place.
    func backward(_ dLogits: Tensor, beforeBlock: ((Int, Tensor) -> Void)?) {
        guard let features = lastFeatures, let pool = pooled else { preconditionFailure("backward before forward") }
        let (n, pixels, channels) = (features.shape[0], features.shape[1] * features.shape[2], features.shape[3])
        let classifierInput = dropMask.isEmpty ? pool : dropped!
        let dPool = Tensor.reuse(&dPooled, shape: pool.shape)
        LinearKernels.backward(x: classifierInput.data, w: classifierWeight.value.data, dY: dLogits.data,
                               dW: classifierWeight.gradient.data, dB: classifierBias.gradient.data, dX: dPool.data,
                               rows: n, inFeatures: channels, outFeatures: network.classes)
        if !dropMask.isEmpty { for index in 0..<dPool.count { dPool[index] *= dropMask[index] } }
        var grad = Tensor.reuse(&dFeatures, shape: features.shape)
        PoolingKernels.globalAverageBackward(dPool.data, grad.data, batch: n, pixels: pixels, channels: channels)
        if let head { grad = head.backward(grad)! }
        var index = blocks.reduce(0) { $0 + $1.count }
        for stage in blocks.reversed() {
            for block in stage.reversed() {
                beforeBlock?(index, grad)
                grad = block.backward(grad)
                index -= 1
            }
        }
        beforeBlock?(0, grad)
        _ = stem.backward(grad, inputGradient: false)
    }

    /// Sets every gradient to zero.
    public func zeroGradients() {
        for (_, parameter) in namedParameters() { parameter.gradient.zero() }
    }

    /// Frees cached activations and gradient buffers (parameters stay).
    public func releaseCaches() {
        stem.releaseCaches()
        head?.releaseCaches()
        blocks.joined().forEach { $0.releaseCaches() }
        pooled = nil; dropped = nil; logits = nil; dPooled = nil; dFeatures = nil; lastFeatures = nil; packedClassifier = nil
        arena = InferenceArena()
    }

    // MARK: - Names (timm's state dict)

    /// Every convolution unit in forward order with its timm module names: the convolution's and its batch
    /// norm's full paths (`blocks.1.0.conv_dw`, `blocks.1.0.bn2`), and the block's squeeze-excite, which comes
    /// before the unit it is given with (its path `blocks.1.0.se`).
    func forEachNamedUnit(_ body: (_ conv: String, _ norm: String, _ unit: ConvUnit, _ se: (path: String, module: SqueezeExcite)?) -> Void) {
        let stemSpec = network.stemUnit
        body(stemSpec.name, stemSpec.norm, stem, nil)
        for stage in blocks {
            for block in stage {
                let prefix = block.spec.name + "."
                for (position, part) in block.units.enumerated() {
                    let se = position == block.seBefore ? block.se.map { (prefix + "se", $0) } : nil
                    body(prefix + part.name, prefix + part.norm, part.unit, se)
                }
            }
        }
        if let head, let headSpec = network.headUnit { body(headSpec.name, headSpec.norm, head, nil) }
    }

    /// Learnable tensors in timm's state-dict order, with timm's names.
    public func namedParameters() -> [(String, Parameter)] {
        var result: [(String, Parameter)] = []
        forEachNamedUnit { conv, norm, unit, se in
            if let (path, module) = se {
                result += [(path + ".conv_reduce.weight", module.reduceWeight), (path + ".conv_reduce.bias", module.reduceBias),
                           (path + ".conv_expand.weight", module.expandWeight), (path + ".conv_expand.bias", module.expandBias)]
            }
            result += [(conv + ".weight", unit.weight), (norm + ".weight", unit.norm.weight), (norm + ".bias", unit.norm.bias)]
        }
        result += [("classifier.weight", classifierWeight), ("classifier.bias", classifierBias)]
        return result
    }

    /// Batch norms by their timm path (`bn1`, `blocks.0.0.bn1`, ...).
    public func namedNorms() -> [(String, BatchNorm)] {
        var result: [(String, BatchNorm)] = []
        forEachNamedUnit { _, norm, unit, _ in result.append((norm, unit.norm)) }
        return result
    }

    /// Convolution units by their weight's name.
    public var convUnits: [String: ConvUnit] {
        var result: [String: ConvUnit] = [:]
        forEachNamedUnit { conv, _, unit, _ in result[conv + ".weight"] = unit }
        return result
    }

    /// Squeeze-excite weights by name, with their convolutions' fan-out (out channels, 1x1).
    private var seFanOut: [String: Int] {
        var result: [String: Int] = [:]
        forEachNamedUnit { _, _, _, se in
            guard let (path, module) = se else { return }
            result[path + ".conv_reduce.weight"] = module.reduced
            result[path + ".conv_expand.weight"] = module.channels
        }
        return result
    }
}

/// Softmax cross-entropy with label smoothing, averaged over the batch.
public enum CrossEntropy {
    /// The loss and dLogits `[N, classes]` (overwritten) for integer labels. Smoothing `s` spreads `s` of each
    /// target's mass evenly over all classes (timm's LabelSmoothingCrossEntropy).
    public static func lossAndGradient(logits: Tensor, labels: [Int], smoothing: Float, gradient: Tensor) -> Float {
        precondition(labels.count == logits.shape[0], "\(labels.count) labels for \(logits.shape[0]) rows")
        let classes = logits.shape[1]
        return lossAndGradient(logits: logits, gradient: gradient) { row, c in
            Double(smoothing) / Double(classes) + (c == labels[row] ? Double(1 - smoothing) : 0)
        }
    }

    /// The same against soft targets `[N, classes]` (each row a distribution): in-place distillation's loss, the
    /// largest candidate's probabilities as the targets of the others (`SoftTargets`).
    public static func lossAndGradient(logits: Tensor, targets: [Float], gradient: Tensor) -> Float {
        precondition(targets.count == logits.count, "\(targets.count) targets for \(logits.count) logits")
        let classes = logits.shape[1]
        return lossAndGradient(logits: logits, gradient: gradient) { row, c in Double(targets[row * classes + c]) }
    }

    /// Mean over rows of -sum_c target(row, c) log softmax(logits)[row, c], and its gradient (softmax - target) / N.
    static func lossAndGradient(logits: Tensor, gradient: Tensor, target: (_ row: Int, _ c: Int) -> Double) -> Float {
        let (n, classes) = (logits.shape[0], logits.shape[1])
        var total: Double = 0
        for row in 0..<n {
            let offset = row * classes
            var maximum = -Float.infinity
            for c in 0..<classes { maximum = max(maximum, logits[offset + c]) }
            var sum: Double = 0
            for c in 0..<classes { sum += exp(Double(logits[offset + c] - maximum)) }
            let logSum = log(sum) + Double(maximum)
            var rowLoss: Double = 0
            for c in 0..<classes {
                let logP = Double(logits[offset + c]) - logSum
                let t = target(row, c)
                rowLoss -= t * logP
                gradient[offset + c] = Float((exp(logP) - t) / Double(n))
            }
            total += rowLoss
        }
        return Float(total / Double(n))
    }
}
