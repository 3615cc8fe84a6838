import CBLAS
import CDynamicLinker
import Engine
import Foundation
import XCTest
import Statistics

/// `libgsl` pulls in GSL's reference CBLAS, which defines `cblas_sgemm` too. These tests prove that a
/// process linking both GSL and OpenBLAS calls OpenBLAS's.
final class BLASBindingTests: XCTestCase {
    func testSgemmSymbolComesFromOpenBLAS() throws {
        typealias Sgemm = @convention(c) (
            CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, Float,
            UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
        let function: Sgemm = cblas_sgemm
        let address = unsafeBitCast(function, to: UnsafeRawPointer.self)
        let path = try XCTUnwrap(cdl_library_path(address))
        let library = String(cString: path)
        XCTAssertEqual(library, BLAS.sgemmLibraryPath)
        XCTAssertTrue(library.contains("openblas"), "cblas_sgemm resolves to \(library)")
        XCTAssertFalse(library.contains("gslcblas"), "cblas_sgemm resolves to \(library)")
    }

    func testSgemmMatchesANaiveProduct() {
        let m = 37, n = 29, k = 53
        let a = (0..<(m * k)).map { Float(($0 * 7) % 13) - 6 }
        let b = (0..<(k * n)).map { Float(($0 * 5) % 11) - 5 }
        var c = [Float](repeating: 1, count: m * n)
        BLAS.sgemm(m: m, n: n, k: k, a: a, b: b, beta: 0, c: &c)
        for i in 0..<m {
            for j in 0..<n {
                var sum: Float = 0
                for p in 0..<k { sum += a[i * k + p] * b[p * n + j] }
                XCTAssertEqual(c[i * n + j], sum)
            }
        }
        // Transposed operands: C = A^T * B^T with A stored k x m and B stored n x k.
        let at = (0..<(k * m)).map { a[($0 % m) * k + $0 / m] }
        let bt = (0..<(n * k)).map { b[($0 % k) * n + $0 / k] }
        var d = [Float](repeating: 0, count: m * n)
        BLAS.sgemm(transposeA: true, transposeB: true, m: m, n: n, k: k, a: at, b: bt, c: &d)
        XCTAssertEqual(c, d)
    }

    /// GSL's reference CBLAS reaches about 3 GFLOP/s here, OpenBLAS well over 100 on 2 threads. The bound sits
    /// between the two with room for a busy machine (a CI run beside other work measured 19.6).
    func testSgemmRunsAtOpenBLASSpeedInReleaseBuilds() throws {
        #if DEBUG
        throw XCTSkip("throughput is only meaningful in release builds (swift test -c release)")
        #else
        let before = BLAS.threads
        defer { BLAS.setThreads(before) }  // the engine runs OpenBLAS single-threaded: leave it as found
        BLAS.setThreads(ProcessInfo.processInfo.activeProcessorCount)
        let gflops = MachineBenchmark.gemmGFLOPS(size: 512, runs: 5)
        print("sgemm 512^3: \(gflops) GFLOP/s on \(BLAS.threads) threads (\(BLAS.coreName))")
        XCTAssertGreaterThan(gflops, 10)
        #endif
    }

    func testRandomGeneratorIsSeeded() {
        let first = RandomGenerator(seed: 42)
        let second = RandomGenerator(seed: 42)
        let third = RandomGenerator(seed: 43)
        let a = (0..<8).map { _ in first.uniform() }
        XCTAssertEqual(a, (0..<8).map { _ in second.uniform() })
        XCTAssertNotEqual(a, (0..<8).map { _ in third.uniform() })
        XCTAssertTrue(a.allSatisfy { $0 >= 0 && $0 < 1 })
    }
}
