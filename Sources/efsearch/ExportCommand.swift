import ArgumentParser
import Foundation
import SearchRunner
import Store

extension Efsearch {
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
        @Argument(help: "The run.") var name: String
        @Option(help: "csv or json.") var format: RunExport.Format = .csv
        @Option(help: "Directory (default notebooks-export/NAME).") var out: String?

        func validate() throws {
            try checkRunName(name, "run")
        }

        func run() throws {
            let catalog = try storeOptions.catalog(readOnly: true)
            let record = try catalog.record(name)
            let directory = try out ?? ExportFolder.default(for: record, store: catalog.store)
            let configuration: RunConfiguration?
            do { configuration = try catalog.configuration(of: record) } catch {
                // The export still holds every candidate; run.json says the configuration could not be read.
                Console.note("warning: \(error); run.json is written without the run's configuration")
                configuration = nil
            }
            do {
                try RunExport.write(store: catalog.store, run: record, configuration: configuration, format: format, directory: directory)
            } catch let error as StoreError { throw StoreFailure(error) }
            print("wrote \(directory)/candidates.\(format.rawValue), frontier.\(format.rawValue), run.json")
        }
    }
}
