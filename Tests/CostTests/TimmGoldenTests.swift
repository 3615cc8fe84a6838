import Architecture
import Cost
import Foundation
import XCTest

/// Checks the cost model against timm's EfficientNet: fixtures written by scripts/make_cost_golden.py.
final class TimmGoldenTests: XCTestCase {
    struct Fixture: Decodable {
        struct Case: Decodable {
            var name: String
            var preset: String?
            var arch: String?
            var width: Double
            var depth: Double
            var resolution: Int
            var classes: Int
            var stem: Int?
            var head: Int?
            var activation: String?
            var params: Int
            var macs: Int
            var fvcore: Int?
            /// [stage, index, type, in, mid, out, se, has_skip]
            var blocks: [[BlockField]]
        }
        var cases: [Case]
    }

    enum BlockField: Decodable, Equatable {
        case int(Int), text(String), flag(Bool)
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Bool.self) { self = .flag(value) }
            else if let value = try? container.decode(Int.self) { self = .int(value) }
            else { self = .text(try container.decode(String.self)) }
        }
    }

    static let fixture: Fixture = {
        let url = Bundle.module.url(forResource: "timm_costs", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }()

    func spec(for testCase: Fixture.Case) throws -> NetworkSpec {
        var spec: NetworkSpec
        if let preset = testCase.preset {
            spec = try Presets.named(preset).spec
        } else {
            spec = try NetworkSpec(arch: testCase.arch!)
            spec.stem = testCase.stem!
            spec.head = testCase.head!
            let name = try XCTUnwrap(testCase.activation, "an arch-string case names its activation")
            spec.activation = try XCTUnwrap(Activation(rawValue: name), "activation \(name)")
        }
        spec.width = testCase.width
        spec.depth = testCase.depth
        spec.resolution = testCase.resolution
        spec.classes = testCase.classes
        return spec
    }

    func testFixtureCoversPresetsAndArbitraryArchitectures() {
        let cases = Self.fixture.cases
        XCTAssertGreaterThanOrEqual(cases.filter { $0.arch != nil }.count, 50)
        for preset in Presets.names {
            XCTAssertTrue(cases.contains { $0.name == preset }, "no fixture for \(preset)")
        }
    }

    func testParamsEqualTimmExactlyAndMACsToo() throws {
        for testCase in Self.fixture.cases {
            let network = try spec(for: testCase).resolve()
            let summary = CostModel.summary(of: network)
            XCTAssertEqual(summary.params, testCase.params, "params of \(testCase.name)")
            XCTAssertEqual(summary.macs, testCase.macs, "MACs of \(testCase.name)")
            // The acceptance bound, stated separately so a convention change shows up as a clear failure.
            XCTAssertLessThanOrEqual(abs(Double(summary.macs - testCase.macs)) / Double(testCase.macs), 0.005, testCase.name)
        }
    }

    func testResolvedBlocksMatchTimmBlockForBlock() throws {
        for testCase in Self.fixture.cases {
            let network = try spec(for: testCase).resolve()
            let ours: [[BlockField]] = network.blocks.map { block in
                [.int(block.stage), .int(block.index), .text(block.type.rawValue), .int(block.inChannels),
                 .int(block.midChannels), .int(block.outChannels), .int(block.seChannels), .flag(block.hasResidual)]
            }
            XCTAssertEqual(ours.count, testCase.blocks.count, "block count of \(testCase.name)")
            if let index = ours.indices.first(where: { $0 < testCase.blocks.count && ours[$0] != testCase.blocks[$0] }) {
                XCTFail("\(testCase.name): block \(index) is \(ours[index]), timm has \(testCase.blocks[index])")
            }
        }
    }

    func testFvcoreConventionMatchesFvcore() throws {
        let withFvcore = Self.fixture.cases.filter { $0.fvcore != nil }
        XCTAssertFalse(withFvcore.isEmpty)
        for testCase in withFvcore {
            let summary = CostModel.summary(of: try spec(for: testCase).resolve())
            XCTAssertEqual(summary.flops(.fvcore), testCase.fvcore, testCase.name)
        }
    }
}
