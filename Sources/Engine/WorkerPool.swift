import Foundation
import CEngineKernels
import Synchronization

/// A persistent pool of worker threads for the engine's kernels. A kernel call hands out its chunks and
/// the caller works on chunk 0 itself; workers spin briefly between calls (a B0 forward pass makes a few
/// hundred of them, a few tens of microseconds apart), then sleep, so an idle process uses no CPU.
/// Chunking is fixed by the caller, so results do not depend on which thread runs what.
final class WorkerPool: @unchecked Sendable {
    let workers: Int
    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let wakeup = DispatchSemaphore(value: 0)
    private var job: ((Int) -> Void)?
    private var jobChunks = 0
    /// Set while a job runs: nested calls from inside a chunk run inline.
    private let busy = Atomic<Bool>(false)

    init(workers: Int) {
        self.workers = workers
        for index in 0..<workers {
            let thread = Thread { [unowned self] in self.workerLoop(index + 1) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body(chunk)` for chunk in 0..<chunks (chunks <= workers + 1) and returns when all are done.
    func run(chunks: Int, _ body: (Int) -> Void) {
        guard chunks > 1, workers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        withoutActuallyEscaping(body) { body in
            job = body
            jobChunks = chunks
            pending.store(workers, ordering: .relaxed)
            generation.wrappingAdd(1, ordering: .releasing)
            let asleep = sleepers.load(ordering: .acquiring)
            for _ in 0..<asleep { wakeup.signal() }
            body(0)
            while pending.load(ordering: .acquiring) > 0 { spinPause() }
            job = nil
        }
        busy.store(false, ordering: .releasing)
    }

    private func workerLoop(_ index: Int) {
        // Denormals flushed to zero, as on every thread that runs the engine's kernels (`Parallel`).
        efk_flush_denormals()
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                spins += 1
                if spins < 100_000 {
                    spinPause()
                } else {
                    // Sleep until the next job; re-check after announcing, so a job posted meanwhile is not missed.
                    sleepers.wrappingAdd(1, ordering: .acquiringAndReleasing)
                    if generation.load(ordering: .acquiring) == seen { wakeup.wait() }
                    sleepers.wrappingSubtract(1, ordering: .acquiringAndReleasing)
                    spins = 0
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if index < jobChunks, let job { job(index) }
            pending.wrappingSubtract(1, ordering: .releasing)
        }
    }

    /// One step of a busy wait (the loop around it re-reads an atomic): the CPU's `pause`.
    @inline(__always)
    private func spinPause() { efk_pause() }
}
