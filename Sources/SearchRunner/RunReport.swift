import Architecture
import Cost
import Engine
import Foundation
import Metrics
import Search
import Store

/// A self-contained HTML report of a run (inline data, SVG drawn by a small inline script; no network access),
/// and the same plots as SVG files for papers.
public struct RunReport {
    /// Candidates whose per-layer costs are embedded (the frontier first, then the best by the first objective).
    public static let layerLimit = 150

    let store: any Store
    let run: RunRecord
    let configuration: RunConfiguration
    let machine: MachineProfile
    /// The metrics the page offers, in the order of its columns.
    let metricTable: MetricTable

    public init(store: any Store, run: RunRecord, configuration: RunConfiguration, machine: MachineProfile, metrics: MetricTable = .standard) {
        self.store = store
        self.run = run
        self.configuration = configuration
        self.machine = machine
        metricTable = metrics
    }

    /// The run's objectives as the report labels them (canonical text: `accuracy`, `macs:max`).
    var objectives: [String] { configuration.plan.objectives.map(\.description) }

    /// The embedded data (JSON) the page draws from.
    public func data() throws -> String {
        let candidates = try store.candidates(runId: run.id!)
        let networks = try CandidateNetworks(configuration: configuration)
        let scoring = Scoring(configuration.plan, space: networks.space)
        var predictor: LatencyPredictor?
        if case .nas(let plan) = configuration.plan { predictor = plan.latencyModel?.predictor }
        let out = JSONText()
        try out.object {
            out.key("run") {
                out.object {
                    out.field("name", run.name)
                    out.field("kind", configuration.plan.kind)
                    out.field("status", run.status.rawValue)
                    out.field("seed", Double(configuration.seed))
                    out.field("command", run.command)
                    out.field("version", run.version)
                    out.field("machine", run.machine)
                    out.field("created", ISO8601DateFormatter().string(from: run.createdAt))
                    out.field("config", (try? configuration.encoded()) ?? "")
                    out.key("objectives") { out.array(objectives) { out.string($0) } }
                }
            }
            // Arch strings share their block strings: each candidate's arch is a list of indices into this table.
            var blocks: [String] = [], blockIndex: [String: Int] = [:]
            var archCodes: [String] = []
            for candidate in candidates {
                let codes = candidate.arch.split(separator: ";").map { stage -> String in
                    let text = String(stage)
                    if let index = blockIndex[text] { return String(index) }
                    blockIndex[text] = blocks.count
                    blocks.append(text)
                    return String(blocks.count - 1)
                }
                archCodes.append(codes.joined(separator: "."))
            }
            out.key("blocks") { out.array(blocks) { out.string($0) } }
            // The metric table: the page's axes, columns and labels. Each row has one value per metric, in order.
            out.key("metrics") {
                out.array(metricTable.metrics) { metric in
                    out.object {
                        out.field("name", metric.name)
                        out.field("key", metric.key)
                        out.field("label", metric.label)
                        out.field("better", metric.direction.rawValue)
                        out.field("scale", metric.displayScale)
                        out.field("stored", metric.column != nil ? "yes" : "no")
                    }
                }
            }
            out.key("rows") {
                out.array(Array(zip(candidates, archCodes))) { candidate, code in
                    let point = candidate.extra.flatMap { try? GridPointCoding.decode($0) }
                    out.raw("[")
                    out.number(Double(candidate.id!)); out.raw(",")
                    out.string(candidate.status.rawValue); out.raw(",")
                    for metric in metricTable.metrics { out.optional(candidate.metrics[metric]); out.raw(",") }
                    out.number(Double(candidate.resolution)); out.raw(",")
                    out.raw(candidate.onFrontier ? "1," : "0,")
                    out.raw(scoring.feasible(candidate.metrics) ? "1," : "0,")
                    out.optional(point?.alpha); out.raw(",")
                    out.optional(point?.beta); out.raw(",")
                    out.optional(point?.gamma); out.raw(",")
                    out.string(code)
                    out.raw("]")
                }
            }
            // Per-layer costs of the frontier (then the rest, in order) up to the limit.
            let chosen = (candidates.filter(\.onFrontier) + candidates.filter { !$0.onFrontier }).prefix(RunReport.layerLimit)
            out.key("layers") {
                out.object {
                    for candidate in chosen {
                        guard let network = try? layersNetwork(candidate, networks) else { continue }
                        let rows = CostModel.layers(of: network)
                        let rowScale = CostReport.rowScale(rows, batch: 1, predictor: predictor)
                        out.key(String(candidate.id!)) {
                            out.array(rows) { row in
                                out.raw("[")
                                out.string(row.name); out.raw(",")
                                out.number(Double(row.params)); out.raw(",")
                                out.number(Double(row.macs)); out.raw(",")
                                out.number(row.rooflineSeconds(batch: 1, machine: machine) * 1e6); out.raw(",")
                                out.optional(predictor?.seconds(of: row, batch: 1).map { $0 * rowScale! * 1e6 })
                                out.raw("]")
                            }
                        }
                    }
                }
            }
            if case .grid(let plan) = configuration.plan, let best = try GridRanking.ranked(store: store, runId: run.id!, plan: plan).first?.point,
               let base = try? Presets.named(plan.base).spec {
                let scaling = CompoundScaling(alpha: best.alpha, beta: best.beta, gamma: best.gamma)
                let baseMACs = Double(CostModel.summary(of: try base.resolve()).macs)
                out.key("family") {
                    out.object {
                        out.field("base", plan.base)
                        out.key("point") { out.array([best.alpha, best.beta, best.gamma]) { out.number($0) } }
                        out.key("phi") {
                            out.array(Array(0...7)) { phi in
                                let member = try? scaling.member(of: base, phi: Double(phi)).resolve()
                                out.raw("[\(phi),")
                                out.optional(member.map { Double(CostModel.summary(of: $0).macs) / baseMACs })
                                out.raw(",\(pow(2, Double(phi))),\(pow(scaling.flopsFactor, Double(phi)))]")
                            }
                        }
                    }
                }
            }
        }
        return out.text
    }

    /// The candidate's network for its per-layer table, with the class count that gives its stored parameters
    /// (training replaces the base's classes with the dataset's).
    func layersNetwork(_ candidate: CandidateRecord, _ networks: CandidateNetworks) throws -> Network {
        var spec = try networks.spec(of: candidate)
        for classes in [spec.classes, 10, 100, 2, 1000] {
            spec.classes = classes
            let network = try spec.resolve()
            if CostModel.summary(of: network).params == candidate.params { return network }
        }
        return try networks.spec(of: candidate).resolve()
    }

    /// The whole page.
    public func html() throws -> String {
        let data = try data().replacingOccurrences(of: "</", with: "<\\/")  // never closes the script element early
        return ReportPage.template
            .replacingOccurrences(of: "{{TITLE}}", with: RunReport.escapeHTML("efsearch: \(run.name)"))
            .replacingOccurrences(of: "{{DATA}}", with: data)
    }

    static func escapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// Writes `report.html` (and with `svg`, `pareto.svg`, `progress.svg` and for grids `family.svg`) into `directory`.
    public func write(to directory: String, svg: Bool) throws -> [String] {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw StoreError(location: directory, message: "cannot create the report directory: \(error.localizedDescription)")
        }
        var files: [(String, String)] = [("report.html", try html())]
        if svg { files += try svgFiles() }
        var written: [String] = []
        for (name, text) in files {
            let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
            do { try text.write(to: url, atomically: true, encoding: .utf8) } catch {
                throw StoreError(location: url.path, message: "cannot write the report: \(error.localizedDescription)")
            }
            // As the folder was given (relative stays relative), as `export` says what it wrote.
            written.append(directory.hasSuffix("/") ? directory + name : directory + "/" + name)
        }
        return written
    }

    /// The plots as standalone SVG (the run's first two objectives; candidate order against the first).
    func svgFiles() throws -> [(String, String)] {
        let candidates = try store.candidates(runId: run.id!).filter { $0.status == .done }
        func value(_ objective: String, _ candidate: CandidateRecord) -> Double? {
            guard let metric = metricTable.metric(named: objective.split(separator: ":").first.map(String.init) ?? objective) else { return nil }
            return candidate.metrics[metric].map { $0 * metric.displayScale }
        }
        let names = objectives.count >= 2 ? objectives : ["macs"] + objectives
        let (xName, yName) = (names[1], names[0])
        let points = candidates.compactMap { c in value(xName, c).flatMap { x in value(yName, c).map { (x, $0, c.onFrontier) } } }
        var files = [("pareto.svg", SVGPlot.scatter(points.map { ($0.0, $0.1) }, highlighted: points.map(\.2), xLabel: xName, yLabel: yName,
                                                    title: "\(run.name): Pareto frontier", joinHighlighted: true))]
        let order = candidates.compactMap { c in value(yName, c).map { (Double(c.id!), $0, c.onFrontier) } }
        files.append(("progress.svg", SVGPlot.scatter(order.map { ($0.0, $0.1) }, highlighted: order.map(\.2), xLabel: "candidate",
                                                      yLabel: yName, title: "\(run.name): search progress", joinHighlighted: false)))
        if case .grid(let plan) = configuration.plan, let best = try GridRanking.ranked(store: store, runId: run.id!, plan: plan).first?.point,
           let base = try? Presets.named(plan.base).spec {
            let scaling = CompoundScaling(alpha: best.alpha, beta: best.beta, gamma: best.gamma)
            let baseMACs = Double(CostModel.summary(of: try base.resolve()).macs)
            let family = (0...7).compactMap { phi in
                (try? scaling.member(of: base, phi: Double(phi)).resolve()).map { (Double(phi), Double(CostModel.summary(of: $0).macs) / baseMACs) }
            }
            files.append(("family.svg", SVGPlot.scatter(family + family.map { ($0.0, pow(2, $0.0)) },
                                                        highlighted: family.map { _ in true } + family.map { _ in false },
                                                        xLabel: "phi", yLabel: "FLOPs ratio (highlighted) and 2^phi", title: "\(plan.base) scaled by the chosen point",
                                                        joinHighlighted: true)))
        }
        return files
    }
}

/// Compact JSON text for the report's data (a class: nested builders append to one text).
final class JSONText {
    var text = ""

    func raw(_ s: String) { text += s }

    func string(_ s: String) { text += Safetensors.quote(s) }

    /// Finite numbers with up to 7 significant digits; NaN and infinity as null.
    func number(_ value: Double) {
        guard value.isFinite else { text += "null"; return }
        if value == value.rounded() && abs(value) < 1e15 { text += String(Int64(value)); return }
        text += String(format: "%.7g", value)
    }

    func optional(_ value: Double?) {
        if let value { number(value) } else { text += "null" }
    }

    func object(_ body: () throws -> Void) rethrows {
        text += "{"
        try body()
        if text.hasSuffix(",") { text.removeLast() }
        text += "}"
    }

    func key(_ name: String, _ body: () throws -> Void) rethrows {
        string(name)
        text += ":"
        try body()
        text += ","
    }

    func field(_ name: String, _ value: String) { key(name) { string(value) } }
    func field(_ name: String, _ value: Double) { key(name) { number(value) } }

    func array<T>(_ items: [T], _ body: (T) throws -> Void) rethrows {
        text += "["
        for (index, item) in items.enumerated() {
            if index > 0 { text += "," }
            try body(item)
        }
        text += "]"
    }
}

/// A minimal SVG scatter plot (log axes when a range spans more than 20x), for papers.
enum SVGPlot {
    static func scatter(_ points: [(Double, Double)], highlighted: [Bool], xLabel: String, yLabel: String, title: String,
                        joinHighlighted: Bool) -> String {
        let (width, height, left, right, top, bottom) = (640.0, 420.0, 70.0, 20.0, 40.0, 50.0)
        func axis(_ values: [Double]) -> (Double) -> Double {
            let low = values.min() ?? 0, high = values.max() ?? 1
            let log = low > 0 && high / low > 20
            let (a, b) = log ? (Foundation.log10(low), Foundation.log10(high)) : (low, high)
            let span = b - a == 0 ? 1 : b - a
            return { value in ((log ? Foundation.log10(value) : value) - a) / span }
        }
        let fx = axis(points.map(\.0)), fy = axis(points.map(\.1))
        func px(_ p: (Double, Double)) -> (Double, Double) {
            (left + fx(p.0) * (width - left - right), height - bottom - fy(p.1) * (height - top - bottom))
        }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(width / 2)" y="22" text-anchor="middle" font-size="14">\(RunReport.escapeHTML(title))</text>
        <line x1="\(left)" y1="\(height - bottom)" x2="\(width - right)" y2="\(height - bottom)" stroke="black"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(height - bottom)" stroke="black"/>
        <text x="\(width / 2)" y="\(height - 12)" text-anchor="middle">\(RunReport.escapeHTML(xLabel))</text>
        <text x="16" y="\(height / 2)" text-anchor="middle" transform="rotate(-90 16 \(height / 2))">\(RunReport.escapeHTML(yLabel))</text>

        """
        for (point, on) in zip(points, highlighted) where !on {
            let (x, y) = px(point)
            svg += "<circle cx=\"\(String(format: "%.1f", x))\" cy=\"\(String(format: "%.1f", y))\" r=\"2.5\" fill=\"#bbb\"/>\n"
        }
        let marked = zip(points, highlighted).filter { $0.1 }.map { px($0.0) }
        if joinHighlighted && marked.count > 1 {
            let path = marked.sorted { $0.0 < $1.0 }.map { String(format: "%.1f,%.1f", $0.0, $0.1) }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"1.5\"/>\n"
        }
        for (x, y) in marked {
            svg += "<circle cx=\"\(String(format: "%.1f", x))\" cy=\"\(String(format: "%.1f", y))\" r=\"4\" fill=\"#d62728\"/>\n"
        }
        return svg + "</svg>\n"
    }
}
