import Architecture
import ArgumentParser
import Cost
import Foundation
import Store

extension Efsearch {
    /// `efsearch frontier NAME`.
    struct Frontier: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a run's Pareto frontier.",
            discussion: """
            Examples:
              efsearch frontier my-search
              efsearch frontier my-search --store postgresql://me@db.example.org/search --json
            """)
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The run.") var name: String
        @Flag(help: "JSON lines.") var json = false

        func validate() throws {
            try checkRunName(name, "run")
        }

        func run() throws {
            let catalog = try storeOptions.catalog(readOnly: true)
            try FrontierReport.print(store: catalog.store, run: try catalog.record(name), json: json)
        }
    }
}

enum FrontierReport {
    static func print(store: any Store, run: RunRecord, json: Bool) throws {
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
                if let synflow = candidate.synflow { out.add("synflow", synflow) }
                if let naswot = candidate.naswot { out.add("naswot", naswot) }
                if candidate.rung > 0 { out.add("rung", candidate.rung) }
                out.add("resolution", candidate.resolution)
                out.add("arch", candidate.arch)
                Swift.print(out.finished())
            }
            return
        }
        Swift.print("frontier of \(run.name) (\(frontier.count) candidates):")
        // A training-free search shows its zero-cost scores instead of an empty accuracy column; halving shows rungs.
        let trained = frontier.contains { $0.accuracy != nil }
        let proxies: [(String, (CandidateRecord) -> Double?)] = trained ? [] : [("synflow", { $0.synflow }), ("naswot", { $0.naswot })]
            .filter { name, value in frontier.contains { value($0) != nil } }
        let rungs = frontier.contains { $0.rung > 0 }
        let rows = frontier.map { candidate -> [String] in
            var row = [String(candidate.id!)]
            if trained { row.append(candidate.accuracy.map { Format.fixed(100 * $0, 1) + "%" } ?? "-") }
            for (_, value) in proxies { row.append(value(candidate).map { Format.fixed($0, 2) } ?? "-") }
            if rungs { row.append("\(candidate.rung)") }
            let latency = candidate.latencyMeasuredMs ?? candidate.latencyPredictedMs ?? candidate.latencyEstimateMs
            row += [Format.engineering(Double(candidate.macs)), Format.engineering(Double(candidate.params)), Format.fixed(latency, 2),
                    "\(candidate.resolution)", candidate.arch]
            return row
        }
        var header = ["id"] + (trained ? ["accuracy"] : [])
        header += proxies.map(\.0) + (rungs ? ["rung"] : [])
        header += ["MACs", "params", "latency ms", "px", "arch"]
        Swift.print(Format.table(header, rows, leftColumns: 1))
    }
}
