import Architecture
import ArgumentParser
import Engine
import Foundation
import ONNX
import SearchRunner

/// `--batch` of `efsearch onnx`: a number or `dynamic`.
extension ONNXBatch: ExpressibleByArgument {
    public init?(argument: String) {
        if argument == "dynamic" {
            self = .dynamic
        } else if let n = Int(argument), n >= 1 {
            self = .fixed(n)
        } else {
            return nil
        }
    }

    public static var defaultCompletionKind: CompletionKind { .list(["1", "dynamic"]) }

    /// The default as a user writes it: `1` or `dynamic`.
    public var defaultValueDescription: String {
        switch self {
        case .fixed(let n): "\(n)"
        case .dynamic: "dynamic"
        }
    }
}

extension Efsearch {
    /// `efsearch onnx`: a checkpoint as a standard ONNX model, for ONNX Runtime and other deployment targets.
    struct Onnx: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "onnx",
            abstract: "Export a checkpoint as an ONNX model (batch norm folded into Conv; input `input` NCHW float32, output `logits`).",
            discussion: """
            The graph uses standard operators only: Conv (batch norm folded, depthwise as grouped Conv), Sigmoid and Mul
            for SiLU, Relu, Clip for ReLU6, GlobalAveragePool, Flatten, Gemm, Add for residuals. The network spec, the
            resolution and the checkpoint's metadata go into the model's metadata properties.

            Examples:
              efsearch onnx --checkpoint results/b0-half.safetensors --out b0-half.onnx --batch dynamic
              efsearch onnx --run my-search --id 7 --out best.onnx    # a candidate kept with nas --keep-checkpoints
              python3 scripts/check_onnx.py    # ONNX Runtime against efsearch infer
            """)

        @Option(help: "The checkpoint (.safetensors).") var checkpoint: String?
        @Option(name: .customLong("run"), help: "With --id: a candidate of a run made with --keep-checkpoints.") var runName: String?
        @Option(help: "The candidate's id (efsearch frontier NAME lists them).") var id: Int64?
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Where to write the model (.onnx).") var out: String
        @Option(help: "ONNX opset (13-21).") var opset: Int = 17
        @Option(help: "Batch dimension of the input: a number, or dynamic.") var batch: ONNXBatch = .fixed(1)

        func validate() throws {
            try checkRunName(runName, "--run")
            if (checkpoint == nil) == (runName == nil || id == nil) { throw ValidationError("give --checkpoint FILE, or --run NAME with --id ID") }
            if checkpoint != nil && (runName != nil || id != nil) { throw ValidationError("--checkpoint, or --run with --id: not both") }
            if !ONNXExporter.opsets.contains(opset) { throw ValidationError("--opset \(opset): expected \(ONNXExporter.opsets.lowerBound)-\(ONNXExporter.opsets.upperBound)") }
        }

        /// The checkpoint file: given, or the one a run kept for the candidate.
        func checkpointPath() throws -> String {
            if let checkpoint { return checkpoint }
            let catalog = try storeOptions.catalog(readOnly: true)
            let record = try catalog.record(runName!)
            guard let candidate = try catalog.store.candidate(id: id!), candidate.runId == record.id else {
                throw RunError(store: catalog.store.location, run: record.name, message: "has no candidate \(id!) (efsearch frontier \(record.name) lists its best ones' ids)")
            }
            guard let path = candidate.checkpoint else {
                throw RunError(store: catalog.store.location, run: record.name, message: "kept no weights for candidate \(id!) (\(candidate.status.rawValue); weights are kept by nas --keep-checkpoints with --fidelity train)")
            }
            return path
        }

        func run() throws {
            let checkpoint = try checkpointPath()
            let url = URL(fileURLWithPath: checkpoint)
            // Loading checks every tensor's name and shape against the spec in the metadata.
            let (_, spec, _) = try Checkpoint.load(url)
            let (tensors, metadata) = try Safetensors.read(url)
            var properties = metadata.merging(Checkpoint.metadata(for: spec)) { _, new in new }
            properties["efsearch_version"] = EfsearchVersion.current
            properties["input"] = "input: float32 NCHW [N, 3, \(spec.resolution), \(spec.resolution)], normalised per channel as in training"
            properties["output"] = "logits: float32 [N, \(spec.classes)]"
            let exporter = ONNXExporter(opset: opset, batch: batch)
            let model = try exporter.model(spec: spec, tensors: tensors, metadata: properties, file: checkpoint)
            try ONNXExporter.write(model, to: out)
            let batchText: String
            switch batch {
            case .fixed(let n): batchText = "\(n)"
            case .dynamic: batchText = "batch"
            }
            print("wrote \(out): opset \(opset), \(model.graph.node.count) nodes, input [\(batchText), 3, \(spec.resolution), \(spec.resolution)]")
        }
    }
}
