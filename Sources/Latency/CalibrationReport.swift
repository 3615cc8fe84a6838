import Architecture
import Cost
import Foundation

// How `efsearch calibrate` reports a fit and a check: one JSON object, or tables.

extension LatencyModel {
    /// The fit as one JSON object: where the model was written, networks timed, in-sample error, each unit's fit.
    public func fitJSON(file: String) -> String {
        var object = JSONObjectWriter()
        object.add("file", file)
        object.add("networks", networks)
        object.add("fit_mape", fitMAPE)
        if let uncorrectedFitMAPE { object.add("fit_mape_uncorrected", uncorrectedFitMAPE) }
        if let transferredFrom { object.add("transferred_from", transferredFrom) }
        let fits = LatencyUnit.allCases.compactMap { unit in
            units[unit].map { "\"\(unit.rawValue)\":{\"samples\":\($0.samples),\"rms_relative_error\":\($0.rmsRelativeError)}" }
        }
        object.addRaw("units", "{" + fits.joined(separator: ",") + "}")
        return object.finished()
    }

    /// The fit as a table of units and a summary, with the command that checks it.
    public func fitText(file: String, given out: String?) -> String {
        let rows = LatencyUnit.allCases.compactMap { unit in
            units[unit].map { [unit.rawValue, "\($0.samples)", Format.fixed(100 * $0.rmsRelativeError, 1) + "%"] }
        }
        return [
            Format.table(["unit", "samples", "RMS rel. error"], rows, leftColumns: 1),
            "\(networks) networks timed; end to end the fit is off by \(Format.fixed(100 * fitMAPE, 1))% on average (in sample"
                + (uncorrectedFitMAPE.map { "; \(Format.fixed(100 * $0, 1))% before the correction of whole passes)" } ?? ")")
                + (transferredFrom.map { "; units transferred from \($0)" } ?? ""),
            "wrote \(file)",
            "check it on networks it has not seen: efsearch calibrate --check 40\(out.map { " --latency-model \($0)" } ?? "")",
        ].joined(separator: "\n")
    }

    /// One line per fitted unit, for a log that is not a terminal.
    public var fitLines: [String] {
        LatencyUnit.allCases.compactMap { unit in
            units[unit].map { "\(unit.rawValue): \($0.samples) timed units, RMS error \(Format.fixed(100 * $0.rmsRelativeError, 1))%" }
        }
    }

    /// How fast the host ran the reference network during this calibration against during `previous` (the model
    /// it replaces), when the two differ by more than 10%: a calibration made while the host runs slow throughout
    /// models a slow host (one made here at a reference pass of 2.40 ms put 37% of a check's networks within 10%
    /// at the usual 1.9-2.1 ms). Nil when they agree or either lacks the reference's speed.
    public func hostSpeedNote(against previous: LatencyModel) -> String? {
        guard let now = probeSeconds, let before = previous.probeSeconds, now > 0, before > 0,
              let slower = LatencyModel.speedChange(now / before) else { return nil }
        return "the host ran the reference network (\(LatencyModel.probe.preset) at \(LatencyModel.probe.resolution) px) "
            + "\(slower.times) times \(slower.above ? "slower" : "faster") than during the calibration of \(previous.createdAt.prefix(16)) "
            + "(\(Format.fixed(1000 * now, 2)) against \(Format.fixed(1000 * before, 2)) ms): this model predicts the host as it ran now"
            + (slower.above ? "; if it was busy, calibrate again when it is quiet" : "")
    }

    /// A ratio of the reference's speeds when it is more than 10% from 1: how many times (the ratio, or its inverse
    /// below 1, to two places) and whether it is above 1.
    static func speedChange(_ ratio: Double) -> (times: String, above: Bool)? {
        guard abs(ratio - 1) > 0.1 else { return nil }
        return (Format.fixed(ratio >= 1 ? ratio : 1 / ratio, 2), ratio >= 1)
    }

    /// Makes the folder of `path` and checks that it can be written, before minutes are spent timing.
    public static func prepareDestination(_ path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw CalibrationError(file: path, message: "cannot create \(directory.path): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: directory.path) else { throw CalibrationError(file: path, message: "its folder is not writable") }
    }
}

/// Writes a CSV that a flag asked for (`--samples`, `--csv`); an error names the flag and the file when it cannot.
func writeCSV(_ text: String, to file: String, flag: String) throws {
    do { try text.write(toFile: file, atomically: true, encoding: .utf8) } catch {
        throw CalibrationError(file: nil, message: "cannot write \(flag) \(file): \(error.localizedDescription)")
    }
}

extension CalibrationOutcome {
    /// Every timed block and unit, and every whole pass (`--samples`).
    public func writeSamples(to file: String) throws { try writeCSV(samplesCSV, to: file, flag: "--samples") }
}

extension LatencyCheck {
    /// Each network's predicted and measured milliseconds (`--csv`).
    public func writeCSV(to file: String) throws { try Latency.writeCSV(csv, to: file, flag: "--csv") }

    /// The check as one JSON object: the random networks' figures (measured, and drift-corrected), the settings,
    /// each preset's predicted and measured time, and those of the five networks predicted worst (`worst`).
    public func json(settings: CalibrationSettings) -> String {
        var object = JSONObjectWriter()
        object.add("count", random.count)
        plain.add(to: &object)
        if let corrected {
            var nested = JSONObjectWriter()
            corrected.add(to: &nested)
            object.addRaw("drift_corrected", nested.finished())
        }
        object.add("reference_ms", 1000 * referenceSeconds.now)
        if let calibration = referenceSeconds.calibration { object.add("calibration_reference_ms", 1000 * calibration) }
        object.add("retimed_series", slow.retimed)
        object.add("still_slow", slow.stillSlow)
        object.add("threads", settings.threads)
        object.add("batch", settings.batch)
        object.add("rounds", rounds)
        object.add("runs", settings.runs)
        object.add("series_seconds", settings.seriesSeconds)
        func item(_ row: Row) -> String {
            var item = JSONObjectWriter()
            item.add("name", row.name)
            item.add("resolution", row.network.resolution)
            item.add("predicted_ms", row.predicted)
            item.add("measured_ms", row.measured)
            if let corrected = row.corrected { item.add("drift_corrected_ms", corrected) }
            return item.finished()
        }
        object.addRaw("presets", "[" + presetRows.map(item).joined(separator: ",") + "]")
        object.addRaw("worst", "[" + worst.map(item).joined(separator: ",") + "]")
        return object.finished()
    }

    /// How fast the host ran the reference network during the check against during the calibration, and, when
    /// the two differ by more than 10%, what that means for the measured figures. On this shared 2-core host the
    /// reference ran at 1.67-2.53 ms in one evening, and a model checked at another speed than its calibration's
    /// put 0-40% of its networks within 10% (measured), against 87-100% at the same speed.
    var hostSpeedNote: String? { LatencyCheck.hostSpeedNote(now: referenceSeconds.now, calibration: referenceSeconds.calibration) }

    /// `hostSpeedNote` for the reference's median pass `now` and during the `calibration`, in seconds.
    static func hostSpeedNote(now: Double, calibration: Double?) -> String? {
        guard let calibration, calibration > 0, now > 0 else { return nil }
        var line = "reference network (\(LatencyModel.probe.preset) at \(LatencyModel.probe.resolution) px): \(Format.fixed(1000 * now, 2)) ms now, "
            + "\(Format.fixed(1000 * calibration, 2)) ms during the calibration"
        guard let faster = LatencyModel.speedChange(calibration / now) else { return line }
        line += "; the host runs \(faster.times) times \(faster.above ? "faster" : "slower") than when the model was made, "
            + "and measured times are off by about as much: calibrate again to predict for the host as it runs now"
        return line
    }

    /// The check as text: the figures, then a table of the presets.
    public func text(settings: CalibrationSettings) -> String {
        var lines = [
            "\(random.count) networks never used in the fit, batch \(settings.batch), \(settings.threads) threads, \(rounds) rounds of at least "
                + "\(settings.runs) passes and \(Format.fixed(settings.seriesSeconds, 2)) s each:",
            "measured (the quietest round's median):  \(plain.summary)",
        ]
        if let corrected { lines.append("drift-corrected (to the reference): \(corrected.summary)") }
        if let note = hostSpeedNote { lines.append(note) }
        if let note = slow.note { lines.append(note) }
        func error(_ predicted: Double, _ measured: Double) -> String { Format.fixed(100 * (predicted / measured - 1), 1) + "%" }
        let rows = presetRows.map { row in
            [row.name, "\(row.network.resolution)", Format.fixed(row.predicted, 2), Format.fixed(row.measured, 2), error(row.predicted, row.measured),
             row.corrected.map { Format.fixed($0, 2) } ?? "-", row.corrected.map { error(row.predicted, $0) } ?? "-"]
        }
        lines += ["", Format.table(["preset", "px", "predicted ms", "measured ms", "error", "corrected ms", "error"], rows, leftColumns: 1)]
        let misses = worst.map { row in
            [String(row.name.prefix(90)), "\(row.network.resolution)", Format.fixed(row.predicted, 2), Format.fixed(row.best, 2), error(row.predicted, row.best)]
        }
        lines += ["", "the five networks predicted worst (\(random.allSatisfy { $0.corrected != nil } ? "against drift-corrected times" : "against measured times")):",
                  Format.table(["network", "px", "predicted ms", "measured ms", "error"], misses, leftColumns: 1)]
        return lines.joined(separator: "\n")
    }
}
