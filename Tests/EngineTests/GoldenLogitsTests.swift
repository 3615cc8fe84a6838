import Architecture
import Engine
import XCTest

/// Logits against timm (fixtures from scripts/make_engine_golden.py), in both directions.
final class GoldenLogitsTests: XCTestCase {
    struct Golden: Decodable {
        struct TimmCase: Decodable { var name: String; var file: String; var batch: Int; var resolution: Int; var logits: [Double] }
        struct EfsearchCase: Decodable {
            var name: String; var preset: String?; var arch: String?
            var width: Double?; var depth: Double?; var stem: Int?; var head: Int?; var classes: Int?
            var resolution: Int; var seed: UInt64; var batch: Int; var logits: [Double]
        }
        var timm: [TimmCase]
        var efsearch: [EfsearchCase]
    }

    /// The fixture, or a test failure (not a crash) when it is missing or malformed.
    func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: TestData.fixture("logits.json")))
    }

    func assertClose(_ ours: Tensor, _ theirs: [Double], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(ours.count, theirs.count, label, file: file, line: line)
        let scale = max(theirs.map(abs).max() ?? 0, 1e-30)
        var worst = 0.0
        for i in 0..<min(ours.count, theirs.count) { worst = max(worst, abs(Double(ours[i]) - theirs[i])) }
        XCTAssertLessThanOrEqual(worst / scale, 1e-4, "\(label): max |diff| \(worst) at logit scale \(scale)", file: file, line: line)
    }

    /// timm-initialised checkpoints (with random batch-norm statistics) load into efsearch and give timm's logits,
    /// on every inference path: unfused, and fused on each instruction set this CPU has.
    func testTimmCheckpointsGiveTimmLogits() throws {
        let cases = try golden().timm
        XCTAssertGreaterThanOrEqual(cases.count, 3, "the fixture holds timm cases")
        let paths: [(fused: Bool, isa: KernelISA)] = [(false, .avx2), (true, .avx2)] + (InferenceKernels.cpuHasAVX512 ? [(true, .avx512)] : [])
        for testCase in cases {
            let (model, spec, _) = try Checkpoint.load(TestData.fixture(testCase.file))
            XCTAssertEqual(spec.resolution, testCase.resolution)
            for path in paths {
                let logits = EngineConfiguration.current.with { $0.fused = path.fused; $0.isa = path.isa }.apply {
                    model.forward(TestData.goldenInput(batch: testCase.batch, resolution: testCase.resolution), training: false)
                }
                assertClose(logits, testCase.logits, "\(testCase.name) (\(path.fused ? "fused" : "unfused"), \(path.isa))")
            }
        }
    }

    /// Checkpoints from `efsearch init --seed` load into timm with strict=True; timm's logits were recorded.
    func testEfsearchCheckpointsGiveTheLogitsTimmComputed() throws {
        let cases = try golden().efsearch
        XCTAssertGreaterThanOrEqual(cases.count, 5, "the fixture holds the presets and arch strings")
        for testCase in cases {
            var spec: NetworkSpec
            if let preset = testCase.preset {
                spec = try Presets.named(preset).spec
            } else {
                spec = try NetworkSpec(arch: try XCTUnwrap(testCase.arch, testCase.name))
                spec.width = try XCTUnwrap(testCase.width, testCase.name)
                spec.depth = try XCTUnwrap(testCase.depth, testCase.name)
                spec.stem = try XCTUnwrap(testCase.stem, testCase.name)
                spec.head = try XCTUnwrap(testCase.head, testCase.name)
                spec.classes = try XCTUnwrap(testCase.classes, testCase.name)
            }
            spec.resolution = testCase.resolution
            let model = EfficientNetModel(try spec.resolve())
            model.initialize(seed: testCase.seed)
            let logits = model.forward(TestData.goldenInput(batch: testCase.batch, resolution: testCase.resolution), training: false)
            assertClose(logits, testCase.logits, testCase.name)
        }
    }

    /// A checkpoint written by efsearch reads back to the same logits (names, layouts and metadata round-trip).
    func testCheckpointRoundTrip() throws {
        var spec = try Presets.named("mnasnet-100").spec
        spec.width = 0.5
        spec.resolution = 48
        spec.classes = 6
        let model = EfficientNetModel(try spec.resolve())
        model.initialize(seed: 11)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-roundtrip-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.save(model, spec: spec, to: url)
        let (loaded, loadedSpec, _) = try Checkpoint.load(url)
        XCTAssertEqual(loadedSpec, spec)
        let x = TestData.goldenInput(batch: 2, resolution: 48)
        XCTAssertEqual(model.forward(x, training: false).array, loaded.forward(x, training: false).array)
    }
}
