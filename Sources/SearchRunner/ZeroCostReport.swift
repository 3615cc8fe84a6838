import Architecture
import Cost
import Foundation
import Training

/// `efsearch proxies`: an untrained network scored by the zero-cost proxies on a batch of a dataset, with its size
/// and how long the scoring took.
public struct ZeroCostReport {
    public var name: String
    public var spec: NetworkSpec
    public var summary: CostSummary
    public var scores: ZeroCostScores
    /// Images in NASWOT's batch (the batch size, or fewer when the dataset has fewer).
    public var images: Int
    public var dataset: DatasetSource
    public var seed: UInt64
    public var seconds: Double

    /// Scores `spec` (classes from the dataset unless `keepClasses`), initialised from `seed` as `efsearch init`
    /// does, on a batch of `batch` training images of `dataset`.
    public init(name: String, spec: NetworkSpec, keepClasses: Bool, dataset: DatasetSource, batch: Int, seed: UInt64) throws {
        var spec = spec
        let data = try DatasetSpec(source: dataset).load(resolution: spec.resolution)
        if !keepClasses { spec.classes = data.classes }
        let started = DispatchTime.now().uptimeNanoseconds
        var scorer = ZeroCostScorer(dataset: data, batchSize: batch, seed: seed)
        scores = try scorer.scores(spec, networkSeed: seed)
        seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        summary = CostModel.summary(of: try spec.resolve())
        (self.name, self.spec, images, self.dataset, self.seed) = (name, spec, min(batch, data.train.count), dataset, seed)
    }

    /// One JSON object, keys sorted; a proxy that overflowed or met a singular kernel is null.
    public var json: String {
        var out = JSONObjectWriter()
        out.add("batch", images)
        out.add("classes", spec.classes)
        out.add("dataset", dataset.description)
        out.add("macs", summary.macs)
        if let naswot = scores.naswot { out.add("naswot", naswot) } else { out.addRaw("naswot", "null") }
        out.add("network", name)
        out.add("params", summary.params)
        out.add("resolution", spec.resolution)
        out.add("seconds", seconds)
        out.addRaw("seed", "\(seed)")
        if let synflow = scores.synflow { out.add("synflow", synflow) } else { out.addRaw("synflow", "null") }
        return out.finished()
    }

    public var text: String {
        """
        \(name) at \(spec.resolution) px, \(spec.classes) classes: \(Format.engineering(Double(summary.params))) params, \(Format.engineering(Double(summary.macs))) MACs
        synflow (ln): \(scores.synflow.map { String(format: "%.4f", $0) } ?? "overflow")
        naswot (log |det K|, \(images) images of \(dataset)): \(scores.naswot.map { String(format: "%.4f", $0) } ?? "singular kernel")
        """
    }
}
