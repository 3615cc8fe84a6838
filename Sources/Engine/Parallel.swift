import CEngineKernels
import Foundation

/// How many threads the engine's own kernels use (OpenBLAS has its own setting: `BLAS.setThreads`).
/// Work is split into the same chunks whatever the timing, so results do not depend on scheduling.
public enum Parallel {
    /// The engine's thread count (`EngineConfiguration.threads`). OpenBLAS runs single-threaded: the engine splits
    /// GEMMs itself (`Parallel.sgemm`), so that two thread pools never compete for the cores.
    public static var threads: Int { EngineConfiguration.current.threads }

    /// Runs `body(range)` over `0..<count` split into at most `threads` contiguous chunks.
    /// Each index is handled by exactly one chunk; chunk boundaries depend only on `count` and `threads`.
    public static func forEachChunk(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        forEachIndexedChunk(count, minimumChunk: minimumChunk) { _, range in body(range) }
    }

    /// As `forEachChunk`, also passing the chunk's index (below `threads`), e.g. to pick per-thread scratch.
    public static func forEachIndexedChunk(_ count: Int, minimumChunk: Int = 1, _ body: (_ chunk: Int, Range<Int>) -> Void) {
        efk_flush_denormals()
        let chunks = min(threads, pool.workers + 1, max(1, count / max(1, minimumChunk)))
        if chunks <= 1 {
            body(0, 0..<count)
            return
        }
        pool.run(chunks: chunks) { chunk in
            let start = count * chunk / chunks
            let end = count * (chunk + 1) / chunks
            if start < end { body(chunk, start..<end) }
        }
    }

    /// The engine's worker threads (one per core besides the caller's).
    static let pool = WorkerPool(workers: max(0, ProcessInfo.processInfo.activeProcessorCount - 1))
}

extension Parallel {
    /// `C = alpha * op(A) * op(B) + beta * C` (row-major), split over the engine's threads: by rows of C when
    /// C is taller than wide, else by columns. OpenBLAS itself runs single-threaded inside each chunk (see
    /// `setThreads`), so one thread pool serves the whole engine; every element of C is computed by one
    /// call, and the split depends only on the shapes and the thread count, so results are the same at
    /// every run with the same thread count.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        let lda = lda ?? (transposeA ? m : k), ldb = ldb ?? (transposeB ? k : n), ldc = ldc ?? n
        let work = m * n * k
        guard threads > 1, work >= 1 << 17 else {
            BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                       a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
            return
        }
        if m >= n {
            forEachChunk(m, minimumChunk: 16) { rows in
                BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: rows.count, n: n, k: k, alpha: alpha,
                           a: a + (transposeA ? rows.lowerBound : rows.lowerBound * lda), lda: lda, b: b, ldb: ldb,
                           beta: beta, c: c + rows.lowerBound * ldc, ldc: ldc)
            }
        } else {
            forEachChunk(n, minimumChunk: 16) { columns in
                BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: columns.count, k: k, alpha: alpha,
                           a: a, lda: lda, b: b + (transposeB ? columns.lowerBound * ldb : columns.lowerBound), ldb: ldb,
                           beta: beta, c: c + columns.lowerBound, ldc: ldc)
            }
        }
    }
}
