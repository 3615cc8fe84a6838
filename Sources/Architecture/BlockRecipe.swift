/// The recipe of a block: its parts in forward order, with timm's module names. The cost model counts these
/// parts, the engine builds them, and checkpoints name their tensors after them: one definition for all three.

/// A module of a network as timm names it: a block's convolutions and squeeze-excite, the stem, the head,
/// global pooling and the classifier. An enum rather than a string so that the cost model's rows, which carry
/// one, copy as plain values (the estimator makes millions of them).
public enum LayerPart: String, Hashable, Sendable, CaseIterable {
    case convStem = "conv_stem"
    case convHead = "conv_head"
    /// A block's 1x1 expansion (`ir`), or the pointwise projection of a `ds` block.
    case convPw = "conv_pw"
    case convDw = "conv_dw"
    /// The 1x1 linear projection of `ir` and `er` blocks.
    case convPwl = "conv_pwl"
    /// The kxk expansion of an `er` block (Fused-MBConv).
    case convExp = "conv_exp"
    /// The convolution of a `cn` block.
    case conv
    case se
    case globalPool = "global_pool"
    case classifier
}

/// A convolution without bias followed by its batch norm (and the activation, if any), as timm names them.
public struct ConvUnitSpec: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// A dense kxk (or 1x1) convolution over all input channels.
        case dense
        /// A depthwise kxk convolution: one filter per channel (in == out).
        case depthwise
    }

    /// The convolution's module (`conv_pw`, `conv_dw`, `conv_pwl`, `conv_exp`, `conv`, `conv_stem`, `conv_head`).
    public var part: LayerPart
    /// The number of its batch norm (`bn1`, `bn2`, `bn3`).
    public var normNumber: Int
    public var kind: Kind
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: Int
    public var stride: Int
    public var dilation: Int
    /// nil for the linear projection at the end of a block.
    public var activation: Activation?
    /// Input and output height (= width), in pixels.
    public var inputSize: Int
    public var outputSize: Int

    /// The convolution's module name (`conv_pw`, ...).
    public var name: String { part.rawValue }
    /// Its batch norm's module name (`bn1`, `bn2`, `bn3`).
    public var norm: String { "bn\(normNumber)" }

    @inlinable
    public init(part: LayerPart, normNumber: Int, kind: Kind, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, dilation: Int,
                activation: Activation?, inputSize: Int, outputSize: Int) {
        self.part = part
        self.normNumber = normNumber
        self.kind = kind
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        self.activation = activation
        self.inputSize = inputSize
        self.outputSize = outputSize
    }
}

/// Squeeze-excite (`se`): global average pool, 1x1 `conv_reduce` (with bias), activation, 1x1 `conv_expand`
/// (with bias), sigmoid, scale.
public struct SqueezeExciteSpec: Hashable, Sendable {
    /// Channels of the tensor it scales.
    public var channels: Int
    public var reduced: Int
    public var activation: Activation
    /// Height (= width) of the tensor it scales.
    public var size: Int

    @inlinable
    public init(channels: Int, reduced: Int, activation: Activation, size: Int) {
        self.channels = channels
        self.reduced = reduced
        self.activation = activation
        self.size = size
    }
}

/// One part of a block.
public enum BlockPart: Hashable, Sendable {
    case conv(ConvUnitSpec)
    case squeezeExcite(SqueezeExciteSpec)
}

extension ResolvedBlock {
    /// Calls `body` with the block's parts in forward order (without collecting them: the cost model runs this
    /// for every block of every candidate).
    ///
    /// - `ds`: `conv_dw`/`bn1` (act) -> [`se`] -> `conv_pw`/`bn2`
    /// - `ir`: `conv_pw`/`bn1` (act) -> `conv_dw`/`bn2` (act) -> [`se`] -> `conv_pwl`/`bn3`
    /// - `er`: `conv_exp`/`bn1` (act) -> [`se`] -> `conv_pwl`/`bn2`
    /// - `cn`: `conv`/`bn1` (act)
    @inlinable
    public func forEachPart(_ body: (BlockPart) -> Void) {
        func unit(_ part: LayerPart, _ norm: Int, _ kind: ConvUnitSpec.Kind, _ cin: Int, _ cout: Int, kernel: Int, stride: Int,
                  activation: Activation?, _ inSize: Int, _ outSize: Int) -> BlockPart {
            .conv(ConvUnitSpec(part: part, normNumber: norm, kind: kind, inChannels: cin, outChannels: cout, kernel: kernel, stride: stride,
                               dilation: dilation, activation: activation, inputSize: inSize, outputSize: outSize))
        }
        let se: BlockPart? = seChannels > 0
            ? .squeezeExcite(SqueezeExciteSpec(channels: type == .ds ? inChannels : midChannels, reduced: seChannels, activation: activation, size: outputSize))
            : nil
        switch type {
        case .ds:
            body(unit(.convDw, 1, .depthwise, inChannels, inChannels, kernel: kernel, stride: stride, activation: activation, inputSize, outputSize))
            if let se { body(se) }
            body(unit(.convPw, 2, .dense, inChannels, outChannels, kernel: 1, stride: 1, activation: nil, outputSize, outputSize))
        case .ir:
            body(unit(.convPw, 1, .dense, inChannels, midChannels, kernel: 1, stride: 1, activation: activation, inputSize, inputSize))
            body(unit(.convDw, 2, .depthwise, midChannels, midChannels, kernel: kernel, stride: stride, activation: activation, inputSize, outputSize))
            if let se { body(se) }
            body(unit(.convPwl, 3, .dense, midChannels, outChannels, kernel: 1, stride: 1, activation: nil, outputSize, outputSize))
        case .er:
            body(unit(.convExp, 1, .dense, inChannels, midChannels, kernel: kernel, stride: stride, activation: activation, inputSize, outputSize))
            if let se { body(se) }
            body(unit(.convPwl, 2, .dense, midChannels, outChannels, kernel: 1, stride: 1, activation: nil, outputSize, outputSize))
        case .cn:
            body(unit(.conv, 1, .dense, inChannels, outChannels, kernel: kernel, stride: stride, activation: activation, inputSize, outputSize))
        }
    }

    /// The block's parts in forward order.
    public var parts: [BlockPart] {
        var result: [BlockPart] = []
        result.reserveCapacity(4)
        forEachPart { result.append($0) }
        return result
    }
}

extension Network {
    /// The stem: `conv_stem` 3x3 stride 2 (3 -> stem) with `bn1` and the activation.
    public var stemUnit: ConvUnitSpec {
        ConvUnitSpec(part: .convStem, normNumber: 1, kind: .dense, inChannels: 3, outChannels: stemChannels, kernel: 3, stride: 2, dilation: 1,
                     activation: activation, inputSize: resolution, outputSize: Network.convOutput(resolution, stride: 2))
    }

    /// The head: `conv_head` 1x1 (last block -> head) with `bn2` and the activation; nil when head is 0.
    public var headUnit: ConvUnitSpec? {
        guard headChannels > 0 else { return nil }
        let last = stages.last?.last
        let size = last?.outputSize ?? Network.convOutput(resolution, stride: 2)
        return ConvUnitSpec(part: .convHead, normNumber: 2, kind: .dense, inChannels: last?.outChannels ?? stemChannels,
                            outChannels: headChannels, kernel: 1, stride: 1, dilation: 1, activation: activation, inputSize: size, outputSize: size)
    }
}
