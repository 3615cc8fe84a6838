import Architecture
import ArgumentParser
import Cost
import Foundation

extension Efsearch {
    /// `efsearch estimate`: parameters, MACs, FLOPs, memory and roofline latency of a network, analytically.
    struct Estimate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count parameters, MACs, FLOPs, memory and roofline latency of a network.",
            discussion: """
            Examples:
              efsearch estimate efficientnet-b3
              efsearch estimate --arch 'ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25' --width 0.5 --resolution 128
              efsearch estimate --jsonl candidates.jsonl   # one JSON object per line in, one result per line out
            """)

        @OptionGroup var network: NetworkOptions
        @OptionGroup var machine: MachineOptions
        @OptionGroup var latency: LatencyModelOptions

        @Option(help: "Batch size for memory and latency.")
        var batch: Int = 1

        @Flag(help: "Print one JSON object.")
        var json = false

        @Flag(name: .customLong("per-layer"), help: "Print a table with one row per layer (with --json, a `layers` array).")
        var perLayer = false

        @Option(help: "Read candidates as JSON lines from FILE ('-' for standard input) and write one result per line.")
        var jsonl: String?

        @Option(help: "Workers that estimate the lines of a --jsonl file in parallel; the output is the same, in order (default: all cores).")
        var jobs: Int?

        func validate() throws {
            if batch < 1 { throw ValidationError("--batch \(batch) must be at least 1") }
            if jsonl != nil && perLayer { throw ValidationError("--per-layer cannot be combined with --jsonl") }
            if let jobs, jobs < 1 { throw ValidationError("--jobs \(jobs) must be at least 1") }
            if jobs != nil && jsonl == nil { throw ValidationError("--jobs applies to --jsonl FILE only") }
        }

        func run() throws {
            let profile = machine.profile()
            let predictor = try latency.load(threads: machine.threadCount, batch: batch, quiet: json || jsonl != nil)?.predictor
            if let jsonl {
                let stream = BatchEstimator(batch: batch, machine: profile, predictor: predictor)
                try stream.run(path: jsonl, jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount)
                return
            }
            let spec = try network.spec()
            let resolved = try spec.resolve()
            let summary = CostModel.summary(of: resolved, batch: batch, machine: profile, predictor: predictor)
            if json {
                guard perLayer else {
                    print(CostReport.json(resolved, summary))
                    return
                }
                var out = JSONObjectWriter()
                CostReport.addFields(resolved, summary, to: &out)
                out.addRaw("layers", CostReport.layersJSON(CostModel.layers(of: resolved), batch: batch, machine: profile, predictor: predictor))
                print(out.finished())
                return
            }
            print(CostReport.text(name: network.displayName, resolved, summary, machine: profile, predictor: predictor))
            if perLayer {
                print()
                print(CostReport.layerTable(CostModel.layers(of: resolved), batch: batch, machine: profile, predictor: predictor, total: summary))
            }
        }
    }
}
