import Engine
import XCTest

/// The portable GEMM (`EngineConfiguration.numerics = .portable`): right against a double-precision reference, and bitwise the
/// chain of fused multiply-adds it promises, whatever the shapes, transposes, thread split or OpenBLAS's kernels.
final class PortableGEMMTests: XCTestCase {
    /// The engine's settings before each test, restored after it.
    private var saved = EngineConfiguration.current
    override func setUp() { saved = EngineConfiguration.current }
    override func tearDown() { saved.install() }

    struct Case {
        var m, n, k: Int
        var transposeA, transposeB: Bool
        var alpha, beta: Float
    }

    static let cases: [Case] = [
        Case(m: 1, n: 1, k: 1, transposeA: false, transposeB: false, alpha: 1, beta: 0),
        Case(m: 5, n: 17, k: 3, transposeA: false, transposeB: false, alpha: 1, beta: 0),
        Case(m: 64, n: 16, k: 40, transposeA: false, transposeB: true, alpha: 1, beta: 0),
        Case(m: 67, n: 33, k: 129, transposeA: true, transposeB: false, alpha: 0.5, beta: 1),
        Case(m: 130, n: 7, k: 96, transposeA: true, transposeB: true, alpha: -2, beta: 0.25),
        Case(m: 3, n: 200, k: 1, transposeA: false, transposeB: false, alpha: 1, beta: 1),
        Case(m: 256, n: 96, k: 576, transposeA: false, transposeB: true, alpha: 1, beta: 0),
    ]

    func element(_ values: [Float], _ row: Int, _ column: Int, rows: Int, columns: Int, transposed: Bool) -> Float {
        transposed ? values[column * rows + row] : values[row * columns + column]
    }

    /// Seeded A, B and C's initial values for a case.
    func inputs(_ t: Case, seed: UInt64) -> (a: [Float], b: [Float], c: [Float]) {
        (TestData.values(t.m * t.k, seed: seed), TestData.values(t.k * t.n, seed: seed + 1), TestData.values(t.m * t.n, seed: seed + 2))
    }

    /// C computed by `BLAS.sgemm` in the current mode, from C's initial values `c`.
    func gemm(_ t: Case, _ a: [Float], _ b: [Float], _ c: [Float]) -> [Float] {
        var out = c
        BLAS.sgemm(transposeA: t.transposeA, transposeB: t.transposeB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: a, b: b, beta: t.beta, c: &out)
        return out
    }

    func testAgreesWithADoublePrecisionReference() {
        EngineConfiguration.current.with { $0.numerics = .portable }.install()
        for (index, t) in Self.cases.enumerated() {
            let (a, b, c) = inputs(t, seed: UInt64(3 * index + 1))
            let out = gemm(t, a, b, c)
            for i in 0..<t.m {
                for j in 0..<t.n {
                    var sum = 0.0, magnitude = 0.0
                    for p in 0..<t.k {
                        let product = Double(element(a, i, p, rows: t.m, columns: t.k, transposed: t.transposeA))
                            * Double(element(b, p, j, rows: t.k, columns: t.n, transposed: t.transposeB))
                        sum += product
                        magnitude += abs(product)
                    }
                    let expected = Double(t.alpha) * sum + Double(t.beta) * Double(c[i * t.n + j])
                    let tolerance = 1e-6 * (abs(Double(t.alpha)) * magnitude + abs(Double(t.beta) * Double(c[i * t.n + j]))) + 1e-30
                    XCTAssertEqual(Double(out[i * t.n + j]), expected, accuracy: tolerance, "case \(index) (\(i), \(j))")
                }
            }
        }
    }

    /// Every element is exactly `fma(a[k-1] b[k-1], ... fma(a[0] b[0], 0))`, scaled by alpha, plus beta * C.
    func testEveryElementIsTheFixedChainOfFusedMultiplyAdds() {
        EngineConfiguration.current.with { $0.numerics = .portable }.install()
        for (index, t) in Self.cases.enumerated() {
            let (a, b, c) = inputs(t, seed: UInt64(7 * index + 1))
            let out = gemm(t, a, b, c)
            for i in 0..<t.m {
                for j in 0..<t.n {
                    var sum: Float = 0
                    for p in 0..<t.k {
                        sum = sum.addingProduct(element(a, i, p, rows: t.m, columns: t.k, transposed: t.transposeA),
                                                element(b, p, j, rows: t.k, columns: t.n, transposed: t.transposeB))
                    }
                    var expected = sum
                    if t.alpha != 1 { expected = t.alpha * expected }
                    if t.beta != 0 { expected = expected + t.beta * c[i * t.n + j] }
                    XCTAssertEqual(out[i * t.n + j].bitPattern, expected.bitPattern, "case \(index) (\(i), \(j))")
                }
            }
        }
    }

    /// The engine's thread split (by rows or by columns) does not change a bit in portable mode.
    func testThreadSplitsChangeNothing() {
        EngineConfiguration.current.with { $0.numerics = .portable }.install()
        let (m, n, k) = (300, 120, 200)
        // Large enough for both shapes below (m x k and k x n, then n x k and k x m).
        let a = TestData.values(max(m, n) * k, seed: 11), b = TestData.values(max(m, n) * k, seed: 12)
        func run(threads: Int, m: Int, n: Int) -> [Float] {
            EngineConfiguration.current.with { $0.threads = threads }.install()
            var c = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        Parallel.sgemm(transposeB: true, m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                    }
                }
            }
            return c
        }
        // Taller than wide: split by rows; wider than tall: split by columns.
        XCTAssertEqual(run(threads: 1, m: m, n: n).map(\.bitPattern), run(threads: 2, m: m, n: n).map(\.bitPattern))
        XCTAssertEqual(run(threads: 1, m: n, n: m).map(\.bitPattern), run(threads: 2, m: n, n: m).map(\.bitPattern))
    }
}
