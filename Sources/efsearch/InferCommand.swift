import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Training

extension Efsearch {
    /// `efsearch infer`: class predictions for image files, or logits for a tensor.
    struct Infer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a checkpoint in eval mode on image files (--image) or on a tensor (--input) and print its top classes.",
            discussion: """
            --image decodes JPEG or PNG files and prepares them as the checkpoint's own evaluation did (its resolution,
            crop, filter and normalisation, recorded at training): an image-folder network sees the shorter side scaled
            to round(resolution / 0.875) and the centred square kept; a network trained on a built-in set sees the whole
            image scaled to its resolution. --input takes a safetensors file with the float32 tensor `input`
            (N x 3 x H x W, already normalised) and --output writes the tensor `logits`.

            Examples:
              efsearch infer --checkpoint pets.safetensors --image cat.jpg dog.png --top 3
              efsearch infer --checkpoint b0.safetensors --input batch.safetensors --output logits.safetensors
            """)

        @Option(help: "The checkpoint (.safetensors).")
        var checkpoint: String
        @Option(parsing: .upToNextOption, help: "JPEG or PNG files.")
        var image: [String] = []
        @Option(help: "A safetensors file with the float32 tensor `input`, N x 3 x H x W.")
        var input: String?
        @Option(help: "Where to write the tensor `logits` (N x classes), with --input or --image.")
        var output: String?
        @Option(help: "How many classes to list per image.")
        var top: Int = 5
        @Option(help: "Threads.")
        var threads: Int?
        @Flag(help: "Print one JSON object: each input's top classes and its logits.")
        var json = false

        func validate() throws {
            if image.isEmpty == (input == nil) { throw ValidationError("give either --image FILE... or --input FILE") }
            if top < 1 { throw ValidationError("--top \(top) must be at least 1") }
            if let threads, threads < 1 { throw ValidationError("--threads \(threads) must be at least 1") }
        }

        func run() throws {
            if let threads { EngineConfiguration.current.with { $0.threads = threads }.install() }
            let (model, spec, metadata) = try Checkpoint.load(URL(fileURLWithPath: checkpoint))
            let recorded = try EvaluationPreprocessing(metadata: metadata, source: checkpoint)
            let names: [String]
            let x: Tensor
            if let input {
                x = try Inference.tensor(file: input, spec: spec)
                names = (0..<x.shape[0]).map { "\(input)[\($0)]" }
                if let recorded, x.shape[1] != recorded.resolution || x.shape[2] != recorded.resolution, !json {
                    Console.note("note: the input is \(x.shape[1])x\(x.shape[2]) px; the network was evaluated at \(recorded.resolution) px")
                }
            } else {
                guard let recorded else {
                    throw CheckpointError(file: checkpoint, message: "records no preprocessing (it was written before efsearch recorded it); retrain it, or prepare the images yourself and use --input")
                }
                x = try Inference.images(image, recorded)
                names = image
            }
            let logits = model.forward(x, training: false)
            if let output {
                try Safetensors.write([("logits", Safetensors.Entry(shape: logits.shape, floats: logits.data, count: logits.count))],
                                      metadata: ["checkpoint": checkpoint], to: URL(fileURLWithPath: output))
                if !json { Console.note("wrote \(output): logits \(logits.shape)") }
            }
            let results = Inference.results(logits, names: names, classNames: recorded?.classNames ?? [], top: top)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                struct Output: Codable { var checkpoint: String; var results: [Inference.Result] }
                print(String(decoding: (try? encoder.encode(Output(checkpoint: checkpoint, results: results))) ?? Data(), as: UTF8.self))
                return
            }
            for result in results {
                print(result.input)
                for prediction in result.top {
                    let percent = Format.fixed(100 * prediction.probability, 2)
                    print("  " + String(repeating: " ", count: max(0, 7 - percent.count)) + percent + "%  \(prediction.className)")
                }
            }
        }
    }
}
