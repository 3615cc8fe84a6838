import Architecture
import Foundation
import Training

/// Progress of long work on standard error: a bar with ETA redrawn in place on a terminal, otherwise a plain
/// line at every tenth of the work.
final class ProgressBar {
    let label: String
    private(set) var total: Double
    let isTerminal = isatty(2) != 0
    let start = Date()
    private var lastDraw = Date.distantPast
    private var lastTenth = -1

    /// `total` in the units `update` reports (items, or seconds of a time budget); work that knows its total only
    /// when it starts reports it through `report`.
    init(_ label: String, total: Double = 1) {
        self.label = label
        self.total = max(total, 1e-9)
    }

    func update(_ done: Double, detail: String = "") {
        let fraction = min(1, done / total)
        let elapsed = Date().timeIntervalSince(start)
        let left = fraction > 0 ? elapsed / fraction - elapsed : .nan
        if isTerminal {
            guard Date().timeIntervalSince(lastDraw) > 0.1 || fraction >= 1 else { return }
            lastDraw = Date()
            let width = 24, filled = Int(Double(width) * fraction)
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(Int(100 * fraction))%  ETA \(ProgressBar.clock(left))  \(detail) \u{1B}[K".utf8))
        } else {
            let tenth = Int(10 * fraction)
            guard tenth > lastTenth else { return }
            lastTenth = tenth
            FileHandle.standardError.write(Data("\(label): \(Int(100 * fraction))% after \(ProgressBar.clock(elapsed))\(detail.isEmpty ? "" : ", " + detail)\n".utf8))
        }
    }

    /// A library's progress report (`ProgressReport`): done of total, and what is being done.
    func report(_ done: Double, _ total: Double, _ detail: String) {
        self.total = max(total, 1e-9)
        update(done, detail: detail)
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    /// Whether standard error is a terminal.
    static var isTerminalOutput: Bool { isatty(2) != 0 }

    static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.isFinite ? seconds : 0)
        return String(format: "%d:%02d", total / 60, total % 60)
    }
}

/// `train`'s progress: the bar over all steps (loss and images per second beside it), and a line per epoch.
extension ProgressBar: TrainingListener {
    func step(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Double, imagesPerSecond: Double, secondsLeft: Double) {
        report(Double(epoch * stepsPerEpoch + step), Double(epochs * stepsPerEpoch), "epoch \(epoch + 1)/\(epochs), loss \(Format.fixed(loss, 4)), \(Format.fixed(imagesPerSecond, 0)) img/s")
    }

    func epochFinished(_ report: EpochReport) {
        finish()
        Console.note("epoch \(report.epoch): loss \(Format.fixed(report.trainLoss, 4))  val accuracy \(Format.fixed(100 * report.validation.accuracy, 2))%  val loss \(Format.fixed(report.validation.loss, 4))  \(report.resolution) px  lr \(Format.fixed(Double(report.learningRate), 5))  \(Format.fixed(report.imagesPerSecond, 0)) img/s")
    }
}
