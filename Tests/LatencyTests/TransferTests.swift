import Architecture
import Cost
import Latency
import XCTest

/// `Calibration.transfer` (`calibrate --from`) on synthetic timings: a source model with known coefficients, and
/// a target machine on which every unit runs a known factor slower or faster.
final class TransferTests: XCTestCase {
    let source = CalibrationKey(cpu: "Source CPU", threads: 1, batch: 1, efsearch: "test", blas: "OpenBLAS Test")
    let target = CalibrationKey(cpu: "Target CPU", threads: 2, batch: 1, efsearch: "test", blas: "OpenBLAS Test")
    let cache = Double(1 << 20)

    /// The block units' coefficients of `LatencyModelTests`, and the stand-alone units'.
    let truth = syntheticUnits
    /// Each unit's factor on its constant and on the rest: as from 1 thread to 2, the work goes faster and the
    /// fixed costs do not.
    let factors: [LatencyUnit: (fixed: Double, work: Double)] = [
        .pointwise: (1.3, 0.6), .expansion: (0.7, 0.5), .projection: (1.1, 0.55), .dense: (1.5, 0.7), .depthwise3: (2.0, 0.6),
        .depthwise5: (1.8, 0.5), .depthwise7: (1.6, 0.45), .squeezeExcite: (0.9, 0.8), .stem: (1.2, 0.6), .head: (0.8, 0.5), .classifier: (1.4, 1.1),
    ]

    func sourceModel() -> LatencyModel {
        var units = truth.mapValues { vector in LatencyModel.UnitFit(coefficients: (0..<8).map { vector[$0] }, samples: 100, rmsRelativeError: 0) }
        units[.network] = LatencyModel.UnitFit(coefficients: [0, 0, 0, 0, 0, 0, 0, 0], samples: 100, rmsRelativeError: 0)
        var model = LatencyModel(key: source, createdAt: "2026-12-07T00:00:00Z", networks: 100, fitMAPE: 0, vectorLanes: 8, units: units)
        model.cacheBytes = cache
        return model
    }

    /// The target's time of `network`: every unit's source time times its factor, and 20 us per pass.
    func timings(of network: Network, factors: [LatencyUnit: (fixed: Double, work: Double)]) -> (samples: CalibrationSamples, total: Double) {
        func seconds(_ unit: LatencyUnit, _ features: SIMD8<Double>) -> Double {
            let fixed = truth[unit]![0] * features[0]
            return factors[unit]!.fixed * fixed + factors[unit]!.work * ((truth[unit]! * features).sum() - fixed)
        }
        var samples = CalibrationSamples()
        var parts: [String: [(unit: LatencyUnit, features: SIMD8<Double>)]] = [:]
        var total = 20e-6
        CostModel.forEachLayer(of: network) { row in
            guard let unit = LatencyPredictor.unit(of: row, fusedExpansions: true) else { return }
            let features = LatencyFeatures.of(row, batch: 1, threads: 2, fusedExpansion: unit == .expansion, cacheBytes: cache)
            let seconds = seconds(unit, features)
            total += seconds
            if let block = row.block {
                parts["blocks.\(block.stage).\(block.index)", default: []].append((unit, features))
            } else {
                samples.units.append(TimedUnit(unit: unit, features: features, seconds: seconds, row: row))
            }
        }
        for (name, list) in parts.sorted(by: { $0.key < $1.key }) {
            let seconds = list.map { seconds($0.unit, $0.features) }.reduce(0, +)
            samples.blocks.append(TimedBlock(name: name, type: .ir, parts: list, seconds: seconds, passSeconds: total))
        }
        return (samples, total)
    }

    func transfer(networks count: Int, factors: [LatencyUnit: (fixed: Double, work: Double)], minimumParts: Int = 12) throws -> LatencyModel {
        var networks = RandomNetworks(seed: 7)
        var samples = CalibrationSamples()
        var passes: [(Network, Double)] = []
        for _ in 0..<count {
            let network = networks.next()
            let timed = timings(of: network, factors: factors)
            samples.units += timed.samples.units
            samples.blocks += timed.samples.blocks
            passes.append((network, timed.total))
        }
        return try Calibration.transfer(from: sourceModel(), samples: samples, key: target, networks: passes, lanes: 8, cacheBytes: cache,
                                           minimumParts: minimumParts)
    }

    /// From 25 networks' timings, every unit's two factors come back (noise-free timings: a unit in 3 blocks'
    /// parts is enough; pointwise units, unfused expansions, are rare), and the model predicts networks it has not seen.
    func testTransferRecoversEachUnitsFactor() throws {
        let model = try transfer(networks: 25, factors: factors, minimumParts: 3)
        XCTAssertEqual(model.key, target)
        XCTAssertEqual(model.transferredFrom, source.description)
        for (unit, factor) in factors {
            let fit = try XCTUnwrap(model.units[unit], unit.rawValue)
            for feature in 0..<LatencyFeatures.count where truth[unit]![feature] != 0 {
                let expected = (feature == 0 ? factor.fixed : factor.work) * truth[unit]![feature]
                XCTAssertEqual(fit.coefficients[feature], expected, accuracy: 1e-4 * abs(expected),
                               "\(unit.rawValue) \(LatencyFeatures.names[feature])")
            }
        }
        var unseen = RandomNetworks(seed: 99, resolutions: 64...320)
        for _ in 0..<10 {
            let network = unseen.next()
            let predicted = try XCTUnwrap(model.predictor.seconds(of: network, batch: 1))
            XCTAssertEqual(predicted, timings(of: network, factors: factors).total, accuracy: 0.01 * predicted, network.archString)
        }
    }

    /// A unit in too few timed blocks takes the factor of all blocks together, not a guess from two samples: with
    /// every unit at the same factors, those come back for all of them from only six networks.
    func testUnitsWithFewSamplesTakeTheOverallFactor() throws {
        let even = factors.mapValues { _ in (fixed: 1.7, work: 0.6) }
        let model = try transfer(networks: 6, factors: even)
        for unit in LatencyUnit.blockUnits {
            let fit = try XCTUnwrap(model.units[unit], unit.rawValue)
            XCTAssertEqual(fit.coefficients[0], 1.7 * truth[unit]![0], accuracy: 1e-4 * truth[unit]![0], unit.rawValue)
            XCTAssertEqual(fit.coefficients[1], 0.6 * truth[unit]![1], accuracy: 1e-4 * truth[unit]![1], unit.rawValue)
        }
    }

    /// No timed blocks: the transfer says what is missing.
    func testTooFewBlocksAreRefused() {
        XCTAssertThrowsError(try Calibration.transfer(from: sourceModel(), samples: CalibrationSamples(), key: target, networks: [], lanes: 8,
                                                      cacheBytes: cache)) { error in
            XCTAssertTrue("\(error)".contains("too few"), "\(error)")
        }
    }
}
