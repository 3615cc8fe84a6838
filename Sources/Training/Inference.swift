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

/// The held-out part of a dataset that `efsearch eval` scores.
public enum EvaluationSplit: String, CaseIterable, Sendable { case val, test }

extension Inference {
    /// Scores a loaded checkpoint on a split of `dataset` (loaded from `source`), its inputs made as in its training
    /// run: the normalisation, filter and crop the checkpoint recorded replace the dataset's. `normalize`: what the
    /// user asked for, noted as ignored when the checkpoint recorded another.
    public static func evaluate(_ model: EfficientNetModel, spec: NetworkSpec, metadata: [String: String], file: String, dataset: Dataset,
                                source: DatasetSource, split: EvaluationSplit, resolution: Int?, normalize: String?,
                                note: (String) -> Void) throws -> Evaluation {
        var dataset = dataset
        if let recorded = try EvaluationPreprocessing(metadata: metadata, source: file), recorded.style == dataset.style {
            if let normalize, normalize != recorded.normalization {
                note("note: --normalize \(normalize) ignored: the checkpoint was trained with \(recorded.normalization) normalisation")
            }
            (dataset.mean, dataset.std) = (recorded.mean, recorded.std)
            dataset.interpolation = recorded.interpolation
            dataset.cropFraction = recorded.cropFraction
        }
        guard spec.classes == dataset.classes else {
            throw CheckpointError(file: file, message: "the network has \(spec.classes) classes but \(dataset.name) has \(dataset.classes)")
        }
        let set = split == .val ? dataset.validation : dataset.test
        if set.count == 0 {
            throw DatasetError(source: "--split \(split.rawValue)", message: split == .test && source.isFolder
                               ? "\(source) has no test folder (DIR/test/<class>/...)" : "\(dataset.name) has no \(split.rawValue) images")
        }
        return Trainer.evaluate(model, set, batches: BatchMaker(dataset: dataset), resolution: resolution ?? spec.resolution, batchSize: 200)
    }
}

extension Evaluation {
    /// One JSON object: the split, accuracy, top-5, loss and the number of images.
    public func json(split: EvaluationSplit) -> String {
        var out = JSONObjectWriter()
        out.add("split", split.rawValue)
        out.add("accuracy", accuracy)
        out.add("top5", top5)
        out.add("loss", loss)
        out.add("count", count)
        return out.finished()
    }

    public func text(split: EvaluationSplit) -> String {
        "\(split.rawValue): accuracy \(Format.fixed(100 * accuracy, 2))%  top-5 \(Format.fixed(100 * top5, 2))%  loss \(Format.fixed(loss, 4))  (\(count) images)"
    }
}

extension Inference {
    /// Runs the checkpoint `file` in eval mode on image files (prepared as its evaluation prepared its inputs) or on
    /// the tensor of a safetensors file (`input`), writes the logits to `output` when given, and returns each input's
    /// `top` classes.
    public static func run(checkpoint file: String, images: [String], input: String?, output: String?, top: Int,
                           note: (String) -> Void) throws -> [Result] {
        let (model, spec, metadata) = try Checkpoint.load(URL(fileURLWithPath: file))
        let recorded = try EvaluationPreprocessing(metadata: metadata, source: file)
        let names: [String]
        let x: Tensor
        if let input {
            x = try tensor(file: input, spec: spec)
            names = (0..<x.shape[0]).map { "\(input)[\($0)]" }
            if let recorded, x.shape[1] != recorded.resolution || x.shape[2] != recorded.resolution {
                note("note: the input is \(x.shape[1])x\(x.shape[2]) px; the network was evaluated at \(recorded.resolution) px")
            }
        } else {
            guard let recorded else {
                throw CheckpointError(file: file, message: "records no preprocessing (it was written before efsearch recorded it); retrain it, or prepare the images yourself and use --input")
            }
            x = try self.images(images, recorded)
            names = images
        }
        let logits = model.forward(x, training: false)
        if let output {
            try Safetensors.write([("logits", Safetensors.Entry(shape: logits.shape, floats: logits.data, count: logits.count))],
                                  metadata: ["checkpoint": file], to: URL(fileURLWithPath: output))
            note("wrote \(output): logits \(logits.shape)")
        }
        return results(logits, names: names, classNames: recorded?.classNames ?? [], top: top)
    }

    /// One JSON object: the checkpoint, and each input's top classes and logits.
    public static func json(checkpoint: String, _ results: [Result]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        struct Output: Codable { var checkpoint: String; var results: [Result] }
        return String(decoding: (try? encoder.encode(Output(checkpoint: checkpoint, results: results))) ?? Data(), as: UTF8.self)
    }

    /// Each input's name, then its top classes with their probabilities.
    public static func text(_ results: [Result]) -> String {
        results.flatMap { result in
            [result.input] + result.top.map { prediction in
                let percent = Format.fixed(100 * prediction.probability, 2)
                return "  " + String(repeating: " ", count: max(0, 7 - percent.count)) + percent + "%  \(prediction.className)"
            }
        }.joined(separator: "\n")
    }
}

extension Dataset {
    /// What an image folder's load did, in a line: classes and images, decoded or read from the cache, images left
    /// out and other files ignored (nil for the built-in sets).
    public var loadSummary: String? {
        guard style == .centerCrop else { return nil }
        var parts = ["\(classes) classes", "\(train.count) train / \(validation.count) val / \(test.count) test images"]
        parts.append(decodedNow ? "decoded to \(resolution) px squares and cached" : "read from the \(resolution) px cache")
        if !skipped.isEmpty { parts.append("\(skipped.count) bad image\(skipped.count == 1 ? "" : "s") skipped") }
        if ignoredFiles > 0 { parts.append("\(ignoredFiles) non-image file\(ignoredFiles == 1 ? "" : "s") ignored") }
        return "\(name): " + parts.joined(separator: ", ")
    }
}
