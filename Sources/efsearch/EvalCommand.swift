import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Training

extension Efsearch {
    /// `efsearch eval`: accuracy of a checkpoint on a dataset split.
    struct Eval: ParsableCommand {
        /// The held-out part of the dataset to score.
        enum Split: String, CaseIterable, ExpressibleByArgument { case val, test }

        static let configuration = CommandConfiguration(
            abstract: "Evaluate a checkpoint on a dataset's validation or test split.",
            discussion: """
            Examples:
              efsearch eval --checkpoint b0.safetensors                       # the built-in synthetic test split
              efsearch eval --checkpoint pets.safetensors --dataset folder:data/pets --split val --json
            """)

        @Option(help: "The checkpoint (.safetensors).") var checkpoint: String
        @OptionGroup var data: DatasetOptions
        @Option(help: "val or test.") var split: Split = .test
        @Option(help: "Resolution (default: the checkpoint's).") var resolution: Int?
        @Option(help: "Threads (default: all cores).") var threads: Int?
        @Flag(help: "Print one JSON object.") var json = false

        func run() throws {
            if let threads { EngineConfiguration.current.with { $0.threads = threads }.install() }
            let (model, spec, metadata) = try Checkpoint.load(URL(fileURLWithPath: checkpoint))
            var dataset = try data.load(resolution: data.isFolder ? (resolution ?? spec.resolution) : nil, quiet: json)
            // The network is scored on inputs made as in its training run: its recorded normalisation and filter.
            if let recorded = try EvaluationPreprocessing(metadata: metadata, source: checkpoint), recorded.style == dataset.style {
                if let asked = data.normalize, asked != recorded.normalization, !json {
                    Console.note("note: --normalize \(asked) ignored: the checkpoint was trained with \(recorded.normalization) normalisation")
                }
                (dataset.mean, dataset.std) = (recorded.mean, recorded.std)
                dataset.interpolation = recorded.interpolation
                dataset.cropFraction = recorded.cropFraction
            }
            guard spec.classes == dataset.classes else {
                throw CheckpointError(file: checkpoint, message: "the network has \(spec.classes) classes but \(dataset.name) has \(dataset.classes)")
            }
            let set = split == .val ? dataset.validation : dataset.test
            if set.count == 0 {
                throw DatasetError(source: "--split \(split.rawValue)", message: split == .test && data.isFolder
                                   ? "\(data.dataset) has no test folder (DIR/test/<class>/...)" : "\(dataset.name) has no \(split.rawValue) images")
            }
            let result = Trainer.evaluate(model, set, batches: BatchMaker(dataset: dataset), resolution: resolution ?? spec.resolution, batchSize: 200)
            if json {
                var out = JSONObjectWriter()
                out.add("split", split.rawValue)
                out.add("accuracy", result.accuracy)
                out.add("top5", result.top5)
                out.add("loss", result.loss)
                out.add("count", result.count)
                print(out.finished())
            } else {
                print("\(split.rawValue): accuracy \(Format.fixed(100 * result.accuracy, 2))%  top-5 \(Format.fixed(100 * result.top5, 2))%  loss \(Format.fixed(result.loss, 4))  (\(result.count) images)")
            }
        }
    }
}

