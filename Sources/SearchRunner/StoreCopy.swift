import Architecture
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

        /// One JSON object: the run, what was copied, from and to where.
        public func json(from source: String, to target: String) -> String {
            var out = JSONObjectWriter()
            out.add("run", run)
            out.add("candidates", candidates)
            out.add("observations", observations)
            out.add("replaced", replaced)
            out.add("from", source)
            out.add("to", target)
            return out.finished()
        }

        public var text: String {
            "copied run \(run): \(candidates) candidates, \(observations) observations\(replaced ? " (replaced the target's)" : "")"
        }
    }

    /// Copies the runs named `names` (every run when empty). Every run's name is checked first (a stored name that
    /// is not a valid run name is an error naming the run's id), and a run the target already has is refused unless
    /// `replace`, before anything is written. Each run is stored in one transaction of the target's, replacing the
    /// run of the same name there in the same transaction: a copy stopped at any point (an error, `kill -9`) leaves
    /// the target with the old run or the new one, whole.
    public func copy(runs names: [String], replace: Bool) throws -> [Copied] {
        let all = try source.runs()
        let chosen: [RunRecord]
        if names.isEmpty {
            chosen = all
        } else {
            chosen = try names.map { given in
                let name = try RunName(given)
                guard let run = all.first(where: { $0.name == name.text }) else {
                    let known = all.map(\.name).filter(RunName.isValid)
                    throw RunError(store: source.location, run: name.text, message: "no such run\(known.isEmpty ? " (the store has none; efsearch nas --run NAME makes one)" : "; runs: " + known.joined(separator: ", ") + " (efsearch runs lists them)")")
                }
                return run
            }
        }
        for run in chosen { _ = try RunName(stored: run, store: source.location) }
        if !replace {
            for run in chosen where try target.run(named: run.name) != nil {
                throw RunError(store: target.location, run: run.name, message: "already exists in the target; nothing was copied (--replace overwrites it, or copy the others with --run)")
            }
        }
        return try chosen.map { try copy($0) }
    }

    func copy(_ run: RunRecord) throws -> Copied {
        let candidates = try source.candidates(runId: run.id!)
        let observations = try source.observations(runId: run.id!)
        let existing = try target.run(named: run.name)
        _ = try target.importRun(run, candidates: candidates, observations: observations, replacing: existing?.id)
        return Copied(run: run.name, candidates: candidates.count, observations: observations.count, replaced: existing != nil,
                      wasRunning: run.status == .running)
    }
}
