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

/// Rounds over many networks (a calibration's, a check's), each network's series between two series of a
/// reference network, and then the networks that were timed only while the host was slow timed again:
/// - a series ran while the host was slow when the reference around it (the mean of its medians right before
///   and right after) is more than `slowFactor` times the host's quiet speed, the 5th percentile of the
///   reference around every series (the fastest alone is one lucky series);
/// - a network none of whose series ran while the host was quiet (`slowNetworks`) is timed again in up to
///   `retries` more rounds over just such networks, which take no longer together than one round over all the
///   networks did; its time is then the quietest of all its series, as before.
/// On this host, in one calibration, 13 networks of 161 had all of their 3 rounds slow by 1.1 times: their passes
/// came out 3.6% slower than the fit on average, and 5.7% away from it against 3.1% for the others.
public struct BracketedRounds: Sendable {
    public var rounds: Int
    public var retries: Int
    public var slowFactor: Double

    public init(rounds: Int, retries: Int = 2, slowFactor: Double = 1.1) {
        (self.rounds, self.retries, self.slowFactor) = (max(1, rounds), max(0, retries), slowFactor)
    }

    /// Runs the rounds over networks `0..<count`: `body(index, reference)` times a network, then calls
    /// `reference()`, which runs the reference's series after it (`reference` returns its median). `clock` reads
    /// seconds; `progress(done)` after each series. Returns the series timed again and the networks still slow.
    public func run(count: Int, clock: () -> Double, reference: @escaping () -> Double, progress: ((Int) -> Void)? = nil,
                    _ body: (Int, @escaping () -> Void) -> Void) -> (retimed: Int, stillSlow: Int) {
        var speeds = [[Double]](repeating: [], count: count)
        var done = 0
        func round(_ indices: [Int], until deadline: Double = .infinity) {
            var before = reference()
            for index in indices where clock() < deadline {
                body(index) {
                    let after = reference()
                    speeds[index].append((before + after) / 2)
                    before = after
                }
                done += 1
                progress?(done)
            }
        }
        let start = clock()
        for _ in 0..<rounds { round(Array(0..<count)) }
        let deadline = clock() + (clock() - start) / Double(rounds)
        var retimed = 0
        for _ in 0..<retries {
            let slow = BracketedRounds.slowNetworks(speeds, slowFactor: slowFactor)
            guard !slow.isEmpty, clock() < deadline else { break }
            let before = done
            round(slow, until: deadline)
            retimed += done - before
        }
        return (retimed, BracketedRounds.slowNetworks(speeds, slowFactor: slowFactor).count)
    }

    /// The networks none of whose series ran while the host was quiet: `speeds[network]` holds the reference's
    /// pass around each of its series (larger is slower).
    public static func slowNetworks(_ speeds: [[Double]], slowFactor: Double) -> [Int] {
        let all = speeds.flatMap { $0 }
        guard !all.isEmpty else { return [] }
        let quiet = Statistics.quantile(all, 0.05)
        return speeds.indices.filter { (speeds[$0].min() ?? 0) > slowFactor * quiet }
    }
}
