import Foundation

/// How many threads the engine's own kernels use (OpenBLAS has its own setting: `BLAS.setThreads`).
/// Work is split into the same chunks whatever the timing, so results do not depend on scheduling.
public enum Parallel {
    nonisolated(unsafe) public private(set) static var threads = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// Sets the engine's and OpenBLAS's thread counts.
    public static func setThreads(_ count: Int) {
        threads = max(1, count)
        BLAS.setThreads(threads)
    }

    /// Runs `body(range)` over `0..<count` split into at most `threads` contiguous chunks.
    /// Each index is handled by exactly one chunk; chunk boundaries depend only on `count` and `threads`.
    @inlinable
    public static func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads, max(1, count / max(1, minimumChunk)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = count * chunk / chunks
                let end = count * (chunk + 1) / chunks
                if start < end { body(start..<end) }
            }
        }
    }
}
