import ArgumentParser
import Foundation
import SearchRunner
import Store

extension Efsearch {
    /// `efsearch export NAME`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a run's candidates.csv, frontier.csv and run.json (or .json tables) for plotting.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The run.") var name: String
        @Option(help: "csv or json.") var format: RunExport.Format = .csv
        @Option(help: "Directory (default notebooks-export/NAME).") var out: String?

        func run() throws {
            let catalog = try storeOptions.catalog()
            let record = try catalog.record(name)
            let directory = out ?? "notebooks-export/\(name)"
            do {
                try RunExport.write(store: catalog.store, run: record, configuration: try? catalog.configuration(of: record),
                                    format: format, directory: directory)
            } catch let error as StoreError { throw StoreFailure(error) }
            print("wrote \(directory)/candidates.\(format.rawValue), frontier.\(format.rawValue), run.json")
        }
    }
}
