import Architecture
import ArgumentParser
import Cost
import Engine
import Foundation
import Training

extension Efsearch {
    /// `efsearch proxies`: zero-cost proxy scores of an untrained network.
    struct Proxies: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score an untrained network with the zero-cost proxies synflow and NASWOT (no training).",
            discussion: """
            synflow: ln of sum |theta * dR/dtheta| over the convolution and classifier weights, with every weight and
            batch-norm statistic made positive, batch norm in inference form, an all-ones image, R the sum of the logits
            (Tanaka et al. 2020). NASWOT: log |det K| of the Hamming kernel of the activations' sign codes on one batch of
            the dataset (Mellor et al. 2021). The network is initialised from --seed as efsearch init does.

            Examples:
              efsearch proxies efficientnet-b0 --resolution 64 --json
              efsearch proxies --arch 'ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25' --width 0.5 --resolution 32 --dataset synthetic
            """)

        @OptionGroup var network: NetworkOptions
        @Option(help: "Dataset whose training images make NASWOT's batch.", transform: DatasetSource.init(parsing:)) var dataset: DatasetSource = .synthetic()
        @Option(help: "NASWOT's batch size.") var batch: Int = 64
        @Option(help: "Seed of the network's weights and of the batch's images.") var seed: UInt64 = 0
        @Option(help: "Threads (default: all cores).") var threads: Int?
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            if batch < 2 { throw ValidationError("--batch \(batch) must be at least 2 (NASWOT compares images)") }
            if let threads, threads < 1 { throw ValidationError("--threads \(threads) must be at least 1") }
        }

        func run() throws {
            if let threads { EngineConfiguration.current.with { $0.threads = threads }.install() }
            var spec = try network.spec()
            let data = try DatasetSpec(source: dataset).load(resolution: spec.resolution)
            if network.classes == nil { spec.classes = data.classes }
            let started = DispatchTime.now().uptimeNanoseconds
            var scorer = ZeroCostScorer(dataset: data, batchSize: batch, seed: seed)
            let scores = try scorer.scores(spec, networkSeed: seed)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            let summary = CostModel.summary(of: try spec.resolve())
            if json {
                var object: [String: Any] = [
                    "network": network.displayName, "resolution": spec.resolution, "classes": spec.classes, "params": summary.params,
                    "macs": summary.macs, "batch": min(batch, data.train.count), "dataset": dataset.description, "seed": seed, "seconds": seconds,
                ]
                object["synflow"] = scores.synflow ?? NSNull()
                object["naswot"] = scores.naswot ?? NSNull()
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("\(network.displayName) at \(spec.resolution) px, \(spec.classes) classes: \(Format.engineering(Double(summary.params))) params, \(Format.engineering(Double(summary.macs))) MACs")
            print("synflow (ln): \(scores.synflow.map { String(format: "%.4f", $0) } ?? "overflow")")
            print("naswot (log |det K|, \(min(batch, data.train.count)) images of \(dataset)): \(scores.naswot.map { String(format: "%.4f", $0) } ?? "singular kernel")")
            Console.note(String(format: "%.2f s", seconds))
        }
    }
}
