import Architecture
import ArgumentParser
import Engine
import Foundation
import SearchRunner
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
        @OptionGroup var threads: ThreadOptions
        @Option(help: "The engine's GEMM: fast (OpenBLAS) or portable (the same bits on every x86-64 machine with AVX2).") var numerics: Numerics = .fast
        @Option(help: "Checkpoint to write (.safetensors).") var out: String?
        @Flag(name: .customLong("save-every-epoch"), help: "Also write --out after every epoch (with the optimizer state beside it).") var saveEveryEpoch = false
        @Option(help: "Continue from a checkpoint written with --save-every-epoch.") var resume: String?
        @Option(help: "Start from this checkpoint's network and weights, with a fresh optimizer and schedule (e.g. efsearch supernet extract's).") var checkpoint: String?
        @Flag(help: "Print one JSON object at the end.") var json = false
        @Option(name: .customLong("record-randomness"), help: ArgumentHelp("Write every step's batch order, augmentation and dropout / drop-path scales as JSON lines (scripts/parity_train.py replays them in PyTorch).", visibility: .hidden)) var recordRandomness: String?

        /// The training settings the flags give (the resolution is the network's, set when the dataset is known).
        var config: TrainingConfig {
            var c = TrainingConfig()
            (c.epochs, c.steps, c.batch, c.optimizer, c.learningRate, c.momentum, c.schedule) = (epochs, steps, batch, optimizer, lr, momentum, schedule)
            (c.weightDecay, c.warmupEpochs, c.labelSmoothing, c.dropout, c.dropPath) = (weightDecay.value, warmupEpochs.value, labelSmoothing, dropout, dropPath.value)
            (c.progressiveStart, c.augment, c.shuffle, c.seed) = (progressive, !noAugment, !noShuffle, seed)
            return c
        }

        func validate() throws {
            do { try config.validate() } catch { throw ValidationError("\(error)") }
            if saveEveryEpoch && out == nil { throw ValidationError("--save-every-epoch needs --out") }
            if checkpoint != nil && resume != nil { throw ValidationError("--checkpoint and --resume: --resume continues a run, --checkpoint starts one from weights") }
        }

        func run() throws {
            EngineConfiguration.current.with { $0.threads = threads.count; $0.numerics = numerics }.install()
            let spec = try checkpoint.map { try Checkpoint.load(URL(fileURLWithPath: $0)).spec } ?? network.spec()
            // Built-in sets train at their own resolution unless told; image folders at the network's.
            let dataset = try data.load(resolution: data.isFolder ? network.resolution ?? spec.resolution : nil, quiet: json)
            var options = ModelOptions()
            options.dropPathRate = dropPath.value
            let start = checkpoint.map { TrainingStart.weights(URL(fileURLWithPath: $0)) } ?? resume.map { .resume(URL(fileURLWithPath: $0)) } ?? .fresh(seed: seed)
            let session = try TrainingSession(spec, start: start, resolution: network.resolution, dataset: dataset, config: config, options: options) { Console.note($0) }
            if !json { Console.note(session.announcement(name: network.displayName, dataset: dataset)) }
            let recorder = try recordRandomness.map { try RandomnessRecorder(path: $0) }
            if let recorder { session.trainer.randomnessObserver = recorder.write }
            defer { recorder?.close() }
            let progress = ProgressBar("train")
            let outcome = try session.run(listener: progress, dataset: dataset, checkpoint: out.map { URL(fileURLWithPath: $0) }, everyEpoch: saveEveryEpoch,
                                          metadata: ["seed": "\(seed)", "dataset": data.dataset.description])
            progress.finish()
            if !json, let reason = outcome.reason { Console.error(reason) }
            print(json ? outcome.json(session: session, skippedImages: dataset.skipped.count) : outcome.text)
            if outcome.status != .done { throw ExitCode(3) }
        }
    }
}

extension OptimizerKind: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}
