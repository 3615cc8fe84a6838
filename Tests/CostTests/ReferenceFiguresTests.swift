import Architecture
import Cost
import XCTest

/// The figures of shared/REFERENCE.md (PyTorch reference implementation, 1000 classes) and the cost
/// model's conventions.
final class ReferenceFiguresTests: XCTestCase {
    func testReferenceTable() throws {
        let table: [(String, Int, Int, Int)] = [
            ("efficientnet-b0", 224, 5_288_548, 385_814_752),
            ("efficientnet-b3", 300, 12_233_232, 1_827_141_392),
            ("efficientnet-b7", 600, 66_347_960, 37_745_884_192),
            ("efficientnetv2-s", 384, 21_458_488, 8_365_617_152),
            ("mobilenetv2-100", 224, 3_504_872, 300_774_272),
        ]
        for (name, resolution, params, macs) in table {
            let spec = try Presets.named(name).spec
            XCTAssertEqual(spec.resolution, resolution, name)
            let summary = CostModel.summary(of: try spec.resolve())
            XCTAssertEqual(summary.params, params, name)
            XCTAssertEqual(summary.macs, macs, name)
        }
    }

    func testFlopConventions() throws {
        let summary = CostModel.summary(of: try Presets.defaultSpec.resolve())
        XCTAssertEqual(summary.flops(.macs), 385_814_752)
        XCTAssertEqual(summary.flops(.twice), 2 * 385_814_752)
        XCTAssertEqual(Double(summary.flops(.fvcore)) / 1e9, 0.399, accuracy: 0.0005)  // REFERENCE.md: 0.399 G
    }

    func testResolutionReachesTheCostModel() throws {
        var spec = Presets.defaultSpec
        let at224 = CostModel.summary(of: try spec.resolve())
        spec.resolution = 448
        let at448 = CostModel.summary(of: try spec.resolve())
        XCTAssertEqual(at448.params, at224.params)
        // Convolutions scale with the pixel count; SE and the classifier do not.
        XCTAssertGreaterThan(Double(at448.macs) / Double(at224.macs), 3.9)
        XCTAssertLessThan(Double(at448.macs) / Double(at224.macs), 4.0)
    }

    func testLayerRowsAddUpAndNameTimmModules() throws {
        let network = try Presets.defaultSpec.resolve()
        let rows = CostModel.layers(of: network)
        XCTAssertEqual(rows.first?.name, "conv_stem")
        XCTAssertEqual(rows.last?.name, "classifier")
        XCTAssertTrue(rows.contains { $0.name == "blocks.1.0.conv_dw" && $0.kind == .depthwise && $0.stride == 2 })
        XCTAssertTrue(rows.contains { $0.name == "blocks.1.0.se" && $0.params == 2 * 96 * 4 + 4 + 96 })
        XCTAssertEqual(rows.reduce(0) { $0 + $1.params }, 5_288_548)
        // B0's first stage: 32 x 112 x 112 in, 16 x 112 x 112 out.
        let projection = rows.first { $0.name == "blocks.0.0.conv_pw" }!
        XCTAssertEqual(projection.macs, 112 * 112 * 32 * 16)
    }

    func testMemoryAndRooflineScaleWithBatch() throws {
        let machine = MachineProfile(peakGFLOPS: 100, bandwidthGBs: 10, source: "test")
        let network = try Presets.defaultSpec.resolve()
        let one = CostModel.summary(of: network, batch: 1, machine: machine)
        let eight = CostModel.summary(of: network, batch: 8, machine: machine)
        XCTAssertEqual(eight.activationBytes, 8 * one.activationBytes)
        XCTAssertEqual(eight.peakMemoryBytes - 4 * eight.params, 8 * (one.peakMemoryBytes - 4 * one.params))
        XCTAssertGreaterThan(eight.latencySeconds, one.latencySeconds)
        // No faster than the pure compute bound.
        XCTAssertGreaterThanOrEqual(one.latencySeconds, 2 * Double(one.macs) / 100e9)
        // The largest activation of B0 is the 96 x 112 x 112 expansion of blocks.1.0 (float32).
        XCTAssertGreaterThan(one.peakMemoryBytes, 4 * (one.params + 96 * 112 * 112))
    }
}
