import Architecture
import Foundation
import Metrics
import Search
import Store

/// A run's Pareto frontier as `efsearch frontier` prints it: JSON lines, or a table whose columns follow the run
/// (accuracy when trained, zero-cost scores when not, rungs under successive halving).
public enum FrontierReport {
    public static func lines(store: any Store, run: RunRecord, json: Bool) throws -> [String] {
        var lines: [String] = []
        let frontier = try store.frontier(runId: run.id!).sorted { ($0.macs, $0.id!) < ($1.macs, $1.id!) }
        if json {
            for candidate in frontier {
                var out = JSONObjectWriter()
                out.add("id", Int(candidate.id!))
                // Every stored metric it has, by the export's keys.
                for metric in MetricTable.standard.stored {
                    if let value = candidate.metrics[metric] { out.add(named: metric.key, value, integer: metric.type == .integer) }
                }
                if candidate.rung > 0 { out.add("rung", candidate.rung) }
                out.add("resolution", candidate.resolution)
                out.add("arch", candidate.arch)
                lines.append(out.finished())
            }
            return lines
        }
        lines.append("frontier of \(run.name) (\(frontier.count) candidates):")
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
        lines.append(Format.table(header, rows, leftColumns: 1))
        return lines
    }
}

/// A grid run as `efsearch grid` prints it at the end.
public enum GridReport {
    /// The ranked table and the chosen coefficients.
    public static func text(store: any Store, run: RunRecord, plan: GridPlan) throws -> String {
        // One read of the observations: the table shows their losses, and they rank the points when the plan says so.
        let losses = GridRanking.losses(try store.observations(runId: run.id!))
        let rows = try GridRanking.ranked(store.candidates(runId: run.id!), losses: plan.rankingLosses { losses })
        // A twin (same proxy network as the point before it) shares that point's figures.
        func isTwin(_ candidate: CandidateRecord, _ point: GridPoint) -> Bool {
            guard let first = try? GridPointCoding.decode(candidate.extra) else { return false }
            return (first.alpha, first.beta, first.gamma) != (point.alpha, point.beta, point.gamma)
        }
        let table = rows.map { candidate, point in
            [Format.fixed(point.alpha, 2), Format.fixed(point.beta, 2), Format.fixed(point.gamma, 2), Format.fixed(point.product, 3),
             Format.fixed(point.flopsRatio ?? 0, 2), candidate.accuracy.map { Format.fixed(100 * $0, 1) + "%" } ?? "-",
             candidate.accuracy == nil ? "-" : losses[candidate.id!].map { Format.fixed($0, 3) } ?? "-",
             Format.engineering(Double(candidate.macs)), Format.engineering(Double(candidate.params)), "\(candidate.resolution)",
             isTwin(candidate, point) ? "same network as above" : candidate.status.rawValue]
        }
        // The validation loss ranks the points within a rung (`GridRanking`); shown when the run has observations.
        let showsLoss = !losses.isEmpty
        let halving = rows.contains { $0.candidate.rung > 0 }
        let header = ["alpha", "beta", "gamma", "a*b^2*g^2", "FLOPs ratio", "accuracy"] + (showsLoss ? ["val loss"] : []) + (halving ? ["rung"] : [])
            + ["MACs", "params", "px", "status"]
        let body = zip(rows, table).map { row, cells in
            Array(cells[..<6]) + (showsLoss ? [cells[6]] : []) + (halving ? ["\(row.candidate.rung)"] : []) + Array(cells[7...])
        }
        var text = Format.table(header, body)
        if let best = rows.first {
            text += "\n" + ("chosen: alpha \(best.point.alpha), beta \(best.point.beta), gamma \(best.point.gamma) (efsearch scale --from-run \(run.name))")
        }
        return text
    }
}
