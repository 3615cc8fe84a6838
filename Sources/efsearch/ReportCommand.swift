import ArgumentParser
import Foundation
import Latency
import SearchRunner
import Store

extension Efsearch {
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
        @Argument(help: "The run.") var name: String
        @Option(help: "Directory (default notebooks-export/NAME).") var out: String?
        @Flag(help: "Also write pareto.svg, progress.svg (and family.svg for grid runs).") var svg = false

        func validate() throws {
            try checkRunName(name, "run")
        }

        func run() throws {
            let catalog = try storeOptions.catalog(readOnly: true)
            let (record, configuration) = try catalog.open(name)
            let report = RunReport(store: catalog.store, run: record, configuration: configuration, machine: MachineProfileCache.cached(threads: configuration.proxy.threads))
            let directory = try out ?? ExportFolder.default(for: record, store: catalog.store)
            let files: [String]
            do { files = try report.write(to: directory, svg: svg) } catch let error as StoreError { throw StoreFailure(error) }
            for file in files { print("wrote \(file)") }
        }
    }
}
