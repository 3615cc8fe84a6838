import ArgumentParser
import Foundation
import Latency
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
        @Option(name: .customLong("run"), help: "The run to work on.") var runName: String
        @Option(help: "Seconds without a heartbeat before a candidate is taken over.") var grace: Amount<Double> = 60
        @Option(help: "Stop after this many seconds without work (0: wait for the run to finish).") var idle: Amount<Double> = 0
        @Option(help: "Wait up to this many seconds for the run to appear (workers started before the coordinator).") var wait: Amount<Double> = 0
        @Option(help: .hidden) var parent: Int32?
        @Option(help: .hidden) var label: String?

        func validate() throws {
            try checkRunName(runName, "--run")
            if !(grace.value > 0) { throw ValidationError("--grace \(grace) must be greater than 0") }
            if !(idle.value >= 0) { throw ValidationError("--idle \(idle) must be 0 or more") }
            if !(wait.value >= 0) { throw ValidationError("--wait \(wait) must be 0 or more") }
        }

        func run() throws {
            let runName = try RunName(self.runName).text
            let catalog = try storeOptions.catalog()
            let waitUntil = Date().addingTimeInterval(wait.value)
            while try catalog.store.run(named: runName) == nil && Date() < waitUntil { Thread.sleep(forTimeInterval: 0.5) }
            let (record, configuration) = try catalog.open(runName)
            let prefix = label.map { "\($0): " } ?? ""
            let driver = try SearchDriver(store: catalog.store, run: record, configuration: configuration, grace: grace.value,
                                          machine: MachineProfileCache.cached(threads: configuration.proxy.threads)) { Console.note(prefix + $0) }
            var idleSince = Date()
            while true {
                // Started by `--workers`: stop when the process that started this one is gone.
                if let parent, getppid() != parent {
                    Console.note("\(prefix)the run's process \(parent) has ended; stopping")
                    return
                }
                if try driver.workOne() {
                    idleSince = Date()
                    continue
                }
                if try catalog.store.run(named: runName)?.status != .running { break }
                if idle.value > 0 && Date().timeIntervalSince(idleSince) > idle.value { break }
                Thread.sleep(forTimeInterval: 0.5)
            }
            if parent != nil { return }
            Console.note("worker done: run \(runName) is \(try catalog.store.run(named: runName)?.status.rawValue ?? "gone")")
        }
    }
}
