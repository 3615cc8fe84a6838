import Architecture
import Foundation
import Metrics

/// A bad objective, constraint or reward.
public struct ObjectiveError: UserInputError {
    public var text: String
    public var message: String
    public var description: String { "\"\(text)\": \(message)" }
}

/// One objective: a metric and a direction (`accuracy`, `macs:min`, `accuracy:max`).
public struct Objective: Sendable, Hashable, CanonicalText {
    public var metric: Metric
    public var direction: Direction

    public init(metric: Metric, direction: Direction? = nil) {
        self.metric = metric
        self.direction = direction ?? metric.direction
    }

    public init(parsing text: String) throws { try self.init(parsing: text, in: .standard) }

    /// An objective on a metric of `table`.
    public init(parsing text: String, in table: MetricTable) throws {
        let parts = text.split(separator: ":").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard let first = parts.first, let metric = table.metric(named: first) else {
            throw ObjectiveError(text: text, message: "unknown objective; expected \(table.names), optionally with :min or :max")
        }
        var direction: Direction?
        if parts.count == 2 {
            guard let parsed = Direction(rawValue: parts[1].lowercased()) else { throw ObjectiveError(text: text, message: "direction must be min or max") }
            direction = parsed
        } else if parts.count > 2 {
            throw ObjectiveError(text: text, message: "expected METRIC or METRIC:min|max")
        }
        self.init(metric: metric, direction: direction)
    }

    /// The value to minimise (negated for maximised metrics), or nil when the metric is missing.
    public func cost(_ values: MetricValues) -> Double? {
        guard let value = values[metric] else { return nil }
        return direction == .minimize ? value : -value
    }

    /// Canonical: the metric alone in its default direction (`accuracy`, `macs`), else `macs:max`.
    public var description: String { direction == metric.direction ? metric.name : "\(metric.name):\(direction.rawValue)" }
}

/// A constraint such as `macs<=400M`, `params<2.5M`, `latency<=10` (ms), `accuracy>=0.5`.
public struct Constraint: Sendable, Hashable, CanonicalText {
    public enum Comparison: String, Sendable, Codable { case lessOrEqual = "<=", less = "<", greaterOrEqual = ">=", greater = ">" }
    public var metric: Metric
    public var comparison: Comparison
    public var bound: Double

    public init(parsing text: String) throws { try self.init(parsing: text, in: .standard) }

    /// A constraint on a metric of `table`.
    public init(parsing text: String, in table: MetricTable) throws {
        let compact = text.replacingOccurrences(of: " ", with: "")
        for comparison in [Comparison.lessOrEqual, .greaterOrEqual, .less, .greater] {
            guard let range = compact.range(of: comparison.rawValue) else { continue }
            let name = String(compact[..<range.lowerBound]).lowercased()
            guard let metric = table.metric(named: name) else {
                throw ObjectiveError(text: text, message: "unknown metric \"\(name)\"; expected \(table.names)")
            }
            guard let bound = Constraint.number(String(compact[range.upperBound...])) else {
                throw ObjectiveError(text: text, message: "the bound must be a number, optionally with K, M or G")
            }
            self.metric = metric
            self.comparison = comparison
            self.bound = bound
            return
        }
        throw ObjectiveError(text: text, message: "expected METRIC<=VALUE (or <, >=, >), such as macs<=400M")
    }

    /// `400M` -> 4e8, `2.5K` -> 2500, `12` -> 12.
    public static func number(_ text: String) -> Double? {
        let multipliers: [Character: Double] = ["K": 1e3, "k": 1e3, "M": 1e6, "G": 1e9]
        if let last = text.last, let factor = multipliers[last] { return Double(text.dropLast()).map { $0 * factor } }
        return Double(text)
    }

    /// Whether `metrics` satisfy the constraint (an unknown metric value does not violate it).
    public func holds(_ values: MetricValues) -> Bool {
        guard let value = values[metric] else { return true }
        switch comparison {
        case .lessOrEqual: return value <= bound
        case .less: return value < bound
        case .greaterOrEqual: return value >= bound
        case .greater: return value > bound
        }
    }

    /// Canonical: `macs<=400000000`, `latency<12.5`.
    public var description: String { "\(metric.name)\(comparison.rawValue)\(canonicalNumber(bound))" }
}

/// The MnasNet reward `ACC * (X / T)^w`, with `w = alpha` when X <= T and `beta` otherwise
/// (soft constraint: alpha = beta = -0.07; hard: alpha = 0, beta = -1).
public struct Reward: Sendable, Hashable, CanonicalText {
    public var metric: Metric
    public var target: Double
    public var alpha: Double
    public var beta: Double

    /// `macs:400M:-0.07` or `latency:15:0:-1`.
    public init(parsing text: String) throws { try self.init(parsing: text, in: .standard) }

    /// A reward on a metric of `table`.
    public init(parsing text: String, in table: MetricTable) throws {
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count == 3 || parts.count == 4, let metric = table.metric(named: parts[0]), metric != .accuracy,
              let target = Constraint.number(parts[1]), target > 0, let alpha = Double(parts[2]) else {
            throw ObjectiveError(text: text, message: "expected METRIC:TARGET:W or METRIC:TARGET:ALPHA:BETA, such as macs:400M:-0.07")
        }
        let beta = parts.count == 4 ? Double(parts[3]) : alpha
        guard let beta else { throw ObjectiveError(text: text, message: "BETA must be a number") }
        self.metric = metric
        self.target = target
        self.alpha = alpha
        self.beta = beta
    }

    public func value(_ values: MetricValues) -> Double? {
        guard let accuracy = values[.accuracy], let x = values[metric] else { return nil }
        let w = x <= target ? alpha : beta
        return accuracy * pow(x / target, w)
    }

    /// Canonical: `macs:400000000:-0.07:-0.07`.
    public var description: String { "\(metric.name):\(canonicalNumber(target)):\(canonicalNumber(alpha)):\(canonicalNumber(beta))" }
}

extension Objective {
    /// A comma-separated list of objectives, as `--objectives` takes it: `accuracy,macs`, `accuracy, latency:min`.
    public static func list(parsing text: String, in table: MetricTable = .standard) throws -> [Objective] {
        let list = try text.split(separator: ",").map { try Objective(parsing: String($0).trimmingCharacters(in: .whitespaces), in: table) }
        guard !list.isEmpty else { throw ObjectiveError(text: text, message: "expected at least one objective, such as accuracy,macs") }
        return list
    }
}

/// Non-dominated sorting and crowding distance over costs to minimise.
public enum Pareto {
    /// Whether `a` dominates `b`: no worse in every cost and better in one.
    public static func dominates(_ a: [Double], _ b: [Double]) -> Bool {
        var better = false
        for (x, y) in zip(a, b) {
            if x > y { return false }
            if x < y { better = true }
        }
        return better
    }

    /// Indices of the points that no other point dominates, in increasing order.
    ///
    /// Points are visited in lexicographic order, so every point that could dominate one comes before it,
    /// and it is enough to compare with the frontier found so far (dominance is transitive): O(n * frontier).
    public static func frontier(_ points: [[Double]]) -> [Int] {
        let order = points.indices.sorted { a, b in points[a].lexicographicallyPrecedes(points[b]) }
        var result: [Int] = []
        for i in order where !result.contains(where: { dominates(points[$0], points[i]) }) {
            result.append(i)
        }
        return result.sorted()
    }

    /// Fronts of indices, best first (NSGA-II's fast non-dominated sort).
    public static func fronts(_ points: [[Double]]) -> [[Int]] {
        var dominatedBy = [[Int]](repeating: [], count: points.count)
        var counts = [Int](repeating: 0, count: points.count)
        var fronts: [[Int]] = [[]]
        for i in points.indices {
            for j in points.indices where i != j {
                if dominates(points[i], points[j]) { dominatedBy[i].append(j) } else if dominates(points[j], points[i]) { counts[i] += 1 }
            }
            if counts[i] == 0 { fronts[0].append(i) }
        }
        var current = 0
        while current < fronts.count, !fronts[current].isEmpty {
            var next: [Int] = []
            for i in fronts[current] {
                for j in dominatedBy[i] {
                    counts[j] -= 1
                    if counts[j] == 0 { next.append(j) }
                }
            }
            current += 1
            if !next.isEmpty { fronts.append(next.sorted()) } else { break }
        }
        return fronts.filter { !$0.isEmpty }
    }

    /// Every index, best first: by front (non-dominated sorting), then by crowding distance within the front
    /// (larger first: the points that keep the front spread out), then by index. With one objective this is
    /// plain sorting by cost (equal costs in a fixed order). Successive halving promotes a prefix of this order.
    public static func ranking(_ points: [[Double]]) -> [(index: Int, front: Int, crowding: Double)] {
        var result: [(index: Int, front: Int, crowding: Double)] = []
        for (rank, front) in fronts(points).enumerated() {
            let distance = crowding(points, front: front)
            for index in front.sorted(by: { (distance[$0]!, -$0) > (distance[$1]!, -$1) }) {
                result.append((index, rank, distance[index]!))
            }
        }
        return result
    }

    /// Crowding distance of each member of a front (boundary points get infinity).
    public static func crowding(_ points: [[Double]], front: [Int]) -> [Int: Double] {
        var distance = Dictionary(uniqueKeysWithValues: front.map { ($0, 0.0) })
        guard let dimensions = points.first?.count, front.count > 2 else {
            for i in front { distance[i] = .infinity }
            return distance
        }
        for d in 0..<dimensions {
            let sorted = front.sorted { (points[$0][d], $0) < (points[$1][d], $1) }
            let low = points[sorted.first!][d], high = points[sorted.last!][d]
            distance[sorted.first!] = .infinity
            distance[sorted.last!] = .infinity
            guard high > low else { continue }
            for k in 1..<(sorted.count - 1) {
                distance[sorted[k]]! += (points[sorted[k + 1]][d] - points[sorted[k - 1]][d]) / (high - low)
            }
        }
        return distance
    }
}
