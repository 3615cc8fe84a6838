import Architecture
import Engine
import XCTest

/// Synflow and NASWOT against PyTorch + timm (fixtures from scripts/make_zero_cost_golden.py).
final class ZeroCostTests: XCTestCase {
    struct Golden: Decodable {
        struct TimmCase: Decodable { var file: String; var resolution: Int; var synflow: Double; var naswot: Double? }
        struct EfsearchCase: Decodable {
            var name: String; var preset: String?; var arch: String?
            var width: Double?; var depth: Double?; var stem: Int?; var head: Int?; var classes: Int?
            var resolution: Int; var seed: UInt64; var synflow: Double; var naswot: Double?
        }
        struct Meta: Decodable { var batch: Int }
        var meta: Meta
        var timm: [TimmCase]
        var efsearch: [EfsearchCase]
    }

    func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: TestData.fixture("zero_cost.json")))
    }

    func model(_ testCase: Golden.EfsearchCase) throws -> EfficientNetModel {
        var spec: NetworkSpec
        if let preset = testCase.preset {
            spec = try Presets.named(preset).spec
        } else {
            spec = try NetworkSpec(arch: try XCTUnwrap(testCase.arch))
            spec.width = try XCTUnwrap(testCase.width)
            spec.depth = try XCTUnwrap(testCase.depth)
            spec.stem = try XCTUnwrap(testCase.stem)
            spec.head = try XCTUnwrap(testCase.head)
            spec.classes = try XCTUnwrap(testCase.classes)
        }
        spec.resolution = testCase.resolution
        let model = EfficientNetModel(try spec.resolve())
        model.initialize(seed: testCase.seed)
        return model
    }

    /// Both scores of every fixture network: synflow within 1e-4 in log space (float32 against float64), NASWOT's
    /// log-determinant within 0.5% (a pre-activation within rounding of zero may take the other sign in float32).
    func testScoresMatchPyTorch() throws {
        let golden = try golden()
        XCTAssertGreaterThanOrEqual(golden.timm.count + golden.efsearch.count, 8)
        var cases: [(String, EfficientNetModel, Int, Double, Double?)] = []
        for testCase in golden.timm {
            let (model, _, _) = try Checkpoint.load(TestData.fixture(testCase.file))
            cases.append((testCase.file, model, testCase.resolution, testCase.synflow, testCase.naswot))
        }
        for testCase in golden.efsearch {
            cases.append((testCase.name, try model(testCase), testCase.resolution, testCase.synflow, testCase.naswot))
        }
        var rescaled: [String] = []
        for (name, model, resolution, synflow, naswot) in cases {
            let before = model.namedParameters().map { $0.1.value.array }
            let score = model.synflow(resolution: resolution)
            XCTAssertEqual(score.log, synflow, accuracy: 1e-4 * max(1, abs(synflow)), name)
            if score.rescaledBits > 0 { rescaled.append(name) }
            XCTAssertEqual(model.namedParameters().map { $0.1.value.array }, before, "\(name): synflow restores the weights")
            let ours = model.naswot(TestData.goldenInput(batch: golden.meta.batch, resolution: resolution))
            XCTAssertEqual(ours == nil, naswot == nil, name)
            if let ours, let naswot { XCTAssertEqual(ours, naswot, accuracy: 5e-3 * abs(naswot), name) }
        }
        // The deep presets overflow float32 without log space: those cases checked the rescaling.
        XCTAssertTrue(Set(["efficientnet-b7", "efficientnetv2-l", "efficientnet-b0"]).isSubset(of: Set(rescaled)), "\(rescaled)")
    }

    /// Without the rescaling a deep network's synflow overflows; with it forced early on a small network, the score is
    /// the one computed without it.
    func testRescalingIsExactAndNeeded() throws {
        let golden = try golden()
        let deep = try XCTUnwrap(golden.efsearch.first { $0.name == "efficientnet-b7" })
        let overflowed = try model(deep).synflow(resolution: deep.resolution, rescaleAbove: .infinity)
        XCTAssertFalse(overflowed.log.isFinite && abs(overflowed.log - deep.synflow) < 1, "float32 alone cannot hold \(deep.synflow)")
        let small = try XCTUnwrap(golden.efsearch.first { $0.name == "efficientnet-b0" })
        let network = try model(small)
        let plain = network.synflow(resolution: small.resolution)
        let early = network.synflow(resolution: small.resolution, rescaleAbove: 0x1p20, rescaleTo: 0x1p12)
        XCTAssertGreaterThan(early.rescaledBits, plain.rescaledBits)
        XCTAssertEqual(early.log, plain.log, accuracy: 1e-4 * abs(plain.log))
    }
}
