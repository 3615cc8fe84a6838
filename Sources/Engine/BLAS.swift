import CBLAS
import CDynamicLinker
import Foundation

/// Thin, shape-documented wrappers over OpenBLAS, or the engine's portable GEMM (`BLAS.numerics`).
public enum BLAS {
    /// Which GEMM a call uses: the numerics of the engine's settings in effect (`EngineConfiguration`).
    public static var numerics: Numerics { EngineConfiguration.current.numerics }

    /// Sets the number of threads OpenBLAS uses for every later call.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS uses.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// OpenBLAS's description of the kernel it chose for this CPU (e.g. `Zen`, `Haswell`).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// `C = alpha * op(A) * op(B) + beta * C`, row-major.
    ///
    /// Shapes: `op(A)` is `m x k`, `op(B)` is `k x n`, `C` is `m x n`; `lda`, `ldb`, `ldc` default to the
    /// row lengths of the stored (untransposed) matrices.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        if numerics == .portable {
            PortableGEMM.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                               a: a, lda: lda ?? (transposeA ? m : k), b: b, ldb: ldb ?? (transposeB ? k : n), beta: beta, c: c, ldc: ldc ?? n)
            return
        }
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha,
            a, Int32(lda ?? (transposeA ? m : k)),
            b, Int32(ldb ?? (transposeB ? k : n)),
            beta, c, Int32(ldc ?? n))
    }

    /// `C = alpha * op(A) * op(B) + beta * C` on arrays, row-major; shapes as in the pointer version.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: [Float], b: [Float], beta: Float = 0, c: inout [Float]
    ) {
        precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "sgemm: arrays smaller than their shapes")
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                          a: pa.baseAddress!, b: pb.baseAddress!, beta: beta, c: pc.baseAddress!)
                }
            }
        }
    }
}

extension BLAS {
    /// OpenBLAS's kernels for CPUs without AVX2, which it falls back to on a CPU model it does not know.
    static let genericCores: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
                                            "Northwood", "Banias", "Barcelona", "Opteron", "Opteron_SSE3", "Athlon"]

    /// The kernels OpenBLAS should run on this CPU when it fell back to pre-AVX2 ones because it did not recognise
    /// the CPU (a newer model than the library): `SkylakeX` with AVX-512, `Haswell` with AVX2. Nil when OpenBLAS
    /// chose well, or `OPENBLAS_CORETYPE` (read when the library loads) is set.
    public static var betterCore: String? {
        guard genericCores.contains(coreName), ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let flags = MachineBenchmark.cpuInfo("flags") else { return nil }
        let words = Set(flags.split(separator: " ").map(String.init))
        return words.contains("avx512f") ? "SkylakeX" : words.contains("avx2") ? "Haswell" : nil
    }

    /// Advice when OpenBLAS runs kernels older than the CPU (`betterCore`), for processes that cannot restart
    /// themselves with `OPENBLAS_CORETYPE` set (the `efsearch` executable does: `chooseBetterCore`).
    public static var coreAdvice: String? {
        betterCore.map {
            "note: OpenBLAS did not recognise this CPU and runs its \(coreName) kernels, several times slower than the CPU allows; "
                + "start with OPENBLAS_CORETYPE=\($0) to use its \($0) kernels (results then differ in the last bits; --numerics portable does not use OpenBLAS)"
        }
    }

    /// The environment variable that says this process was restarted by `chooseBetterCore` (its value is the core).
    public static let chosenCoreVariable = "EFSEARCH_CHOSE_OPENBLAS_CORE"

    /// When OpenBLAS fell back to pre-AVX2 kernels (`betterCore`), restarts this executable with
    /// `OPENBLAS_CORETYPE` set to the right ones; returns only if it cannot. Call first thing in `main`, before
    /// any work or output. A user's own `OPENBLAS_CORETYPE` is never overridden.
    public static func chooseBetterCore() {
        guard let core = betterCore else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(chosenCoreVariable, core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(chosenCoreVariable)
    }

    /// The shared library that `cblas_sgemm` resolved to in this process (it must be OpenBLAS's, never
    /// GSL's `gslcblas`).
    public static var sgemmLibraryPath: String {
        typealias Sgemm = @convention(c) (
            CBLAS_ORDER, CBLAS_TRANSPOSE, CBLAS_TRANSPOSE, Int32, Int32, Int32, Float,
            UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
        let function: Sgemm = cblas_sgemm
        guard let path = cdl_library_path(unsafeBitCast(function, to: UnsafeRawPointer.self)) else { return "unknown" }
        return String(cString: path)
    }
}
