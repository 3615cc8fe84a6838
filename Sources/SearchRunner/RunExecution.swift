import Cost
import Foundation
import Latency
import Store

/// A run carried to its end: a new or resumed run driven by this process, with helper processes on this machine,
/// and the loop of a worker that joins a run.
public enum RunExecution {
    /// `execute` for a command line: a new run gets the configuration `configure` makes, is created in the
    /// catalog with `name` (generated when nil) and `command`, and `announce` says what it is (record, configuration,
    /// the store's location).
    public static func execute(_ catalog: RunCatalog, name: String?, command: String, resume: String?, grace: Double, workers: Int, executable: URL?,
                               check: (_ name: String, _ store: String, RunConfiguration) throws -> Void,
                               configure: (RunCatalog) throws -> RunConfiguration,
                               announce: (RunRecord, RunConfiguration, String) throws -> Void,
                               note: @escaping (String) -> Void) throws -> RunRecord {
        try execute(catalog, resume: resume, grace: grace, workers: workers, executable: executable, check: check, create: { catalog in
            let configuration = try configure(catalog)
            let record = try catalog.create(name: name, configuration: configuration, command: command)
            try announce(record, configuration, catalog.store.location)
            return (record, configuration)
        }, note: note)
    }

    /// Resumes the run `resume` (once `check` accepts the flags given with it) or stores the new one `create`
    /// makes, then runs it to the end, `note` telling what happens. With `workers` above 1, that many processes
    /// work on the run here, this one included: the others are `efsearch worker` processes (`executable`)
    /// started on the same store, which stop when the run ends or this process does.
    public static func execute(_ catalog: RunCatalog, resume: String?, grace: Double, workers: Int = 1, executable: URL?,
                               check: (_ name: String, _ store: String, RunConfiguration) throws -> Void,
                               create: (RunCatalog) throws -> (RunRecord, RunConfiguration),
                               note: @escaping (String) -> Void) throws -> RunRecord {
        let record: RunRecord, configuration: RunConfiguration
        if let resume {
            (record, configuration) = try catalog.resume(resume) { try check(resume, catalog.store.location, $0) }
            note("resuming run \(record.name)")
        } else {
            (record, configuration) = try create(catalog)
        }
        let driver = try SearchDriver(store: catalog.store, run: record, configuration: configuration, grace: grace,
                                      machine: MachineProfileCache.cached(threads: configuration.proxy.threads), log: note)
        let helpers = try LocalWorkers.start(workers - 1, executable: executable, run: record.name, store: catalog.store.location, grace: grace)
        defer { LocalWorkers.stop(helpers) }
        try driver.execute()
        return record
    }

    /// `efsearch worker`: waits up to `wait` seconds for the run to appear, then claims and evaluates its
    /// pending candidates until the run is no longer running, `idle` seconds pass without work (0: never), or,
    /// for a worker started by `--workers`, the process `parent` is gone.
    public static func work(_ catalog: RunCatalog, run name: RunName, grace: Double, idle: Double, wait: Double, parent: Int32?,
                            note: @escaping (String) -> Void) throws {
        let runName = name.text
        let waitUntil = Date().addingTimeInterval(wait)
        while try catalog.store.run(named: runName) == nil && Date() < waitUntil { Thread.sleep(forTimeInterval: 0.5) }
        let (record, configuration) = try catalog.open(runName)
        let driver = try SearchDriver(store: catalog.store, run: record, configuration: configuration, grace: grace,
                                      machine: MachineProfileCache.cached(threads: configuration.proxy.threads), log: note)
        var idleSince = Date()
        while true {
            if let parent, getppid() != parent {
                note("the run's process \(parent) has ended; stopping")
                return
            }
            if try driver.workOne() {
                idleSince = Date()
                continue
            }
            if try catalog.store.run(named: runName)?.status != .running { break }
            if idle > 0 && Date().timeIntervalSince(idleSince) > idle { break }
            Thread.sleep(forTimeInterval: 0.5)
        }
        if parent != nil { return }
        note("worker done: run \(runName) is \(try catalog.store.run(named: runName)?.status.rawValue ?? "gone")")
    }
}

/// `--workers N`: the `efsearch worker` processes a search starts beside itself on one machine. They read the
/// store's location from `EFSEARCH_STORE` (so a PostgreSQL password stays out of the process list), take the
/// run's threads and numerics from the store like any worker, and watch this process: when it is gone (Ctrl-C,
/// `kill -9`), they stop after their candidate in flight, which stays stored.
public enum LocalWorkers {
    public static func start(_ count: Int, executable: URL?, run: String, store: String, grace: Double) throws -> [Process] {
        guard count > 0 else { return [] }
        guard let executable else { throw WorkerStartFailure(description: "cannot find the efsearch executable to start --workers") }
        var environment = ProcessInfo.processInfo.environment
        environment["EFSEARCH_STORE"] = store
        return try (1...count).map { index in
            let process = Process()
            process.executableURL = executable
            process.arguments = ["worker", "--run", run, "--grace", "\(grace)", "--parent", "\(getpid())", "--label", "worker \(index + 1)"]
            process.environment = environment
            do { try process.run() } catch { throw WorkerStartFailure(description: "could not start worker \(index + 1): \(error)") }
            return process
        }
    }

    /// Waits for the workers (they stop once the run is no longer running), ending them if they have not within
    /// `patience` seconds.
    public static func stop(_ processes: [Process], patience: TimeInterval = 30) {
        let deadline = Date().addingTimeInterval(patience)
        for process in processes {
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            if process.isRunning { process.terminate() }
        }
    }
}

/// A local worker process that could not be started (not bad input: exit code 1).
public struct WorkerStartFailure: Error, CustomStringConvertible {
    public var description: String
}
