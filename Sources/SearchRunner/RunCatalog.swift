import Architecture
import Foundation
import Search
import Store
import Training

/// A problem with a run that the user can fix: an unknown name, a resume whose settings differ from the stored
/// ones, a stored configuration that cannot be used. Names the store and the run.
public struct RunError: UserInputError {
    public var store: String
    public var run: String
    public var message: String

    public init(store: String, run: String, message: String) {
        self.store = store
        self.run = run
        self.message = message
    }

    public var description: String { "store \(store): run \"\(run)\": \(message)" }
}

/// Creates, finds and resumes runs; reads their stored configuration (bringing runs made by efsearch 0.1.0 up
/// to date once). Every run name that comes in, given or stored, is checked as a `RunName`.
public struct RunCatalog {
    public let store: any Store
    /// Read-only commands (`runs`, `export`, `report`, ...): a run made by an older efsearch is brought up to date
    /// in memory only, and nothing is written to the store.
    public let readOnly: Bool
    /// Warnings (a migrated run, a space file that changed since the run started).
    public var warn: (String) -> Void

    public init(store: any Store, readOnly: Bool = false, warn: @escaping (String) -> Void) {
        self.store = store
        self.readOnly = readOnly
        self.warn = warn
    }

    /// Stores a new run with its configuration; `name` nil gives `run-YYYYMMDD-HHMMSS-PID`.
    public func create(name: String?, configuration: RunConfiguration, command: String, version: String = EfsearchVersion.current) throws -> RunRecord {
        let name = try name.map { try RunName($0) } ?? RunName(RunCatalog.generatedName())
        if case .nas(let plan) = configuration.plan {
            if let source = plan.replay, try store.run(named: source) == nil {
                throw RunError(store: store.location, run: source, message: "does not exist: --replay names a finished run of this store (efsearch runs lists them)")
            }
            if let source = plan.warmStart { _ = try warmStart(source, for: plan) }
        }
        return try store.createRun(RunRecord(
            name: name.text, command: command, config: try configuration.encoded(),
            seed: Int64(bitPattern: configuration.seed), version: version, machine: RunCatalog.machineDescription()))
    }

    /// The run `name` that a new run of `plan` may start from (`--warm-start`): a search of the same space (by
    /// SHA-256); otherwise an error says why.
    public func warmStart(_ name: String, for plan: NasPlan) throws -> RunRecord {
        let (record, configuration) = try open(name)
        guard case .nas(let earlier) = configuration.plan else {
            throw RunError(store: store.location, run: name, message: "is a \(configuration.plan.kind) run; --warm-start takes a nas run of the same space")
        }
        guard earlier.space.sha256 == plan.space.sha256 else {
            throw RunError(store: store.location, run: name, message: "searched another space (\(earlier.space.path), sha256 \(earlier.space.shortHash)) than \(plan.space.path) (sha256 \(plan.space.shortHash)); --warm-start takes a run of the same space")
        }
        return record
    }

    /// The run with this name, or an error that lists the runs there are (those with valid names).
    public func record(_ name: String) throws -> RunRecord {
        let name = try RunName(name)
        guard let run = try store.run(named: name.text) else {
            let known = try store.runs().map(\.name).filter(RunName.isValid)
            throw RunError(store: store.location, run: name.text, message: "no such run\(known.isEmpty ? " (the store has none; efsearch nas --run NAME makes one)" : "; runs: " + known.joined(separator: ", ") + " (efsearch runs lists them)")")
        }
        _ = try RunName(stored: run, store: store.location)
        return run
    }

    /// Every run of the store, oldest first, each with its name checked: a run whose stored name is not a valid
    /// run name is an error naming its id.
    public func runs() throws -> [RunRecord] {
        try store.runs().map { run in
            _ = try RunName(stored: run, store: store.location)
            return run
        }
    }

    /// A run and its configuration, for a worker or a resume.
    public func open(_ name: String) throws -> (record: RunRecord, configuration: RunConfiguration) {
        let record = try record(name)
        return (record, try configuration(of: record))
    }

    /// A stopped run, marked running again, with its configuration; `check` may refuse it first (for example
    /// when flags given with `--resume` differ from the stored ones).
    public func resume(_ name: String, check: (RunConfiguration) throws -> Void = { _ in }) throws -> (record: RunRecord, configuration: RunConfiguration) {
        precondition(!readOnly, "a read-only catalog cannot resume a run")
        var (record, configuration) = try open(name)
        try check(configuration)
        try store.setRunStatus(record.id!, .running)
        record.status = .running
        if case .nas(let plan) = configuration.plan, let current = try? SearchSpace.readText(path: plan.space.path) {
            let hash = StoredSpace.hash(current)
            if hash != plan.space.sha256 {
                warn("note: \(plan.space.path) has changed since run \(name) started (sha256 \(hash.prefix(16)), stored \(plan.space.shortHash)); the run continues with its stored space")
            }
        }
        return (record, configuration)
    }

    /// The weights a run kept for its candidate `id` (`nas --keep-checkpoints`).
    public func keptCheckpoint(run name: String, candidate id: Int64) throws -> String {
        let record = try record(name)
        guard let candidate = try store.candidate(id: id), candidate.runId == record.id else {
            throw RunError(store: store.location, run: record.name, message: "has no candidate \(id) (efsearch frontier \(record.name) lists its best ones' ids)")
        }
        guard let path = candidate.checkpoint else {
            throw RunError(store: store.location, run: record.name, message: "kept no weights for candidate \(id) (\(candidate.status.rawValue); weights are kept by nas --keep-checkpoints with --fidelity train)")
        }
        return path
    }

    /// The stored configuration of a run. A run made by efsearch 0.1.0 (format 1: the space's path only, no grid
    /// parameters) is converted once: its space file is read, with a warning, and the result stored with the run
    /// (in a read-only catalog, used without being stored). A failed store of the upgrade is an error.
    /// The run's configuration, or nil (with a warning) when it cannot be read: an export still holds every
    /// candidate, and its run.json says the configuration could not be read.
    public func configurationIfReadable(of record: RunRecord) -> RunConfiguration? {
        do { return try configuration(of: record) } catch {
            warn("warning: \(error); run.json is written without the run's configuration")
            return nil
        }
    }

    public func configuration(of record: RunRecord) throws -> RunConfiguration {
        let data = Data(record.config.utf8)
        func fail(_ message: String) -> RunError { RunError(store: store.location, run: record.name, message: message) }
        struct Format: Decodable { var format: Int? }
        let format: Int?
        do { format = try JSONDecoder().decode(Format.self, from: data).format } catch {
            throw fail("its stored configuration is not JSON (\(error))")
        }
        switch format {
        case RunConfiguration.currentFormat:
            do { return try JSONDecoder().decode(RunConfiguration.self, from: data) } catch {
                throw fail("its stored configuration cannot be read: \(error)")
            }
        case nil:
            let legacy: LegacyConfiguration
            do { legacy = try JSONDecoder().decode(LegacyConfiguration.self, from: data) } catch {
                throw fail("its stored configuration (efsearch 0.1.0's layout) cannot be read: \(error)")
            }
            let configuration = try legacy.upgraded(run: record, store: store, fail: fail, warn: warn)
            if readOnly {
                warn("note: run \(record.name): the converted configuration is used for this command and not stored (it is stored by the next command that writes to the run)")
                return configuration
            }
            do { try store.setRunConfig(record.id!, try configuration.encoded()) } catch {
                throw fail("its converted configuration could not be stored: \(error)")
            }
            return configuration
        case let other?:
            throw fail("its configuration has format \(other), newer than this efsearch reads (\(RunConfiguration.currentFormat)); use a newer efsearch")
        }
    }

    public static func generatedName() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return "run-" + formatter.string(from: Date()) + "-" + String(ProcessInfo.processInfo.processIdentifier % 10_000)
    }

    public static func machineDescription() -> String {
        let info = ProcessInfo.processInfo
        return "\(info.activeProcessorCount) cores, \(info.physicalMemory / (1 << 30)) GiB, \(info.operatingSystemVersionString)"
    }
}

/// Settings given again with `--resume`: each must equal the stored one, or the resume is refused.
public struct ResumeCheck {
    public private(set) var conflicts: [String] = []

    public init() {}

    /// Notes a conflict when `given` is there and differs from `stored`.
    public mutating func compare<T: Equatable>(_ flag: String, given: T?, stored: T?) {
        guard let given, given != stored else { return }
        conflicts.append("\(flag) \(given) differs from the stored \(stored.map { "\($0)" } ?? "(none)")")
    }

    /// Throws when anything differs.
    public func verify(store: String, run: String) throws {
        guard !conflicts.isEmpty else { return }
        throw RunError(store: store, run: run, message: conflicts.joined(separator: "; ") + "; a resumed run keeps its stored configuration (leave these out, or start a new run)")
    }
}

/// efsearch 0.1.0's flat run configuration: the space by path, the grid without its axes.
struct LegacyConfiguration: Decodable {
    var kind: String?
    var space: String
    var strategy: String
    var budget: Int
    var objectives: [String]
    var constraints: [String]
    var reward: String?
    var fidelity: String
    var latency: String?
    var seed: UInt64
    var generation: Int
    var population: Int
    var sample: Int
    var mutation: Double
    var dataset: String
    var subset: Int?
    var epochs: Int
    var batch: Int
    var lr: Float
    var threads: Int
    var gridBase: String?
    var proxyWidth: Double?
    var proxyDepth: Double?
    var proxyResolution: Int?
    var phi: Double?

    func upgraded(run: RunRecord, store: any Store, fail: (String) -> RunError, warn: (String) -> Void) throws -> RunConfiguration {
        guard let fidelity = Fidelity(rawValue: self.fidelity) else { throw fail("stored fidelity \"\(self.fidelity)\"; expected estimate or train") }
        let source: DatasetSource
        do { source = try DatasetSource(parsing: dataset) } catch { throw fail("stored dataset: \(error)") }
        let proxy = ProxyTask(dataset: source, subset: subset, epochs: epochs, batch: batch, lr: lr, threads: threads)
        if kind == "grid" {
            // The grid's step, maxima and tolerance were not stored; its points were, one per candidate.
            let points = try store.candidates(runId: run.id!).map { candidate -> GridPoint in
                guard let point = try? JSONDecoder().decode(GridPoint.self, from: Data((candidate.extra ?? "").utf8)) else {
                    throw fail("candidate \(candidate.id!) has no grid coordinates")
                }
                return GridPoint(alpha: point.alpha, beta: point.beta, gamma: point.gamma)
            }
            guard !points.isEmpty else {
                throw fail("made by efsearch 0.1.0, which did not store the grid's step, maxima and tolerance, and it has no candidates to recover them from; start a new run")
            }
            warn("note: run \(run.name) was made by efsearch 0.1.0; its \(points.count) grid points were recovered from its candidates and stored with the run")
            let plan = GridPlan(base: gridBase ?? "efficientnet-b0", proxyWidth: proxyWidth ?? 1, proxyDepth: proxyDepth ?? 1,
                                proxyResolution: proxyResolution ?? 224, phi: phi ?? 1, axes: nil, points: points, fidelity: fidelity,
                                ranksByLoss: nil)
            return RunConfiguration(seed: seed, proxy: proxy, plan: .grid(plan))
        }
        guard let strategy = StrategyKind(rawValue: strategy) else {
            throw fail("stored strategy \"\(self.strategy)\"; expected one of \(StrategyKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let latency = LatencySource(rawValue: latency ?? "estimate") else { throw fail("stored latency \"\(latency!)\"; expected estimate or measured") }
        let stored: StoredSpace
        do { stored = try StoredSpace.read(path: space) } catch {
            throw fail("made by efsearch 0.1.0, which stored only the path of its search space, and that file cannot be used now (\(error)); resume from the directory the run was started in, with the file as it was")
        }
        warn("note: run \(run.name) was made by efsearch 0.1.0, which stored only the path of its search space; \(space) was read now (sha256 \(stored.shortHash)) and stored with the run, which from now on uses that copy")
        let plan: NasPlan
        do {
            plan = NasPlan(space: stored, strategy: strategy, budget: budget, objectives: try objectives.map(Objective.init(parsing:)),
                           constraints: try constraints.map(Constraint.init(parsing:)), reward: try reward.map(Reward.init(parsing:)),
                           fidelity: fidelity, latency: latency, generation: generation, population: population, sample: sample, mutation: mutation)
        } catch {
            throw fail("stored objectives, constraints or reward cannot be read: \(error)")
        }
        return RunConfiguration(seed: seed, proxy: proxy, plan: .nas(plan))
    }
}
