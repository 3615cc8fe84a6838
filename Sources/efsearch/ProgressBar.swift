import Foundation

/// Progress of long work on standard error: a bar with ETA redrawn in place on a terminal, otherwise a plain
/// line at every tenth of the work.
final class ProgressBar {
    let label: String
    let total: Double
    let isTerminal = isatty(2) != 0
    let start = Date()
    private var lastDraw = Date.distantPast
    private var lastTenth = -1

    /// `total` in the units `update` reports (items, or seconds of a time budget).
    init(_ label: String, total: Double) {
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
