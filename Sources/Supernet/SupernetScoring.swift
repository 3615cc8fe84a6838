import Architecture
import Engine
import Foundation
import Statistics
import Training

/// How a candidate is scored with the supernet's weights: its batch-norm statistics recalibrated on
/// `batches` training batches of `batchSize` images (the same images for every candidate: the first of the
/// training set in an order from `seed`, without augmentation; a cumulative average over the batches, as
/// PyTorch's momentum=None), then evaluated on the validation split (the test split when there is none).
public struct SupernetScoring: Sendable, Equatable {
    public var batches = 10
    public var batchSize = 64
    public var seed: UInt64 = 0

    public init() {}

    public init(batches: Int, batchSize: Int, seed: UInt64) {
        (self.batches, self.batchSize, self.seed) = (batches, batchSize, seed)
    }

    public func validate() throws {
        if batches < 1 { throw FlagError("--calibration-batches \(batches) must be at least 1") }
        if batchSize < 1 { throw FlagError("--calibration-batch \(batchSize) must be at least 1") }
    }

    /// Text kept with a run or a checkpoint.
    public var description: String { "batch-norm statistics from \(batches) batches of \(batchSize) training images (seed \(seed))" }
}

/// A candidate scored with inherited weights.
public struct SupernetScore: Sendable {
    public var evaluation: Evaluation
    /// The split evaluated: "val" or "test".
    public var split: String
    public var seconds: Double
}

extension SupernetCheckpoint {
    /// The candidate `spec` with the supernet's weights and recalibrated batch-norm statistics, in eval mode.
    public func calibratedModel(for spec: NetworkSpec, name: String, dataset: Dataset, scoring: SupernetScoring) throws -> EfficientNetModel {
        guard dataset.classes == classes else {
            throw SupernetError("the supernet has \(classes) classes; the dataset \(dataset.name) has \(dataset.classes)")
        }
        let model = try self.model(for: spec, name: name)
        SupernetCheckpoint.recalibrateNorms(model, dataset: dataset, scoring: scoring)
        return model
    }

    /// Resets every batch norm's statistics and runs training-mode passes over the scoring's batches, each norm
    /// averaging what it sees with equal weight per batch (momentum 1/b for the b-th batch).
    public static func recalibrateNorms(_ model: EfficientNetModel, dataset: Dataset, scoring: SupernetScoring) {
        let norms = model.namedNorms().map(\.1)
        let momenta = norms.map(\.momentum)
        for norm in norms {
            norm.runningMean.zero()
            norm.runningVar.fill(1)
            norm.batchesTracked = 0
        }
        let dropout = model.dropout
        model.dropout = 0
        var order = Array(0..<dataset.train.count)
        DatasetSpec.shuffle(&order, RandomGenerator(seed: scoring.seed))
        let size = min(scoring.batchSize, order.count)
        let batches = BatchMaker(dataset: dataset)
        var input: Tensor?
        for batch in 0..<min(scoring.batches, max(1, order.count / max(1, size))) {
            for norm in norms { norm.momentum = 1 / Float(batch + 1) }
            let indices = Array(order[(batch * size)..<((batch + 1) * size)])
            let (x, _) = batches.make(dataset.train, indices: indices, resolution: model.network.resolution, plans: nil, into: &input)
            _ = model.forward(x, training: true)
        }
        for (norm, momentum) in zip(norms, momenta) {
            norm.momentum = momentum
            norm.markStatisticsModified()
        }
        model.dropout = dropout
        model.releaseCaches()
    }

    /// The candidate's score: recalibrated, then evaluated.
    public func score(_ spec: NetworkSpec, name: String, dataset: Dataset, scoring: SupernetScoring) throws -> SupernetScore {
        try scoredModel(spec, name: name, dataset: dataset, scoring: scoring).score
    }

    /// The candidate's recalibrated model and its score (`supernet extract` writes the model).
    public func scoredModel(_ spec: NetworkSpec, name: String, dataset: Dataset, scoring: SupernetScoring) throws
        -> (model: EfficientNetModel, score: SupernetScore) {
        let start = DispatchTime.now().uptimeNanoseconds
        let model = try calibratedModel(for: spec, name: name, dataset: dataset, scoring: scoring)
        let split = dataset.validation.count > 0 ? "val" : "test"
        let evaluation = Trainer.evaluate(model, split == "val" ? dataset.validation : dataset.test, batches: BatchMaker(dataset: dataset),
                                          resolution: model.network.resolution, batchSize: 200)
        return (model, SupernetScore(evaluation: evaluation, split: split, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
    }
}
