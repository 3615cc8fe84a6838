import Architecture
import Cost
import Engine
import Foundation

/// Why a saved training state could not be used: missing, unreadable, another network's, or its optimizer state
/// missing or of another epoch.
public struct TrainingStateProblem: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
    public init(reason: String) { self.reason = reason }
}

/// One network's training, from its seed or from a saved state, and how it is saved: the weights with their
/// metadata (timm's names and layouts, `Checkpoint`) and the optimizer state beside them (`OptimizerState`).
/// `efsearch train` and the search's evaluator (successive halving's rung states, kept checkpoints) both train
/// through it.
/// Where `efsearch train` starts: new weights from a seed, a checkpoint's weights (`--checkpoint`), or a run saved
/// with `--save-every-epoch` to continue (`--resume`).
public enum TrainingStart: Sendable {
    case fresh(seed: UInt64)
    case weights(URL)
    case resume(URL)
}

public struct TrainingSession {
    public let spec: NetworkSpec
    public let model: EfficientNetModel
    public let trainer: Trainer
    /// The epoch training starts from: 0, or the saved state's.
    public let startEpoch: Int

    /// A new network with weights from `seed`.
    public init(spec: NetworkSpec, dataset: Dataset, config: TrainingConfig, options: ModelOptions = ModelOptions(), seed: UInt64) throws {
        self.spec = spec
        model = EfficientNetModel(try spec.resolve(), options: options)
        model.initialize(seed: seed)
        trainer = Trainer(model: model, spec: spec, dataset: dataset, config: config)
        startEpoch = 0
    }

    /// `efsearch train`'s session: `spec` (the flags' network, or with `.weights` the checkpoint's) with the dataset's
    /// classes, at `resolution` (given; else the checkpoint's with `.weights`; else the dataset's for built-in sets,
    /// the network's for image folders), checked at the smallest resolution progressive resizing reaches. `note`
    /// hears what a resumed session lacks.
    public init(_ spec: NetworkSpec, start: TrainingStart, resolution: Int?, dataset: Dataset, config: TrainingConfig, options: ModelOptions,
                note: (String) -> Void) throws {
        var spec = spec, config = config
        spec.classes = dataset.classes
        if case .weights = start {
            spec.resolution = dataset.trainingResolution(given: resolution ?? spec.resolution, network: spec.resolution)
        } else {
            spec.resolution = dataset.trainingResolution(given: resolution, network: spec.resolution)
        }
        var smallest = spec
        smallest.resolution = min(spec.resolution, config.progressiveStart ?? spec.resolution)
        do { _ = try smallest.resolve() } catch {
            throw FlagError("--resolution \(smallest.resolution) px does not fit this network: \(error)")
        }
        config.resolution = spec.resolution
        switch start {
        case .fresh(let seed): try self.init(spec: spec, dataset: dataset, config: config, options: options, seed: seed)
        case .weights(let url): try self.init(startingFrom: url, spec: spec, dataset: dataset, config: config, options: options)
        case .resume(let url): try self.init(resuming: url, spec: spec, dataset: dataset, config: config, options: options, strict: false, note: note)
        }
    }

    /// What `efsearch train` says before it starts: the network, its size, the data and the schedule.
    public func announcement(name: String, dataset: Dataset) -> String {
        let summary = CostModel.summary(of: model.network)
        return "training \(name) (\(Format.engineering(Double(summary.params))) params, \(Format.engineering(Double(summary.macs))) MACs at \(spec.resolution) px) "
            + "on \(dataset.name): \(dataset.train.count) train / \(dataset.validation.count) val / \(dataset.test.count) test images, "
            + "\(trainer.totalEpochs) epochs of \(trainer.stepsPerEpoch) steps"
    }

    /// Starts from the weights of the checkpoint at `url` (`train --checkpoint`: a candidate extracted from a
    /// supernet, a kept checkpoint) with a fresh optimizer and schedule; `spec` is the checkpoint's network (its
    /// `Checkpoint.load` spec) with the dataset's classes and the training resolution.
    public init(startingFrom url: URL, spec: NetworkSpec, dataset: Dataset, config: TrainingConfig, options: ModelOptions = ModelOptions()) throws {
        self.spec = spec
        model = try Checkpoint.load(url, expected: spec, options: options).model
        trainer = Trainer(model: model, spec: spec, dataset: dataset, config: config)
        startEpoch = 0
    }

    /// Continues from the state saved at `url` after `epoch` (nil: the epoch its metadata records). `strict` (a
    /// search's rung state): anything missing or unusable, the optimizer state included, is a
    /// `TrainingStateProblem`. Otherwise (`efsearch train --resume`) errors pass as they are, and a missing
    /// optimizer state is told to `note` and momentum starts from zero.
    public init(resuming url: URL, epoch: Int? = nil, spec: NetworkSpec, dataset: Dataset, config: TrainingConfig, options: ModelOptions = ModelOptions(),
                strict: Bool, note: (String) -> Void = { _ in }) throws {
        func problem(_ reason: String, _ error: Error) -> Error { strict ? TrainingStateProblem(reason: "\(reason): \(error)") : error }
        if strict && !FileManager.default.fileExists(atPath: url.path) { throw TrainingStateProblem(reason: "\(url.path) is missing") }
        let loaded: (model: EfficientNetModel, metadata: [String: String])
        do {
            let (model, _, metadata) = try Checkpoint.load(url, expected: spec, options: options)
            loaded = (model, metadata)
        } catch {
            throw problem("\(url.path) cannot be used", error)
        }
        self.spec = spec
        model = loaded.model
        startEpoch = epoch ?? Int(loaded.metadata["epoch"] ?? "0") ?? 0
        trainer = Trainer(model: model, spec: spec, dataset: dataset, config: config)
        let found: Bool
        do { found = try OptimizerState.load(trainer.optimizer, parameters: trainer.parameters, beside: url.path, epoch: startEpoch) } catch {
            throw problem("the optimizer state beside \(url.path) cannot be used", error)
        }
        if !found {
            if strict { throw TrainingStateProblem(reason: "the optimizer state beside \(url.path) is missing or not of epoch \(startEpoch)") }
            note("note: no optimizer state beside \(url.path); momentum starts from zero")
        }
    }

    /// Writes the weights with `metadata`, and with `optimizerEpoch` the optimizer state after that epoch beside
    /// them, so that `init(resuming:)` continues from there.
    public func save(to url: URL, metadata: [String: String], optimizerEpoch: Int?) throws {
        try Checkpoint.save(model, spec: spec, to: url, extraMetadata: metadata)
        if let optimizerEpoch { try OptimizerState.save(trainer.optimizer, beside: url.path, epoch: optimizerEpoch) }
    }
}

extension TrainingSession {
    /// Weights for inference: `metadata` with how `dataset`'s evaluation prepares an input at this network's
    /// resolution (normalisation, filter, crop, class names), which `infer`, `eval` and ONNX export read back.
    public func saveForInference(to url: URL, dataset: Dataset, metadata: [String: String], optimizerEpoch: Int? = nil) throws {
        let preprocessing = try dataset.evaluationPreprocessing(resolution: spec.resolution).metadata()
        try save(to: url, metadata: metadata.merging(preprocessing) { _, new in new }, optimizerEpoch: optimizerEpoch)
    }

    /// Trains from `startEpoch` to the end (`efsearch train`). With `checkpoint`, the weights (and `metadata`, the
    /// epoch and the evaluation's preprocessing) are written when training finished, and after every epoch with
    /// the optimizer state beside them when `everyEpoch`, so that `init(resuming:)` continues from any epoch.
    public func run(listener: TrainingListener?, dataset: Dataset, checkpoint: URL?, everyEpoch: Bool, metadata: [String: String]) throws -> TrainingOutcome {
        func save(epoch: Int) throws {
            guard let checkpoint else { return }
            try saveForInference(to: checkpoint, dataset: dataset, metadata: metadata.merging(["epoch": "\(epoch)"]) { _, new in new },
                                 optimizerEpoch: everyEpoch ? epoch : nil)
        }
        let outcome = try trainer.run(startEpoch: startEpoch, listener: listener) { epoch in
            if everyEpoch { try save(epoch: epoch) }
        }
        if outcome.status == .done { try save(epoch: outcome.epochs) }
        return outcome
    }
}

extension Dataset {
    /// The resolution a network trains at on this dataset: `given` (`--resolution`), else an image folder's at the
    /// network's own, a built-in set's own resolution.
    public func trainingResolution(given: Int?, network: Int) -> Int {
        given ?? (style == .centerCrop ? network : resolution)
    }
}

extension TrainingOutcome {
    /// The outcome as one JSON object (`efsearch train --json`): status, validation and test figures, time,
    /// throughput, the network's size, and each epoch's history.
    public func json(session: TrainingSession, skippedImages: Int) -> String {
        let summary = CostModel.summary(of: session.model.network)
        return json(resolution: session.spec.resolution, params: summary.params, macs: summary.macs, skippedImages: skippedImages)
    }

    public func json(resolution: Int, params: Int, macs: Int, skippedImages: Int) -> String {
        var out = JSONObjectWriter()
        out.add("status", status.rawValue)
        if let reason { out.add("reason", reason) }
        out.add("val_accuracy", validation?.accuracy ?? .nan)
        out.add("val_top5", validation?.top5 ?? .nan)
        out.add("val_loss", validation?.loss ?? .nan)
        out.add("test_accuracy", test?.accuracy ?? .nan)
        out.add("test_top5", test?.top5 ?? .nan)
        out.add("test_loss", test?.loss ?? .nan)
        out.add("train_seconds", trainSeconds)
        out.add("images_per_second", imagesPerSecond)
        out.add("epochs", epochs)
        out.add("steps", steps)
        out.add("resolution", resolution)
        out.add("params", params)
        out.add("macs", macs)
        out.add("skipped_images", skippedImages)
        let history = history.map { epoch -> String in
            var item = JSONObjectWriter()
            item.add("epoch", epoch.epoch)
            item.add("train_loss", epoch.trainLoss)
            item.add("val_accuracy", epoch.validation.accuracy)
            item.add("val_loss", epoch.validation.loss)
            item.add("resolution", epoch.resolution)
            return item.finished()
        }
        out.addRaw("history", "[" + history.joined(separator: ",") + "]")
        return out.finished()
    }

    /// The outcome in three lines of text.
    public var text: String {
        var lines: [String] = []
        if let validation {
            lines.append("validation  accuracy \(Format.fixed(100 * validation.accuracy, 2))%  top-5 \(Format.fixed(100 * validation.top5, 2))%  loss \(Format.fixed(validation.loss, 4))")
        }
        if let test {
            lines.append("test        accuracy \(Format.fixed(100 * test.accuracy, 2))%  top-5 \(Format.fixed(100 * test.top5, 2))%  loss \(Format.fixed(test.loss, 4))")
        }
        lines.append("\(status.rawValue): \(epochs) epochs, \(steps) steps in \(Format.fixed(trainSeconds, 1)) s of training, \(Format.fixed(imagesPerSecond, 0)) images/s")
        return lines.joined(separator: "\n")
    }
}
