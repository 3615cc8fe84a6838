import Foundation
import Metrics

/// A store that cannot be opened or written: names the store (its path or URL, the password masked).
public struct StoreError: Error, CustomStringConvertible {
    /// The store's path, or its URL with the password masked.
    public var location: String
    public var message: String
    public init(location: String, message: String) {
        self.location = location
        self.message = message
    }
    public var description: String { "store \(location): \(message)" }
}

/// Where a run stands.
public enum RunStatus: String, Codable, CaseIterable, Sendable {
    /// Being searched (or stopped by a crash or Ctrl-C: `--resume` continues it).
    case running
    case done
    case failed
}

/// Where a candidate stands: pending until a worker claims it, running while the worker sends heartbeats,
/// then done or failed.
public enum CandidateStatus: String, Codable, CaseIterable, Sendable {
    case pending, running, done, failed
    /// Left out by the run's pre-filter (`--prefilter`): scored by a zero-cost proxy, never trained (Optuna's "pruned").
    case pruned

    /// Pending or running: not finished yet.
    public var isOpen: Bool { self == .pending || self == .running }
}

/// What `Store.complete` did with a finished candidate.
public enum Completion: Sendable, Equatable {
    /// Stored.
    case stored
    /// Not stored: another worker took the candidate over (this one's heartbeats stopped for longer than the
    /// grace period), or it was finished already. The other worker's result counts.
    case lostClaim(heldBy: String?, status: CandidateStatus)
}

/// A search run (an Optuna "study").
public struct RunRecord: Codable, Sendable, Equatable {
    public var id: Int64?
    public var name: String
    public var command: String
    /// The run's full configuration, JSON.
    public var config: String
    public var seed: Int64
    public var version: String
    public var machine: String
    public var createdAt: Date
    public var finishedAt: Date?
    public var status: RunStatus

    public init(name: String, command: String, config: String, seed: Int64, version: String, machine: String) {
        self.name = name
        self.command = command
        self.config = config
        self.seed = seed
        self.version = version
        self.machine = machine
        createdAt = Date()
        status = .running
    }
}

/// One candidate architecture of a run (an Optuna "trial").
public struct CandidateRecord: Codable, Sendable, Equatable {
    public var id: Int64?
    public var runId: Int64
    /// Canonical scaled arch, resolution, stem and head: unique within a run.
    public var key: String
    /// The strategy's round that proposed it.
    public var generation: Int
    /// Choice indices (JSON array), and extra coordinates such as alpha/beta/gamma (JSON object).
    public var genotype: String
    public var extra: String?
    public var arch: String
    public var width: Double
    public var depth: Double
    public var resolution: Int
    public var stem: Int
    public var head: Int
    /// Its figures, one per stored metric of `MetricTable.standard` (or of the store's table); see the accessors below.
    public var metrics = MetricValues()
    /// The trained weights (`nas --keep-checkpoints`): an absolute path to a safetensors file.
    public var checkpoint: String?
    /// Where a trained candidate was computed: CPU, threads and kernel paths (they decide a result's last bits).
    public var machine: String?
    /// The candidate's training seed (from the run seed and its key).
    public var seed: Int64
    /// Successive halving: the rung the candidate is at (or queued for, while pending); 0 otherwise. Its figures
    /// (accuracy, top-5, training seconds) are those of its highest finished rung; every rung's are in `observations`.
    public var rung: Int
    public var status: CandidateStatus
    public var reason: String?
    public var worker: String?
    public var heartbeatAt: Date?
    public var createdAt: Date
    public var finishedAt: Date?
    public var onFrontier: Bool

    /// A pending candidate; the cost-model figures are filled in by the caller.
    public init(runId: Int64, key: String, generation: Int, genotype: String, extra: String? = nil, arch: String,
                width: Double, depth: Double, resolution: Int, stem: Int, head: Int, seed: Int64) {
        self.runId = runId
        self.key = key
        self.generation = generation
        self.genotype = genotype
        self.extra = extra
        self.arch = arch
        self.width = width
        self.depth = depth
        self.resolution = resolution
        self.stem = stem
        self.head = head
        // The figures every candidate has (NOT NULL columns) start at 0 until the cost model fills them in.
        for metric in MetricTable.standard.stored where metric.required { metrics[metric] = 0 }
        self.seed = seed
        rung = 0
        status = .pending
        createdAt = Date()
        onFrontier = false
    }
}

/// One finished rung of a candidate under successive halving: how long it had trained by then and how well it
/// did (an entry of the `observations` table; one per candidate and rung).
public struct ObservationRecord: Codable, Sendable, Equatable {
    public var id: Int64?
    public var runId: Int64
    public var candidateId: Int64
    public var rung: Int
    /// Epochs trained in all when the rung finished.
    public var epochs: Int
    public var accuracy: Double
    public var top5: Double
    /// Validation loss (no label smoothing).
    public var loss: Double
    /// Training seconds of this rung alone.
    public var trainSeconds: Double
    public var worker: String?
    public var finishedAt: Date

    public init(runId: Int64, candidateId: Int64, rung: Int, epochs: Int, accuracy: Double, top5: Double, loss: Double, trainSeconds: Double) {
        self.runId = runId
        self.candidateId = candidateId
        self.rung = rung
        self.epochs = epochs
        self.accuracy = accuracy
        self.top5 = top5
        self.loss = loss
        self.trainSeconds = trainSeconds
        finishedAt = Date()
    }
}

/// The figures of a finished candidate.
public struct FinishedMetrics: Sendable, Equatable {
    public var id: Int64
    public var values: MetricValues

    public init(id: Int64, values: MetricValues) {
        self.id = id
        self.values = values
    }
}

/// The ids a run's candidates get when the run is copied into another store (`Store.importRun`).
public struct ImportedIds {
    var ids: [Int64: Int64] = [:]

    /// Inserts each candidate (id cleared, moved to `runId`) with `insert`, which returns its new id.
    public static func insert(_ candidates: [CandidateRecord], runId: Int64, _ insert: (CandidateRecord) throws -> Int64) throws -> ImportedIds {
        var result = ImportedIds()
        for candidate in candidates {
            var moved = candidate
            moved.id = nil
            moved.runId = runId
            let id = try insert(moved)
            if let old = candidate.id { result.ids[old] = id }
        }
        return result
    }

    /// The new id of the candidate that had `old` in the source; an observation naming a candidate the run does
    /// not have is an error.
    public func mapped(_ old: Int64, run: String, location: String) throws -> Int64 {
        guard let id = ids[old] else {
            throw StoreError(location: location, message: "an observation of run \(run) names candidate \(old), which the run does not have; nothing was copied")
        }
        return id
    }
}
