import Architecture
import Cost
import Engine
import Foundation
import Search
import Statistics
import Training

/// How a supernet is trained (kept in its file).
///
/// Two phases: `largestEpochs` epochs of the largest candidate alone (once-for-all's first phase: the shared
/// weights first learn one good network), then the hidden channels are sorted by importance
/// (`Supernet.sortChannelsByImportance`) and every later step trains the largest candidate, the smallest and
/// `randomCandidates` random ones on the same batch (the sandwich rule of BigNAS), the others distilled from
/// the largest's predictions in place (soft targets, no extra teacher). The sandwich rule trains every elastic
/// dimension at once in one schedule, where progressive shrinking needs a phase per dimension and more epochs
/// than a CPU budget allows; the smallest candidate is trained at every step so that the bottom of the space,
/// which random sampling rarely reaches, is not left behind.
public struct SupernetRecipe: Sendable, Equatable {
    public var epochs = 10
    public var largestEpochs = 1
    public var randomCandidates = 2
    public var distill = true
    public var batch = 64
    public var learningRate: Float = 0.05
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-5
    public var labelSmoothing: Float = 0.1
    public var augment = true
    public var seed: UInt64 = 0

    public init() {}

    /// The recipe with these settings, the others at their defaults.
    public init(epochs: Int, largestEpochs: Int, randomCandidates: Int, distill: Bool, batch: Int, learningRate: Float, seed: UInt64) {
        (self.epochs, self.largestEpochs, self.randomCandidates, self.distill) = (epochs, largestEpochs, randomCandidates, distill)
        (self.batch, self.learningRate, self.seed) = (batch, learningRate, seed)
    }

    public func validate() throws {
        if epochs < 1 { throw FlagError("--epochs \(epochs) must be at least 1") }
        if largestEpochs < 0 || largestEpochs > epochs { throw FlagError("--largest-epochs \(largestEpochs) must be between 0 and --epochs \(epochs)") }
        if randomCandidates < 0 || randomCandidates > 16 { throw FlagError("--random-candidates \(randomCandidates) must be between 0 and 16") }
        if batch < 1 { throw FlagError("--batch \(batch) must be at least 1") }
        if !(learningRate > 0 && learningRate.isFinite) { throw FlagError("--lr \(learningRate) must be a number greater than 0") }
        if !(labelSmoothing >= 0 && labelSmoothing < 1) { throw FlagError("--label-smoothing \(labelSmoothing) must be in [0, 1)") }
    }

    var fields: [(String, String)] {
        [("epochs", "\(epochs)"), ("largest_epochs", "\(largestEpochs)"), ("random_candidates", "\(randomCandidates)"), ("distill", "\(distill)"),
         ("batch", "\(batch)"), ("lr", "\(learningRate)"), ("momentum", "\(momentum)"), ("weight_decay", "\(weightDecay)"),
         ("label_smoothing", "\(labelSmoothing)"), ("augment", "\(augment)"), ("seed", "\(seed)")]
    }

    /// The recipe as a flat JSON object of strings (the file's metadata).
    public var json: String { "{" + fields.map { "\(Safetensors.quote($0.0)):\(Safetensors.quote($0.1))" }.joined(separator: ",") + "}" }

    public init(json text: String, file: String) throws {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String] else {
            throw SupernetError("supernet \(file): its recipe is not a JSON object of strings")
        }
        func value<T: LosslessStringConvertible>(_ key: String) throws -> T {
            guard let text = object[key], let value = T(text) else { throw SupernetError("supernet \(file): its recipe has no valid \(key)") }
            return value
        }
        (epochs, largestEpochs, randomCandidates, distill) = (try value("epochs"), try value("largest_epochs"), try value("random_candidates"), try value("distill"))
        (batch, learningRate, momentum, weightDecay) = (try value("batch"), try value("lr"), try value("momentum"), try value("weight_decay"))
        (labelSmoothing, augment, seed) = (try value("label_smoothing"), try value("augment"), try value("seed"))
    }
}

/// Progress of a supernet's training: after each step (epoch, step of the epoch, steps per epoch, the
/// largest candidate's mean loss so far this epoch).
public typealias SupernetProgress = (_ epoch: Int, _ step: Int, _ steps: Int, _ loss: Double) -> Void

/// Trains a supernet on a dataset (`SupernetRecipe`), epoch by epoch; a file written after every epoch lets a
/// killed run continue where it stopped, to the same weights (`resume`).
public final class SupernetTrainer {
    public private(set) var checkpoint: SupernetCheckpoint
    public let dataset: Dataset
    let batches: BatchMaker
    private(set) var optimizer: SGD
    let largest: NetworkSpec, smallest: NetworkSpec
    private var models: [String: EfficientNetModel] = [:]
    private var inputs: [Int: Tensor] = [:]

    /// A new supernet of `space` (its YAML `spaceText`) for `dataset`, initialised from the recipe's seed.
    public convenience init(space: SearchSpace, spaceText: String, dataset: Dataset, recipe: SupernetRecipe) throws {
        let supernet = Supernet(layout: try SupernetLayout(space: space, classes: dataset.classes))
        supernet.initialize(seed: recipe.seed)
        try self.init(SupernetCheckpoint(supernet: supernet, space: space, spaceText: spaceText, classes: dataset.classes, recipe: recipe, epochs: 0),
                      dataset: dataset)
    }

    /// Continues from a checkpoint (its recipe, weights and optimizer state).
    public init(_ checkpoint: SupernetCheckpoint, dataset: Dataset) throws {
        guard checkpoint.classes == dataset.classes else {
            throw SupernetError("the supernet has \(checkpoint.classes) classes; the dataset \(dataset.name) has \(dataset.classes)")
        }
        self.checkpoint = checkpoint
        self.dataset = dataset
        batches = BatchMaker(dataset: dataset)
        let recipe = checkpoint.recipe
        optimizer = SupernetTrainer.optimizer(recipe)
        if !checkpoint.optimizerState.isEmpty {
            do { try optimizer.restore(checkpoint.optimizerState, parameters: checkpoint.supernet.parameters) } catch {
                throw SupernetError("the supernet's optimizer state does not fit it: \(error)")
            }
        }
        let extremes = checkpoint.space.extremeGenotypes(classes: checkpoint.classes)
        largest = checkpoint.space.network(for: extremes.largest)
        smallest = checkpoint.space.network(for: extremes.smallest)
    }

    /// SGD with Nesterov momentum, as `train` uses by default.
    static func optimizer(_ recipe: SupernetRecipe) -> SGD {
        SGD(learningRate: recipe.learningRate, momentum: recipe.momentum, weightDecay: recipe.weightDecay, nesterov: true)
    }

    public var batchSize: Int { min(checkpoint.recipe.batch, dataset.train.count) }
    public var stepsPerEpoch: Int { max(1, dataset.train.count / batchSize) }

    /// The model of a candidate, built once and kept (weights are loaded from the supernet at every use).
    func model(_ spec: NetworkSpec) throws -> EfficientNetModel {
        var spec = spec
        spec.classes = checkpoint.classes
        let network = try spec.resolve()
        let key = SearchSpace.key(network)
        if let model = models[key] { return model }
        let model = EfficientNetModel(network)
        if models.count > 64 { models = [:] }
        models[key] = model
        return model
    }

    /// Trains the remaining epochs, calling `epochDone` with the checkpoint after each (to write it).
    public func run(progress: SupernetProgress? = nil, epochDone: (SupernetCheckpoint) throws -> Void) throws {
        let recipe = checkpoint.recipe, supernet = checkpoint.supernet, space = checkpoint.space
        let total = recipe.epochs * stepsPerEpoch
        let parameters = supernet.parameters
        for epoch in checkpoint.epochs..<recipe.epochs {
            let random = RandomGenerator(seed: recipe.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(epoch) &+ 1)
            var order = Array(0..<dataset.train.count)
            DatasetSpec.shuffle(&order, random)
            let sandwich = epoch >= recipe.largestEpochs
            // The phase boundary: sort the hidden channels, and start the optimizer afresh (its momentum is per channel).
            if sandwich && epoch == recipe.largestEpochs && recipe.largestEpochs > 0 {
                supernet.sortChannelsByImportance()
                optimizer = SupernetTrainer.optimizer(recipe)
            }
            var lossSum = 0.0
            for index in 0..<stepsPerEpoch {
                let step = epoch * stepsPerEpoch + index
                optimizer.learningRate = LearningRateSchedule.cosine.rate(base: recipe.learningRate, step: step, totalSteps: total, warmupSteps: 0,
                                                                          stepsPerEpoch: stepsPerEpoch)
                let indices = Array(order[(index * batchSize)..<((index + 1) * batchSize)])
                var candidates = [largest]
                if sandwich {
                    candidates.append(smallest)
                    for _ in 0..<recipe.randomCandidates { candidates.append(space.network(for: space.dimensions.map { random.uniformInt($0.count) })) }
                }
                let stepSeed = UInt64(random.uniformInt(1 << 30)) &* 0x1_0000_0001 &+ UInt64(random.uniformInt(1 << 30))
                supernet.zeroGradients()
                var teacher: [Float] = []
                for (position, spec) in candidates.enumerated() {
                    let model = try self.model(spec)
                    supernet.load(into: model)
                    model.zeroGradients()
                    let resolution = model.network.resolution
                    let plans = recipe.augment
                        ? batches.plans(count: indices.count, height: dataset.train.height, width: dataset.train.width, resolution: resolution,
                                        random: RandomGenerator(seed: stepSeed &+ UInt64(resolution)))
                        : nil
                    var input = inputs[resolution]
                    let (x, labels) = batches.make(dataset.train, indices: indices, resolution: resolution, plans: plans, into: &input)
                    inputs[resolution] = input
                    let logits = model.forward(x, training: true, random: RandomGenerator(seed: stepSeed &+ UInt64(position) &* 7919))
                    let gradient = Tensor(shape: logits.shape)
                    let loss: Float
                    if position == 0 || !recipe.distill {
                        loss = CrossEntropy.lossAndGradient(logits: logits, labels: labels, smoothing: recipe.labelSmoothing, gradient: gradient)
                        if position == 0 { teacher = SoftTargets.probabilities(logits) }
                    } else {
                        loss = CrossEntropy.lossAndGradient(logits: logits, targets: teacher, gradient: gradient)
                    }
                    guard loss.isFinite else {
                        throw SupernetError("the loss became \(loss) at epoch \(epoch + 1), step \(index + 1); lower the learning rate (--lr)")
                    }
                    if position == 0 { lossSum += Double(loss) }
                    model.backward(gradient)
                    supernet.accumulateGradients(from: model)
                }
                optimizer.step(parameters)
                progress?(epoch, index + 1, stepsPerEpoch, lossSum / Double(index + 1))
            }
            checkpoint.epochs = epoch + 1
            checkpoint.optimizerState = optimizer.state
            try epochDone(checkpoint)
        }
    }
}

/// In-place distillation's targets: the largest candidate's softmax (the loss is `CrossEntropy`'s against them).
public enum SoftTargets {
    /// Softmax of each row of `[N, classes]` logits.
    public static func probabilities(_ logits: Tensor) -> [Float] {
        let (n, classes) = (logits.shape[0], logits.shape[1])
        var result = [Float](repeating: 0, count: n * classes)
        for row in 0..<n {
            let base = row * classes
            var top = -Float.infinity
            for c in 0..<classes { top = max(top, logits[base + c]) }
            var sum: Float = 0
            for c in 0..<classes { result[base + c] = Foundation.exp(logits[base + c] - top); sum += result[base + c] }
            for c in 0..<classes { result[base + c] /= sum }
        }
        return result
    }
}

extension SearchSpace {
    /// The genotypes of the largest and the smallest candidates: per dimension, the choice with the most (the
    /// fewest) parameters, the others at theirs (two passes over the dimensions).
    public func extremeGenotypes(classes: Int) -> (largest: Genotype, smallest: Genotype) {
        func size(_ genotype: Genotype) -> Int? {
            var spec = network(for: genotype)
            spec.classes = classes
            return (try? spec.resolve()).map { CostModel.summary(of: $0).params }
        }
        func extreme(_ better: (Int, Int) -> Bool) -> Genotype {
            var genotype = dimensions.map { _ in 0 }
            for _ in 0..<2 {
                for (index, dimension) in dimensions.enumerated() {
                    var best: (choice: Int, size: Int)?
                    for choice in 0..<dimension.count {
                        var candidate = genotype
                        candidate[index] = choice
                        guard let value = size(candidate) else { continue }
                        if best == nil || better(value, best!.size) { best = (choice, value) }
                    }
                    if let best { genotype[index] = best.choice }
                }
            }
            return genotype
        }
        return (extreme(>), extreme(<))
    }
}
