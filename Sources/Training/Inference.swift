import Architecture
import Engine
import Foundation

/// A checkpoint's inputs and outputs at inference (`efsearch infer`): images prepared as its evaluation prepared
/// them, a tensor from a safetensors file, and each input's top classes.
public enum Inference {
    /// The images, decoded (JPEG, PNG) and prepared as the checkpoint's evaluation prepared its inputs, NHWC.
    public static func images(_ files: [String], _ recorded: EvaluationPreprocessing) throws -> Tensor {
        let r = recorded.resolution
        let x = Tensor(shape: [files.count, r, r, 3])
        for (index, file) in files.enumerated() {
            let decoded = try ImageDecoder.decode(file: file)
            let values = Preprocess.evaluationInput(decoded, recorded)
            for k in 0..<values.count { x[index * r * r * 3 + k] = values[k] }
        }
        return x
    }

    /// The float32 tensor `input` (N x 3 x H x W, already normalised) of a safetensors file, NHWC, checked to fit
    /// the network `spec` describes.
    public static func tensor(file: String, spec: NetworkSpec) throws -> Tensor {
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
        let x = Tensor(shape: [n, h, w, 3])
        let values = entry.floats
        for image in 0..<n { for y in 0..<h { for xx in 0..<w { for c in 0..<3 {
            x[((image * h + y) * w + xx) * 3 + c] = values[((image * 3 + c) * h + y) * w + xx]
        } } } }
        return x
    }

    public struct Prediction: Codable, Sendable {
        public var className: String
        public var label: Int
        public var probability: Double
        enum CodingKeys: String, CodingKey { case className = "class", label, probability }
    }

    /// One input's name, its `top` classes by softmax probability (ties to the lower label) and its logits.
    public struct Result: Codable, Sendable {
        public var input: String
        public var top: [Prediction]
        public var logits: [Float]
    }

    /// Each row of `logits` (N x classes) as a `Result` named `names[row]`.
    public static func results(_ logits: Tensor, names: [String], classNames: [String], top: Int) -> [Result] {
        let (n, classes) = (logits.shape[0], logits.shape[1])
        return (0..<n).map { row in
            let values = (0..<classes).map { logits[row * classes + $0] }
            let largest = values.max() ?? 0
            let exps = values.map { exp(Double($0 - largest)) }
            let total = exps.reduce(0, +)
            let order = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
            let best = order.prefix(top).map { label in
                Prediction(className: label < classNames.count ? classNames[label] : "\(label)", label: label, probability: exps[label] / total)
            }
            return Result(input: names[row], top: best, logits: values)
        }
    }
}
