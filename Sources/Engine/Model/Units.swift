import Architecture
import CEngineKernels

/// Batch-norm parameters and buffers for `channels` channels (timm's `BatchNorm2d`: eps 1e-5, momentum 0.1
/// by default; the TF-ported models use eps 1e-3, momentum 0.01).
public final class BatchNorm {
    public let channels: Int
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVar: Tensor
    public var batchesTracked: Int64 = 0
    /// Goes up whenever the running statistics change (training steps, loading).
    public private(set) var statisticsVersion = 0

    /// Call after changing the running statistics in place.
    public func markStatisticsModified() { statisticsVersion &+= 1 }
    public var eps: Float
    public var momentum: Float
    let mean: Tensor, invStd: Tensor, foldScale: Tensor, foldShift: Tensor

    public init(channels: Int, eps: Float, momentum: Float) {
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        weight = Parameter(shape: [channels], decays: false)
        bias = Parameter(shape: [channels], decays: false)
        weight.value.fill(1)
        runningMean = Tensor(shape: [channels])
        runningVar = Tensor(shape: [channels])
        runningVar.fill(1)
        mean = Tensor(shape: [channels])
        invStd = Tensor(shape: [channels])
        foldScale = Tensor(shape: [channels])
        foldShift = Tensor(shape: [channels])
    }

    /// The folded scale and shift for inference.
    func epilogue(activation: Activation?) -> Epilogue {
        BatchNormKernels.fold(
            gamma: weight.value.data, beta: bias.value.data, runningMean: runningMean.data, runningVar: runningVar.data,
            eps: eps, channels: channels, scale: foldScale.data, shift: foldShift.data)
        return Epilogue(scale: foldScale.data, shift: foldShift.data, activation: activation)
    }
}

/// Convolution (dense or depthwise, no bias) -> batch norm -> optional activation: the unit every block is
/// made of. Activations are NHWC.
public final class ConvUnit {
    public enum Kind { case dense, depthwise }

    public let kind: Kind
    public let inChannels: Int, outChannels: Int, kernel: Int, stride: Int, dilation: Int
    public let activation: Activation?
    /// Dense: `[Cout, k, k, Cin]`; depthwise: `[k, k, C]`.
    public let weight: Parameter
    public let norm: BatchNorm

    /// Batch norm as a fixed affine map from its running statistics, also in training-mode passes (timm's frozen
    /// batch norm): its scale and shift get no gradient. Zero-cost proxies use it to differentiate an inference-mode network.
    public var frozenNorm = false

    private var input: Tensor?
    private var convOut: Tensor?, normOut: Tensor?, output: Tensor?
    private var cols: Tensor?, dCols: Tensor?, partials: Tensor?, dWork: Tensor?, dInput: Tensor?
    private var geometry: ConvGeometry?
    /// Inference form of a pointwise convolution: weights packed with batch norm's scale folded in, and
    /// the versions of the tensors they came from.
    private var packed: Tensor?, packedVersion: [Int] = [], gatedPacked: Tensor?, gatedInput: Tensor?, paddedInput: Tensor?, expansionRing: Tensor?

    /// The unit a recipe describes (`ResolvedBlock.forEachPart`, `Network.stemUnit`, `Network.headUnit`).
    public convenience init(_ spec: ConvUnitSpec, eps: Float, momentum: Float) {
        self.init(spec.kind == .depthwise ? .depthwise : .dense, inChannels: spec.inChannels, outChannels: spec.outChannels, kernel: spec.kernel,
                  stride: spec.stride, dilation: spec.dilation, activation: spec.activation, eps: eps, momentum: momentum)
    }

    public init(_ kind: Kind, inChannels: Int, outChannels: Int, kernel: Int, stride: Int, dilation: Int, activation: Activation?, eps: Float, momentum: Float) {
        precondition(kind == .dense || inChannels == outChannels, "a depthwise convolution keeps its channel count")
        self.kind = kind
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.dilation = dilation
        self.activation = activation
        weight = Parameter(shape: kind == .dense ? [outChannels, kernel, kernel, inChannels] : [kernel, kernel, outChannels], decays: true)
        norm = BatchNorm(channels: outChannels, eps: eps, momentum: momentum)
    }

    /// timm's fan-out: kh * kw * out_channels / groups.
    var fanOut: Int { kind == .dense ? kernel * kernel * outChannels : kernel * kernel }

    func geometry(for x: Tensor) -> ConvGeometry {
        precondition(x.shape.count == 4 && x.shape[3] == inChannels, "conv unit expects [N, H, W, \(inChannels)], got \(x.shape)")
        return ConvGeometry(batch: x.shape[0], height: x.shape[1], width: x.shape[2], inChannels: inChannels,
                            outChannels: outChannels, kernel: kernel, stride: stride, dilation: dilation)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let g = geometry(for: x)
        geometry = g
        input = x
        let outShape = [g.batch, g.outHeight, g.outWidth, outChannels]
        let out = Tensor.reuse(&output, shape: outShape)
        if !training {
            let epilogue = norm.epilogue(activation: activation)
            if kind == .dense && g.isPointwise {
                let weights = packedWeights(epilogue)
                PointwiseKernels.forward(x: x.data, packed: weights.data, shift: epilogue.shift, activation: activation,
                                         y: out.data, pixels: g.rows, inChannels: inChannels, outChannels: outChannels)
                return out
            }
            switch kind {
            case .dense:
                ConvolutionKernels.forward(g, x: x.data, w: weight.value.data, y: out.data, cols: colsBuffer(g), epilogue: epilogue)
            case .depthwise:
                DepthwiseKernels.forward(g, x: x.data, w: weight.value.data, y: out.data, epilogue: epilogue)
            }
            return out
        }
        let conv = Tensor.reuse(&convOut, shape: outShape)
        switch kind {
        case .dense: ConvolutionKernels.forward(g, x: x.data, w: weight.value.data, y: conv.data, cols: colsBuffer(g))
        case .depthwise: DepthwiseKernels.forward(g, x: x.data, w: weight.value.data, y: conv.data)
        }
        let normed = activation == nil ? out : Tensor.reuse(&normOut, shape: outShape)
        if frozenNorm {
            normed.copy(from: conv)
            norm.epilogue(activation: nil).apply(to: normed.data, rows: g.rows, channels: outChannels)
            if let activation { ActivationKernels.forward(activation, normed.data, out.data, count: out.count) }
            return out
        }
        BatchNormKernels.trainForward(
            x: conv.data, y: normed.data, rows: g.rows, channels: outChannels,
            gamma: norm.weight.value.data, beta: norm.bias.value.data, eps: norm.eps, momentum: norm.momentum,
            runningMean: norm.runningMean.data, runningVar: norm.runningVar.data,
            mean: norm.mean.data, invStd: norm.invStd.data)
        norm.batchesTracked += 1
        norm.markStatisticsModified()
        if let activation {
            ActivationKernels.forward(activation, normed.data, out.data, count: out.count)
        }
        return out
    }

    /// Backward of the last training forward: accumulates the weight and batch-norm gradients and returns
    /// dX (or nil when `inputGradient` is false, as for the stem).
    public func backward(_ dY: Tensor, inputGradient: Bool = true) -> Tensor? {
        guard let g = geometry, let x = input, let conv = convOut else { preconditionFailure("backward before a training forward") }
        let work = Tensor.reuse(&dWork, shape: dY.shape)
        if let activation {
            ActivationKernels.backward(activation, input: normOut!.data, dY.data, work.data, count: work.count)
        } else {
            work.copy(from: dY)
        }
        if frozenNorm {
            let scale = norm.foldScale, channels = outChannels
            Parallel.forEachChunk(g.rows, minimumChunk: 64) { rows in
                for row in rows {
                    for channel in 0..<channels { work[row * channels + channel] *= scale[channel] }
                }
            }
        } else {
            BatchNormKernels.trainBackward(
            x: conv.data, dY: work.data, dX: work.data, rows: g.rows, channels: outChannels,
            gamma: norm.weight.value.data, mean: norm.mean.data, invStd: norm.invStd.data,
            dGamma: norm.weight.gradient.data, dBeta: norm.bias.gradient.data)
        }
        let dX = inputGradient ? Tensor.reuse(&dInput, shape: x.shape) : nil
        switch kind {
        case .dense:
            let scratch = g.isPointwise ? nil : Tensor.reuse(&dCols, shape: [g.rows, g.patch])
            ConvolutionKernels.backward(
                g, x: x.data, w: weight.value.data, dY: work.data, dW: weight.gradient.data, dX: dX?.data,
                cols: g.isPointwise ? nil : UnsafePointer(cols!.data), dCols: scratch?.data)
        case .depthwise:
            let scratch = Tensor.reuse(&partials, shape: [Parallel.threads * kernel * kernel * outChannels])
            DepthwiseKernels.backward(g, x: x.data, w: weight.value.data, dY: work.data, dW: weight.gradient.data, dX: dX?.data, partials: scratch.data)
        }
        return dX
    }

    /// Inference with the block-level fusion of `InferenceKernels` (the reference is `forward(_:training: false)`
    /// with `InferenceKernels.fused` off):
    /// - `rowSums` (`[N * Ho, C]`, depthwise only): each output row's per-channel sums, for squeeze-excite's pooling;
    /// - `gate` (`[N, Cin]`, pointwise only): squeeze-excite's gate, folded into the weights image by image (or,
    ///   with fewer pixels than output channels, applied to the input);
    /// - `residual` (the output's shape): added after the epilogue.
    /// Dense kxk convolutions run as im2col tiles through the pointwise kernel while each tile is in cache.
    /// With an `arena`, the output goes to one of its buffers that holds neither `x`, `residual` nor any of `live`.
    func inferenceForward(_ x: Tensor, rowSums: UnsafeMutablePointer<Float>? = nil, gate: UnsafePointer<Float>? = nil, residual: Tensor? = nil,
                          arena: InferenceArena? = nil, live: [Tensor?] = []) -> Tensor {
        let g = geometry(for: x)
        geometry = g
        input = nil  // backward needs a training forward
        let shape = [g.batch, g.outHeight, g.outWidth, outChannels]
        let out = arena?.tensor(shape: shape, live: [x, residual] + live) ?? Tensor.reuse(&output, shape: shape)
        precondition(residual == nil || residual!.shape == out.shape, "a residual has the output's shape")
        let epilogue = norm.epilogue(activation: activation)
        let residualData = residual.map { UnsafePointer($0.data) }
        switch kind {
        case .depthwise:
            precondition(gate == nil && residual == nil, "the depthwise kernel takes neither a gate nor a residual")
            InferenceKernels.depthwise(g, x: x.data, w: weight.value.data, y: out.data, epilogue: epilogue, rowSums: rowSums)
        case .dense where g.isPointwise:
            precondition(rowSums == nil, "row sums come from depthwise convolutions")
            let weights = packedWeights(epilogue)
            guard let gate else {
                InferenceKernels.pointwise(x: x.data, packed: weights.data, shift: epilogue.shift, activation: activation, residual: residualData,
                                           y: out.data, pixels: g.rows, inChannels: inChannels, outChannels: outChannels)
                return out
            }
            let pixels = g.outHeight * g.outWidth
            if pixels < outChannels {
                // Fewer pixels than output channels (late stages): scaling the input costs less than the weights.
                let scaledInput = Tensor.reuse(&gatedInput, shape: x.shape)
                PoolingKernels.scaleChannels(x.data, gate: gate, scaledInput.data, batch: g.batch, pixels: pixels, channels: inChannels)
                InferenceKernels.pointwise(x: scaledInput.data, packed: weights.data, shift: epilogue.shift, activation: activation, residual: residualData,
                                           y: out.data, pixels: g.rows, inChannels: inChannels, outChannels: outChannels)
                return out
            }
            let scaled = Tensor.reuse(&gatedPacked, shape: [weights.count])
            for image in 0..<g.batch {
                InferenceKernels.scalePacked(weights.data, gate: gate + image * inChannels, scaled.data, blocks: (outChannels + 15) / 16, inChannels: inChannels)
                InferenceKernels.pointwise(x: x.data + image * pixels * inChannels, packed: scaled.data, shift: epilogue.shift, activation: activation,
                                           residual: residualData.map { $0 + image * pixels * outChannels },
                                           y: out.data + image * pixels * outChannels, pixels: pixels, inChannels: inChannels, outChannels: outChannels)
            }
        case .dense:
            precondition(rowSums == nil && gate == nil, "a kxk convolution takes neither row sums nor a gate")
            let weights = packedWeights(epilogue)
            if InferenceKernels.isa == .avx512 {
                let paddedShape = [g.batch, g.height + 2 * g.padding, g.width + 2 * g.padding, inChannels]
                let padded = arena?.scratch(count: paddedShape.reduce(1, *)) ?? Tensor.reuse(&paddedInput, shape: paddedShape)
                InferenceKernels.conv(g, x: x.data, padded: padded.data, packed: weights.data, shift: epilogue.shift, activation: activation,
                                      residual: residualData, y: out.data)
                return out
            }
            let cols = colsBuffer(g)!
            let patch = g.patch, channels = outChannels, activation = activation
            // Tiles of whole 12-pixel groups whose im2col rows (about 96 KiB) stay in L2 for the kernel.
            let tile = max(12, min(480, 24_576 / patch) / 12 * 12)
            let tiles = (g.rows + tile - 1) / tile
            Parallel.forEachChunk(tiles) { range in
                for t in range {
                    let rows = (t * tile)..<min(g.rows, (t + 1) * tile)
                    ConvolutionKernels.im2col(g, x: x.data, cols: cols, rows: rows)
                    InferenceKernels.pointwise(x: cols + rows.lowerBound * patch, packed: weights.data, shift: epilogue.shift, activation: activation,
                                               residual: residualData.map { $0 + rows.lowerBound * channels },
                                               y: out.data + rows.lowerBound * channels, pixels: rows.count, inChannels: patch, outChannels: channels)
                }
            }
        }
        return out
    }

    /// Whether `expandDepthwise` can run this unit (a pointwise expansion) with `next` (a depthwise convolution)
    /// on an input this wide (`InferenceKernels.fusesExpansions`, rows at least `EngineRules.minimumFusedExpansionWidth` wide).
    func fusesWithDepthwise(_ next: ConvUnit, width: Int) -> Bool {
        InferenceKernels.fusesExpansions && kind == .dense && kernel == 1 && stride == 1 && next.kind == .depthwise && next.kernel <= 16
            && width >= EngineRules.minimumFusedExpansionWidth
    }

    /// Inference of an expansion (this unit) and the depthwise unit after it in one pass over the output rows:
    /// each thread keeps the few expanded rows the depthwise kernel reads in a ring in cache, so the expanded
    /// tensor never goes to memory. Output in `depthwise`'s buffer; `rowSums` as in `inferenceForward`.
    func expandDepthwise(_ x: Tensor, _ depthwise: ConvUnit, rowSums: UnsafeMutablePointer<Float>?, arena: InferenceArena? = nil, live: [Tensor?] = []) -> Tensor {
        let g = geometry(for: x)
        geometry = g
        input = nil
        let expandEpilogue = norm.epilogue(activation: activation)
        let weights = packedWeights(expandEpilogue)
        let dg = ConvGeometry(batch: g.batch, height: g.height, width: g.width, inChannels: outChannels, outChannels: outChannels,
                              kernel: depthwise.kernel, stride: depthwise.stride, dilation: depthwise.dilation)
        let outShape = [g.batch, dg.outHeight, dg.outWidth, outChannels]
        let out = arena?.tensor(shape: outShape, live: [x] + live) ?? depthwise.fusedOutput(shape: outShape)
        let ringFloats = ((dg.kernel - 1) * dg.dilation + 1) * (g.width + 2 * dg.padding) * outChannels
        let ring = Tensor.reuse(&expansionRing, shape: [Parallel.threads, ringFloats])
        let epilogue = depthwise.norm.epilogue(activation: depthwise.activation)
        let (expandCode, depthwiseCode) = (InferenceKernels.code(activation), InferenceKernels.code(depthwise.activation))
        Parallel.forEachIndexedChunk(g.batch * dg.outHeight, minimumChunk: 2) { chunk, rows in
            efk_expand_depthwise_avx512(x.data, weights.data, expandEpilogue.shift, expandCode, depthwise.weight.value.data, epilogue.scale, epilogue.shift,
                                        depthwiseCode, out.data, rowSums, ring.data + chunk * ringFloats,
                                        g.height, g.width, g.inChannels, outChannels, dg.outHeight, dg.outWidth,
                                        dg.kernel, dg.stride, dg.dilation, dg.padding, rows.lowerBound, rows.upperBound)
        }
        return out
    }

    /// The output buffer, for a pass that another unit runs on this unit's behalf (`expandDepthwise`).
    func fusedOutput(shape: [Int]) -> Tensor { Tensor.reuse(&output, shape: shape) }

    /// The input of the activation after the last training-mode forward (nil without an activation).
    var preActivation: Tensor? { activation == nil ? nil : normOut }

    /// The packed, scale-folded weights, rebuilt when the weights or the batch norm changed.
    private func packedWeights(_ epilogue: Epilogue) -> Tensor {
        let versions = [weight.version, norm.weight.version, norm.bias.version, norm.statisticsVersion]
        if let packed, packedVersion == versions { return packed }
        // A dense kxk convolution's rows `[Cout, k, k, Cin]` are im2col rows: packed like a 1x1 convolution over the patch.
        let depth = kernel * kernel * inChannels
        let tensor = Tensor.reuse(&packed, shape: [PointwiseKernels.packedCount(inChannels: depth, outChannels: outChannels)])
        PointwiseKernels.pack(weight.value.data, scale: epilogue.scale, inChannels: depth, outChannels: outChannels, into: tensor.data)
        packedVersion = versions
        return tensor
    }

    private func colsBuffer(_ g: ConvGeometry) -> UnsafeMutablePointer<Float>? {
        g.isPointwise ? nil : Tensor.reuse(&cols, shape: [g.rows, g.patch]).data
    }

    /// Drops cached activations (keeps parameters).
    func releaseCaches() {
        input = nil; convOut = nil; normOut = nil; output = nil; cols = nil; dCols = nil; partials = nil; dWork = nil; dInput = nil
        gatedPacked = nil; gatedInput = nil; paddedInput = nil; expansionRing = nil
    }
}

/// Squeeze-excite: global average pool -> 1x1 reduce (bias) -> act -> 1x1 expand (bias) -> sigmoid -> scale.
/// `reduce` is `[rd, C]`, `expand` is `[C, rd]` (PyTorch's `[out, in, 1, 1]` in the same memory order).
public final class SqueezeExcite {
    public let channels: Int, reduced: Int
    public let activation: Activation
    public let reduceWeight: Parameter, reduceBias: Parameter, expandWeight: Parameter, expandBias: Parameter

    private var input: Tensor?, pooled: Tensor?, hidden: Tensor?, activated: Tensor?, gate: Tensor?, output: Tensor?
    private var dGate: Tensor?, dHidden: Tensor?, dPooled: Tensor?, dInput: Tensor?

    public init(channels: Int, reduced: Int, activation: Activation) {
        self.channels = channels
        self.reduced = reduced
        self.activation = activation
        reduceWeight = Parameter(shape: [reduced, channels], decays: true)
        reduceBias = Parameter(shape: [reduced], decays: false)
        expandWeight = Parameter(shape: [channels, reduced], decays: true)
        expandBias = Parameter(shape: [channels], decays: false)
    }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(c == channels, "squeeze-excite expects \(channels) channels, got \(c)")
        input = x
        let pool = Tensor.reuse(&pooled, shape: [n, c])
        PoolingKernels.globalAverage(x.data, pool.data, batch: n, pixels: h * w, channels: c)
        let hid = Tensor.reuse(&hidden, shape: [n, reduced])
        LinearKernels.forward(x: pool.data, w: reduceWeight.value.data, b: reduceBias.value.data, y: hid.data, rows: n, inFeatures: c, outFeatures: reduced)
        let act = Tensor.reuse(&activated, shape: [n, reduced])
        ActivationKernels.forward(activation, hid.data, act.data, count: act.count)
        let g = Tensor.reuse(&gate, shape: [n, c])
        LinearKernels.forward(x: act.data, w: expandWeight.value.data, b: expandBias.value.data, y: g.data, rows: n, inFeatures: reduced, outFeatures: c)
        for index in 0..<g.count { g[index] = scalarSigmoid(g[index]) }
        let out = Tensor.reuse(&output, shape: x.shape)
        PoolingKernels.scaleChannels(x.data, gate: g.data, out.data, batch: n, pixels: h * w, channels: c)
        return out
    }

    /// Inference: the gate `[N, C]` (sigmoid of the expand layer) from the pooled means `[N, C]`, without scaling
    /// anything: the fused path folds it into the next convolution's weights.
    func inferenceGate(means: UnsafePointer<Float>, batch: Int) -> Tensor {
        let hid = Tensor.reuse(&activated, shape: [batch, reduced])
        let g = Tensor.reuse(&gate, shape: [batch, channels])
        for image in 0..<batch {
            InferenceKernels.gemv(w: reduceWeight.value.data, x: means + image * channels, bias: reduceBias.value.data, y: hid.data + image * reduced,
                                  rows: reduced, k: channels, activation: activation)
            InferenceKernels.gemv(w: expandWeight.value.data, x: hid.data + image * reduced, bias: expandBias.value.data, y: g.data + image * channels,
                                  rows: channels, k: reduced, activation: nil, sigmoid: true)
        }
        return g
    }

    /// Scales `x` by `gate` (`[N, C]`) into this module's output buffer: the fused path's fallback when the
    /// convolution after squeeze-excite cannot take the gate in its weights.
    func scale(_ x: Tensor, by gate: Tensor) -> Tensor {
        let out = Tensor.reuse(&output, shape: x.shape)
        PoolingKernels.scaleChannels(x.data, gate: gate.data, out.data, batch: x.shape[0], pixels: x.shape[1] * x.shape[2], channels: channels)
        return out
    }

    /// The input of the reduce activation after the last forward.
    var preActivation: Tensor? { hidden }

    public func backward(_ dY: Tensor) -> Tensor {
        guard let x = input, let g = gate, let pool = pooled, let hid = hidden, let act = activated else {
            preconditionFailure("backward before a training forward")
        }
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let pixels = h * w
        // d gate[n, c] = sum over pixels of dY * x, then through the sigmoid.
        let dg = Tensor.reuse(&dGate, shape: [n, c])
        PoolingKernels.channelDot(dY.data, x.data, dg.data, batch: n, pixels: pixels, channels: c)
        for index in 0..<dg.count { dg[index] *= g[index] * (1 - g[index]) }
        let dHid = Tensor.reuse(&dHidden, shape: [n, reduced])
        LinearKernels.backward(x: act.data, w: expandWeight.value.data, dY: dg.data, dW: expandWeight.gradient.data, dB: expandBias.gradient.data,
                               dX: dHid.data, rows: n, inFeatures: reduced, outFeatures: c)
        ActivationKernels.backward(activation, input: hid.data, dHid.data, dHid.data, count: dHid.count)
        let dPool = Tensor.reuse(&dPooled, shape: [n, c])
        LinearKernels.backward(x: pool.data, w: reduceWeight.value.data, dY: dHid.data, dW: reduceWeight.gradient.data, dB: reduceBias.gradient.data,
                               dX: dPool.data, rows: n, inFeatures: c, outFeatures: reduced)
        // dX = dY * gate + dPooled / pixels.
        let dX = Tensor.reuse(&dInput, shape: x.shape)
        let invPixels = 1 / Float(pixels)
        Parallel.forEachChunk(n * pixels, minimumChunk: 64) { range in
            for row in range {
                let image = row / pixels
                for channel in 0..<c {
                    let index = row * c + channel
                    dX[index] = dY[index] * g[image * c + channel] + dPool[image * c + channel] * invPixels
                }
            }
        }
        return dX
    }

    func releaseCaches() {
        input = nil; pooled = nil; hidden = nil; activated = nil; gate = nil; output = nil
        dGate = nil; dHidden = nil; dPooled = nil; dInput = nil
    }
}
