import Architecture
import Cost
import Foundation
@testable import Latency
import XCTest
import Statistics

/// Known coefficients of the units inside blocks, for fits of synthetic timings (`LatencyModelTests`, `TransferTests`).
let syntheticBlockUnits: [LatencyUnit: SIMD8<Double>] = [
    .pointwise: SIMD8(2e-6, 1.5e-11, 3e-11, 1e-11, 4e-10, 0, 0, 0),
    .expansion: SIMD8(3e-6, 1.1e-11, 2e-11, 1e-11, 3e-10, 0, 0, 0),
    .projection: SIMD8(1e-6, 1.2e-11, 2e-11, 2e-11, 0, 0, 0, 4e-11),
    .dense: SIMD8(4e-6, 1.3e-11, 2.5e-11, 1e-11, 2e-10, 5e-11, 3e-10, 0),
    .depthwise3: SIMD8(3e-6, 4e-11, 5e-11, 0, 6e-10, 0, 0, 0),
    .depthwise5: SIMD8(3.5e-6, 3.5e-11, 5e-11, 0, 6e-10, 0, 0, 0),
    .depthwise7: SIMD8(4e-6, 3e-11, 5e-11, 0, 6e-10, 0, 0, 0),
    .squeezeExcite: SIMD8(5e-6, 2e-10, 1e-11, 3e-11, 0, 0, 0, 0),
]

/// `syntheticBlockUnits` and known coefficients of the stand-alone units (`TransferTests`, `PassCorrectionTests`).
let syntheticUnits = syntheticBlockUnits.merging([
    .depthwise: SIMD8(4e-6, 3e-11, 5e-11, 0, 6e-10, 0, 0, 0),
    .stem: SIMD8(6e-6, 1.4e-11, 2e-11, 0, 2e-10, 0, 3e-10, 0),
    .head: SIMD8(5e-6, 1.2e-11, 2e-11, 1e-11, 3e-10, 0, 0, 0),
    .classifier: SIMD8(2e-6, 0, 0, 2e-11, 0, 0, 0, 0),
]) { old, _ in old }

final class LatencyModelTests: XCTestCase {
    let key = CalibrationKey(cpu: "Test CPU", threads: 2, batch: 1, efsearch: "test", blas: "OpenBLAS Test")

    /// Synthetic block timings made from known per-unit coefficients (with the features of real networks'
    /// rows) are fitted back: the joint fit of whole blocks separates the units inside them.
    func testBlockFitRecoversKnownCoefficients() throws {
        var networks = RandomNetworks(seed: 3)
        let truth = syntheticBlockUnits
        var blocks: [TimedBlock] = []
        for _ in 0..<60 {
            let network = networks.next()
            var parts: [String: [(unit: LatencyUnit, features: SIMD8<Double>)]] = [:]
            CostModel.forEachLayer(of: network) { row in
                guard let block = row.block, let unit = LatencyPredictor.unit(of: row, fusedExpansions: true) else { return }
                // A 1 MiB cache: some weights and activations spill, some do not.
                let features = LatencyFeatures.of(row, batch: 1, threads: 2, fusedExpansion: unit == .expansion, cacheBytes: Double(1 << 20))
                parts["\(block.stage).\(block.index)", default: []].append((unit, features))
            }
            for (name, list) in parts {
                let seconds = list.map { (truth[$0.unit]! * $0.features).sum() }.reduce(0, +)
                blocks.append(TimedBlock(name: name, type: .ir, parts: list, seconds: seconds))
            }
        }
        let fits = try Calibration.fitBlocks(blocks)
        for (unit, coefficients) in truth {
            let fit = try XCTUnwrap(fits[unit], unit.rawValue)
            XCTAssertGreaterThan(fit.samples, 20, unit.rawValue)
            for feature in 0..<LatencyFeatures.count where coefficients[feature] != 0 {
                XCTAssertEqual(fit.coefficients[feature], coefficients[feature], accuracy: 1e-3 * abs(coefficients[feature]),
                               "\(unit.rawValue) \(LatencyFeatures.names[feature])")
            }
            XCTAssertLessThan(fit.rmsRelativeError, 1e-6)
        }
    }

    /// Blocks weigh 1/(t * T) in the fit (t the block's seconds, T its pass's): fitted with a constant alone, the
    /// coefficient is the weighted mean sum(t/(t T)) / sum(1/(t T)); with 1/t^2 it would be sum(1/t) / sum(1/t^2).
    func testBlockFitWeighsBlocksByTheirOwnAndTheirPassTime() throws {
        let constant = SIMD8<Double>(1, 0, 0, 0, 0, 0, 0, 0)
        let timings: [(block: Double, pass: Double)] = [(1e-5, 1e-3), (2e-5, 1e-2), (4e-5, 1e-3), (8e-5, 2e-3)]
        let blocks = timings.enumerated().map { index, timing in
            TimedBlock(name: "blocks.0.\(index)", type: .ds, parts: [(.squeezeExcite, constant)], seconds: timing.block, passSeconds: timing.pass)
        }
        let fitted = try XCTUnwrap(Calibration.fitBlocks(blocks)[.squeezeExcite]).coefficients[0]
        let expected = timings.map { 1 / $0.pass }.reduce(0, +) / timings.map { 1 / ($0.block * $0.pass) }.reduce(0, +)
        XCTAssertEqual(fitted, expected, accuracy: 1e-9 * expected)
        let relativeOnly = timings.map { 1 / $0.block }.reduce(0, +) / timings.map { 1 / ($0.block * $0.block) }.reduce(0, +)
        XCTAssertGreaterThan(abs(fitted - relativeOnly), 0.05 * expected, "the pass's time changes the weights")
    }

    /// A stand-alone unit's fit recovers its coefficients.
    func testUnitFitRecoversKnownCoefficients() throws {
        var networks = RandomNetworks(seed: 4)
        let truth = SIMD8<Double>(2e-6, 1.5e-11, 3e-11, 1e-11, 4e-10, 0, 0, 0)
        var samples: [TimedUnit] = []
        for _ in 0..<30 {
            CostModel.forEachLayer(of: networks.next()) { row in
                guard row.part == .convHead else { return }
                let features = LatencyFeatures.of(row, batch: 1, threads: 2)
                samples.append(TimedUnit(unit: .head, features: features, seconds: (truth * features).sum()))
            }
        }
        let fit = try Calibration.fit(samples)
        for feature in 0..<LatencyFeatures.count where truth[feature] != 0 {
            XCTAssertEqual(fit.coefficients[feature], truth[feature], accuracy: 1e-3 * truth[feature], LatencyFeatures.names[feature])
        }
    }

    /// The busiest thread's share: 7 rows over 2 threads is 4 rows, 8/7 of an even share.
    func testRowImbalanceScalesMACs() throws {
        let network = try Presets.named("efficientnet-b0").spec.resolve()
        let row = try XCTUnwrap(CostModel.layers(of: network).first { $0.kind == .depthwise && $0.outputSize == 7 })
        let one = LatencyFeatures.of(row, batch: 1, threads: 1), two = LatencyFeatures.of(row, batch: 1, threads: 2)
        XCTAssertEqual(two[1] / one[1], 8.0 / 7.0, accuracy: 1e-12)
        XCTAssertEqual(LatencyFeatures.of(row, batch: 2, threads: 2)[1], 2 * one[1], accuracy: 1e-6, "14 rows split evenly")
        // A fused expansion's output stays in cache: only its input is activation traffic.
        let expansion = try XCTUnwrap(CostModel.layers(of: network).first { LatencyPredictor.isFusedExpansion($0) })
        XCTAssertEqual(LatencyFeatures.of(expansion, batch: 1, threads: 1, fusedExpansion: true)[2], 4 * Double(expansion.inputElements))
        // The residual is read by the block's last convolution only, as activation bytes.
        let residualRows = CostModel.layers(of: network).filter { row in
            let features = LatencyFeatures.of(row, batch: 1, threads: 1)
            return features[2] > 4 * Double(row.inputElements + row.outputElements)
        }
        XCTAssertEqual(residualRows.count, network.blocks.filter(\.hasResidual).count)
        XCTAssertTrue(residualRows.allSatisfy { $0.part == .convPwl || $0.part == .convPw })
        for row in residualRows {
            XCTAssertEqual(LatencyFeatures.of(row, batch: 1, threads: 1)[2], 4 * Double(row.inputElements + 2 * row.outputElements), row.name)
        }
    }

    /// AVX-512 kernels work on blocks of 16 output channels and loop over input channels one at a time; AVX2
    /// ones on vectors of 8 both ways.
    func testChannelsRoundToTheKernelsVectors() throws {
        let network = try NetworkSpec(arch: "cn_r1_k5_s1_c40;ir_r1_k3_s2_e3_c36").resolve()
        let rows = CostModel.layers(of: network)
        let dense = try XCTUnwrap(rows.first { $0.kind == .conv && $0.kernel == 5 })
        XCTAssertEqual(dense.inChannels, 32)
        let pixels = Double(dense.outputSize * dense.outputSize * 25)
        XCTAssertEqual(LatencyFeatures.of(dense, batch: 1, threads: 1, lanes: 16)[1], 32 * 48 * pixels, "40 outputs are 3 blocks of 16")
        XCTAssertEqual(LatencyFeatures.of(dense, batch: 1, threads: 1, lanes: 8)[1], 32 * 40 * pixels)
        XCTAssertEqual(LatencyFeatures.of(dense, batch: 1, threads: 1, lanes: 16)[6], 48 * pixels, "taps per output block")
        let depthwise = try XCTUnwrap(rows.first { $0.kind == .depthwise })
        XCTAssertEqual(depthwise.outChannels, 120)
        XCTAssertEqual(LatencyFeatures.of(depthwise, batch: 1, threads: 1, lanes: 16)[1] / LatencyFeatures.of(depthwise, batch: 1, threads: 1, lanes: 8)[1],
                       128.0 / 120.0, accuracy: 1e-12)
        let projection = try XCTUnwrap(rows.last { $0.kind == .conv && $0.part == .convPwl })
        XCTAssertEqual(projection.inChannels, 120)
        XCTAssertEqual(LatencyFeatures.of(projection, batch: 1, threads: 1, lanes: 16)[1], Double(120 * 48 * projection.outputSize * projection.outputSize),
                       "36 outputs are 3 blocks of 16; 120 inputs one at a time")
        XCTAssertEqual(LatencyFeatures.of(projection, batch: 1, threads: 1, lanes: 8)[1], Double(120 * 40 * projection.outputSize * projection.outputSize))
        // A kxk layer with more weights than input: the AVX-512 kernel splits 7 pairs of output blocks over 2
        // threads (8/7 of an even share), the AVX2 path its 3 rows (4/3).
        var spec = try NetworkSpec(arch: "cn_r1_k3_s2_c32;cn_r1_k3_s2_c64;cn_r1_k3_s2_c64;cn_r1_k5_s2_c200")
        spec.resolution = 96
        let late = try XCTUnwrap(CostModel.layers(of: try spec.resolve()).last { $0.kind == .conv && $0.kernel == 5 })
        XCTAssertEqual(late.outputSize, 3)
        XCTAssertEqual(LatencyFeatures.of(late, batch: 1, threads: 2, lanes: 16)[1] / LatencyFeatures.of(late, batch: 1, threads: 1, lanes: 16)[1], 8.0 / 7.0, accuracy: 1e-12)
        XCTAssertEqual(LatencyFeatures.of(late, batch: 1, threads: 2, lanes: 8)[1] / LatencyFeatures.of(late, batch: 1, threads: 1, lanes: 8)[1], 4.0 / 3.0, accuracy: 1e-12)
    }

    /// A fit minimises relative error: noise of +/-5% on every sample leaves the coefficients close.
    func testFitWithNoiseStaysClose() throws {
        let features = (0..<200).map { i in SIMD8<Double>(1, Double(i % 37) * 1e6, Double(i % 11) * 1e5, 0, 0, 0, 0, 0) }
        let coefficients = SIMD8<Double>(1e-5, 2e-12, 3e-11, 0, 0, 0, 0, 0)
        let samples = features.enumerated().map { i, f in
            TimedUnit(unit: .dense, features: f, seconds: (coefficients * f).sum() * (i % 2 == 0 ? 1.05 : 0.95))
        }
        let fit = try Calibration.fit(samples)
        XCTAssertEqual(fit.coefficients[1], 2e-12, accuracy: 0.1 * 2e-12)
        XCTAssertEqual(fit.rmsRelativeError, 0.05, accuracy: 0.02)
        XCTAssertEqual(fit.coefficients[3], 0, "a feature that never varies is left out")
    }

    /// Classifiers timed with one class count only: their MACs, activation and weight bytes are then affine in
    /// one another. The fit keeps one of them, so that a classifier with other classes gets a sensible time
    /// (fitting all three gave cancelling coefficients and 36,000 s for a 10-class head).
    func testFeaturesThatMoveTogetherAreFittedOnce() throws {
        func features(inputs: Double, classes: Double) -> SIMD8<Double> {
            SIMD8(1, inputs * classes, 4 * (inputs + classes), 4 * (inputs * classes + classes), 0, 0, 0, 0)
        }
        let truth = SIMD8<Double>(2e-6, 0, 0, 2.5e-11, 0, 0, 0, 0)
        let samples = stride(from: 320.0, through: 2560, by: 40).enumerated().map { index, inputs in
            let f = features(inputs: inputs, classes: 1000)
            return TimedUnit(unit: .classifier, features: f, seconds: (truth * f).sum() * (index % 2 == 0 ? 1.01 : 0.99))
        }
        let fit = try Calibration.fit(samples)
        XCTAssertEqual(fit.coefficients.filter { $0 != 0 }.count, 2, "the constant and one of the three: \(fit.coefficients)")
        var vector = SIMD8<Double>.zero
        for (feature, value) in fit.coefficients.enumerated() { vector[feature] = value }
        for (inputs, classes) in [(1280.0, 10.0), (1536, 100), (640, 1000)] {
            let f = features(inputs: inputs, classes: classes)
            XCTAssertEqual((vector * f).sum(), (truth * f).sum(), accuracy: 0.1 * (truth * f).sum(), "\(inputs) inputs, \(classes) classes")
        }
        XCTAssertEqual(Calibration.independentColumns([1, 2, 4, 0, 1, 3, 7, 0, 1, 4, 10, 0], columns: 4), [0, 1], "the third column is 3 x the second - 2 x the first; the fourth is zero")
    }

    func testTooFewSamplesAreRefused() {
        let samples = (0..<3).map { TimedUnit(unit: .stem, features: SIMD8(1, Double($0), Double($0 * $0), 1, 0, 0, 0, 0), seconds: 1e-3) }
        XCTAssertThrowsError(try Calibration.fit(samples)) { XCTAssertTrue("\($0)".contains("too few"), "\($0)") }
    }

    func model(_ units: [LatencyUnit: LatencyModel.UnitFit]) -> LatencyModel {
        LatencyModel(key: key, createdAt: "2026-11-28T00:00:00Z", networks: 1, fitMAPE: 0, units: units)
    }

    /// A predictor sums its units; a network needing a unit that was not calibrated gets no prediction.
    func testPredictionSumsUnitsAndIsAbsentWithoutOne() throws {
        let one = LatencyModel.UnitFit(coefficients: [1e-3, 0, 0, 0, 0, 0, 0, 0], samples: 10, rmsRelativeError: 0)
        var units: [LatencyUnit: LatencyModel.UnitFit] = [:]
        for unit in LatencyUnit.allCases { units[unit] = one }
        let network = try Presets.named("efficientnet-b0").spec.resolve()
        let rows = CostModel.layers(of: network).filter { $0.kind != .pool }.count
        let predicted = try XCTUnwrap(model(units).predictor.seconds(of: network, batch: 1))
        XCTAssertEqual(predicted, 1e-3 * Double(rows + 1), accuracy: 1e-12)
        let summary = CostModel.summary(of: network, predictor: model(units).predictor)
        XCTAssertEqual(try XCTUnwrap(summary.predictedSeconds), predicted, accuracy: 1e-12, "the summary's pass gives the same figure")
        units[.head] = nil
        XCTAssertNil(model(units).predictor.seconds(of: network, batch: 1))
        XCTAssertNil(CostModel.summary(of: network, predictor: model(units).predictor).predictedSeconds)
        units[.head] = one
        // Depthwise kernels that were not calibrated on their own fall back to the all-kernels fit.
        units[.depthwise5] = nil
        XCTAssertEqual(model(units).predictor.seconds(of: network, batch: 1) ?? 0, predicted, accuracy: 1e-12)
        units[.depthwise] = nil
        XCTAssertNil(model(units).predictor.seconds(of: network, batch: 1))
        units[.depthwise5] = one
        // Without an expansion fit (an engine that does not fuse), expansions are pointwise units.
        units[.expansion] = nil
        XCTAssertEqual(try XCTUnwrap(model(units).predictor.seconds(of: network, batch: 1)), predicted, accuracy: 1e-12)
        units[.pointwise] = nil
        XCTAssertNil(model(units).predictor.seconds(of: network, batch: 1))
        units[.pointwise] = one
        // The per-pass term is added as fitted, also when it is negative (a unit's time is clamped at 0, the
        // pass's own term is not); only a pass under half the units' sum is held there.
        units[.network] = LatencyModel.UnitFit(coefficients: [-2e-3, 0, 0, 0, 0, 0, 0, 0], samples: 10, rmsRelativeError: 0)
        XCTAssertEqual(try XCTUnwrap(model(units).predictor.seconds(of: network, batch: 1)), 1e-3 * Double(rows) - 2e-3, accuracy: 1e-12)
        units[.network] = LatencyModel.UnitFit(coefficients: [-1, 0, 0, 0, 0, 0, 0, 0], samples: 10, rmsRelativeError: 0)
        XCTAssertEqual(try XCTUnwrap(model(units).predictor.seconds(of: network, batch: 1)), 0.5e-3 * Double(rows), accuracy: 1e-12)
    }

    /// `CostModel.summary` adds a stage's repeated blocks from what the block before them added; every sum must
    /// be the one a plain fold over `layers(of:)` gives, to the bit, predicted latency included.
    func testSummaryOfRepeatedBlocksEqualsTheRowsOneByOne() throws {
        var units: [LatencyUnit: LatencyModel.UnitFit] = [:]
        for (index, unit) in LatencyUnit.allCases.enumerated() {
            units[unit] = LatencyModel.UnitFit(coefficients: [1e-6 * Double(index + 1), 1.3e-11, 2.1e-11, 1.7e-11, 3e-10, 4e-11, 2e-10, 5e-11],
                                               samples: 10, rmsRelativeError: 0)
        }
        var model = model(units)
        model.vectorLanes = 16
        model.cacheBytes = Double(2 << 20)
        model.passExponent = 0.97
        let predictor = model.predictor
        let machine = MachineProfile(peakGFLOPS: 100, bandwidthGBs: 10, source: "test")
        var networks = RandomNetworks(seed: 11, familyShare: 0.5)
        var repeated = 0
        for network in try Presets.all.map({ try $0.spec.resolve() }) + (0..<40).map({ _ in networks.next() }) {
            let rows = CostModel.layers(of: network)
            repeated += network.stages.reduce(0) { $0 + max(0, $1.count - 2) }
            for batch in [1, 3] {
                let summary = CostModel.summary(of: network, batch: batch, machine: machine, predictor: predictor)
                XCTAssertEqual(summary.params, rows.reduce(0) { $0 + $1.params })
                XCTAssertEqual(summary.macs, rows.reduce(0) { $0 + $1.macs })
                XCTAssertEqual(summary.normElements, rows.reduce(0) { $0 + $1.normElements })
                XCTAssertEqual(summary.activationBytes, 4 * batch * rows.reduce(0) { $0 + $1.outputElements })
                XCTAssertEqual(summary.peakMemoryBytes,
                               4 * (summary.params + batch * rows.map { $0.inputElements + $0.outputElements + $0.heldElements }.max()!))
                XCTAssertEqual(summary.latencySeconds, rows.reduce(0.0) { $0 + $1.rooflineSeconds(batch: batch, machine: machine) })
                let predicted = try XCTUnwrap(predictor.seconds(of: network, batch: batch))
                XCTAssertEqual(try XCTUnwrap(summary.predictedSeconds), predicted, "\(network.archString) at batch \(batch)")
            }
        }
        XCTAssertGreaterThan(repeated, 50, "the networks have blocks that the summary adds as repeats")
    }

    /// The per-pass term charges the weight bytes beyond the model's cache size, once per pass.
    func testWeightsBeyondTheCacheAreChargedPerPass() throws {
        let one = LatencyModel.UnitFit(coefficients: [1e-3, 0, 0, 0, 0, 0, 0, 0], samples: 10, rmsRelativeError: 0)
        var units: [LatencyUnit: LatencyModel.UnitFit] = [:]
        for unit in LatencyUnit.allCases { units[unit] = one }
        units[.network] = LatencyModel.UnitFit(coefficients: [0, 0, 0, 2e-11, 0, 0, 0, 0], samples: 10, rmsRelativeError: 0)
        let network = try Presets.named("efficientnet-b0").spec.resolve()
        let bytes = 4 * Double(CostModel.summary(of: network).params)
        var model = model(units)
        let without = try XCTUnwrap(model.predictor.seconds(of: network, batch: 1))
        model.weightCacheBytes = Double(4 << 20)
        let with = try XCTUnwrap(model.predictor.seconds(of: network, batch: 1))
        XCTAssertEqual(with - without, 2e-11 * (bytes - Double(4 << 20)), accuracy: 1e-12)
        XCTAssertEqual(CostModel.summary(of: network, predictor: model.predictor).predictedSeconds ?? 0, with, accuracy: 1e-12)
        model.weightCacheBytes = Double(64 << 20)
        XCTAssertEqual(try XCTUnwrap(model.predictor.seconds(of: network, batch: 1)), without, accuracy: 1e-12, "21 MB of weights fit in 64 MiB")
    }

    /// Tensors larger than the calibrated L2 cache are spill bytes, weights and activations apart; an
    /// expansion's output that the engine keeps in rows (fused) and a depthwise convolution's input are not.
    func testSpillBytesCountTensorsLargerThanTheCache() throws {
        let rows = CostModel.layers(of: try Presets.named("efficientnet-b0").spec.resolve())
        func row(_ name: String) throws -> LayerCost { try XCTUnwrap(rows.first { $0.name == name }, name) }
        let cache = Double(2 << 20)
        // blocks.1.0: 16 -> 96 channels at 112x112 (in 0.8 MB, out 4.8 MB), then a 3x3 depthwise with stride 2.
        let expansion = try row("blocks.1.0.conv_pw")
        let output = 4 * Double(expansion.outputElements)
        XCTAssertEqual(LatencyFeatures.of(expansion, batch: 1, threads: 2, cacheBytes: cache)[7], output)
        XCTAssertEqual(LatencyFeatures.of(expansion, batch: 2, threads: 2, cacheBytes: cache)[7], 2 * output, "the input: 1.6 MB at batch 2")
        XCTAssertEqual(LatencyFeatures.of(expansion, batch: 3, threads: 2, cacheBytes: cache)[7], 3 * output + 4 * 3 * Double(expansion.inputElements),
                       "at batch 3 the input passes 2 MiB as well")
        XCTAssertEqual(LatencyFeatures.of(expansion, batch: 1, threads: 2, fusedExpansion: true, cacheBytes: cache)[7], 0)
        XCTAssertEqual(LatencyFeatures.of(expansion, batch: 1, threads: 2)[7], 0, "no cache size, no spill")
        XCTAssertEqual(LatencyFeatures.of(try row("blocks.1.0.conv_dw"), batch: 1, threads: 2, cacheBytes: cache)[7], 0)
        XCTAssertEqual(LatencyFeatures.of(expansion, batch: 3, threads: 2, cacheBytes: cache)[5], 0, "6 KB of weights")
        let classifier = try row("classifier")
        XCTAssertEqual(LatencyFeatures.of(classifier, batch: 1, threads: 2, cacheBytes: cache)[5], 4 * Double(classifier.params), "5.1 MB of weights")
        XCTAssertEqual(LatencyFeatures.of(classifier, batch: 1, threads: 2, cacheBytes: cache)[7], 0, "its input and output are small")
        XCTAssertEqual(LatencyFeatures.of(classifier, batch: 1, threads: 2)[5], 0, "no cache size, no spill")
        // A model with a weight-spill coefficient charges them, and only with its cache size.
        var units: [LatencyUnit: LatencyModel.UnitFit] = [:]
        for unit in LatencyUnit.allCases { units[unit] = .init(coefficients: [0, 0, 0, 0, 0, 1e-10, 0, 0], samples: 10, rmsRelativeError: 0) }
        units[.network] = .init(coefficients: [1e-6, 0, 0, 0, 0, 0, 0, 0], samples: 10, rmsRelativeError: 0)
        var spilling = model(units)
        let network = try Presets.named("efficientnet-b0").spec.resolve()
        XCTAssertEqual(try XCTUnwrap(spilling.predictor.seconds(of: network, batch: 1)), 1e-6, accuracy: 1e-12)
        spilling.cacheBytes = cache
        // At batch 1 with fused expansions, only the classifier's weights pass 2 MiB.
        XCTAssertEqual(try XCTUnwrap(spilling.predictor.seconds(of: network, batch: 1)), 1e-6 + 1e-10 * 4 * Double(classifier.params), accuracy: 1e-12)
    }

    func testFilesRoundTripAndBadFilesNameThemselves() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-latency-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.json").path
        let original = model([.stem: .init(coefficients: [1, 2, 3, 4, 5, 6, 7, 8], samples: 9, rmsRelativeError: 0.1)])
        try original.save(path)
        let loaded = try LatencyModel.load(path)
        XCTAssertEqual(loaded.key, key)
        XCTAssertEqual(loaded.units, original.units)
        XCTAssertEqual(loaded.vectorLanes, 8)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let bad: [(String, String)] = [
            ("{not json", "not an efsearch latency model"),
            (text.replacingOccurrences(of: "\"format\" : 4", with: "\"format\" : 3"), "format 3"),
            (text.replacingOccurrences(of: "\"stem\"", with: "\"warp_drive\""), "warp_drive"),
            (#"{"format": 4}"#, "not an efsearch latency model"),
            (text.replacingOccurrences(of: "\"vector_lanes\" : 8", with: "\"vector_lanes\" : 8, \"l2_cache_bytes\" : 0"), "l2_cache_bytes 0.0 must be"),
            (text.replacingOccurrences(of: "7,\n", with: "").replacingOccurrences(of: "7,", with: ""), "expected 8"),
            (text.replacingOccurrences(of: "\"vector_lanes\" : 8", with: "\"vector_lanes\" : 12"), "vector_lanes 12 must be 8 or 16"),
            (text.replacingOccurrences(of: "\"vector_lanes\" : 8", with: "\"vector_lanes\" : 8, \"weight_cache_bytes\" : -1"), "weight_cache_bytes -1.0 must be"),
        ]
        for (index, (content, expected)) in bad.enumerated() {
            let file = directory.appendingPathComponent("bad\(index).json").path
            try content.write(toFile: file, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try LatencyModel.load(file)) { error in
                XCTAssertTrue("\(error)".contains(file) && "\(error)".contains(expected), "\(error)")
            }
        }
        XCTAssertThrowsError(try LatencyModel.load(directory.appendingPathComponent("missing.json").path)) {
            XCTAssertTrue("\($0)".contains("cannot read"), "\($0)")
        }
    }

    func testKeyDifferencesAreNamed() {
        var other = key
        other.cpu = "Other CPU"
        other.batch = 8
        let differences = key.differences(from: other)
        XCTAssertEqual(differences.count, 2)
        XCTAssertTrue(differences[0].contains("Test CPU") && differences[0].contains("Other CPU"))
        XCTAssertTrue(differences[1].contains("batch 1 (here 8)"))
        XCTAssertEqual(key.differences(from: key), [])
    }

    func testCheckStatistics() {
        XCTAssertEqual(Statistics.kendallTau([1, 2, 3, 4], [10, 20, 30, 40]), 1)
        XCTAssertEqual(Statistics.kendallTau([1, 2, 3, 4], [40, 30, 20, 10]), -1)
        // scipy.stats.kendalltau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]) = 0.4
        XCTAssertEqual(Statistics.kendallTau([1, 2, 3, 4, 5], [3, 1, 2, 5, 4]), 0.4, accuracy: 1e-12)
        // With ties (tau-b): scipy.stats.kendalltau([1, 1, 2, 3], [1, 2, 2, 3]) = 0.8
        XCTAssertEqual(Statistics.kendallTau([1, 1, 2, 3], [1, 2, 2, 3]), 0.8, accuracy: 1e-12)
        XCTAssertEqual(Statistics.meanAbsolutePercentageError(predicted: [1.1, 0.8], measured: [1, 1]), 0.15, accuracy: 1e-12)
        XCTAssertEqual(Statistics.shareWithin(0.1, predicted: [1.1, 0.8, 1.0, 1.05], measured: [1, 1, 1, 1]), 0.75)
        XCTAssertEqual(Statistics.median([3, 1, 2]), 2)
        XCTAssertEqual(Statistics.median([4, 1, 2, 3]), 2.5)
    }

    /// A check names the host's speed against the calibration's, and says what it means only when they differ
    /// by more than 10%.
    func testCheckNamesAChangeOfHostSpeed() throws {
        XCTAssertNil(LatencyCheck.hostSpeedNote(now: 0.002, calibration: nil))
        let same = try XCTUnwrap(LatencyCheck.hostSpeedNote(now: 0.00205, calibration: 0.002))
        XCTAssertEqual(same, "reference network (efficientnet-b0 at 160 px): 2.05 ms now, 2.00 ms during the calibration")
        let faster = try XCTUnwrap(LatencyCheck.hostSpeedNote(now: 0.00167, calibration: 0.00253))
        XCTAssertTrue(faster.contains("1.67 ms now, 2.53 ms during the calibration; the host runs 1.51 times faster"), faster)
        XCTAssertTrue(faster.contains("calibrate again"), faster)
        let slower = try XCTUnwrap(LatencyCheck.hostSpeedNote(now: 0.003, calibration: 0.002))
        XCTAssertTrue(slower.contains("the host runs 1.50 times slower"), slower)
    }

    /// A calibration made while the host ran the reference more than 10% slower (or faster) than during the one it
    /// replaces says so; within 10%, or without the speeds, it says nothing.
    func testCalibrationNamesAChangeOfHostSpeedSinceThePreviousOne() throws {
        func calibrated(_ probe: Double?, at date: String) -> LatencyModel {
            var model = LatencyModel(key: key, createdAt: date, networks: 100, fitMAPE: 0.03, units: [:])
            model.probeSeconds = probe
            return model
        }
        let previous = calibrated(0.002, at: "2026-12-08T01:55:12Z")
        let slow = try XCTUnwrap(calibrated(0.0024, at: "2026-12-08T02:33:00Z").hostSpeedNote(against: previous))
        XCTAssertTrue(slow.contains("1.20 times slower than during the calibration of 2026-12-08T01:55 (2.40 against 2.00 ms)"), slow)
        XCTAssertTrue(slow.contains("calibrate again when it is quiet"), slow)
        let fast = try XCTUnwrap(calibrated(0.0016, at: "2026-12-08T02:33:00Z").hostSpeedNote(against: previous))
        XCTAssertTrue(fast.contains("1.25 times faster") && !fast.contains("calibrate again"), fast)
        XCTAssertNil(calibrated(0.00215, at: "2026-12-08T02:33:00Z").hostSpeedNote(against: previous))
        XCTAssertNil(calibrated(nil, at: "2026-12-08T02:33:00Z").hostSpeedNote(against: previous))
        XCTAssertNil(calibrated(0.003, at: "2026-12-08T02:33:00Z").hostSpeedNote(against: calibrated(nil, at: "2026-12-08T01:00:00Z")))
    }

    /// The random networks cover all four block types and resolve.
    func testRandomNetworksCoverEveryBlockType() {
        var networks = RandomNetworks(seed: 1, resolutions: 96...256)
        var types = Set<BlockType>()
        var classes = Set<Int>()
        for _ in 0..<60 {
            let network = networks.next()
            XCTAssertTrue((96...256).contains(network.resolution))
            network.blocks.forEach { types.insert($0.type) }
            classes.insert(network.classes)
        }
        XCTAssertEqual(types, Set(BlockType.allCases))
        XCTAssertEqual(classes, [10, 100, 1000])
    }

    /// With a family share, some networks are members of the built-in families at other widths, depths and
    /// resolutions, never a preset itself at its own resolution; with none, the draws are the random arch strings
    /// they always were (a check's networks stay the same).
    func testRandomNetworksDrawFamilyVariantsButNeverThePresets() throws {
        let presets = try RandomNetworks.families.map { try Presets.named($0).spec.resolve() }
        let all = try Presets.all.map { try $0.spec.resolve() }
        func isFamily(_ network: Network) -> Bool {
            presets.contains { $0.spec.stages == network.spec.stages }
        }
        var mixed = RandomNetworks(seed: 5, resolutions: 96...384, familyShare: 0.5)
        var families = 0
        for _ in 0..<80 {
            let network = mixed.next()
            XCTAssertTrue((96...384).contains(network.resolution))
            guard isFamily(network) else { continue }
            families += 1
            XCTAssertFalse(all.contains { $0.archString == network.archString && $0.resolution == network.resolution
                && $0.stemChannels == network.stemChannels && $0.headChannels == network.headChannels }, network.archString)
        }
        XCTAssertTrue((20...60).contains(families), "\(families) of 80 from the families at a share of 0.5")
        var plain = RandomNetworks(seed: 5), zero = RandomNetworks(seed: 5, familyShare: 0)
        for _ in 0..<20 {
            let network = zero.next()
            XCTAssertEqual(network, plain.next())
            XCTAssertFalse(isFamily(network))
        }
    }
}
