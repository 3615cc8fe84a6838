import Architecture
import Cost
import Engine
import Foundation
import Search
import Store
import Training

/// Sends heartbeats for a candidate from a background thread while it is evaluated. A failed heartbeat is
/// retried on the next beat; failures are reported (the first, then every tenth), and so is a lost claim.
final class Heartbeat: @unchecked Sendable {
    let store: any Store, candidateId: Int64, worker: String
    let log: (String) -> Void
    /// Seconds between beats.
    let interval: Double
    private let stopped = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    init(store: any Store, candidateId: Int64, worker: String, interval: Double = 2, log: @escaping (String) -> Void) {
        self.store = store
        self.candidateId = candidateId
        self.worker = worker
        self.interval = interval
        self.log = log
    }

    func start() {
        Thread {
            var failures = 0
            var claimLost = false
            while self.stopped.wait(timeout: .now() + self.interval) == .timedOut {
                do {
                    let held = try self.store.heartbeat(candidateId: self.candidateId, worker: self.worker)
                    if failures > 0 { self.log("heartbeat for candidate \(self.candidateId) works again after \(failures) failures") }
                    failures = 0
                    if !held && !claimLost {
                        claimLost = true
                        self.log("candidate \(self.candidateId): another worker has taken it over; this worker's result will not be stored")
                    }
                } catch {
                    failures += 1
                    if failures == 1 || failures % 10 == 0 {
                        self.log("heartbeat for candidate \(self.candidateId) failed (\(failures) in a row; retrying every \(self.interval) s): \(error)")
                    }
                }
            }
            self.done.signal()
        }.start()
    }

    func stop() {
        stopped.signal()
        done.wait()
    }
}
