import Engine
import XCTest

/// The engine's settings as one value: installed, applied for a while and restored, read by the kernels.
final class EngineConfigurationTests: XCTestCase {
    private var saved = EngineConfiguration.current
    override func setUp() { saved = EngineConfiguration.current }
    override func tearDown() { saved.install() }

    func testEverySettingReadsBackAsInstalled() {
        for threads in [1, 2, 7, 1000] {
            for numerics in Numerics.allCases {
                for isa in KernelISA.allCases {
                    for fused in [false, true] {
                        let configuration = EngineConfiguration(threads: threads, numerics: numerics, isa: isa, fused: fused)
                        configuration.install()
                        XCTAssertEqual(EngineConfiguration.current, configuration)
                        XCTAssertEqual(Parallel.threads, threads)
                        XCTAssertEqual(BLAS.numerics, numerics)
                        XCTAssertEqual(InferenceKernels.preferred, isa)
                        XCTAssertEqual(InferenceKernels.fused, fused)
                        // Portable numerics keep the AVX2 kernels (the same bits on every AVX2 machine).
                        XCTAssertEqual(InferenceKernels.isa, numerics == .fast && isa == .avx512 && InferenceKernels.cpuHasAVX512 ? .avx512 : .avx2)
                        XCTAssertEqual(BLAS.threads, 1, "OpenBLAS runs single-threaded under the engine")
                    }
                }
            }
        }
        XCTAssertEqual(EngineConfiguration(threads: 0).threads, 1)
    }

    struct Failure: Error {}

    func testApplyRestoresTheSettingsBeforeAlsoWhenTheBodyThrows() {
        let before = EngineConfiguration(threads: 3, numerics: .fast, isa: .avx2, fused: true)
        before.install()
        let inside = before.with { $0.threads = 1; $0.numerics = .portable; $0.fused = false }
        let seen = inside.apply { EngineConfiguration.current }
        XCTAssertEqual(seen, inside)
        XCTAssertEqual(EngineConfiguration.current, before)
        XCTAssertThrowsError(try inside.apply { () throws -> Void in
            XCTAssertEqual(EngineConfiguration.current, inside)
            throw Failure()
        })
        XCTAssertEqual(EngineConfiguration.current, before)
        // Nested: each level restores its own.
        inside.apply {
            before.with { $0.threads = 5 }.apply { XCTAssertEqual(Parallel.threads, 5) }
            XCTAssertEqual(EngineConfiguration.current, inside)
        }
        XCTAssertEqual(EngineConfiguration.current, before)
    }

    func testTheMachineDescriptionFollowsTheSettings() {
        let portable = EngineConfiguration(threads: 2, numerics: .portable)
        XCTAssertTrue(portable.machineDescription.contains("; 2 threads; "), portable.machineDescription)
        XCTAssertTrue(portable.machineDescription.hasSuffix(Numerics.portable.kernelPath), portable.machineDescription)
        XCTAssertEqual(portable.kernelISA, .avx2)
    }
}
