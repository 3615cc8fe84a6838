import Architecture
import Engine
import Foundation
import Statistics

public enum OptimizerKind: String, Sendable, CaseIterable {
    case sgd, rmsprop, adamw
}

/// Everything a short training run needs besides the network and the data.
public struct TrainingConfig: Sendable {
    public var epochs = 5
    /// A step budget; when set it replaces `epochs` (the last epoch may be partial).
    public var steps: Int?
    public var batch = 64
    public var optimizer: OptimizerKind = .sgd
    public var learningRate: Float = 0.05
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-5
    public var schedule: LearningRateSchedule = .cosine
    public var warmupEpochs: Double = 0
    public var labelSmoothing: Float = 0.1
    /// Dropout before the classifier at the end of training; nil takes the network's.
    public var dropout: Float?
    /// Stochastic depth at the last block (timm's drop_path_rate).
    public var dropPath: Float = 0
    /// Training (and evaluation) resolution; nil takes the dataset's.
    public var resolution: Int?
    /// Progressive resizing (EfficientNetV2): the first epoch's resolution; it ramps linearly to
    /// `resolution` by the last epoch, and dropout ramps from a tenth of its value to its value with it.
    public var progressiveStart: Int?
    public var augment = true
    /// Whether each epoch visits the training images in a new random order (off: file order, for
    /// comparing with another implementation batch for batch).
    public var shuffle = true
    public var seed: UInt64 = 0
    public var evaluationBatch = 200

    public init() {}

    /// Refuses values out of range, naming the flag that sets each.
    public func validate() throws {
        if epochs < 1 { throw FlagError("--epochs \(epochs) must be at least 1") }
        if let steps, steps < 1 { throw FlagError("--steps \(steps) must be at least 1") }
        if batch < 1 { throw FlagError("--batch \(batch) must be at least 1") }
        if !(learningRate > 0 && learningRate.isFinite) { throw FlagError("--lr \(learningRate) must be a number greater than 0") }
        if !(labelSmoothing >= 0 && labelSmoothing < 1) { throw FlagError("--label-smoothing \(labelSmoothing) must be in [0, 1)") }
        if let dropout, !(dropout >= 0 && dropout < 1) { throw FlagError("--dropout \(dropout) must be in [0, 1)") }
        if !(dropPath >= 0 && dropPath < 1) { throw FlagError("--drop-path \(dropPath) must be in [0, 1)") }
    }
}

public struct Evaluation: Sendable, Codable {
    public var accuracy: Double
    public var top5: Double
    public var loss: Double
    public var count: Int
}

public struct EpochReport: Sendable {
    public var epoch: Int
    public var steps: Int
    public var trainLoss: Double
    public var resolution: Int
    public var learningRate: Float
    public var validation: Evaluation
    public var seconds: Double
    public var imagesPerSecond: Double
}

/// How a training run ended.
public enum TrainingStatus: String, Codable, Sendable {
    case done
    /// The loss became NaN or infinite (`reason` says when).
    case failed
}

/// The result of a run: done, or failed with `reason`.
public struct TrainingOutcome: Sendable {
    public var status: TrainingStatus
    public var reason: String?
    public var epochs: Int
    public var steps: Int
    public var validation: Evaluation?
    public var test: Evaluation?
    public var trainSeconds: Double
    public var imagesPerSecond: Double
    public var history: [EpochReport]
}

/// Everything random in one training step, for replaying it elsewhere (`scripts/parity_train.py`): the images
/// in batch order, each one's augmentation, the dropout scales (`[batch x features]`, empty without dropout) and
/// each residual block's drop-path scales per image (all 1 where the block's rate is 0).
public struct TrainingStepRandomness: Sendable {
    public var epoch: Int
    public var step: Int
    public var indices: [Int]
    public var plans: [BatchMaker.Plan]?
    public var dropout: [Float]
    public var dropPath: [[Float]]
}

/// Hears about progress; the command line's progress bar is one.
public protocol TrainingListener: AnyObject {
    func step(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Double, imagesPerSecond: Double, secondsLeft: Double)
    func epochFinished(_ report: EpochReport)
}

/// The short-training loop: shuffled batches (each epoch's order, crops, flips, dropout and drop-path drawn
/// from a generator seeded by (seed, epoch)), forward, loss, backward, optimizer step, the schedule; a
/// validation pass after every epoch and a test pass at the end.
public final class Trainer {
    public let model: EfficientNetModel
    public let spec: NetworkSpec
    public let dataset: Dataset
    public let config: TrainingConfig
    public let optimizer: Optimizer
    public let parameters: [Parameter]
    private let batches: BatchMaker
    private var input: Tensor?, dLogits: Tensor?
    /// Called after each step's forward pass with what it drew.
    public var randomnessObserver: ((TrainingStepRandomness) -> Void)?

    public init(model: EfficientNetModel, spec: NetworkSpec, dataset: Dataset, config: TrainingConfig) {
        self.model = model
        self.spec = spec
        self.dataset = dataset
        self.config = config
        parameters = model.namedParameters().map(\.1)
        batches = BatchMaker(dataset: dataset)
        switch config.optimizer {
        case .sgd: optimizer = SGD(learningRate: config.learningRate, momentum: config.momentum, weightDecay: config.weightDecay, nesterov: true)
        case .rmsprop: optimizer = RMSProp(learningRate: config.learningRate, rho: 0.9, momentum: config.momentum, eps: 1e-3, weightDecay: config.weightDecay)
        case .adamw: optimizer = AdamW(learningRate: config.learningRate, weightDecay: config.weightDecay)
        }
    }

    public var batchSize: Int { min(config.batch, dataset.train.count) }
    public var stepsPerEpoch: Int { max(1, dataset.train.count / batchSize) }
    public var totalSteps: Int { config.steps ?? config.epochs * stepsPerEpoch }
    public var totalEpochs: Int { (totalSteps + stepsPerEpoch - 1) / stepsPerEpoch }
    public var finalResolution: Int { config.resolution ?? dataset.resolution }

    /// The resolution and dropout of an epoch under progressive resizing.
    public func schedule(epoch: Int) -> (resolution: Int, dropout: Float) {
        let dropout = config.dropout ?? Float(spec.dropout)
        guard let start = config.progressiveStart, totalEpochs > 1 else { return (finalResolution, dropout) }
        let t = Double(epoch) / Double(totalEpochs - 1)
        let resolution = Int(((Double(start) + (Double(finalResolution) - Double(start)) * t) / 8).rounded()) * 8
        return (max(8, resolution), dropout * Float(0.1 + 0.9 * t))
    }

    /// Runs from `startEpoch` (after a resume) to `endEpoch` (default: the end; the schedule still spans every
    /// epoch, so stopping early and continuing later gives the same weights as one run), calling `epochDone` after
    /// each epoch (for checkpoints) and `listener` as it goes. The test pass runs only at the very end.
    public func run(startEpoch: Int = 0, endEpoch: Int? = nil, listener: TrainingListener? = nil, epochDone: ((Int) throws -> Void)? = nil) rethrows -> TrainingOutcome {
        let lastEpoch = min(totalEpochs, endEpoch ?? totalEpochs)
        var history: [EpochReport] = []
        var step = startEpoch * stepsPerEpoch
        var trainNanoseconds: UInt64 = 0
        var imagesSeen = 0
        var order = Array(0..<dataset.train.count)
        for epoch in startEpoch..<max(startEpoch, lastEpoch) {
            let random = RandomGenerator(seed: config.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(epoch) &+ 1)
            order = Array(0..<dataset.train.count)
            if config.shuffle { DatasetSpec.shuffle(&order, random) }
            let (resolution, dropout) = schedule(epoch: epoch)
            model.dropout = dropout
            let epochStart = DispatchTime.now().uptimeNanoseconds
            var lossSum = 0.0, batchesDone = 0
            let stepsThisEpoch = min(stepsPerEpoch, totalSteps - step)
            for index in 0..<stepsThisEpoch {
                let stepStart = DispatchTime.now().uptimeNanoseconds
                let indices = Array(order[(index * batchSize)..<((index + 1) * batchSize)])
                let plans = config.augment
                    ? batches.plans(count: indices.count, height: dataset.train.height, width: dataset.train.width, resolution: resolution, random: random)
                    : nil
                let (x, labels) = batches.make(dataset.train, indices: indices, resolution: resolution, plans: plans, into: &input)
                optimizer.learningRate = config.schedule.rate(
                    base: config.learningRate, step: step, totalSteps: totalSteps,
                    warmupSteps: Int(config.warmupEpochs * Double(stepsPerEpoch)), stepsPerEpoch: stepsPerEpoch)
                model.zeroGradients()
                let logits = model.forward(x, training: true, random: random)
                if let randomnessObserver {
                    let residual = model.blocks.joined().filter { $0.spec.hasResidual }
                    randomnessObserver(TrainingStepRandomness(
                        epoch: epoch, step: step, indices: indices, plans: plans, dropout: model.dropoutMask,
                        dropPath: residual.map { $0.dropPathScales.isEmpty ? [Float](repeating: 1, count: indices.count) : $0.dropPathScales }))
                }
                let gradient = Tensor.reuse(&dLogits, shape: logits.shape)
                let loss = CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: config.labelSmoothing, gradient: gradient)
                guard loss.isFinite else {
                    let elapsed = Double(trainNanoseconds) / 1e9
                    return TrainingOutcome(
                        status: .failed, reason: "the loss became \(loss) at epoch \(epoch + 1), step \(step + 1); lower the learning rate",
                        epochs: epoch, steps: step, validation: history.last?.validation, test: nil,
                        trainSeconds: elapsed, imagesPerSecond: Double(imagesSeen) / max(elapsed, 1e-9), history: history)
                }
                model.backward(gradient)
                optimizer.step(parameters)
                step += 1
                batchesDone += 1
                lossSum += Double(loss)
                imagesSeen += batchSize
                trainNanoseconds += DispatchTime.now().uptimeNanoseconds - stepStart
                if let listener {
                    let seconds = Double(trainNanoseconds) / 1e9
                    let rate = Double(imagesSeen) / max(seconds, 1e-9)
                    listener.step(epoch: epoch, epochs: totalEpochs, step: index + 1, stepsPerEpoch: stepsThisEpoch, loss: lossSum / Double(batchesDone),
                                  imagesPerSecond: rate, secondsLeft: Double((totalSteps - step) * batchSize) / max(rate, 1e-9))
                }
            }
            let validation = evaluate(dataset.validation.count > 0 ? dataset.validation : dataset.test, resolution: resolution)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - epochStart) / 1e9
            let report = EpochReport(epoch: epoch + 1, steps: step, trainLoss: lossSum / Double(max(1, batchesDone)), resolution: resolution,
                                     learningRate: optimizer.learningRate, validation: validation, seconds: seconds,
                                     imagesPerSecond: Double(batchesDone * batchSize) / max(seconds, 1e-9))
            history.append(report)
            listener?.epochFinished(report)
            try epochDone?(epoch + 1)
        }
        let test = dataset.test.count > 0 && lastEpoch == totalEpochs ? evaluate(dataset.test, resolution: finalResolution) : nil
        let seconds = Double(trainNanoseconds) / 1e9
        return TrainingOutcome(status: .done, reason: nil, epochs: lastEpoch, steps: step, validation: history.last?.validation, test: test,
                               trainSeconds: seconds, imagesPerSecond: Double(imagesSeen) / max(seconds, 1e-9), history: history)
    }

    /// Accuracy, top-5 accuracy and mean loss (with the training label smoothing off) in eval mode.
    public func evaluate(_ set: ImageSet, resolution: Int) -> Evaluation {
        Trainer.evaluate(model, set, batches: batches, resolution: resolution, batchSize: config.evaluationBatch)
    }

    public static func evaluate(_ model: EfficientNetModel, _ set: ImageSet, batches: BatchMaker, resolution: Int, batchSize: Int) -> Evaluation {
        var correct = 0, correctTop5 = 0, lossSum = 0.0
        var input: Tensor?, scratch: Tensor?
        var start = 0
        while start < set.count {
            let indices = Array(start..<min(set.count, start + batchSize))
            let (x, labels) = batches.make(set, indices: indices, resolution: resolution, augment: nil, into: &input)
            let logits = model.forward(x, training: false)
            let classes = logits.shape[1]
            let gradient = Tensor.reuse(&scratch, shape: logits.shape)
            lossSum += Double(CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: 0, gradient: gradient)) * Double(indices.count)
            for (row, label) in labels.enumerated() {
                let target = logits[row * classes + label]
                var higher = 0
                for c in 0..<classes where logits[row * classes + c] > target || (logits[row * classes + c] == target && c < label) { higher += 1 }
                if higher == 0 { correct += 1 }
                if higher < 5 { correctTop5 += 1 }
            }
            start += batchSize
        }
        guard set.count > 0 else { return Evaluation(accuracy: .nan, top5: .nan, loss: .nan, count: 0) }
        let count = set.count
        return Evaluation(accuracy: Double(correct) / Double(count), top5: Double(correctTop5) / Double(count), loss: lossSum / Double(count), count: set.count)
    }
}
