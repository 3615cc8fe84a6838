import Foundation
import Store

/// Copies runs, with their candidates and observations, from one store to another (`efsearch store copy`):
/// SQLite to PostgreSQL and back. Ids are the target's own; everything else (statuses, figures, dates, the
/// frontier marks and each run's configuration) is copied as it is. Kept checkpoints stay where their paths say.
public struct StoreCopy {
    public let source: any Store
    public let target: any Store

    public init(from source: any Store, to target: any Store) {
        self.source = source
        self.target = target
    }

    /// What was copied of one run.
    public struct Copied: Sendable {
        public var run: String
        public var candidates: Int
        public var observations: Int
        /// The target had a run of that name, which the copy replaced.
        public var replaced: Bool
        /// The run was still running in the source: the copy is a snapshot.
        public var wasRunning: Bool
    }

    /// Copies the runs named `names` (every run when empty). A run the target already has is refused (before
    /// anything is written) unless `replace`; a copy that fails half-way is removed from the target.
    public func copy(runs names: [String], replace: Bool) throws -> [Copied] {
        let all = try source.runs()
        let chosen: [RunRecord]
        if names.isEmpty {
            chosen = all
        } else {
            chosen = try names.map { name in
                guard let run = all.first(where: { $0.name == name }) else {
                    throw RunError(store: source.location, run: name, message: "no such run\(all.isEmpty ? " (the store has none)" : "; runs: " + all.map(\.name).joined(separator: ", "))")
                }
                return run
            }
        }
        if !replace {
            for run in chosen where try target.run(named: run.name) != nil {
                throw RunError(store: target.location, run: run.name, message: "already exists in the target; nothing was copied (--replace overwrites it, or copy the others with --run)")
            }
        }
        return try chosen.map { try copy($0) }
    }

    func copy(_ run: RunRecord) throws -> Copied {
        let existing = try target.run(named: run.name)
        if let existing { try target.deleteRun(existing.id!) }
        var copy = run
        copy.id = nil
        copy = try target.createRun(copy)
        do {
            let candidates = try source.candidates(runId: run.id!)
            let inserted = try target.insert(candidates.map { candidate in
                var moved = candidate
                moved.id = nil
                moved.runId = copy.id!
                return moved
            })
            guard inserted.count == candidates.count else {
                throw StoreError(location: target.location, message: "stored \(inserted.count) of run \(run.name)'s \(candidates.count) candidates")
            }
            var newId: [Int64: Int64] = [:]
            for (old, new) in zip(candidates, inserted) { newId[old.id!] = new.id! }
            let observations = try source.observations(runId: run.id!).map { observation in
                var moved = observation
                moved.id = nil
                moved.runId = copy.id!
                guard let candidate = newId[observation.candidateId] else {
                    throw StoreError(location: source.location, message: "an observation of run \(run.name) names candidate \(observation.candidateId), which the run does not have")
                }
                moved.candidateId = candidate
                return moved
            }
            try target.insert(observations: observations)
            return Copied(run: run.name, candidates: candidates.count, observations: observations.count, replaced: existing != nil,
                          wasRunning: run.status == .running)
        } catch {
            try? target.deleteRun(copy.id!)
            throw error
        }
    }
}
