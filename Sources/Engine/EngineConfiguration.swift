import Foundation
import Synchronization

/// The engine's settings, in one value: its threads, the GEMM's numerics, the inference kernels' instruction set
/// and block fusion. A command installs one for its whole run (`install()`); code that needs other settings for a
/// while runs in `apply(_:)`, which restores the previous ones after. The kernels read the settings in effect
/// (`EngineConfiguration.current`) with one relaxed atomic load, so reading costs nothing on the hot path and no
/// setting can tear across threads.
public struct EngineConfiguration: Equatable, Sendable, CustomStringConvertible {
    /// Threads of the engine's own kernels (OpenBLAS runs single-threaded: the engine splits GEMMs itself).
    public var threads: Int
    public var numerics: Numerics
    /// The preferred instruction set of the inference kernels (AVX-512 is used only where the CPU has it and
    /// the numerics are `fast`: `InferenceKernels.isa`).
    public var isa: KernelISA
    /// Block-level fusion in inference (`InferenceKernels.fused`).
    public var fused: Bool

    /// All cores, fast numerics, AVX-512 unless `EFSEARCH_ISA=avx2`, fusion on.
    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, numerics: Numerics = .fast,
                isa: KernelISA = EngineConfiguration.environmentISA, fused: Bool = true) {
        self.threads = max(1, threads)
        self.numerics = numerics
        self.isa = isa
        self.fused = fused
    }

    /// `EFSEARCH_ISA=avx2` prefers the AVX2 kernels; anything else AVX-512.
    public static var environmentISA: KernelISA {
        ProcessInfo.processInfo.environment["EFSEARCH_ISA"]?.lowercased() == KernelISA.avx2.rawValue ? .avx2 : .avx512
    }

    /// The settings in effect.
    public static var current: EngineConfiguration { decode(state.load(ordering: .relaxed)) }

    /// Makes these the settings in effect from now on (a command's, once), with OpenBLAS single-threaded.
    public func install() {
        BLAS.setThreads(1)
        EngineConfiguration.state.store(encoded, ordering: .sequentiallyConsistent)
    }

    /// Runs `body` with these settings in effect, then restores the ones before (also when `body` throws). Two
    /// atomic stores and nothing else, so that it may wrap a single timed pass (`EngineBench`).
    public func apply<T>(_ body: () throws -> T) rethrows -> T {
        let previous = EngineConfiguration.state.exchange(encoded, ordering: .sequentiallyConsistent)
        defer { EngineConfiguration.state.store(previous, ordering: .sequentiallyConsistent) }
        return try body()
    }

    /// A copy with `change` applied: `EngineConfiguration.current.with { $0.threads = 2 }.install()`.
    public func with(_ change: (inout EngineConfiguration) -> Void) -> EngineConfiguration {
        var copy = self
        change(&copy)
        return copy
    }

    /// The inference kernels' instruction set under these settings: AVX-512 when preferred and available, and
    /// the numerics are `fast` (`portable` promises the same bits on every AVX2 machine, so it keeps AVX2).
    public var kernelISA: KernelISA { isa == .avx512 && InferenceKernels.cpuHasAVX512 && numerics == .fast ? .avx512 : .avx2 }

    /// What a candidate's figures were computed with, as a run stores it: the CPU, the threads and the GEMM path.
    public var machineDescription: String { "\(MachineBenchmark.cpuModel); \(threads) threads; engine AVX2+FMA; \(numerics.kernelPath)" }

    public var description: String { "\(threads) threads, \(numerics.rawValue) numerics, \(isa.rawValue) preferred, fusion \(fused ? "on" : "off")" }

    // Packed into one word: threads in the low 32 bits, then one bit each for numerics, instruction set and fusion.
    private var encoded: UInt64 {
        UInt64(UInt32(clamping: threads)) | (numerics == .portable ? 1 << 32 : 0) | (isa == .avx2 ? 1 << 33 : 0) | (fused ? 1 << 34 : 0)
    }

    private static func decode(_ word: UInt64) -> EngineConfiguration {
        EngineConfiguration(threads: Int(word & 0xFFFF_FFFF), numerics: word & (1 << 32) != 0 ? .portable : .fast,
                            isa: word & (1 << 33) != 0 ? .avx2 : .avx512, fused: word & (1 << 34) != 0)
    }

    /// The settings in effect, packed. The first use sets OpenBLAS single-threaded, as every `install()` does.
    private static let state: Atomic<UInt64> = {
        BLAS.setThreads(1)
        return Atomic(EngineConfiguration().encoded)
    }()
}
