/// The block types of timm's EfficientNet builder that efsearch reads and writes.
public enum BlockType: String, CaseIterable, Hashable, Sendable, Codable {
    /// Depthwise-separable: dw kxk (in) -> BN -> act -> [SE] -> pw 1x1 (in -> out) -> BN.
    case ds
    /// Inverted residual (MBConv): pw 1x1 (in -> mid) -> BN -> act -> dw kxk (mid) -> BN -> act -> [SE]
    /// -> pw 1x1 (mid -> out) -> BN, with mid = makeDivisible(in * e).
    case ir
    /// Edge residual (Fused-MBConv): conv kxk (in -> mid) -> BN -> act -> [SE] -> pw 1x1 (mid -> out) -> BN.
    case er
    /// Conv-BN-act: conv kxk (in -> out) -> BN -> act.
    case cn

    /// Whether the expansion ratio `e` means anything for this type (it does for `ir` and `er`).
    public var usesExpansion: Bool { self == .ir || self == .er }

    /// Whether the type can carry a squeeze-excite module (`cn` cannot).
    public var supportsSqueezeExcite: Bool { self != .cn }

    /// Whether a residual connection is on unless the string says otherwise: `ds`, `ir` and `er` have one
    /// unless `noskip`; `cn` has none unless `skip`.
    public var residualByDefault: Bool { self != .cn }
}

/// One block string of an arch definition, such as `ir_r2_k3_s2_e6_c24_se0.25`: `repeats` copies of a
/// block, the first with `stride`, the others with stride 1.
///
/// Channel counts here are before width scaling; repeats are before depth scaling.
public struct BlockSpec: Hashable, Sendable {
    public var type: BlockType
    public var repeats: Int
    public var kernel: Int
    public var stride: Int
    /// Expansion ratio of `ir` and `er` blocks; 1 for `ds` and `cn`, which have no expansion.
    public var expansion: Double
    public var outChannels: Int
    /// Squeeze-excite ratio relative to the block's input channels; 0 means no squeeze-excite.
    public var seRatio: Double
    /// Whether a residual connection is allowed (it is used when stride is 1 and in == out).
    public var skip: Bool
    /// An activation that overrides the network's, or nil to use the network's.
    public var activation: Activation?

    public init(
        type: BlockType, repeats: Int, kernel: Int, stride: Int, expansion: Double = 1,
        outChannels: Int, seRatio: Double = 0, skip: Bool? = nil, activation: Activation? = nil
    ) {
        self.type = type
        self.repeats = repeats
        self.kernel = kernel
        self.stride = stride
        self.expansion = type.usesExpansion ? expansion : 1
        self.outChannels = outChannels
        self.seRatio = seRatio
        self.skip = skip ?? type.residualByDefault
        self.activation = activation
    }
}

/// A stage: one or more block strings whose repeats are depth-scaled together (timm's arch-def row).
public typealias StageSpec = [BlockSpec]

/// How the engine's AVX-512 inference kernels schedule work, where the latency model must follow it: the engine
/// and `LatencyFeatures` / `LatencyPredictor` both call these.
public enum EngineRules {
    /// An inverted-residual block's 1x1 expansion runs in one pass with the depthwise convolution after it (block
    /// fusion on) on inputs at least this many pixels wide, which fill the kernel's tiles.
    public static let minimumFusedExpansionWidth = 8

    /// Whether a dense kxk convolution splits its output channels over the threads (each thread all rows, pairs
    /// of 16-channel blocks) rather than its output rows: when its weights outweigh its input and there are at
    /// least two pairs per thread. Split by rows, every thread would read all the weights (a late Fused-MBConv
    /// layer has megabytes of them and a few rows).
    @inline(__always)
    public static func denseSplitsOverOutputs(kernel: Int, inChannels: Int, outChannels: Int, inputElements: Int, threads: Int) -> Bool {
        threads > 1 && outputBlockPairs(outChannels) >= 2 * threads && kernel * kernel * inChannels * outChannels > inputElements
    }

    /// The pairs of 16-channel output blocks that a dense convolution split over its outputs hands out.
    @inline(__always)
    public static func outputBlockPairs(_ outChannels: Int) -> Int { (outChannels + 31) / 32 }
}
