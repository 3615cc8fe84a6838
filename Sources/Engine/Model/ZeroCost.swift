import CGSL
import Foundation

/// Zero-cost proxies: scores of an untrained network from one or two passes, no training.
///
/// - `synflow` (Tanaka et al., 2020, as the zero-cost NAS benchmarks compute it): every parameter and batch-norm
///   statistic replaced by its absolute value, batch norm in inference form, an all-ones input image, R = the sum
///   of the logits; the score is the sum over the weights of every convolution (squeeze-excite ones included) and
///   of the classifier of |theta * dR/dtheta|. Reported as its natural logarithm.
/// - `naswot` (Mellor et al., 2021): one training-mode pass over a batch of N images; for every activation
///   function, each image's binary code says which of the activation's inputs are positive; K[i][j] sums, over all
///   of them, the units where images i and j agree (their codes' length minus their Hamming distance); the score
///   is log |det K|.
public enum ZeroCostProxy: String, CaseIterable, Sendable, Codable {
    case synflow, naswot
}

/// A synflow score in log space.
public struct SynflowScore: Sendable, Equatable {
    /// ln(sum |theta * dR/dtheta|).
    public var log: Double
    /// How many times (powers of two in all) the activations were scaled down to stay in float32's range.
    public var rescaledBits: Int
}

extension EfficientNetModel {
    /// Synflow in log space. With positive weights and inputs every activation is positive and, deep in a large
    /// network, so large that float32 would overflow. Whenever a block's output exceeds `rescaleAbove`, it is
    /// divided by a power of two that brings its largest value to about `rescaleTo`, and the exponent is added to
    /// the score's logarithm. Activations that large sit where SiLU is the identity and sigmoid gates are 1 in
    /// float32, so the rest of the network is positively homogeneous in them and the scaling is exact (powers of
    /// two lose no bits); networks that never reach `rescaleAbove` are computed without it. ReLU6 is bounded, so
    /// no output is scaled before the last block that has one (such networks stay small anyway).
    /// The model's parameters and statistics are restored afterwards; its gradients are left holding dR/dtheta.
    public func synflow(resolution: Int, rescaleAbove: Float = 0x1p64, rescaleTo: Float = 0x1p40) -> SynflowScore {
        keepingNormStatistics { synflowPass(resolution: resolution, rescaleAbove: rescaleAbove, rescaleTo: rescaleTo) }
    }

    private func synflowPass(resolution: Int, rescaleAbove: Float, rescaleTo: Float) -> SynflowScore {
        let parameters = namedParameters()
        let norms = namedNorms().map(\.1)
        let savedParameters = parameters.map { Array(UnsafeBufferPointer(start: $0.1.value.data, count: $0.1.value.count)) }
        let units = allUnits
        defer {
            for ((_, parameter), values) in zip(parameters, savedParameters) {
                parameter.value.data.update(from: values, count: values.count)
                parameter.markModified()
            }
            units.forEach { $0.frozenNorm = false }
        }
        for (_, parameter) in parameters {
            for index in 0..<parameter.value.count { parameter.value[index] = abs(parameter.value[index]) }
            parameter.markModified()
        }
        for norm in norms {
            for index in 0..<norm.channels {
                norm.runningMean[index] = abs(norm.runningMean[index])
                norm.runningVar[index] = abs(norm.runningVar[index])
            }
            norm.markStatisticsModified()
        }
        units.forEach { $0.frozenNorm = true }
        zeroGradients()

        // Block outputs are indexed 0 (stem) ... blocks; the head counts as after the last one.
        let flat = Array(blocks.joined())
        var lastBounded = 0
        for (index, block) in flat.enumerated() where block.units.contains(where: { $0.unit.activation == .relu6 }) || block.se?.activation == .relu6 {
            lastBounded = index + 1
        }
        if head?.activation == .relu6 { lastBounded = flat.count + 1 }
        let ones = Tensor(shape: [1, resolution, resolution, 3])
        ones.fill(1)
        var factors: [Int: Float] = [:]
        var bits = 0
        let logits = forward(ones, training: true, random: nil, profiler: nil) { index, h in
            var largest: Float = 0
            for i in 0..<h.count { largest = max(largest, h[i]) }
            guard largest > rescaleAbove else { return h }
            guard index >= lastBounded else { return h }
            let shift = Int(Foundation.log2(Double(largest) / Double(rescaleTo)).rounded(.up))
            let factor = Float(sign: .plus, exponent: -shift, significand: 1)
            let scaled = Tensor(shape: h.shape)
            for i in 0..<h.count { scaled[i] = h[i] * factor }
            factors[index] = factor
            bits += shift
            return scaled
        }
        let seed = Tensor(shape: logits.shape)
        seed.fill(1)
        // R is linear in a scaled block output, so dR/d(unscaled output) = factor * dR/d(scaled output).
        backward(seed) { index, gradient in
            guard let factor = factors[index] else { return }
            for i in 0..<gradient.count { gradient[i] *= factor }
        }
        let normWeights = Set(norms.map { ObjectIdentifier($0.weight) })
        var sum = 0.0
        for (name, parameter) in parameters where name.hasSuffix(".weight") && !normWeights.contains(ObjectIdentifier(parameter)) {
            let (value, gradient) = (parameter.value, parameter.gradient)
            for index in 0..<value.count { sum += Double(abs(value[index] * gradient[index])) }
        }
        return SynflowScore(log: Foundation.log(sum) + Double(bits) * Foundation.log(2.0), rescaledBits: bits)
    }

    /// NASWOT's log |det K| for one batch `[N, H, W, 3]` (training-mode batch norm, as the reference runs it);
    /// nil when K is singular (two images with the same codes everywhere). The running statistics are restored.
    public func naswot(_ batch: Tensor) -> Double? {
        keepingNormStatistics { _ = forward(batch, training: true) }
        let n = batch.shape[0]
        var preActivations: [Tensor] = []
        for unit in allUnits { if let tensor = unit.preActivation { preActivations.append(tensor) } }
        for block in blocks.joined() { if let tensor = block.se?.preActivation { preActivations.append(tensor) } }
        // Each image's code, packed 64 units to a word: K[i][j] = units - popcount(code_i xor code_j).
        let perImage = preActivations.map { $0.count / n }
        let words = perImage.reduce(0) { $0 + ($1 + 63) / 64 }
        var codes = [UInt64](repeating: 0, count: n * words)
        var start = 0
        for (tensor, length) in zip(preActivations, perImage) {
            for image in 0..<n {
                let base = image * words + start
                for unit in 0..<length where tensor[image * length + unit] > 0 {
                    codes[base + unit / 64] |= 1 << UInt64(unit % 64)
                }
            }
            start += (length + 63) / 64
        }
        let units = perImage.reduce(0, +)
        var kernel = [Double](repeating: 0, count: n * n)
        codes.withUnsafeBufferPointer { code in
            for i in 0..<n {
                for j in i..<n {
                    var distance = 0
                    for w in 0..<words { distance += (code[i * words + w] ^ code[j * words + w]).nonzeroBitCount }
                    kernel[i * n + j] = Double(units - distance)
                    kernel[j * n + i] = Double(units - distance)
                }
            }
        }
        var logDeterminant = 0.0
        var sign: Int32 = 0
        guard cgsl_log_abs_determinant(kernel, n, &logDeterminant, &sign) == 0, sign != 0, logDeterminant.isFinite else { return nil }
        return logDeterminant
    }

    /// Runs `body`, then puts every batch norm's running statistics and batch count back as they were.
    func keepingNormStatistics<T>(_ body: () -> T) -> T {
        let norms = namedNorms().map(\.1)
        let saved = norms.map { (Array(UnsafeBufferPointer(start: $0.runningMean.data, count: $0.channels)),
                                 Array(UnsafeBufferPointer(start: $0.runningVar.data, count: $0.channels)), $0.batchesTracked) }
        defer {
            for (norm, (mean, variance, tracked)) in zip(norms, saved) {
                norm.runningMean.data.update(from: mean, count: mean.count)
                norm.runningVar.data.update(from: variance, count: variance.count)
                norm.batchesTracked = tracked
                norm.markStatisticsModified()
            }
        }
        return body()
    }

    /// Every convolution unit: stem, the blocks' units, head.
    var allUnits: [ConvUnit] {
        [stem] + blocks.joined().flatMap { $0.units.map(\.unit) } + (head.map { [$0] } ?? [])
    }
}
