import Architecture
import XCTest

final class ScalingTests: XCTestCase {
    func testMakeDivisibleRoundsToEightWithTheTenPercentRule() {
        XCTAssertEqual(Rounding.makeDivisible(32 * 1.1), 32)   // 35.2 -> 32, within 10%
        XCTAssertEqual(Rounding.makeDivisible(32 * 1.2), 40)   // 38.4 -> 40
        XCTAssertEqual(Rounding.makeDivisible(16 * 1.1), 16)   // 17.6 -> 16
        XCTAssertEqual(Rounding.makeDivisible(1280 * 1.1), 1408)
        XCTAssertEqual(Rounding.makeDivisible(3), 8)            // never below the divisor
        XCTAssertEqual(Rounding.makeDivisible(11), 16)          // 8 < 0.9 * 11: the 10% rule adds 8
        XCTAssertEqual(Rounding.makeDivisible(11, roundLimit: 0), 8)  // EfficientNetV2: no 10% rule
        XCTAssertEqual(Rounding.makeDivisible(12), 16)          // int(16) // 8 * 8
        XCTAssertEqual(Rounding.makeDivisible(83), 80)          // 80 >= 74.7
        XCTAssertEqual(Rounding.makeDivisible(90.2), 88)
        XCTAssertEqual(Rounding.makeDivisible(35, divisor: 4), 36)
    }

    func testRepeatsUseCeilAndShareBackInReverseWithBankersRounding() {
        XCTAssertEqual(Rounding.scaleRepeats([3], depth: 1.4), [5])      // ceil(4.2)
        XCTAssertEqual(Rounding.scaleRepeats([4], depth: 1.1), [5])      // ceil(4.4)
        XCTAssertEqual(Rounding.scaleRepeats([2], depth: 3.1), [7])      // ceil(6.2)
        XCTAssertEqual(Rounding.scaleRepeats([1], depth: 0.25), [1])
        XCTAssertEqual(Rounding.scaleRepeats([1, 2], depth: 1.5), [2, 3])  // 5 shared: 3 to the last, 2 left
        XCTAssertEqual(Rounding.scaleRepeats([1, 1], depth: 1.25), [1, 2]) // round(1.5) = 2 (half to even)
        XCTAssertEqual(Rounding.scaleRepeats([1, 1, 1], depth: 0.5), [1, 1, 1])  // each at least 1
        XCTAssertEqual(Rounding.scaleRepeats([3, 1], depth: 2), [6, 2])
    }

    func testPythonRoundIsHalfToEven() {
        XCTAssertEqual(Rounding.pythonRound(2.5), 2)
        XCTAssertEqual(Rounding.pythonRound(3.5), 4)
        XCTAssertEqual(Rounding.pythonRound(2.4999), 2)
    }

    func testResolvedB3HasTheScaledStemHeadAndRepeats() throws {
        let b3 = try Presets.named("efficientnet-b3").spec.resolve()
        XCTAssertEqual(b3.stemChannels, 40)
        XCTAssertEqual(b3.headChannels, 1536)
        XCTAssertEqual(b3.scaledStages.map { $0[0].repeats }, [2, 3, 3, 5, 5, 6, 2])
        XCTAssertEqual(b3.scaledStages.map { $0[0].outChannels }, [24, 32, 48, 96, 136, 232, 384])
        // Only the first block of a stage has the stage's stride.
        XCTAssertEqual(b3.stages[1].map(\.stride), [2, 1, 1])
        XCTAssertEqual(b3.stages[1][1].inChannels, 32)
        XCTAssertEqual(b3.finalSize, 10)
    }

    func testHeadScalingRulesDifferByFamily() throws {
        var mobile = try Presets.named("mobilenetv2-100").spec
        mobile.width = 0.5
        XCTAssertEqual(try mobile.resolve().headChannels, 1280)   // max(1280, 640)
        mobile.width = 1.4
        XCTAssertEqual(try mobile.resolve().headChannels, 1792)
        var mnas = try Presets.named("mnasnet-100").spec
        mnas.width = 0.5
        XCTAssertEqual(try mnas.resolve().headChannels, 1280)     // fixed
        var b0 = Presets.defaultSpec
        b0.head = 0
        XCTAssertEqual(try b0.resolve().headChannels, 0)
        XCTAssertEqual(try b0.resolve().featureChannels, 320)
    }

    func testCompoundScalingFollowsAlphaBetaGammaToThePhi() {
        let scaling = CompoundScaling.paper
        XCTAssertEqual(scaling.flopsFactor, 1.2 * 1.1 * 1.1 * 1.15 * 1.15, accuracy: 1e-12)
        let member = scaling.member(of: Presets.defaultSpec, phi: 2)
        XCTAssertEqual(member.depth, 1.44, accuracy: 1e-12)
        XCTAssertEqual(member.width, 1.21, accuracy: 1e-12)
        XCTAssertEqual(member.resolution, 296)   // 224 * 1.3225 = 296.24 -> 296
        XCTAssertEqual(Rounding.scaleResolution(224, factor: 1.15), 256)  // 257.6 -> 256
        XCTAssertThrowsError(try CompoundScaling(alpha: 0.9, beta: 1, gamma: 1).validate())
    }

    func testPresetsCoverTheFamilies() throws {
        let names = Presets.names
        for expected in ["efficientnet-b0", "efficientnet-b8", "efficientnet-l2", "efficientnetv2-s", "efficientnetv2-m",
                         "efficientnetv2-l", "mobilenetv2-100", "mnasnet-100"] {
            XCTAssertTrue(names.contains(expected), expected)
        }
        XCTAssertEqual(try Presets.named("EfficientNet_B4").spec.resolution, 380)
        XCTAssertEqual(try Presets.named("efficientnet-b7").spec.dropout, 0.5)
        XCTAssertEqual(try Presets.named("efficientnetv2-m").spec.headScaling, .fixed)
        XCTAssertEqual(try Presets.named("mobilenetv2-100").spec.activation, .relu6)
        XCTAssertThrowsError(try Presets.named("resnet50")) { error in
            XCTAssertTrue("\(error)".contains("efficientnet-b0"), "the error lists the known presets")
        }
    }

    func testBadNumbersAreRejectedWithTheField() {
        func field(_ change: (inout NetworkSpec) -> Void) -> String? {
            var spec = Presets.defaultSpec
            change(&spec)
            do {
                _ = try spec.resolve()
                return nil
            } catch {
                return (error as? NetworkSpecError)?.field
            }
        }
        XCTAssertEqual(field { $0.width = 0 }, "width")
        XCTAssertEqual(field { $0.width = -1 }, "width")
        XCTAssertEqual(field { $0.depth = 0 }, "depth")
        XCTAssertEqual(field { $0.depth = .nan }, "depth")
        XCTAssertEqual(field { $0.stem = 0 }, "stem")
        XCTAssertEqual(field { $0.head = -1 }, "head")
        XCTAssertEqual(field { $0.classes = 0 }, "classes")
        XCTAssertEqual(field { $0.resolution = 0 }, "resolution")
        XCTAssertEqual(field { $0.resolution = 16 }, "resolution")   // the last stride-2 stage would see 1x1
        XCTAssertNil(field { $0.resolution = 17 })                  // 17 -> 9 -> 5 -> 3 -> 2 -> 1
        XCTAssertEqual(field { $0.width = 0.05 }, nil)              // channels never fall below 8
        XCTAssertEqual(field { $0.width = 1e300 }, "width")         // huge numbers are errors, not overflows
        XCTAssertEqual(field { $0.resolution = 1 << 40 }, "resolution")
        XCTAssertEqual(field { $0.stages[0][0].outChannels = 1 << 40 }, "arch")
        XCTAssertEqual(field { $0.width = 64; $0.depth = 64; $0.resolution = 8192 }, "width")  // too large to count
    }

    func testStridesPastTheOutputStrideBecomeDilation() throws {
        // Six stride-2 layers: the last runs with stride 1, and the block after it with dilation 2 (timm).
        let spec = try NetworkSpec(arch: "ds_r1_k3_s2_c16;ir_r1_k3_s2_e6_c24;ir_r1_k3_s2_e6_c40;ir_r1_k3_s2_e6_c80;ir_r2_k3_s2_e6_c112")
        let network = try spec.resolve()
        let last = network.stages[4]
        XCTAssertEqual(last.map(\.stride), [1, 1])
        XCTAssertEqual(last.map(\.dilation), [1, 2])
        XCTAssertEqual(network.finalSize, 7)
    }

    func testTooSmallResolutionNamesTheMinimum() {
        var spec = Presets.defaultSpec
        spec.resolution = 8
        XCTAssertThrowsError(try spec.resolve()) { error in
            XCTAssertTrue("\(error)".contains("at least 17 px"), "\(error)")
        }
    }
}
