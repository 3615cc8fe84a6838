import ArgumentParser
import ONNX
import Store

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
        @Option(name: .customLong("run"), help: "With --id: a candidate of a run made with --keep-checkpoints.", transform: RunName.init) var runName: RunName?
        @Option(help: "The candidate's id (efsearch frontier NAME lists them).") var id: Int64?
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Where to write the model (.onnx).") var out: String
        @Option(help: "ONNX opset (13-21).") var opset: Int = 17
        @Option(help: "Batch dimension of the input: a number, or dynamic.") var batch: ONNXBatch = .fixed(1)

        func validate() throws {
            if (checkpoint == nil) == (runName == nil || id == nil) { throw ValidationError("give --checkpoint FILE, or --run NAME with --id ID") }
            if checkpoint != nil && (runName != nil || id != nil) { throw ValidationError("--checkpoint, or --run with --id: not both") }
            if !ONNXExporter.opsets.contains(opset) { throw ValidationError("--opset \(opset): expected \(ONNXExporter.opsets.lowerBound)-\(ONNXExporter.opsets.upperBound)") }
        }

        func run() throws {
            // The checkpoint given, or the one a run kept for the candidate.
            let file = try checkpoint ?? storeOptions.catalog(readOnly: true).keptCheckpoint(run: runName!.text, candidate: id!)
            print(try ONNXExporter(opset: opset, batch: batch).export(checkpoint: file, to: out))
        }
    }
}
