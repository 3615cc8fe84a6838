import Architecture
import Foundation
import Store

/// The runs of a store as `efsearch runs` lists them: name, status, kind, counts by status, creation time.
public struct RunListing {
    public struct Entry {
        public var run: RunRecord
        /// `nas STRATEGY`, `grid`, `proxy-check`, or `?` for a configuration that does not read (see `warnings`).
        public var kind: String
        public var counts: [CandidateStatus: Int]
        var open: Int { counts[.pending, default: 0] + counts[.running, default: 0] }
        var created: String { ISO8601DateFormatter().string(from: run.createdAt) }
    }

    public var entries: [Entry] = []
    /// Runs whose stored name is not a valid run name: left out, reported with their ids.
    public var refused: [RunNameError] = []
    /// Runs listed whose configuration did not read, with the reason.
    public var warnings: [String] = []

    public init(_ catalog: RunCatalog) throws {
        for run in try catalog.store.runs() {
            do { _ = try RunName(stored: run, store: catalog.store.location) } catch let error as RunNameError {
                refused.append(error)
                continue
            }
            var kind = "?"
            do {
                switch try catalog.configuration(of: run).plan {
                case .nas(let plan): kind = "nas \(plan.strategy.rawValue)"
                case .grid: kind = "grid"
                case .proxyCheck: kind = "proxy-check"
                }
            } catch {
                // Listed all the same (its candidates are there).
                warnings.append("warning: \(error)")
            }
            entries.append(Entry(run: run, kind: kind, counts: try catalog.store.counts(runId: run.id!)))
        }
    }

    public var jsonLines: [String] {
        entries.map { entry in
            var out = JSONObjectWriter()
            out.add("name", entry.run.name)
            out.add("status", entry.run.status.rawValue)
            out.add("kind", entry.kind)
            out.add("done", entry.counts[.done, default: 0])
            out.add("failed", entry.counts[.failed, default: 0])
            out.add("pruned", entry.counts[.pruned, default: 0])
            out.add("open", entry.open)
            out.add("created", entry.created)
            return out.finished()
        }
    }

    public var text: String {
        let rows = entries.map { entry in
            [entry.run.name, entry.run.status.rawValue, entry.kind, "\(entry.counts[.done, default: 0])", "\(entry.counts[.failed, default: 0])",
             "\(entry.open)", entry.created]
        }
        return Format.table(["run", "status", "kind", "done", "failed", "open", "created"], rows, leftColumns: 3)
    }
}
