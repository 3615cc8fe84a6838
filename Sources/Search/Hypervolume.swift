import Foundation

extension Pareto {
    /// The hypervolume of `points` (costs to minimise) up to `reference`: the measure of the region that some point
    /// dominates and that dominates `reference`. Points that do not dominate the reference in every cost add
    /// nothing. Exact, by slicing along the last cost (the "hypervolume by slicing objectives" recursion): a sort
    /// for two costs, O(n^(d-1) log n) in general, for the fronts of a search (hundreds of points, 2-4 costs).
    public static func hypervolume(_ points: [[Double]], reference: [Double]) -> Double {
        let inside = points.filter { point in point.count == reference.count && zip(point, reference).allSatisfy { $0 < $1 } }
        return slicedVolume(inside, reference: reference)
    }

    static func slicedVolume(_ points: [[Double]], reference: [Double]) -> Double {
        guard !points.isEmpty else { return 0 }
        let d = reference.count
        if d == 1 { return reference[0] - points.map { $0[0] }.min()! }
        if d == 2 {
            // Sweep by the first cost: each point adds the strip between it and the best second cost so far.
            var volume = 0.0, best = reference[1]
            for point in points.sorted(by: { ($0[0], $0[1]) < ($1[0], $1[1]) }) where point[1] < best {
                volume += (reference[0] - point[0]) * (best - point[1])
                best = point[1]
            }
            return volume
        }
        // Slices between consecutive values of the last cost: in each, the points at or below it, projected.
        let sorted = points.sorted { $0[d - 1] < $1[d - 1] }
        let lower = Array(reference.dropLast())
        var volume = 0.0
        for index in sorted.indices {
            let top = index + 1 < sorted.count ? sorted[index + 1][d - 1] : reference[d - 1]
            let height = top - sorted[index][d - 1]
            guard height > 0 else { continue }
            volume += height * slicedVolume(sorted[...index].map { Array($0.dropLast()) }, reference: lower)
        }
        return volume
    }
}
