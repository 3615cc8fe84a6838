import ArgumentParser
import SearchRunner
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
        @OptionGroup var threads: ThreadOptions
        @Flag(help: "Print one JSON object.") var json = false

        func validate() throws {
            if batch < 2 { throw ValidationError("--batch \(batch) must be at least 2 (NASWOT compares images)") }
        }

        func run() throws {
            threads.install()
            let report = try ZeroCostReport(name: network.displayName, spec: try network.spec(), keepClasses: network.classes != nil, dataset: dataset,
                                            batch: batch, seed: seed)
            print(json ? report.json : report.text)
            if !json { Console.note(String(format: "%.2f s", report.seconds)) }
        }
    }
}
