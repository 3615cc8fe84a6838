import Architecture

/// Conventions for counting FLOPs.
public enum FlopConvention: String, CaseIterable, Sendable, Codable {
    /// Multiply-accumulates of convolutions (squeeze-excite included) and the classifier: the paper's "FLOPs".
    case macs
    /// fvcore's count: MACs plus 2 per batch-normalised element and 1 per element that global pooling reads.
    case fvcore
    /// Two FLOPs per MAC, as `torch.utils.flop_counter` reports.
    case twice = "2x"
}

/// The totals of the cost model for a network at a batch size.
public struct CostSummary: Hashable, Sendable {
    public var params: Int
    /// Per image.
    public var macs: Int
    /// Batch-normalised elements per image.
    public var normElements: Int
    /// Elements read by the global pool per image.
    public var poolElements: Int
    public var batch: Int
    /// Bytes of every layer's output for the batch, float32: what a training step keeps for backward.
    public var activationBytes: Int
    /// Peak inference memory for the batch: the weights plus the largest set of tensors alive at once
    /// (a layer's input and output, and a block input held for its residual).
    public var peakMemoryBytes: Int
    /// Roofline latency of one forward pass of the batch, in seconds.
    public var latencySeconds: Double
    /// The calibrated latency model's prediction for one forward pass of the batch, in seconds; nil without a
    /// model (or when the model lacks a unit the network needs).
    public var predictedSeconds: Double? = nil

    /// FLOPs per image under a convention.
    public func flops(_ convention: FlopConvention) -> Int {
        switch convention {
        case .macs: return macs
        case .fvcore: return macs + 2 * normElements + poolElements
        case .twice: return 2 * macs
        }
    }
}

/// The analytical cost model: parameters, MACs, memory and roofline latency of a resolved network.
///
/// Counts follow the PyTorch reference (timm's `EfficientNet`): parameters are learnable tensors only
/// (batch-norm running statistics are buffers); MACs count convolutions, squeeze-excite convolutions and
/// the classifier, without biases, batch norm, activations or pooling.
public enum CostModel {
    /// One row per layer, in forward order.
    public static func layers(of network: Network) -> [LayerCost] {
        var rows: [LayerCost] = []
        rows.reserveCapacity(network.stages.reduce(0) { $0 + $1.count } * 4 + 4)
        forEachLayer(of: network) { rows.append($0) }
        return rows
    }

    /// Calls `body` with each layer's row, in forward order, without collecting them.
    public static func forEachLayer(of network: Network, _ body: (LayerCost) -> Void) {
        body(unit(network.stemUnit, block: nil, held: 0))
        for stage in network.stages {
            for block in stage {
                blockLayers(block, body)
            }
        }
        tailLayers(of: network, body)
    }

    /// The rows after the blocks: the head (if any), global pooling and the classifier.
    static func tailLayers(of network: Network, _ body: (LayerCost) -> Void) {
        let last = network.stages.last?.last
        var channels = last?.outChannels ?? network.stemChannels
        let size = last?.outputSize ?? network.stemUnit.outputSize
        if let head = network.headUnit {
            body(unit(head, block: nil, held: 0))
            channels = head.outChannels
        }
        body(LayerCost(
            part: .globalPool, block: nil, kind: .pool, inChannels: channels, outChannels: channels, kernel: size, stride: 1,
            inputSize: size, outputSize: 1, params: 0, macs: 0, normElements: 0, poolElements: channels * size * size,
            inputElements: channels * size * size, outputElements: channels, heldElements: 0))
        body(LayerCost(
            part: .classifier, block: nil, kind: .linear, inChannels: channels, outChannels: network.classes, kernel: 1, stride: 1,
            inputSize: 1, outputSize: 1, params: channels * network.classes + network.classes,
            macs: channels * network.classes, normElements: 0, poolElements: 0,
            inputElements: channels, outputElements: network.classes, heldElements: 0))
    }

    /// The totals for `network` at `batch` images, with the calibrated prediction when there is a predictor.
    ///
    /// The rows of forward order, as `forEachLayer` gives them, with one shortcut: a block of the same shape as
    /// the block before it in its stage (every repeat after a stage's first block, most often) adds what that
    /// block's rows added, in the same order, without building its rows again. The sums are the same to the bit.
    public static func summary(of network: Network, batch: Int = 1, machine: MachineProfile = .developmentMachine,
                               predictor: LatencyPredictor? = nil) -> CostSummary {
        var totals = Totals(batch: batch, machine: machine, predictor: predictor)
        totals.add(unit(network.stemUnit, block: nil, held: 0))
        // What the rows of the last block built from its rows added (a block has at most 4 rows).
        var repeated: [Totals.Contribution] = []
        repeated.reserveCapacity(4)
        for stage in network.stages {
            for (position, block) in stage.enumerated() {
                if position > 0 && block.hasShape(of: stage[position - 1]) {
                    for contribution in repeated { totals.add(contribution) }
                } else {
                    repeated.removeAll(keepingCapacity: true)
                    blockLayers(block) { repeated.append(totals.add($0)) }
                }
            }
        }
        tailLayers(of: network) { totals.add($0) }
        var summary = totals.summary
        if let predictor, let predicted = totals.predicted {
            summary.predictedSeconds = predictor.pass(rowSeconds: predicted, poolElements: totals.pool, parameters: totals.params, outputs: totals.outputs, batch: batch)
        }
        return summary
    }

    /// Running sums over rows.
    struct Totals {
        let batch: Int
        let machine: MachineProfile
        let predictor: LatencyPredictor?
        var params = 0, macs = 0, norm = 0, pool = 0, outputs = 0, peakLive = 0
        var seconds = 0.0
        /// The predicted seconds of the rows so far; nil once a row has no prediction.
        var predicted: Double? = 0

        /// What one row adds to the sums.
        struct Contribution {
            var params: Int, macs: Int, norm: Int, pool: Int, outputs: Int, live: Int
            var seconds: Double
            /// nil: the row has no prediction (or there is no predictor).
            var predicted: Double?
        }

        init(batch: Int, machine: MachineProfile, predictor: LatencyPredictor? = nil) {
            self.batch = batch
            self.machine = machine
            self.predictor = predictor
        }

        /// Adds a row, and returns what it added. (Mutating, so that the closures that call it in `summary` work
        /// on the sums in place: a copy of them, predictor included, per row costs more than the row.)
        @discardableResult
        mutating func add(_ row: LayerCost) -> Contribution {
            let contribution = Contribution(
                params: row.params, macs: row.macs, norm: row.normElements, pool: row.poolElements, outputs: row.outputElements,
                live: row.inputElements + row.outputElements + row.heldElements,
                seconds: row.rooflineSeconds(batch: batch, machine: machine),
                predicted: predictor?.seconds(of: row, batch: batch))
            add(contribution)
            return contribution
        }

        mutating func add(_ row: Contribution) {
            params += row.params
            macs += row.macs
            norm += row.norm
            pool += row.pool
            outputs += row.outputs
            peakLive = max(peakLive, row.live)
            seconds += row.seconds
            if predictor != nil, let sum = predicted { predicted = row.predicted.map { sum + $0 } }
        }

        var summary: CostSummary {
            CostSummary(
                params: params, macs: macs, normElements: norm, poolElements: pool, batch: batch,
                activationBytes: 4 * outputs * batch, peakMemoryBytes: 4 * (params + peakLive * batch),
                latencySeconds: seconds)
        }
    }

    // MARK: - Rows

    /// A convolution unit of the recipe (dense or depthwise, without bias, then an affine batch norm).
    static func unit(_ unit: ConvUnitSpec, block: (stage: Int, index: Int)?, held: Int) -> LayerCost {
        let (cin, cout, k) = (unit.inChannels, unit.outChannels, unit.kernel)
        let outElements = cout * unit.outputSize * unit.outputSize
        let depthwise = unit.kind == .depthwise
        return LayerCost(
            part: unit.part, block: block, kind: depthwise ? .depthwise : .conv, inChannels: cin, outChannels: cout, kernel: k,
            stride: unit.stride, inputSize: unit.inputSize, outputSize: unit.outputSize,
            params: (depthwise ? cout * k * k : cin * cout * k * k) + 2 * cout,
            macs: outElements * (depthwise ? k * k : cin * k * k), normElements: outElements, poolElements: 0,
            inputElements: cin * unit.inputSize * unit.inputSize, outputElements: outElements, heldElements: held,
            activation: unit.activation)
    }

    /// Squeeze-excite on a `channels` x `size` x `size` tensor, reducing to `reduced` channels.
    static func squeezeExcite(_ se: SqueezeExciteSpec, block: (stage: Int, index: Int)?, held: Int) -> LayerCost {
        let elements = se.channels * se.size * se.size
        return LayerCost(
            part: .se, block: block, kind: .squeezeExcite, inChannels: se.channels, outChannels: se.channels, kernel: 1, stride: 1,
            inputSize: se.size, outputSize: se.size, params: 2 * se.channels * se.reduced + se.reduced + se.channels,
            macs: 2 * se.channels * se.reduced, normElements: 0, poolElements: 0,
            inputElements: elements, outputElements: elements, heldElements: held)
    }

    /// The rows of a block's recipe.
    static func blockLayers(_ block: ResolvedBlock, _ body: (LayerCost) -> Void) {
        let position = (stage: block.stage, index: block.index)
        // The block input stays alive until the residual add.
        let held = block.hasResidual ? block.inChannels * block.inputSize * block.inputSize : 0
        block.forEachPart { part in
            switch part {
            case .conv(let spec): body(unit(spec, block: position, held: held))
            case .squeezeExcite(let spec): body(squeezeExcite(spec, block: position, held: held))
            }
        }
    }
}
