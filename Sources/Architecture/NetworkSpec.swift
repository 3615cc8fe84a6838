/// How a network's head channels follow the width multiplier.
public enum HeadScaling: String, Hashable, Sendable, Codable, CaseIterable {
    /// `makeDivisible(head * width)`, as EfficientNet does.
    case scaled
    /// `max(head, makeDivisible(head * width))`, as MobileNetV2 does.
    case atLeastBase
    /// The head as given, as MnasNet does.
    case fixed
}

/// A network described as data: an arch definition plus the coefficients that scale it.
///
/// Channels and repeats in `stages` are before scaling; `resolve()` applies `width` and `depth` with the
/// official rounding rules and gives the concrete network that the cost model and the engine use.
public struct NetworkSpec: Hashable, Sendable {
    public var stages: [StageSpec]
    /// Channel multiplier (timm's `channel_multiplier`).
    public var width: Double
    /// Depth multiplier (timm's `depth_multiplier`).
    public var depth: Double
    /// Input height and width in pixels.
    public var resolution: Int
    /// Stem channels before width scaling (32 for B0).
    public var stem: Int
    /// Head channels before width scaling (1280 for B0); 0 means no head convolution.
    public var head: Int
    public var classes: Int
    public var activation: Activation
    /// Dropout before the classifier (used in training only).
    public var dropout: Double
    /// The 10% rule of channel rounding: 0.9 for EfficientNet, 0 (off) for EfficientNetV2.
    public var roundLimit: Double
    public var headScaling: HeadScaling
    public var channelDivisor: Int
    /// The largest total stride (timm's `output_stride`, 32): a stride-2 block that would go past it runs
    /// with stride 1, and the blocks after it with dilation 2, as timm's builder does.
    public var outputStride: Int = 32

    public init(
        stages: [StageSpec], width: Double = 1, depth: Double = 1, resolution: Int = 224,
        stem: Int = 32, head: Int = 1280, classes: Int = 1000, activation: Activation = .silu,
        dropout: Double = 0.2, roundLimit: Double = 0.9, headScaling: HeadScaling = .scaled,
        channelDivisor: Int = 8
    ) {
        self.stages = stages
        self.width = width
        self.depth = depth
        self.resolution = resolution
        self.stem = stem
        self.head = head
        self.classes = classes
        self.activation = activation
        self.dropout = dropout
        self.roundLimit = roundLimit
        self.headScaling = headScaling
        self.channelDivisor = channelDivisor
    }

    /// A spec from an arch string, with B0's defaults for everything else.
    public init(arch: String) throws {
        self.init(stages: try ArchString.parse(arch))
    }

    /// The canonical arch string of the unscaled definition.
    public var archString: String { ArchString.format(stages) }

    /// Rounds a channel count with this network's width, divisor and 10% rule (timm's `round_chs_fn`).
    public func scaledChannels(_ channels: Int) -> Int {
        Rounding.makeDivisible(Double(channels) * width, divisor: channelDivisor, roundLimit: roundLimit)
    }

    /// Checks the numbers that do not depend on the arch string.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ message: @autoclosure () -> String) throws {
            if !ok { throw NetworkSpecError(field: field, message: message()) }
        }
        // Upper bounds keep every count far from integer overflow (MACs of the largest allowed network fit in 64 bits).
        try check(!stages.isEmpty, "arch", "the network has no stages")
        try check(width.isFinite && width > 0 && width <= 64, "width", "\(width) must be a number greater than 0 and at most 64")
        try check(depth.isFinite && depth > 0 && depth <= 64, "depth", "\(depth) must be a number greater than 0 and at most 64")
        try check(resolution >= 1 && resolution <= 8192, "resolution", "\(resolution) must be between 1 and 8192 pixels")
        try check(stem >= 1 && stem <= 65536, "stem", "\(stem) must be between 1 and 65536 channels")
        try check(head >= 0 && head <= 65536, "head", "\(head) must be 0 (no head convolution) or a channel count of at most 65536")
        try check(classes >= 1 && classes <= 1_000_000, "classes", "\(classes) must be between 1 and 1,000,000")
        try check(dropout >= 0 && dropout < 1, "dropout", "\(dropout) must be in [0, 1)")
        try check(channelDivisor >= 1, "channel divisor", "\(channelDivisor) must be at least 1")
        for (stageIndex, stage) in stages.enumerated() {
            try check(!stage.isEmpty, "arch", "stage \(stageIndex + 1) is empty")
            for block in stage {
                try check(block.repeats >= 1 && block.repeats <= 1000, "arch", "stage \(stageIndex + 1): repeats \(block.repeats) must be between 1 and 1000")
                try check(block.kernel >= 1 && block.kernel <= 31 && block.kernel % 2 == 1, "arch", "stage \(stageIndex + 1): kernel \(block.kernel) must be odd, from 1 to 31")
                try check(block.stride == 1 || block.stride == 2, "arch", "stage \(stageIndex + 1): stride \(block.stride) must be 1 or 2")
                try check(block.outChannels >= 1 && block.outChannels <= 65536, "arch", "stage \(stageIndex + 1): channels \(block.outChannels) must be between 1 and 65536")
                try check(block.expansion > 0 && block.expansion <= 64, "arch", "stage \(stageIndex + 1): expansion \(block.expansion) must be greater than 0 and at most 64")
            }
        }
    }

    /// Applies width and depth with the official rounding rules and checks that the resolution fits.
    public func resolve() throws -> Network {
        try validate()
        return try Network(resolving: self)
    }
}

/// One concrete block of a resolved network, as timm builds it (`blocks.{stage}.{index}`).
public struct ResolvedBlock: Hashable, Sendable {
    public var type: BlockType
    /// Index of the stage in timm's `blocks` and of the block inside it.
    public var stage: Int
    public var index: Int
    public var kernel: Int
    public var stride: Int
    public var inChannels: Int
    /// Channels of the expanded tensor: `makeDivisible(in * e)` for `ir` and `er`, `in` for `ds`, `out` for `cn`.
    public var midChannels: Int
    public var outChannels: Int
    /// Reduced channels of the squeeze-excite module; 0 when the block has none.
    public var seChannels: Int
    public var hasResidual: Bool
    public var activation: Activation
    /// Dilation of the block's spatial convolution (1 unless the network's output stride was reached).
    public var dilation: Int
    /// Input height (= width) in pixels.
    public var inputSize: Int
    public var outputSize: Int

    /// timm's module path of this block, e.g. `blocks.1.0`.
    public var name: String { "blocks.\(stage).\(index)" }

    /// Whether this block is `other` but for its place in the network: the same type, channels, sizes,
    /// kernel, stride, dilation, activation and residual (a stage's repeats after its first block).
    @inlinable
    public func hasShape(of other: ResolvedBlock) -> Bool {
        var moved = other
        moved.stage = stage
        moved.index = index
        return moved == self
    }
}

/// A network after scaling: every channel count, repeat and feature-map size is concrete.
public struct Network: Hashable, Sendable {
    /// The spec it was resolved from.
    public let spec: NetworkSpec
    /// The arch definition after depth and width scaling (repeats and channels rounded).
    public let scaledStages: [StageSpec]
    public let stemChannels: Int
    public let stages: [[ResolvedBlock]]
    /// Head channels after scaling; 0 when there is no head convolution.
    public let headChannels: Int

    public var resolution: Int { spec.resolution }
    public var classes: Int { spec.classes }
    public var activation: Activation { spec.activation }
    /// All blocks in order.
    public var blocks: [ResolvedBlock] { stages.flatMap { $0 } }
    /// Channels entering global pooling and the classifier.
    public var featureChannels: Int { headChannels > 0 ? headChannels : (stages.last?.last?.outChannels ?? stemChannels) }
    /// Feature-map size after the last block (and the head).
    public var finalSize: Int { stages.last?.last?.outputSize ?? Network.convOutput(resolution, stride: 2) }
    /// The canonical arch string of the scaled network.
    public var archString: String { ArchString.format(scaledStages) }

    /// Output size of a convolution with an odd kernel and symmetric padding `dilation * (k - 1) / 2`:
    /// `(size - 1) / stride + 1`, whatever the kernel and dilation.
    public static func convOutput(_ size: Int, stride: Int) -> Int { (size - 1) / stride + 1 }

    init(resolving spec: NetworkSpec) throws {
        self.spec = spec
        let stem = spec.scaledChannels(spec.stem)
        var size = Network.convOutput(spec.resolution, stride: 2)
        var inChannels = stem
        var scaledStages: [StageSpec] = []
        var stages: [[ResolvedBlock]] = []
        scaledStages.reserveCapacity(spec.stages.count)
        stages.reserveCapacity(spec.stages.count)
        var stridedLayers = 1  // the stem
        var totalStride = 2
        var dilation = 1
        // A generous bound on the multiply-accumulates, in floating point: counts are exact 64-bit integers,
        // so a network whose count could overflow them is refused rather than miscounted.
        var bound = Double(spec.resolution) * Double(spec.resolution) * 27 * Double(stem)

        for (stageIndex, stage) in spec.stages.enumerated() {
            // One block string per stage is the common case: ceil(r * depth), without temporary arrays.
            let shared = stage.count == 1 ? nil : Rounding.scaleRepeats(stage.map(\.repeats), depth: spec.depth)
            func repeats(_ position: Int) -> Int { shared?[position] ?? Int((Double(stage[position].repeats) * spec.depth).rounded(.up)) }
            var scaledStage: StageSpec = []
            scaledStage.reserveCapacity(stage.count)
            var blocks: [ResolvedBlock] = []
            blocks.reserveCapacity(shared?.reduce(0, +) ?? repeats(0))
            for (position, block) in stage.enumerated() {
                let count = repeats(position)
                var scaled = block
                scaled.repeats = count
                scaled.outChannels = spec.scaledChannels(block.outChannels)
                scaledStage.append(scaled)
                for copy in 0..<count {
                    var stride = copy == 0 && blocks.isEmpty ? block.stride : 1
                    let blockDilation = dilation
                    if stride > 1 {
                        if totalStride * stride > spec.outputStride {
                            dilation *= stride
                            stride = 1
                        } else {
                            totalStride *= stride
                            stridedLayers += 1
                        }
                    }
                    let resolved = try Network.resolveBlock(
                        scaled, stage: stageIndex, index: blocks.count, stride: stride, dilation: blockDilation,
                        inChannels: inChannels, inputSize: size, networkActivation: spec.activation)
                    blocks.append(resolved)
                    inChannels = resolved.outChannels
                    size = resolved.outputSize
                    bound += Network.macsBound(of: resolved)
                }
            }
            scaledStages.append(scaledStage)
            stages.append(blocks)
        }

        let head: Int
        switch spec.headScaling {
        case _ where spec.head == 0: head = 0
        case .scaled: head = spec.scaledChannels(spec.head)
        case .atLeastBase: head = max(spec.head, spec.scaledChannels(spec.head))
        case .fixed: head = spec.head
        }

        // Each stride-2 layer must get at least a 2x2 map: n of them need 2^(n-1) + 1 pixels.
        let minimum = (1 << (stridedLayers - 1)) + 1
        if spec.resolution < minimum {
            throw NetworkSpecError(
                field: "resolution",
                message: "\(spec.resolution) px is too small for this network: a stride-2 layer would get a 1x1 feature map; expected at least \(minimum) px")
        }
        bound += Double(max(head, 1)) * Double(max(inChannels, 1)) * Double(size * size) + Double(max(head, inChannels)) * Double(spec.classes)
        if bound > 1e17 {
            throw NetworkSpecError(field: "width", message: "the network is too large to count (about \(bound) multiply-accumulates); lower the width, depth, channels or resolution")
        }
        self.stemChannels = stem
        self.scaledStages = scaledStages
        self.stages = stages
        self.headChannels = head
    }

    /// A generous bound on a block's multiply-accumulates (`init(resolving:)` refuses networks whose counts
    /// could overflow).
    @inline(__always)
    static func macsBound(of block: ResolvedBlock) -> Double {
        let pixels = Double(block.inputSize) * Double(block.inputSize)
        let widest = Double(max(block.inChannels, block.midChannels, block.outChannels))
        return 3 * pixels * widest * widest * Double(block.kernel * block.kernel)
    }

    static func resolveBlock(
        _ block: BlockSpec, stage: Int, index: Int, stride: Int, dilation: Int, inChannels: Int, inputSize: Int,
        networkActivation: Activation
    ) throws -> ResolvedBlock {
        let out = block.outChannels
        let mid: Int
        switch block.type {
        case .ds: mid = inChannels
        case .cn: mid = out
        case .ir, .er: mid = Rounding.makeDivisible(Double(inChannels) * block.expansion)
        }
        var se = 0
        if block.seRatio > 0 {
            // timm divides the ratio by the expansion and applies it to the expanded channels.
            let squeezeInput = block.type == .ds ? inChannels : mid
            se = Rounding.pythonRound(Double(squeezeInput) * (block.seRatio / block.expansion))
            if se < 1 {
                throw NetworkSpecError(
                    field: "arch",
                    message: "block blocks.\(stage).\(index) (\(ArchString.format(block))) has a squeeze-excite of 0 channels (round(\(squeezeInput) x \(ArchString.formatNumber(block.seRatio)) / \(ArchString.formatNumber(block.expansion)))); use a larger width or se0")
            }
        }
        let residual = block.skip && stride == 1 && inChannels == out
        return ResolvedBlock(
            type: block.type, stage: stage, index: index, kernel: block.kernel, stride: stride,
            inChannels: inChannels, midChannels: mid, outChannels: out, seChannels: se,
            hasResidual: residual, activation: block.activation ?? networkActivation, dilation: dilation,
            inputSize: inputSize, outputSize: convOutput(inputSize, stride: stride))
    }
}
