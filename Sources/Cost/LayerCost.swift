import Architecture

/// What a row of the cost table is.
public enum LayerKind: String, Sendable, Hashable, Codable {
    /// A dense convolution (kxk or 1x1) followed by batch norm (and the activation, if any).
    case conv
    /// A depthwise kxk convolution followed by batch norm and the activation.
    case depthwise
    /// Squeeze-excite: global average pool, 1x1 reduce (with bias), act, 1x1 expand (with bias), sigmoid, scale.
    case squeezeExcite
    /// Global average pooling before the classifier.
    case pool
    /// The classifier (with bias).
    case linear
}

/// One row of the cost model: a layer with its shapes and costs for one image.
///
/// Element counts are per image; multiply by the batch size for a batch. Parameters include the batch
/// norm's weight and bias that follow a convolution.
public struct LayerCost: Sendable {
    /// The module inside its block (`conv_dw`, `se`, ...) or the network (`conv_stem`, `classifier`).
    public var part: LayerPart
    /// The block's `(stage, index)` in timm's `blocks`, or nil for the stem, head, pool and classifier.
    public var block: (stage: Int, index: Int)?
    public var kind: LayerKind
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    /// Input and output height (= width).
    public var inputSize: Int
    public var outputSize: Int
    /// Learnable parameters (weights, biases, batch-norm weight and bias).
    public var params: Int
    /// Multiply-accumulates per image.
    public var macs: Int
    /// Elements a batch norm normalises (fvcore counts 2 FLOPs each for an affine batch norm in eval mode).
    public var normElements: Int
    /// Elements that `adaptive_avg_pool2d` reads (fvcore counts 1 FLOP each).
    public var poolElements: Int
    /// Elements read, written, and held for a residual, per image.
    public var inputElements: Int
    public var outputElements: Int
    public var heldElements: Int
    /// The activation after the batch norm; nil for projections, SE (its own), pooling and the classifier.
    public var activation: Activation? = nil

    /// timm's module path, e.g. `conv_stem`, `blocks.1.0.conv_dw`, `blocks.1.0.se`, `classifier`.
    public var name: String {
        guard let block else { return part.rawValue }
        return "blocks.\(block.stage).\(block.index).\(part.rawValue)"
    }

    /// Bytes moved for a batch, float32: input and output activations plus the weights once.
    public func bytesMoved(batch: Int) -> Int {
        4 * ((inputElements + outputElements) * batch + params)
    }

    /// FLOPs (2 per MAC) per byte moved.
    public func arithmeticIntensity(batch: Int) -> Double {
        let bytes = bytesMoved(batch: batch)
        return bytes == 0 ? 0 : Double(2 * macs * batch) / Double(bytes)
    }

    /// Roofline time in seconds: the larger of compute time at peak FLOP/s and transfer time at the
    /// memory bandwidth.
    public func rooflineSeconds(batch: Int, machine: MachineProfile) -> Double {
        let compute = Double(2 * macs * batch) / (machine.peakGFLOPS * 1e9)
        let transfer = Double(bytesMoved(batch: batch)) / (machine.bandwidthGBs * 1e9)
        return max(compute, transfer)
    }
}

/// The two figures a roofline needs: sustained GEMM throughput and memory bandwidth.
public struct MachineProfile: Hashable, Sendable, Codable {
    public var peakGFLOPS: Double
    public var bandwidthGBs: Double
    /// Where the figures come from (`measured`, `flags`, `default`).
    public var source: String

    public init(peakGFLOPS: Double, bandwidthGBs: Double, source: String) {
        self.peakGFLOPS = peakGFLOPS
        self.bandwidthGBs = bandwidthGBs
        self.source = source
    }

    /// The project's 2-core development machine (OpenBLAS sgemm 512^3 on 2 threads, a 256 MiB copy).
    public static let developmentMachine = MachineProfile(peakGFLOPS: 127, bandwidthGBs: 13, source: "default")
}
