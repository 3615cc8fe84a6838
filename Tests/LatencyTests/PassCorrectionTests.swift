import Architecture
import Cost
import Foundation
@testable import Latency
import XCTest

/// The correction of whole passes (`LatencyModel.PassCorrection`) on synthetic timings: passes that the units'
/// linear models miss by a known smooth factor of the network, which the whole-pass fit cannot take out.
final class PassCorrectionTests: XCTestCase {
    let key = CalibrationKey(cpu: "Test CPU", threads: 2, batch: 1, efsearch: "test", blas: "OpenBLAS Test")
    let cache = Double(1 << 20)

    /// Known units (`syntheticUnits`).
    var units: [LatencyUnit: LatencyModel.UnitFit] {
        syntheticUnits.mapValues { vector in LatencyModel.UnitFit(coefficients: (0..<8).map { vector[$0] }, samples: 100, rmsRelativeError: 0) }
    }

    /// What the synthetic machine does that the units miss: networks whose outputs come to about 8 MB per pass
    /// run up to 20% slower, much smaller and much larger ones as the units say (a bump in the log of the bytes,
    /// which no power of the units' sum follows).
    func factor(_ network: Network) -> Double {
        let bytes = Double(CostModel.summary(of: network).activationBytes)
        return 1 + 0.2 * exp(-pow(log(bytes / 8e6), 2))
    }

    /// Networks of the calibration's kinds (random arch strings and family members) with their passes: the
    /// units' sum, 30 us per pass, times `factor`.
    func timed(_ count: Int, seed: UInt64) -> [(Network, Double)] {
        var model = LatencyModel(key: key, createdAt: "", networks: 0, fitMAPE: 0, units: units)
        model.units[.network] = .init(coefficients: [30e-6, 0, 0, 0, 0, 0, 0, 0], samples: 1, rmsRelativeError: 0)
        model.cacheBytes = cache
        let predictor = model.predictor
        var networks = RandomNetworks(seed: seed, familyShare: 0.3)
        return (0..<count).map { _ in
            let network = networks.next()
            return (network, predictor.seconds(of: network, batch: 1)! * factor(network))
        }
    }

    func meanError(_ model: LatencyModel, _ networks: [(Network, Double)]) -> Double {
        let predictor = model.predictor
        return networks.map { abs(predictor.seconds(of: $0.0, batch: 1)! / $0.1 - 1) }.reduce(0, +) / Double(networks.count)
    }

    /// Fitted on 120 networks, the correction takes most of the known factor out on 60 others; without it the
    /// whole-pass fit leaves several percent.
    func testTheCorrectionLearnsWhatTheLinearModelMisses() throws {
        let model = try Calibration.fitPasses(units: units, key: key, networks: timed(120, seed: 3), lanes: 8, cacheBytes: cache)
        let correction = try XCTUnwrap(model.passCorrection, "120 networks are enough for a correction")
        XCTAssertEqual(correction.inputs.count, 120)
        var uncorrected = model
        uncorrected.passCorrection = nil
        let unseen = timed(60, seed: 4)
        let before = meanError(uncorrected, unseen), after = meanError(model, unseen)
        XCTAssertGreaterThan(before, 0.03, "the factor is not one the whole-pass fit can take out")
        XCTAssertLessThan(after, 0.4 * before, "corrected: \(after), uncorrected: \(before)")
        XCTAssertLessThan(after, 0.02)
        XCTAssertLessThan(model.fitMAPE, 0.02, "the in-sample error is the corrected one")
        XCTAssertGreaterThan(try XCTUnwrap(model.uncorrectedFitMAPE), 0.03)
        // The per-layer shares carry the same factor as the pass.
        for (network, _) in unseen.prefix(5) {
            let rows = CostModel.layers(of: network)
            let ratio = model.predictor.seconds(of: network, batch: 1)! / uncorrected.predictor.seconds(of: network, batch: 1)!
            XCTAssertEqual(model.predictor.rowScale(of: rows, batch: 1) / uncorrected.predictor.rowScale(of: rows, batch: 1), ratio, accuracy: 1e-12)
            XCTAssertEqual(CostModel.summary(of: network, predictor: model.predictor).predictedSeconds!,
                           model.predictor.seconds(of: network, batch: 1)!, accuracy: 1e-15, "the estimator's pass is corrected too")
        }
    }

    /// Too few networks (a transfer's): no correction; a pass is the whole-pass fit's.
    func testFewNetworksFitNoCorrection() throws {
        let few = timed(LatencyModel.PassCorrection.minimumNetworks - 1, seed: 5)
        XCTAssertNil(try Calibration.fitPasses(units: units, key: key, networks: few, lanes: 8, cacheBytes: cache).passCorrection)
    }

    /// The factor stays within `limits` however large the process's mean, and returns to its mean far away.
    func testTheFactorIsBounded() throws {
        let network = try Presets.named("efficientnet-b0").spec.resolve()
        var model = LatencyModel(key: key, createdAt: "", networks: 0, fitMAPE: 0, units: units)
        model.units[.network] = .init(coefficients: [0, 0, 0, 0, 0, 0, 0, 0], samples: 1, rmsRelativeError: 0)
        let plain = try XCTUnwrap(model.predictor.seconds(of: network, batch: 1))
        let summary = CostModel.summary(of: network)
        let d = LatencyModel.PassCorrection.descriptors(parameters: summary.params, outputs: summary.activationBytes / 4, batch: 1, seconds: plain)
        func correction(weight: Double, at point: [Double]) -> LatencyModel.PassCorrection {
            .init(lower: (0..<3).map { d[$0] - 1 }, upper: (0..<3).map { d[$0] + 1 }, inputs: [point], weights: [weight],
                  lengthscales: [0.05, 0.05, 0.05], signalVariance: 1, targetMean: 0.01, targetScale: 1)
        }
        model.passCorrection = correction(weight: 50, at: [0.5, 0.5, 0.5])
        XCTAssertEqual(try XCTUnwrap(model.predictor.seconds(of: network, batch: 1)), plain * 1.25, accuracy: 1e-12)
        model.passCorrection = correction(weight: -50, at: [0.5, 0.5, 0.5])
        XCTAssertEqual(try XCTUnwrap(model.predictor.seconds(of: network, batch: 1)), plain * 0.8, accuracy: 1e-12)
        model.passCorrection = correction(weight: 50, at: [0, 0, 0])
        XCTAssertEqual(try XCTUnwrap(model.predictor.seconds(of: network, batch: 1)), plain * exp(0.01), accuracy: 1e-9, "far from its inputs")
        model.passCorrection = correction(weight: 0.05, at: [0.5, 0.5, 0.5])
        XCTAssertEqual(try XCTUnwrap(model.predictor.seconds(of: network, batch: 1)), plain * exp(0.06), accuracy: 1e-12, "at its input: the weight times s²")
    }

    /// A model's correction goes through its file, and a broken one is named.
    func testTheCorrectionRoundTripsAndABadOneIsNamed() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-correction-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let model = try Calibration.fitPasses(units: units, key: key, networks: timed(80, seed: 6), lanes: 8, cacheBytes: cache)
        let path = directory.appendingPathComponent("model.json").path
        try model.save(path)
        let loaded = try LatencyModel.load(path)
        XCTAssertEqual(loaded.passCorrection, model.passCorrection)
        let network = try Presets.named("mnasnet-100").spec.resolve()
        XCTAssertEqual(loaded.predictor.seconds(of: network, batch: 1), model.predictor.seconds(of: network, batch: 1))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let scale = try XCTUnwrap(text.range(of: #""target_scale" : [0-9.e-]+"#, options: .regularExpression))
        let bad: [(String, String)] = [
            (text.replacingCharacters(in: scale, with: #""target_scale" : -1"#), "must be positive"),
            (text.replacingOccurrences(of: #""lengthscales" : ["#, with: #""lengthscales" : [1, "#), "3 values each"),
        ]
        for (index, (content, expected)) in bad.enumerated() {
            let file = directory.appendingPathComponent("bad\(index).json").path
            try content.write(toFile: file, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try LatencyModel.load(file)) { error in
                XCTAssertTrue("\(error)".contains("pass_correction") && "\(error)".contains(expected) && "\(error)".contains(file), "\(error)")
            }
        }
    }
}
