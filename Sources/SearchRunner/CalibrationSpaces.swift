import Architecture
import Cost
import Foundation
import Latency
import Search

extension CalibrationSettings {
    /// These settings with networks of the search spaces at `paths` to draw from (the shipped spaces when there
    /// are none): 400 random genotypes of each, none of those a check with the same seed times.
    public func drawing(fromSpaces paths: [String]) throws -> CalibrationSettings {
        let spaces = paths.isEmpty ? try ShippedSpaces.spaces() : try paths.map { try SearchSpace.load(path: $0) }
        let pool = SearchSpace.calibrationPool(spaces, count: 400, seed: seed, excludedSeed: LatencyCheck.checkSeed(seed))
        return with { $0.spaceNetworks = pool }
    }
}

extension CalibrationSettings {
    /// `efsearch calibrate`: the model for this machine's key, fitted (or with `from`, transferred from that
    /// model's file) on networks that include the spaces at `paths` (the shipped ones when empty), written to
    /// `out` (default: the cache file for the key; its folder is checked before minutes are spent timing), with
    /// every timing to `samples` when given. Returns the outcome and the model's path.
    public func calibrate(spaces paths: [String], from: String?, out: String?, samples: String?, note: @escaping (String) -> Void,
                          progress: ProgressReport?) throws -> (CalibrationOutcome, String) {
        let key = CalibrationKey.current(threads: threads, batch: batch)
        let path = out ?? LatencyModel.cacheFile(in: MachineProfileCache.directory, key: key)
        try LatencyModel.prepareDestination(path)
        note("calibrating \(key) for about \(Int(budgetSeconds)) s")
        let source = try from.map { try LatencyModel.load($0) }
        // The model this one replaces (the cache's for the key), for the host's speed then.
        let cached = LatencyModel.cacheFile(in: MachineProfileCache.directory, key: key)
        let previous = (try? LatencyModel.load(out.map { FileManager.default.fileExists(atPath: $0) ? $0 : cached } ?? cached)).flatMap { $0.key == key ? $0 : nil }
        let outcome = try Calibration.run(try drawing(fromSpaces: paths).with { $0.source = source }, key: key, note: note, progress: progress)
        if let previous, let line = outcome.model.hostSpeedNote(against: previous) { note(line) }
        try outcome.model.save(path)
        if let samples { try outcome.writeSamples(to: samples) }
        return (outcome, path)
    }
}

extension LatencyCheck {
    /// A check's networks: `count` random genotypes shared among the search spaces at `paths`, or random arch
    /// strings when there are none; from a seed no calibration uses.
    public static func networks(count: Int, spaces paths: [String], seed: UInt64) throws -> [(name: String, network: Network)] {
        if paths.isEmpty { return randomNetworks(count: count, seed: seed) }
        return try paths.enumerated().flatMap { index, path in
            try SearchSpace.load(path: path).sampleNetworks(count: count / paths.count + (index < count % paths.count ? 1 : 0), seed: checkSeed(seed))
                .map { ($0.archString, $0) }
        }
    }
}
