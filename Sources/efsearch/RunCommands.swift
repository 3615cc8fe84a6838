import ArgumentParser
import Foundation
import Latency
import SearchRunner
import Store

// The commands that read a run from a store: runs, frontier, show, export, report (none of them writes to it).
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
            // A run whose stored name is not a valid run name is left out of the list, reported with its id, and
            // the command exits with status 2 after listing the others.
            let listing = try RunListing(try storeOptions.catalog(readOnly: true))
            listing.warnings.forEach(Console.note)
            if json { listing.jsonLines.forEach { print($0) } } else { print(listing.text) }
            if let first = listing.refused.first {
                for error in listing.refused.dropFirst() { Console.error("\(error)") }
                throw first
            }
        }
    }

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
        @Argument(help: "The run.", transform: RunName.init) var name: RunName
        @Flag(help: "JSON lines.") var json = false

        func run() throws {
            let catalog = try storeOptions.catalog(readOnly: true)
            try FrontierReport.lines(store: catalog.store, run: try catalog.record(name.text), json: json).forEach { print($0) }
        }
    }

    /// `efsearch show ID`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one candidate (JSON).",
            discussion: """
            Examples:
              efsearch show 7                  # ids: efsearch frontier NAME
              efsearch show 7 --store postgresql://me@db.example.org/search
            """)
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The candidate id.") var id: Int64

        func run() throws {
            let store = try storeOptions.open(readOnly: true)
            guard let candidate = try store.candidate(id: id) else {
                throw StoreError(location: store.location, message: "no candidate \(id)")
            }
            print(try candidate.prettyJSON())
        }
    }

    /// `efsearch export NAME`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a run's candidates.csv, frontier.csv and run.json (or .json tables) for plotting.",
            discussion: """
            Examples:
              efsearch export my-search                          # notebooks-export/my-search/
              efsearch export my-search --format json --out plots/
            """)
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The run.", transform: RunName.init) var name: RunName
        @Option(help: "csv or json.") var format: RunExport.Format = .csv
        @Option(help: "Directory (default notebooks-export/NAME).") var out: String?

        func run() throws {
            let catalog = try storeOptions.catalog(readOnly: true)
            let record = try catalog.record(name.text)
            let directory = try out ?? ExportFolder.default(for: record, store: catalog.store)
            try RunExport.write(store: catalog.store, run: record, configuration: catalog.configurationIfReadable(of: record), format: format, directory: directory)
            print("wrote \(directory)/candidates.\(format.rawValue), frontier.\(format.rawValue), run.json")
        }
    }

    /// `efsearch report NAME`: a self-contained HTML report of a run.
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a self-contained report.html of a run: Pareto plot, search progress, grid, candidate table, per-layer costs.",
            discussion: """
            The page holds its data and a small script; it opens from disk in any browser without network access. It shows
            what is stored, so it works on a run that is still going. --svg also writes the plots as SVG files for papers.

            Examples:
              efsearch report my-search                   # notebooks-export/my-search/report.html
              efsearch report my-search --out report/ --svg && xdg-open report/report.html
            """)

        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The run.", transform: RunName.init) var name: RunName
        @Option(help: "Directory (default notebooks-export/NAME).") var out: String?
        @Flag(help: "Also write pareto.svg, progress.svg (and family.svg for grid runs).") var svg = false

        func run() throws {
            let catalog = try storeOptions.catalog(readOnly: true)
            let (record, configuration) = try catalog.open(name.text)
            let report = RunReport(store: catalog.store, run: record, configuration: configuration, machine: MachineProfileCache.cached(threads: configuration.proxy.threads))
            let directory = try out ?? ExportFolder.default(for: record, store: catalog.store)
            for file in try report.write(to: directory, svg: svg) { print("wrote \(file)") }
        }
    }
}
