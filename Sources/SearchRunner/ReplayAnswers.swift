import Foundation
import Store

/// `--replay RUN`: the finished candidates of an earlier run of the same store, by key, answering a search's
/// candidates (their figures, status and reason) so that a strategy runs on a finished search in seconds.
struct ReplayAnswers {
    let source: String
    let records: [String: CandidateRecord]

    init(store: any Store, run name: String) throws {
        guard let run = try store.run(named: name) else {
            throw RunError(store: store.location, run: name, message: "does not exist: --replay names a finished run of this store (efsearch runs lists them)")
        }
        source = name
        let finished = try store.candidates(runId: run.id!).filter { $0.status == .done || $0.status == .failed }
        records = Dictionary(finished.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Gives each candidate the earlier run's figures, status and reason; a candidate it does not have fails, with
    /// the reason. Returns how many it did not have.
    func answer(_ batch: inout [CandidateRecord]) -> Int {
        var missing = 0
        for index in batch.indices {
            if let earlier = records[batch[index].key] {
                batch[index].metrics = earlier.metrics
                batch[index].status = earlier.status
                batch[index].reason = earlier.reason
            } else {
                batch[index].status = .failed
                batch[index].reason = "not in the replayed run \(source)"
                missing += 1
            }
            batch[index].finishedAt = Date()
        }
        return missing
    }
}
