import ArgumentParser
import SearchRunner
import Store
import StoreBackends

extension Efsearch {
    /// `efsearch store`: operations on whole stores.
    struct StoreGroup: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "store", abstract: "Copy runs between stores (SQLite and PostgreSQL).",
                                                        discussion: """
                                                        Examples:
                                                          efsearch store copy results/efsearch.sqlite postgresql://me@db.example.org/search
                                                        """,
                                                        subcommands: [Copy.self])
    }
}

extension Efsearch.StoreGroup {
    /// `efsearch store copy FROM TO`.
    struct Copy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy runs with their candidates and observations from one store to another.",
            discussion: """
                FROM and TO are paths to SQLite files or postgresql:// URLs, in either direction. Ids are the target's own; \
                everything else is copied as it is. A run the target already has is refused, and nothing is copied, unless --replace.

                Examples:
                  efsearch store copy results/efsearch.sqlite postgresql://me@db.example.org/search
                  efsearch store copy postgresql://me@db.example.org/search local.sqlite --run run-20261128-1200-1
                """)

        @Argument(help: "The store to copy from.") var from: String
        @Argument(help: "The store to copy to (created when it is an SQLite file that does not exist).") var to: String
        @Option(name: .customLong("run"), help: "A run to copy (repeatable; default: every run).", transform: RunName.init) var runs: [RunName] = []
        @Flag(help: "Replace runs of the same name in the target.") var replace = false
        @Flag(help: "JSON lines, one per copied run.") var json = false

        func run() throws {
            let source = try openStore(from, readOnly: true), target = try openStore(to)
            guard source.location != target.location else { throw StoreError(location: target.location, message: "is both FROM and TO; expected two different stores") }
            let copied = try StoreCopy(from: source, to: target).copy(runs: runs.map(\.text), replace: replace)
            for run in copied {
                print(json ? run.json(from: source.location, to: target.location) : run.text)
                if run.wasRunning { Console.note("note: run \(run.run) was still running in \(source.location); the copy is a snapshot") }
            }
            if copied.isEmpty && !json { print("\(source.location) has no runs; nothing copied") }
        }
    }
}
