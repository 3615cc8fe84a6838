import Architecture
import ArgumentParser
import Cost
import Foundation
import SearchRunner
import Store

extension Efsearch {
    /// `efsearch runs`: the runs in a store.
    struct Runs: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the runs in a store.",
            discussion: """
            Examples:
              efsearch runs                                  # results/efsearch.sqlite
              efsearch runs --store postgresql://me@db.example.org/search --json
            """)
        @OptionGroup var storeOptions: StoreOptions
        @Flag(help: "JSON lines, one per run.") var json = false

        func run() throws {
            let catalog = try storeOptions.catalog(readOnly: true)
            var rows: [[String]] = []
            // A run whose stored name is not a valid run name is left out of the list, reported with its id, and
            // the command exits with status 2 after listing the others.
            var refused: [RunNameError] = []
            for run in try catalog.store.runs() {
                do { _ = try RunName(stored: run, store: catalog.store.location) } catch let error as RunNameError {
                    refused.append(error)
                    continue
                }
                let counts = try catalog.store.counts(runId: run.id!)
                let kind: String
                do {
                    switch try catalog.configuration(of: run).plan {
                    case .nas(let plan): kind = "nas \(plan.strategy.rawValue)"
                    case .grid: kind = "grid"
                    case .proxyCheck: kind = "proxy-check"
                    }
                } catch {
                    // Listed all the same (its candidates are there); the reason goes to standard error.
                    kind = "?"
                    Console.note("warning: \(error)")
                }
                let created = ISO8601DateFormatter().string(from: run.createdAt)
                let open = counts[.pending, default: 0] + counts[.running, default: 0]
                if json {
                    var out = JSONObjectWriter()
                    out.add("name", run.name)
                    out.add("status", run.status.rawValue)
                    out.add("kind", kind)
                    out.add("done", counts[.done, default: 0])
                    out.add("failed", counts[.failed, default: 0])
                    out.add("pruned", counts[.pruned, default: 0])
                    out.add("open", open)
                    out.add("created", created)
                    print(out.finished())
                } else {
                    rows.append([run.name, run.status.rawValue, kind, "\(counts[.done, default: 0])", "\(counts[.failed, default: 0])", "\(open)", created])
                }
            }
            if !json { print(Format.table(["run", "status", "kind", "done", "failed", "open", "created"], rows, leftColumns: 3)) }
            if let first = refused.first {
                for error in refused.dropFirst() { Console.error("\(error)") }
                throw first
            }
        }
    }
}
