@testable import Latency
import XCTest

/// The robust timer on a synthetic clock: a machine that runs every pass 1.6 times slower during a busy period.
final class RoundTimerTests: XCTestCase {
    final class Machine {
        var now = 0.0
        let busy: [ClosedRange<Double>]
        /// Busy whatever the time.
        var busyNow = false
        init(busy: [ClosedRange<Double>]) { self.busy = busy }
        /// One pass of `base` milliseconds, slowed while the machine is busy.
        func pass(_ base: Double) -> Double {
            let duration = base * (busyNow || busy.contains { $0.contains(now) } ? 1.6 : 1)
            now += duration
            return duration
        }
        func series(_ base: Double, passes: Int = 10) -> [Double] { (0..<passes).map { _ in pass(base) } }
        func reference() -> Double { series(2).sorted()[5] }
    }

    /// A busy period over the second round: the round is timed again, the result is the quiet speed, and the
    /// rounds kept agree.
    func testASlowRoundIsTimedAgainAndTheQuietSpeedCounts() {
        // Reference 20 ms, round 1 50 ms (20-70), reference (70-90), round 2 from 90: busy 85-200.
        let machine = Machine(busy: [85...200])
        let timing = RoundTimer(rounds: 3).measure(series: { machine.series(5) }, reference: { machine.reference() })
        XCTAssertEqual(timing.best, 5)
        XCTAssertGreaterThanOrEqual(timing.retimed, 1)
        XCTAssertEqual(timing.slowRounds, 0)
        XCTAssertEqual(timing.medians, [5, 5, 5], "every round kept was timed while the machine was quiet")
        XCTAssertEqual(timing.spread, 0)
        // Without re-timing, the slow round stays, is counted, and the quietest round still gives the quiet speed.
        let untouched = Machine(busy: [85...200])
        let kept = RoundTimer(rounds: 3, retries: 0).measure(series: { untouched.series(5) }, reference: { untouched.reference() })
        XCTAssertEqual(kept.best, 5)
        XCTAssertEqual(kept.retimed, 0)
        XCTAssertGreaterThanOrEqual(kept.slowRounds, 1)
        XCTAssertEqual(kept.spread, 0.6, accuracy: 1e-12, "the slow round's median is 1.6 times the quiet one's")
    }

    /// A machine busy all along: nothing is slower than the rest, so nothing is timed again.
    func testAnEvenlyBusyMachineIsNotRetimed() {
        let machine = Machine(busy: [0...1e9])
        let timing = RoundTimer(rounds: 4).measure(series: { machine.series(5) }, reference: { machine.reference() })
        XCTAssertEqual(timing.retimed, 0)
        XCTAssertEqual(timing.best, 8, accuracy: 1e-12)
        XCTAssertEqual(timing.rounds.count, 4)
    }

    /// Without a reference: the quietest round's median, over rounds of scripted times.
    func testWithoutAReferenceTheQuietestRoundCounts() {
        var scripted = [[10.0, 12, 11], [15, 14, 16], [10.5, 30, 10.6]]
        let timing = RoundTimer(rounds: 3).measure(series: { scripted.removeFirst() }, reference: nil)
        XCTAssertEqual(timing.medians, [11, 15, 10.6])
        XCTAssertEqual(timing.best, 10.6)
        XCTAssertEqual(timing.spread, 15 / 10.6 - 1, accuracy: 1e-12)
        XCTAssertTrue(timing.references.isEmpty)
        XCTAssertEqual(timing.all, [10, 10.5, 10.6, 11, 12, 14, 15, 16, 30])
    }

    /// A calibration's rounds (`BracketedRounds`) on the synthetic machine: 20 networks of 1 ms passes, the
    /// machine busy from the start of network 5's series to the end of network 7's in each of the 3 rounds.
    /// Those three, and no others, were timed only while the host was slow (the reference after network 4's
    /// series and before network 8's ran quiet); timed again after the rounds, they come out at their quiet
    /// speed. Without the extra rounds they keep the busy speed.
    func testNetworksTimedOnlyWhileBusyAreTimedAgain() {
        for retries in [2, 0] {
            let machine = Machine(busy: [])
            var best = [Double](repeating: .infinity, count: 20)
            var done: [Int] = [], calls = 0
            let outcome = BracketedRounds(rounds: 3, retries: retries).run(count: 20, clock: { machine.now }, reference: machine.reference,
                                                                           progress: { done.append($0) }) { index, reference in
                if calls < 60 && index == 5 { machine.busyNow = true }
                calls += 1
                best[index] = min(best[index], machine.series(1).sorted()[5])
                if index == 7 { machine.busyNow = false }
                reference()
            }
            XCTAssertEqual(done, Array(1...(60 + outcome.retimed)), "progress after every series")
            if retries == 0 {
                XCTAssertEqual(outcome.retimed, 0)
                XCTAssertEqual(best[5...7].map { $0 }, [1.6, 1.6, 1.6])
                XCTAssertEqual(outcome.stillSlow, 3)
            } else {
                XCTAssertEqual(outcome.retimed, 3)
                XCTAssertEqual(outcome.stillSlow, 0)
                XCTAssertEqual(best, [Double](repeating: 1, count: 20))
            }
        }
    }

    /// The quiet speed is the 5th percentile of the reference around every series, so one lucky fast series does
    /// not make every network slow; a network with one quiet series is not slow.
    func testSlowNetworksAreThoseWithoutAQuietSeries() {
        var speeds = (0..<40).map { _ in [2.0, 2.05, 2.5] }
        speeds[3] = [2.5, 2.45, 2.6]  // slow in every round
        speeds[17] = [2.3, 2.5, 2.4]  // 1.15 times the quiet speed at best
        speeds[21] = [2.15, 2.5, 2.5]  // 1.075: quiet enough once
        speeds[30][0] = 1.0
        XCTAssertEqual(BracketedRounds.slowNetworks(speeds, slowFactor: 1.1), [3, 17])
        XCTAssertEqual(BracketedRounds.slowNetworks(speeds, slowFactor: 1.3), [])
        XCTAssertEqual(BracketedRounds.slowNetworks([], slowFactor: 1.1), [])
    }
}
