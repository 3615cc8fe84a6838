import Architecture
import ArgumentParser
import Cost
import Foundation
import SearchRunner
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
            try FrontierReport.lines(store: catalog.store, run: try catalog.record(name), json: json).forEach { print($0) }
        }
    }
}
