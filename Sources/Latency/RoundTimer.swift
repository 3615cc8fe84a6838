import Foundation
import Statistics

/// Timings that survive a noisy machine, for `bench` and a search's measured latency (`EngineBench`):
/// - the passes come in `rounds` series; a round's figure is its median pass, and the result is the quietest
///   round's median (the smallest: a busy host only ever adds time), with how much the rounds differ;
/// - with a reference (a fixed network: `LatencyModel.probe`), a series of it runs before the first round and
///   after every round, and a round's host speed is the mean of the reference's medians around it. A round
///   whose reference ran more than `slowFactor` times slower than in the quietest round was timed while the
///   host was slow: it is timed again (the slowest first, at most `retries` times in all), and one still slow
///   after that is counted in `slowRounds`.
/// On this 2-core host, back-to-back `bench` runs of one network differed by up to 65% with single series.
public struct RoundTimer: Sendable {
    public var rounds: Int
    public var slowFactor: Double
    public var retries: Int

    public init(rounds: Int = 3, slowFactor: Double = 1.15, retries: Int? = nil) {
        self.rounds = max(1, rounds)
        self.slowFactor = slowFactor
        self.retries = retries ?? max(1, rounds)
    }

    public struct Timing: Sendable {
        /// Each kept round's pass times, sorted.
        public var rounds: [[Double]]
        /// The reference's speed around each kept round (empty without a reference).
        public var references: [Double]
        /// Rounds timed again because the reference ran slow around them.
        public var retimed: Int
        /// Kept rounds whose reference still ran more than the slow factor slower than the quietest.
        public var slowRounds: Int

        public var medians: [Double] { rounds.map { Statistics.nearestRank(0.5, ofSorted: $0) } }
        /// The quietest round's median.
        public var best: Double { medians.min() ?? .nan }
        /// How much the round medians differ: the slowest over the quietest, less one.
        public var spread: Double { (medians.max() ?? .nan) / best - 1 }
        /// Every kept pass, sorted.
        public var all: [Double] { rounds.flatMap { $0 }.sorted() }
    }

    /// Times `rounds` series (`series` returns one series' pass times), bracketed by `reference` (a series of
    /// the reference network; it returns its median pass) when given.
    public func measure(series: () throws -> [Double], reference: (() throws -> Double)?) rethrows -> Timing {
        var before = try reference?()
        func round() throws -> (times: [Double], reference: Double?) {
            let times = try series().sorted()
            let after = try reference?()
            defer { before = after }
            if let before, let after { return (times, (before + after) / 2) }
            return (times, nil)
        }
        var kept: [(times: [Double], reference: Double?)] = []
        for _ in 0..<rounds { kept.append(try round()) }
        var retimed = 0
        func slowest() -> Int? {
            let speeds = kept.compactMap(\.reference)
            guard speeds.count == kept.count, let floor = speeds.min() else { return nil }
            let index = speeds.indices.max { speeds[$0] < speeds[$1] }!
            return speeds[index] > slowFactor * floor ? index : nil
        }
        while retimed < retries, let index = slowest() {
            kept[index] = try round()
            retimed += 1
        }
        let speeds = kept.compactMap(\.reference)
        let floor = speeds.min() ?? 0
        return Timing(rounds: kept.map(\.times), references: speeds, retimed: retimed,
                      slowRounds: speeds.filter { $0 > slowFactor * floor }.count)
    }
}
