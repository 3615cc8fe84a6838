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
            if let threads { Parallel.setThreads(threads) }
            let (model, spec, metadata) = try Checkpoint.load(URL(fileURLWithPath: checkpoint))
            let recorded = try EvaluationPreprocessing(metadata: metadata, source: checkpoint)
            let names: [String]
            let x: Tensor
            if image.isEmpty {
                names = []
                x = try tensorInput(input!, spec: spec, recorded: recorded)
            } else {
                guard let recorded else {
                    throw CheckpointError(file: checkpoint, message: "records no preprocessing (it was written before efsearch recorded it); retrain it, or prepare the images yourself and use --input")
                }
                x = try imageInput(image, recorded)
                names = image
            }
            let logits = model.forward(x, training: false)
            if let output {
                try Safetensors.write([("logits", Safetensors.Entry(shape: logits.shape, floats: logits.data, count: logits.count))],
                                      metadata: ["checkpoint": checkpoint], to: URL(fileURLWithPath: output))
                if !json { Console.note("wrote \(output): logits \(logits.shape)") }
            }
            report(logits, names: names, classNames: recorded?.classNames ?? [])
        }

        /// The images, prepared as the checkpoint's evaluation prepared its inputs.
        func imageInput(_ files: [String], _ recorded: EvaluationPreprocessing) throws -> Tensor {
            let r = recorded.resolution
            let x = Tensor(shape: [files.count, r, r, 3])
            for (index, file) in files.enumerated() {
                let decoded = try ImageDecoder.decode(file: file)
                let values = Preprocess.evaluationInput(decoded, recorded)
                for k in 0..<values.count { x[index * r * r * 3 + k] = values[k] }
            }
            return x
        }

        func tensorInput(_ file: String, spec: NetworkSpec, recorded: EvaluationPreprocessing?) throws -> Tensor {
            let (tensors, _) = try Safetensors.read(URL(fileURLWithPath: file))
            guard let entry = tensors["input"] else {
                throw CheckpointError(file: file, message: "no tensor named \"input\"; found \(tensors.keys.sorted().joined(separator: ", "))")
            }
            guard entry.dtype == "F32", entry.shape.count == 4, entry.shape[1] == 3, entry.shape[0] >= 1 else {
                throw CheckpointError(file: file, message: "tensor input is \(entry.dtype) \(entry.shape); expected F32 [N, 3, H, W]")
            }
            let (n, h, w) = (entry.shape[0], entry.shape[2], entry.shape[3])
            var sized = spec
            sized.resolution = min(h, w)
            do { _ = try sized.resolve() } catch {
                throw CheckpointError(file: file, message: "input of \(h)x\(w) px is too small for this network: \(error)")
            }
            if let recorded, h != recorded.resolution || w != recorded.resolution, !json {
                Console.note("note: the input is \(h)x\(w) px; the network was evaluated at \(recorded.resolution) px")
            }
            let x = Tensor(shape: [n, h, w, 3])
            let values = entry.floats
            for image in 0..<n { for y in 0..<h { for xx in 0..<w { for c in 0..<3 {
                x[((image * h + y) * w + xx) * 3 + c] = values[((image * 3 + c) * h + y) * w + xx]
            } } } }
            return x
        }

        struct Prediction: Codable {
            var className: String
            var label: Int
            var probability: Double
            enum CodingKeys: String, CodingKey { case className = "class", label, probability }
        }

        struct Result: Codable {
            var input: String
            var top: [Prediction]
            var logits: [Float]
        }

        func report(_ logits: Tensor, names: [String], classNames: [String]) {
            let (n, classes) = (logits.shape[0], logits.shape[1])
            var results: [Result] = []
            for row in 0..<n {
                let values = (0..<classes).map { logits[row * classes + $0] }
                let largest = values.max() ?? 0
                let exps = values.map { exp(Double($0 - largest)) }
                let total = exps.reduce(0, +)
                let order = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
                let top = order.prefix(top).map { label in
                    Prediction(className: label < classNames.count ? classNames[label] : "\(label)", label: label, probability: exps[label] / total)
                }
                results.append(Result(input: row < names.count ? names[row] : "\(input ?? "input")[\(row)]", top: top, logits: values))
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                struct Output: Codable { var checkpoint: String; var results: [Result] }
                print(String(decoding: (try? encoder.encode(Output(checkpoint: checkpoint, results: results))) ?? Data(), as: UTF8.self))
                return
            }
            for result in results {
                print(result.input)
                for prediction in result.top {
                    print("  \(Format.fixed(100 * prediction.probability, 2).leftPadded(7))%  \(prediction.className)")
                }
            }
        }
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
