import ArgumentParser
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

        @Option(help: "The checkpoint (.safetensors).") var checkpoint: String
        @Option(parsing: .upToNextOption, help: "JPEG or PNG files.") var image: [String] = []
        @Option(help: "A safetensors file with the float32 tensor `input`, N x 3 x H x W.") var input: String?
        @Option(help: "Where to write the tensor `logits` (N x classes), with --input or --image.") var output: String?
        @Option(help: "How many classes to list per image.") var top: Int = 5
        @OptionGroup var threads: ThreadOptions
        @Flag(help: "Print one JSON object: each input's top classes and its logits.") var json = false

        func validate() throws {
            if image.isEmpty == (input == nil) { throw ValidationError("give either --image FILE... or --input FILE") }
            if top < 1 { throw ValidationError("--top \(top) must be at least 1") }
        }

        func run() throws {
            threads.install()
            let results = try Inference.run(checkpoint: checkpoint, images: image, input: input, output: output, top: top) { if !json { Console.note($0) } }
            print(json ? Inference.json(checkpoint: checkpoint, results) : Inference.text(results))
        }
    }
}
