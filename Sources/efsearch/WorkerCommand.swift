import ArgumentParser
import SearchRunner
import Store

extension Efsearch {
    /// `efsearch worker`: one more process evaluating a run's pending candidates.
    struct Worker: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a run: claim pending candidates and evaluate them until the run is finished.",
            discussion: """
            Everything the worker needs (the search space included) is read from the store, so it can start in any directory.

            Examples:
              efsearch worker --run my-search                               # one more process on this machine
              efsearch worker --run my-search --store postgresql://me@db.example.org/search --idle 300
            """)

        @OptionGroup var storeOptions: StoreOptions
        @Option(name: .customLong("run"), help: "The run to work on.", transform: RunName.init) var runName: RunName
        @Option(help: "Seconds without a heartbeat before a candidate is taken over.") var grace: Amount<Double> = 60
        @Option(help: "Stop after this many seconds without work (0: wait for the run to finish).") var idle: Amount<Double> = 0
        @Option(help: "Wait up to this many seconds for the run to appear (workers started before the coordinator).") var wait: Amount<Double> = 0
        @Option(help: .hidden) var parent: Int32?
        @Option(help: .hidden) var label: String?

        func validate() throws {
            if !(grace.value > 0) { throw ValidationError("--grace \(grace) must be greater than 0") }
            if !(idle.value >= 0) { throw ValidationError("--idle \(idle) must be 0 or more") }
            if !(wait.value >= 0) { throw ValidationError("--wait \(wait) must be 0 or more") }
        }

        func run() throws {
            let prefix = label.map { "\($0): " } ?? ""
            try RunExecution.work(try storeOptions.catalog(), run: runName, grace: grace.value, idle: idle.value, wait: wait.value,
                                  parent: parent) { Console.note(prefix + $0) }
        }
    }
}
