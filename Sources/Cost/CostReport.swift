import Architecture
import Foundation

/// How an estimate is written: one JSON object (the `--jsonl` hot path), a few lines of text, a table or JSON array
/// of the layers.
public enum CostReport {
    public static func json(_ network: Network, _ summary: CostSummary) -> String {
        var bytes: [UInt8] = []
        appendJSON(network, summary, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The JSON object of an estimate with a `layers` array, one object per layer (`estimate --per-layer --json`).
    public static func json(_ network: Network, _ summary: CostSummary, layersAt batch: Int, machine: MachineProfile, predictor: LatencyPredictor?) -> String {
        var out = JSONObjectWriter()
        addFields(network, summary, to: &out)
        out.addRaw("layers", layersJSON(CostModel.layers(of: network), batch: batch, machine: machine, predictor: predictor))
        return out.finished()
    }

    /// Appends the JSON object of an estimate to a byte buffer (the `--jsonl` hot path).
    public static func appendJSON(_ network: Network, _ summary: CostSummary, to buffer: inout [UInt8]) {
        var out = JSONObjectWriter(takingOver: &buffer)
        addFields(network, summary, to: &out)
        // Consumed, not copied: a copy would share the buffer, and closing it would copy the whole of it.
        buffer = (consume out).finishedBytes()
    }

    /// The fields of an estimate's JSON object.
    @inline(__always)
    public static func addFields(_ network: Network, _ summary: CostSummary, to out: inout JSONObjectWriter) {
        out.add("params", summary.params)
        out.add("macs", summary.macs)
        out.add("flops_fvcore", summary.flops(.fvcore))
        out.add("flops_2x", summary.flops(.twice))
        out.add("resolution", network.resolution)
        out.add("width", network.spec.width)
        out.add("depth", network.spec.depth)
        out.add("stem", network.stemChannels)
        out.add("head", network.headChannels)
        out.add("classes", network.classes)
        out.add("activation", network.activation.rawValue)
        out.add("arch", arch: network.scaledStages)
        out.add("batch", summary.batch)
        out.add("latency_ms_estimate", summary.latencySeconds * 1000)
        if let predicted = summary.predictedSeconds { out.add("latency_ms_predicted", predicted * 1000) }
        out.add("activation_bytes", summary.activationBytes)
        out.add("peak_memory_bytes", summary.peakMemoryBytes)
    }

    public static func text(name: String, _ network: Network, _ summary: CostSummary, machine: MachineProfile, predictor: LatencyPredictor? = nil) -> String {
        let spec = network.spec
        let lines: [(String, String)] = [
            ("network", "\(name): width \(ArchString.formatNumber(spec.width)), depth \(ArchString.formatNumber(spec.depth)), \(network.resolution) px, \(network.classes) classes, \(network.activation.rawValue)"),
            ("arch", network.archString),
            ("stem/head", "\(network.stemChannels) / \(network.headChannels == 0 ? "none" : String(network.headChannels)) channels, \(network.blocks.count) blocks"),
            ("params", Format.grouped(summary.params) + " (" + Format.engineering(Double(summary.params)) + ")"),
            ("MACs", Format.grouped(summary.macs) + " (" + Format.engineering(Double(summary.macs)) + ", the paper's \"FLOPs\")"),
            ("FLOPs", "fvcore " + Format.engineering(Double(summary.flops(.fvcore))) + ", 2x " + Format.engineering(Double(summary.flops(.twice)))),
            ("memory", "activations \(Format.bytes(summary.activationBytes)), peak inference \(Format.bytes(summary.peakMemoryBytes)) at batch \(summary.batch)"),
            ("latency", "~" + Format.fixed(summary.latencySeconds * 1000, 2) + " ms at batch \(summary.batch) (roofline, \(Format.fixed(machine.peakGFLOPS, 0)) GFLOP/s, \(Format.fixed(machine.bandwidthGBs, 1)) GB/s, \(machine.source))"),
        ] + (summary.predictedSeconds.map { predicted in
            [("", "~" + Format.fixed(predicted * 1000, 2) + " ms predicted (calibrated \(predictor!.createdAt.prefix(10)), \(predictor!.key.cpu), \(predictor!.key.threads) threads)")]
        } ?? [])
        return lines.map { $0.0.padding(toLength: 10, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n")
    }

    /// The factor from a row's prediction to its share of the pass (`LatencyPredictor.rowScale`); nil without a
    /// predictor.
    public static func rowScale(_ rows: [LayerCost], batch: Int, predictor: LatencyPredictor?) -> Double? {
        predictor.map { $0.rowScale(of: rows, batch: batch) }
    }

    /// The rows of `layerTable` as a JSON array, with each row's shape in full (timm's module name, kind,
    /// channels, sizes, kernel, stride, activation, elements read, written and held for a residual) and, with a
    /// predictor, its latency unit and that unit's features (`LatencyFeatures.names`), as the fit sees them.
    public static func layersJSON(_ rows: [LayerCost], batch: Int, machine: MachineProfile, predictor: LatencyPredictor?) -> String {
        let rowScale = rowScale(rows, batch: batch, predictor: predictor)
        let items = rows.map { row -> String in
            var item = JSONObjectWriter()
            item.add("name", row.name)
            item.add("kind", row.kind.rawValue)
            item.add("in_channels", row.inChannels)
            item.add("out_channels", row.outChannels)
            item.add("input_size", row.inputSize)
            item.add("output_size", row.outputSize)
            item.add("kernel", row.kernel)
            item.add("stride", row.stride)
            if let activation = row.activation { item.add("activation", activation.rawValue) }
            item.add("params", row.params)
            item.add("macs", row.macs * batch)
            item.add("input_elements", row.inputElements * batch)
            item.add("output_elements", row.outputElements * batch)
            item.add("held_elements", row.heldElements * batch)
            item.add("pool_elements", row.poolElements * batch)
            item.add("bytes", row.bytesMoved(batch: batch))
            item.add("latency_us_estimate", row.rooflineSeconds(batch: batch, machine: machine) * 1e6)
            if let predictor, let (unit, features) = predictor.unitAndFeatures(of: row, batch: batch) {
                item.add("latency_unit", unit.rawValue)
                item.addRaw("latency_features", "[" + (0..<LatencyFeatures.count).map { features[$0].description }.joined(separator: ",") + "]")
                if let seconds = predictor.seconds(of: row, batch: batch) { item.add("latency_us_predicted", seconds * rowScale! * 1e6) }
            }
            return item.finished()
        }
        return "[" + items.joined(separator: ",") + "]"
    }

    /// One row per layer; with a predictor, a column of predicted time (the unit's share of the pass,
    /// `LatencyPredictor.rowScale`; the total adds the per-pass term).
    public static func layerTable(_ rows: [LayerCost], batch: Int, machine: MachineProfile, predictor: LatencyPredictor?, total: CostSummary) -> String {
        var cells: [[String]] = []
        let rowScale = rowScale(rows, batch: batch, predictor: predictor)
        for row in rows {
            var cell = [
                row.name, row.kind.rawValue,
                "\(row.inChannels)x\(row.inputSize)x\(row.inputSize)",
                "\(row.outChannels)x\(row.outputSize)x\(row.outputSize)",
                row.kind == .pool || row.kind == .linear ? "-" : "k\(row.kernel) s\(row.stride)",
                Format.grouped(row.params), Format.grouped(row.macs * batch),
                Format.bytes(row.bytesMoved(batch: batch)),
                Format.fixed(row.arithmeticIntensity(batch: batch), 1),
                Format.fixed(row.rooflineSeconds(batch: batch, machine: machine) * 1e6, 1),
            ]
            if let predictor {
                cell.append(predictor.seconds(of: row, batch: batch).map { Format.fixed($0 * rowScale! * 1e6, 1) } ?? "-")
            }
            cells.append(cell)
        }
        var last = ["total", "", "", "", "", Format.grouped(total.params), Format.grouped(total.macs * batch), "", "", Format.fixed(total.latencySeconds * 1e6, 1)]
        var header = ["layer", "kind", "input (CxHxW)", "output", "kernel", "params", "MACs", "bytes", "FLOP/B", "roofline us"]
        if predictor != nil {
            last.append(total.predictedSeconds.map { Format.fixed($0 * 1e6, 1) } ?? "-")
            header.append("predicted us")
        }
        cells.append(last)
        return Format.table(header, cells, leftColumns: 2)
    }
}

extension CostReport {
    /// What `efsearch estimate` prints for one network: the summary as text or one JSON object, with `perLayer` the
    /// table of its rows (or their `layers` array in the JSON).
    public static func estimate(name: String, _ network: Network, batch: Int, machine: MachineProfile, predictor: LatencyPredictor?, json: Bool,
                                perLayer: Bool) -> String {
        let summary = CostModel.summary(of: network, batch: batch, machine: machine, predictor: predictor)
        if json {
            return perLayer ? CostReport.json(network, summary, layersAt: batch, machine: machine, predictor: predictor) : CostReport.json(network, summary)
        }
        let text = CostReport.text(name: name, network, summary, machine: machine, predictor: predictor)
        guard perLayer else { return text }
        return text + "\n\n" + CostReport.layerTable(CostModel.layers(of: network), batch: batch, machine: machine, predictor: predictor, total: summary)
    }
}

