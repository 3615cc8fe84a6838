import ArgumentParser
import Engine
import Foundation
import Training

extension Efsearch {
    /// `efsearch eval`: accuracy of a checkpoint on a dataset split.
    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a checkpoint on a dataset's validation or test split.",
            discussion: """
            Examples:
              efsearch eval --checkpoint b0.safetensors                       # the built-in synthetic test split
              efsearch eval --checkpoint pets.safetensors --dataset folder:data/pets --split val --json
            """)

        @Option(help: "The checkpoint (.safetensors).") var checkpoint: String
        @OptionGroup var data: DatasetOptions
        @Option(help: "val or test.") var split: EvaluationSplit = .test
        @Option(help: "Resolution (default: the checkpoint's).") var resolution: Int?
        @OptionGroup var threads: ThreadOptions
        @Flag(help: "Print one JSON object.") var json = false

        func run() throws {
            threads.install()
            let (model, spec, metadata) = try Checkpoint.load(URL(fileURLWithPath: checkpoint))
            let dataset = try data.load(resolution: data.isFolder ? (resolution ?? spec.resolution) : nil, quiet: json)
            let result = try Inference.evaluate(model, spec: spec, metadata: metadata, file: checkpoint, dataset: dataset, source: data.dataset, split: split,
                                                resolution: resolution, normalize: data.normalize) { if !json { Console.note($0) } }
            print(json ? result.json(split: split) : result.text(split: split))
        }
    }
}


extension EvaluationSplit: ExpressibleByArgument {}
