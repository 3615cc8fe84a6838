import Architecture
import XCTest

final class ArchStringTests: XCTestCase {
    func testParsesEveryOptionOfABlockString() throws {
        let block = try ArchString.parseBlock("ir_r2_k5_s2_e6_c40_se0.25_noskip_nre")
        XCTAssertEqual(block.type, .ir)
        XCTAssertEqual(block.repeats, 2)
        XCTAssertEqual(block.kernel, 5)
        XCTAssertEqual(block.stride, 2)
        XCTAssertEqual(block.expansion, 6)
        XCTAssertEqual(block.outChannels, 40)
        XCTAssertEqual(block.seRatio, 0.25)
        XCTAssertFalse(block.skip)
        XCTAssertEqual(block.activation, .relu)
    }

    func testSkipDefaultsFollowTheBlockType() throws {
        XCTAssertTrue(try ArchString.parseBlock("ir_r1_k3_s1_e6_c16").skip)
        XCTAssertFalse(try ArchString.parseBlock("cn_r1_k3_s1_c16").skip)
        XCTAssertTrue(try ArchString.parseBlock("cn_r1_k3_s1_c16_skip").skip)
        XCTAssertFalse(try ArchString.parseBlock("ds_r1_k3_s1_c16_noskip").skip)
    }

    func testStagesAndBlockStringsSplitOnSemicolonAndComma() throws {
        let stages = try ArchString.parse(" ds_r1_k3_s1_c16 ; ir_r2_k3_s2_e6_c24, er_r1_k3_s1_e4_c24 ;cn_r1_k1_s1_c8 ")
        XCTAssertEqual(stages.map(\.count), [1, 2, 1])
        XCTAssertEqual(stages[1][1].type, .er)
        XCTAssertEqual(stages[2][0].kernel, 1)
    }

    func testEveryPresetRoundTripsThroughItsCanonicalForm() throws {
        for preset in Presets.all {
            let text = ArchString.format(preset.spec.stages)
            XCTAssertEqual(try ArchString.parse(text), preset.spec.stages, preset.name)
            XCTAssertEqual(try ArchString.canonical(text), text, preset.name)
        }
    }

    func testCanonicalFormOfB0() throws {
        XCTAssertEqual(
            try ArchString.canonical(Presets.efficientNetB0Arch),
            "ds_r1_k3_s1_c16_se0.25;ir_r2_k3_s2_e6_c24_se0.25;ir_r2_k5_s2_e6_c40_se0.25;ir_r3_k3_s2_e6_c80_se0.25;" +
                "ir_r3_k5_s1_e6_c112_se0.25;ir_r4_k5_s2_e6_c192_se0.25;ir_r1_k3_s1_e6_c320_se0.25")
    }

    func testSpellingsOfOneNetworkShareACanonicalForm() throws {
        let spellings = [
            "ir_r2_k3_s2_e6_c24_se0.25_nsw",
            "ir_c24_e6.0_s2_k3_r2_se0.250_nsi",
            "  ir_r2_k3_s2_e6_c24_se0.25_skip_nsw ",
        ]
        let canonical = try spellings.map(ArchString.canonical)
        XCTAssertEqual(Set(canonical), ["ir_r2_k3_s2_e6_c24_se0.25_nsw"])
        // e1 on a type without expansion and se0 mean nothing, so they drop out.
        XCTAssertEqual(try ArchString.canonical("ds_r1_k3_s1_e1_c16_se0"), "ds_r1_k3_s1_c16")
        XCTAssertEqual(try ArchString.canonical("cn_r1_k3_s1_c16_noskip"), "cn_r1_k3_s1_c16")
        XCTAssertEqual(try ArchString.canonical("ir_r1_k3_s1_e2.5_c16"), "ir_r1_k3_s1_e2.5_c16")
    }

    func testRandomBlocksRoundTrip() throws {
        var generator = SplitMix(seed: 7)
        for _ in 0..<500 {
            let type = BlockType.allCases[Int(generator.next() % 4)]
            let block = BlockSpec(
                type: type, repeats: 1 + Int(generator.next() % 5), kernel: [1, 3, 5, 7][Int(generator.next() % 4)],
                stride: 1 + Int(generator.next() % 2), expansion: [1, 2.5, 3, 4, 6][Int(generator.next() % 5)],
                outChannels: 1 + Int(generator.next() % 300),
                seRatio: type == .cn ? 0 : [0, 0.125, 0.25, 0.5][Int(generator.next() % 4)],
                skip: generator.next() % 2 == 0, activation: [nil, .silu, .relu, .relu6][Int(generator.next() % 4)])
            let text = ArchString.format(block)
            XCTAssertEqual(try ArchString.parseBlock(text), block, text)
        }
    }

    func testErrorsNameThePlaceAndWhatWasExpected() {
        func error(_ text: String) -> ArchStringError? {
            do {
                _ = try ArchString.parse(text)
                return nil
            } catch {
                return error as? ArchStringError
            }
        }
        let unknownType = error("ds_r1_k3_s1_c16;xx_r1_k3_s1_c16")
        XCTAssertEqual(unknownType?.stage, 2)
        XCTAssertEqual(unknownType?.column, 17)
        XCTAssertTrue(unknownType?.description.contains("unknown block type \"xx\"") ?? false)
        XCTAssertTrue(unknownType?.description.contains("ds, ir, er, cn") ?? false)

        let unknownOption = error("ir_r1_k3_s1_e6_c16,ir_r1_k3_s1_e6_c16_q4")
        XCTAssertEqual(unknownOption?.block, 2)
        XCTAssertEqual(unknownOption?.column, 39)
        XCTAssertTrue(unknownOption?.description.contains("unknown option \"q4\"") ?? false)

        let emptyStage = error("ds_r1_k3_s1_c16;;ir_r1_k3_s1_e6_c16")
        XCTAssertEqual(emptyStage?.stage, 2)
        XCTAssertTrue(emptyStage?.description.contains("stage 2 is empty") ?? false)

        let laterStride = error("ir_r1_k3_s2_e6_c16,ir_r1_k3_s2_e6_c24")
        XCTAssertEqual(laterStride?.block, 2)
        XCTAssertTrue(laterStride?.description.contains("only the first block of a stage") ?? false)

        XCTAssertNotNil(error(""))
        XCTAssertNotNil(error("ds_r1_k3_s1_c16;"))
        XCTAssertTrue(error("ir_r1_k4_s1_e6_c16")?.description.contains("k4 must be odd") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s3_e6_c16")?.description.contains("stride s3 must be 1 or 2") ?? false)
        XCTAssertTrue(error("ir_r0_k3_s1_e6_c16")?.description.contains("repeats r0 must be between 1 and 1000") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s1_e6_c0")?.description.contains("output channels c0 must be between 1 and 65536") ?? false)
        XCTAssertTrue(error("ir_r1_k0_s1_e6_c8")?.description.contains("k0") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s1_c16")?.description.contains("missing option \"e\"") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s1_e0_c16")?.description.contains("e0 must be greater than 0") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s1_e6_c999999999999")?.description.contains("between 1 and 65536") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s1_e6_c16_r2")?.description.contains("given twice") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s1_e6_c1x")?.description.contains("expected a whole number") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s1_e6_cx")?.description.contains("unknown option \"cx\"") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s1_e6_c16_nxx")?.description.contains("unknown activation option") ?? false)
        XCTAssertTrue(error("ir__r1_k3_s1_e6_c16")?.description.contains("empty option") ?? false)
        XCTAssertTrue(error("cn_r1_k3_s1_c16_se0.25")?.description.contains("no squeeze-excite") ?? false)
        XCTAssertTrue(error("ds_r1_k3_s1_e6_c16")?.description.contains("has no expansion") ?? false)
        XCTAssertTrue(error("ir_r1_k3_s1_e6_c16_se1.5")?.description.contains("between 0 and 1") ?? false)
    }
}

/// A tiny seeded generator for test inputs (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
