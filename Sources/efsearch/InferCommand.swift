import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation

extension Efsearch {
    /// `efsearch infer`: logits for a batch of images in a safetensors file.
    struct Infer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a checkpoint in eval mode on the tensor `input` (N x 3 x H x W, NCHW, normalised) and write `logits`.")

        @Option(help: "The checkpoint (.safetensors).")
        var checkpoint: String
        @Option(help: "A safetensors file with the float32 tensor `input`, N x 3 x H x W.")
        var input: String
        @Option(help: "Where to write the tensor `logits` (N x classes).")
        var output: String
        @Option(help: "Threads.")
        var threads: Int?

        func run() throws {
            if let threads { Parallel.setThreads(threads) }
            let (model, _, _) = try Checkpoint.load(URL(fileURLWithPath: checkpoint))
            let (tensors, _) = try Safetensors.read(URL(fileURLWithPath: input))
            guard let entry = tensors["input"] else {
                throw CheckpointError(file: input, message: "no tensor named \"input\"; found \(tensors.keys.sorted().joined(separator: ", "))")
            }
            guard entry.dtype == "F32", entry.shape.count == 4, entry.shape[1] == 3, entry.shape[0] >= 1 else {
                throw CheckpointError(file: input, message: "tensor input is \(entry.dtype) \(entry.shape); expected F32 [N, 3, H, W]")
            }
            let (n, h, w) = (entry.shape[0], entry.shape[2], entry.shape[3])
            var sized = model.network.spec
            sized.resolution = min(h, w)
            do { _ = try sized.resolve() } catch {
                throw CheckpointError(file: input, message: "input of \(h)x\(w) px is too small for this network: \(error)")
            }
            let x = Tensor(shape: [n, h, w, 3])
            let values = entry.floats
            for image in 0..<n { for y in 0..<h { for xx in 0..<w { for c in 0..<3 {
                x[((image * h + y) * w + xx) * 3 + c] = values[((image * 3 + c) * h + y) * w + xx]
            } } } }
            let logits = model.forward(x, training: false)
            try Safetensors.write([("logits", Safetensors.Entry(shape: logits.shape, floats: logits.data, count: logits.count))],
                                  metadata: ["checkpoint": checkpoint], to: URL(fileURLWithPath: output))
            print("wrote \(output): logits \(logits.shape)")
        }
    }
}
