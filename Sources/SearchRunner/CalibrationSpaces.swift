import Architecture
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
