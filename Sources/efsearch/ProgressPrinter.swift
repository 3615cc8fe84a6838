import Architecture
import Foundation
import SearchRunner
import Training

/// Progress on standard error: a bar redrawn in place on a terminal, one line per epoch otherwise.
final class ProgressPrinter: TrainingListener {
    let isTerminal = isatty(2) != 0
    private var lastDraw: UInt64 = 0

    func step(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Double, imagesPerSecond: Double, secondsLeft: Double) {
        guard isTerminal else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 100_000_000 || step == stepsPerEpoch else { return }
        lastDraw = now
        let width = 24
        let filled = width * step / max(1, stepsPerEpoch)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\repoch \(epoch + 1)/\(epochs) [\(bar)] \(step)/\(stepsPerEpoch)  loss \(Format.fixed(loss, 4))  \(Format.fixed(imagesPerSecond, 0)) img/s  ETA \(ProgressBar.clock(secondsLeft)) "
        FileHandle.standardError.write(Data(line.utf8))
    }

    func epochFinished(_ report: EpochReport) {
        let line = "epoch \(report.epoch): loss \(Format.fixed(report.trainLoss, 4))  val accuracy \(Format.fixed(100 * report.validation.accuracy, 2))%  val loss \(Format.fixed(report.validation.loss, 4))  \(report.resolution) px  lr \(Format.fixed(Double(report.learningRate), 5))  \(Format.fixed(report.imagesPerSecond, 0)) img/s"
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + "\n").utf8))
    }

    func finish() {}
}
