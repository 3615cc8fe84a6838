import ArgumentParser
import Foundation
import Store

extension Efsearch {
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
                throw StoreFailure(StoreError(location: store.location, message: "no candidate \(id)"))
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(candidate), as: UTF8.self))
        }
    }
}
