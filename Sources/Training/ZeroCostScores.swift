import Architecture
import Engine
import Foundation
import Statistics

/// A candidate's zero-cost proxy scores (nil where not computed, or NASWOT's kernel was singular).
public struct ZeroCostScores: Codable, Sendable, Equatable {
    /// ln(synflow).
    public var synflow: Double?
    /// log |det K|.
    public var naswot: Double?

    public init(synflow: Double? = nil, naswot: Double? = nil) {
        self.synflow = synflow
        self.naswot = naswot
    }

    public func value(_ proxy: ZeroCostProxy) -> Double? {
        switch proxy {
        case .synflow: return synflow
        case .naswot: return naswot
        }
    }
}

/// Scores untrained networks as a search would: each network initialised from its own seed, NASWOT on one batch
/// that every candidate of a run shares (drawn from the run's seed), so that their scores compare.
public struct ZeroCostScorer {
    public let dataset: Dataset?
    public let batchSize: Int
    public let seed: UInt64
    private var batches: [Int: Tensor] = [:]

    /// `dataset` is needed for NASWOT only (synflow's input is all ones).
    public init(dataset: Dataset?, batchSize: Int = 64, seed: UInt64) {
        self.dataset = dataset
        self.batchSize = batchSize
        self.seed = seed
    }

    /// NASWOT's batch at `resolution`: the first `batchSize` training images of an order drawn from the seed,
    /// prepared as for evaluation (no augmentation).
    public mutating func batch(resolution: Int) -> Tensor? {
        guard let dataset, dataset.train.count > 0 else { return nil }
        if let batch = batches[resolution] { return batch }
        var order = Array(0..<dataset.train.count)
        DatasetSpec.shuffle(&order, RandomGenerator(seed: seed &+ 0x5A17))
        var tensor: Tensor?
        let (batch, _) = BatchMaker(dataset: dataset).make(dataset.train, indices: Array(order.prefix(batchSize)), resolution: resolution,
                                                           augment: nil, into: &tensor)
        batches[resolution] = batch
        return batch
    }

    /// The scores of `spec` (its classes are taken from the dataset when there is one) initialised from `networkSeed`.
    public mutating func scores(_ spec: NetworkSpec, networkSeed: UInt64, proxies: Set<ZeroCostProxy> = Set(ZeroCostProxy.allCases)) throws -> ZeroCostScores {
        var spec = spec
        if let dataset { spec.classes = dataset.classes }
        let model = EfficientNetModel(try spec.resolve())
        model.initialize(seed: networkSeed)
        var result = ZeroCostScores()
        if proxies.contains(.synflow) {
            let score = model.synflow(resolution: spec.resolution).log
            result.synflow = score.isFinite ? score : nil
        }
        if proxies.contains(.naswot), let batch = batch(resolution: spec.resolution) {
            result.naswot = model.naswot(batch)
        }
        return result
    }
}
