import ArgumentParser
import Foundation
import Store

extension Efsearch {
    /// `efsearch frontier NAME`.
    struct Frontier: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a run's Pareto frontier.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The run.") var name: String
        @Flag(help: "JSON lines.") var json = false

        func run() throws {
            let catalog = try storeOptions.catalog()
            try FrontierReport.print(store: catalog.store, run: try catalog.record(name), json: json)
        }
    }
}

enum FrontierReport {
    static func print(store: Store, run: RunRecord, json: Bool) throws {
        let frontier = try store.frontier(runId: run.id!).sorted { ($0.macs, $0.id!) < ($1.macs, $1.id!) }
        if json {
            for candidate in frontier {
                var out = JSONObjectWriter()
                out.add("id", Int(candidate.id!))
                if let accuracy = candidate.accuracy { out.add("accuracy", accuracy) }
                out.add("macs", candidate.macs)
                out.add("params", candidate.params)
                out.add("latency_ms_estimate", candidate.latencyEstimateMs)
                if let measured = candidate.latencyMeasuredMs { out.add("latency_ms_measured", measured) }
                if let predicted = candidate.latencyPredictedMs { out.add("latency_ms_predicted", predicted) }
                out.add("resolution", candidate.resolution)
                out.add("arch", candidate.arch)
                Swift.print(out.finished())
            }
            return
        }
        Swift.print("frontier of \(run.name) (\(frontier.count) candidates):")
        let rows = frontier.map { candidate in
            [String(candidate.id!), candidate.accuracy.map { Format.fixed(100 * $0, 1) + "%" } ?? "-",
             Format.engineering(Double(candidate.macs)), Format.engineering(Double(candidate.params)),
             Format.fixed(candidate.latencyMeasuredMs ?? candidate.latencyPredictedMs ?? candidate.latencyEstimateMs, 2), "\(candidate.resolution)", candidate.arch]
        }
        Swift.print(Format.table(["id", "accuracy", "MACs", "params", "latency ms", "px", "arch"], rows, leftColumns: 1))
    }
}
