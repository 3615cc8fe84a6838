import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Training

extension Efsearch {
    /// `efsearch train`: short training on a proxy dataset.
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Short-train a network on a dataset with the engine (forward and backward), then evaluate it.",
            discussion: """
            The network's classes follow the dataset; the resolution is --resolution or the dataset's own (32 px for
            synthetic and CIFAR, 28 for MNIST). A NaN or infinite loss stops the run with status "failed" (exit code 3).

            Examples:
              efsearch train --arch 'ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25' --epochs 3 --out tiny.safetensors
              efsearch train efficientnet-b0 --width 0.5 --dataset folder:data/pets --resolution 128 --epochs 10 --out pets.safetensors
              efsearch train efficientnet-b0 --dataset cifar10:data/cifar-10-batches-bin --save-every-epoch --out b0.safetensors
            """)

        @OptionGroup var network: NetworkOptions
        @OptionGroup var data: DatasetOptions
        @Option(help: "Epochs.") var epochs: Int = 5
        @Option(help: "A step budget instead of epochs.") var steps: Int?
        @Option(help: "Batch size.") var batch: Int = 64
        @Option(help: "sgd (Nesterov momentum), rmsprop (TF style) or adamw.") var optimizer: OptimizerKind = .sgd
        @Option(help: "Peak learning rate.") var lr: Float = 0.05
        @Option(help: "Momentum (sgd, rmsprop).") var momentum: Float = 0.9
        @Option(name: .customLong("weight-decay"), help: "Weight decay on conv and linear weights.") var weightDecay: Amount<Float> = 5e-5
        @Option(help: "cosine, exponential (0.97 every 2.4 epochs) or constant.") var schedule: LearningRateSchedule = .cosine
        @Option(name: .customLong("warmup-epochs"), help: "Linear warm-up, in epochs.") var warmupEpochs: Amount<Double> = 0
        @Option(name: .customLong("label-smoothing"), help: "Label smoothing.") var labelSmoothing: Float = 0.1
        @Option(help: "Dropout before the classifier (default: the network's).") var dropout: Float?
        @Option(name: .customLong("drop-path"), help: "Stochastic depth rate at the last block.") var dropPath: Amount<Float> = 0
        @Option(help: "Progressive resizing: the first epoch's resolution, ramping to --resolution.") var progressive: Int?
        @Flag(name: .customLong("no-augment"), help: "No random crops or flips.") var noAugment = false
        @Flag(name: .customLong("no-shuffle"), help: "Visit the training images in file order every epoch.") var noShuffle = false
        @Option(help: "Seed of the weights, the batch order and the augmentation.") var seed: UInt64 = 0
        @Option(help: "Threads (default: all cores).") var threads: Int?
        @Option(help: "The engine's GEMM: fast (OpenBLAS) or portable (the same bits on every x86-64 machine with AVX2).") var numerics: Numerics = .fast
        @Option(help: "Checkpoint to write (.safetensors).") var out: String?
        @Flag(name: .customLong("save-every-epoch"), help: "Also write --out after every epoch (with the optimizer state beside it).") var saveEveryEpoch = false
        @Option(help: "Continue from a checkpoint written with --save-every-epoch.") var resume: String?
        @Flag(help: "Print one JSON object at the end.") var json = false
        @Option(name: .customLong("record-randomness"), help: ArgumentHelp("Write every step's batch order, augmentation and dropout / drop-path scales as JSON lines (scripts/parity_train.py replays them in PyTorch).", visibility: .hidden))
        var recordRandomness: String?

        func validate() throws {
            if epochs < 1 { throw ValidationError("--epochs \(epochs) must be at least 1") }
            if let steps, steps < 1 { throw ValidationError("--steps \(steps) must be at least 1") }
            if batch < 1 { throw ValidationError("--batch \(batch) must be at least 1") }
            if !(lr > 0 && lr.isFinite) { throw ValidationError("--lr \(lr) must be a number greater than 0") }
            if !(labelSmoothing >= 0 && labelSmoothing < 1) { throw ValidationError("--label-smoothing \(labelSmoothing) must be in [0, 1)") }
            if let dropout, !(dropout >= 0 && dropout < 1) { throw ValidationError("--dropout \(dropout) must be in [0, 1)") }
            if !(dropPath.value >= 0 && dropPath.value < 1) { throw ValidationError("--drop-path \(dropPath) must be in [0, 1)") }
            if let threads, threads < 1 { throw ValidationError("--threads \(threads) must be at least 1") }
            if saveEveryEpoch && out == nil { throw ValidationError("--save-every-epoch needs --out") }
        }

        func run() throws {
            EngineConfiguration.current.with { $0.threads = threads ?? $0.threads; $0.numerics = numerics }.install()
            var spec = try network.spec()
            // Built-in sets train at their own resolution unless told; image folders at the network's.
            let folderResolution = network.resolution ?? spec.resolution
            let dataset = try data.load(resolution: data.isFolder ? folderResolution : nil, quiet: json)
            spec.classes = dataset.classes
            spec.resolution = data.isFolder ? folderResolution : (network.resolution ?? dataset.resolution)
            var smallest = spec
            smallest.resolution = min(spec.resolution, progressive ?? spec.resolution)
            do { _ = try smallest.resolve() } catch {
                throw ValidationError("--resolution \(smallest.resolution) px does not fit this network: \(error)")
            }
            var config = TrainingConfig()
            config.epochs = epochs
            config.steps = steps
            config.batch = batch
            config.optimizer = optimizer
            config.learningRate = lr
            config.momentum = momentum
            config.weightDecay = weightDecay.value
            config.schedule = schedule
            config.warmupEpochs = warmupEpochs.value
            config.labelSmoothing = labelSmoothing
            config.dropout = dropout
            config.dropPath = dropPath.value
            config.resolution = spec.resolution
            config.progressiveStart = progressive
            config.augment = !noAugment
            config.shuffle = !noShuffle
            config.seed = seed

            var options = ModelOptions()
            options.dropPathRate = dropPath.value
            let session = try resume.map { path in
                try TrainingSession(resuming: URL(fileURLWithPath: path), spec: spec, dataset: dataset, config: config, options: options, strict: false) { Console.note($0) }
            } ?? TrainingSession(spec: spec, dataset: dataset, config: config, options: options, seed: seed)
            let trainer = session.trainer
            let preprocessing = try dataset.evaluationPreprocessing(resolution: spec.resolution).metadata()
            let summary = CostModel.summary(of: session.model.network)
            if !json {
                Console.note("training \(network.displayName) (\(Format.engineering(Double(summary.params))) params, \(Format.engineering(Double(summary.macs))) MACs at \(spec.resolution) px) on \(dataset.name): \(dataset.train.count) train / \(dataset.validation.count) val / \(dataset.test.count) test images, \(trainer.totalEpochs) epochs of \(trainer.stepsPerEpoch) steps")
            }
            let recorder = try recordRandomness.map { try RandomnessRecorder(path: $0) }
            if let recorder { trainer.randomnessObserver = recorder.write }
            defer { recorder?.close() }
            /// The checkpoint after `epoch`, with the optimizer state beside it when every epoch is saved.
            func save(epoch: Int) throws {
                guard let out else { return }
                try session.save(to: URL(fileURLWithPath: out), metadata: ["epoch": "\(epoch)", "seed": "\(seed)", "dataset": data.dataset.description].merging(preprocessing) { _, new in new },
                                 optimizerEpoch: saveEveryEpoch ? epoch : nil)
            }
            let progress = ProgressPrinter()
            let outcome = try trainer.run(startEpoch: session.startEpoch, listener: progress) { epoch in
                if saveEveryEpoch { try save(epoch: epoch) }
            }
            progress.finish()
            if outcome.status == .done { try save(epoch: outcome.epochs) }
            if json {
                print(outcome.json(resolution: spec.resolution, params: summary.params, macs: summary.macs, skippedImages: dataset.skipped.count))
            } else {
                if let reason = outcome.reason { Console.error(reason) }
                print(outcome.text)
            }
            if outcome.status != .done { throw ExitCode(3) }
        }
    }
}

extension OptimizerKind: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}
