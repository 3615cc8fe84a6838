import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation

extension Efsearch {
    /// `efsearch init`: a freshly initialised, timm-compatible checkpoint.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a freshly initialised checkpoint (safetensors, timm's EfficientNet names and layouts).",
            discussion: """
            Examples:
              efsearch init efficientnet-b0 --out b0.safetensors --seed 1
              efsearch init --arch 'ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25' --classes 10 --out tiny.safetensors
            """)

        @OptionGroup var network: NetworkOptions
        @Option(help: "Seed of the initialisation.")
        var seed: UInt64 = 0
        @Option(help: "The checkpoint to write (.safetensors).")
        var out: String

        func run() throws {
            let spec = try network.spec()
            let model = EfficientNetModel(try spec.resolve())
            model.initialize(seed: seed)
            try Checkpoint.save(model, spec: spec, to: URL(fileURLWithPath: out), extraMetadata: ["seed": "\(seed)"])
            print("wrote \(out): \(model.network.archString), \(Format.grouped(model.namedParameters().reduce(0) { $0 + $1.1.value.count })) parameters, seed \(seed)")
        }
    }
}
