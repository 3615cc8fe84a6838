import Engine
import Foundation
import Statistics

/// The built-in dataset: 10 classes of 32x32 RGB images, generated from a seed, that take real capacity to
/// separate. The class is the object's shape or texture; its colour, size, position, the background, clutter
/// and noise vary at random and carry no information:
///
/// 0 disc, 1 square, 2 triangle, 3 plus, 4 ring, 5 horizontal stripes, 6 vertical stripes,
/// 7 diagonal stripes, 8 checkerboard, 9 two dots.
///
/// Every image has a random background colour with a gentle gradient, 2 to 5 clutter strokes (short lines
/// and small boxes in random colours), the object (radius 6 to 12 px, anywhere it fits, in a colour kept
/// away from the background's) and Gaussian pixel noise (sigma 12 of 255). Small networks reach about
/// 60-80% in a few epochs; larger ones do better, so a search has something to find.
public enum SyntheticShapes {
    public static let classNames = ["disc", "square", "triangle", "plus", "ring", "horizontal stripes", "vertical stripes",
                                    "diagonal stripes", "checkerboard", "two dots"]

    public static func generate(trainCount: Int, testCount: Int, seed: UInt64) -> Dataset {
        let train = images(count: trainCount, seed: seed)
        let test = images(count: testCount, seed: seed &+ 0x9E37_79B9)
        let (mean, std) = channelStatistics(train)
        return Dataset(name: "synthetic", classes: 10, train: train,
                       validation: ImageSet.empty(height: 32, width: 32, channels: 3),
                       test: test, mean: mean, std: std, allowsFlip: true)
    }

    /// `count` images, classes in rotation (so every class has the same count), each drawn from its own
    /// generator seeded by (seed, index): images do not depend on how many others there are.
    static func images(count: Int, seed: UInt64) -> ImageSet {
        var pixels = [UInt8](repeating: 0, count: count * 32 * 32 * 3)
        let labels = (0..<count).map { $0 % 10 }
        pixels.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            Parallel.forEachChunk(count, minimumChunk: 64) { range in
                for index in range {
                    draw(label: labels[index], random: RandomGenerator(seed: seed &* 6_364_136_223_846_793_005 &+ UInt64(index) &* 1_442_695_040_888_963_407),
                         into: base + index * 3072)
                }
            }
        }
        return ImageSet(pixels: pixels, labels: labels, height: 32, width: 32, channels: 3)
    }

    static func draw(label: Int, random: RandomGenerator, into out: UnsafeMutablePointer<UInt8>) {
        var canvas = [Double](repeating: 0, count: 32 * 32 * 3)
        func colour() -> [Double] { (0..<3).map { _ in random.uniform() * 255 } }
        let background = colour()
        let gradient = (0..<3).map { _ in (random.uniform() - 0.5) * 60 }
        let angle = random.uniform() * 2 * Double.pi
        for y in 0..<32 {
            for x in 0..<32 {
                let t = (Double(x) - 16) / 32 * cos(angle) + (Double(y) - 16) / 32 * sin(angle)
                for c in 0..<3 { canvas[(y * 32 + x) * 3 + c] = background[c] + gradient[c] * t }
            }
        }
        func paint(_ inside: (Double, Double) -> Bool, _ rgb: [Double]) {
            for y in 0..<32 {
                for x in 0..<32 where inside(Double(x) + 0.5, Double(y) + 0.5) {
                    for c in 0..<3 { canvas[(y * 32 + x) * 3 + c] = rgb[c] }
                }
            }
        }
        // Clutter: short lines and small boxes.
        for _ in 0..<(2 + random.uniformInt(4)) {
            let rgb = colour()
            let (cx, cy) = (random.uniform() * 32, random.uniform() * 32)
            if random.uniform() < 0.5 {
                let (dx, dy) = (cos(random.uniform() * .pi), sin(random.uniform() * .pi))
                let length = 3 + random.uniform() * 6
                paint({ x, y in
                    let (px, py) = (x - cx, y - cy)
                    let along = px * dx + py * dy
                    return abs(along) < length && abs(px * dy - py * dx) < 0.7
                }, rgb)
            } else {
                let size = 1 + random.uniform() * 2.5
                paint({ x, y in abs(x - cx) < size && abs(y - cy) < size }, rgb)
            }
        }
        // The object, in a colour away from the background.
        var ink = colour()
        while zip(ink, background).map({ abs($0 - $1) }).reduce(0, +) < 180 { ink = colour() }
        let radius = 6 + random.uniform() * 6
        let cx = radius + random.uniform() * (32 - 2 * radius), cy = radius + random.uniform() * (32 - 2 * radius)
        let period = 2.5 + random.uniform() * 2
        let phase = random.uniform() * period
        let inBox = { (x: Double, y: Double) in abs(x - cx) < radius && abs(y - cy) < radius }
        switch label {
        case 0: paint({ x, y in hypot(x - cx, y - cy) < radius }, ink)
        case 1:
            let side = radius * 0.85
            paint({ x, y in abs(x - cx) < side && abs(y - cy) < side }, ink)
        case 2:
            paint({ x, y in
                let top = cy - radius, bottom = cy + radius * 0.8
                guard y > top && y < bottom else { return false }
                let half = (y - top) / (bottom - top) * radius
                return abs(x - cx) < half
            }, ink)
        case 3:
            let arm = radius * 0.3
            paint({ x, y in (abs(x - cx) < arm && abs(y - cy) < radius) || (abs(y - cy) < arm && abs(x - cx) < radius) }, ink)
        case 4: paint({ x, y in let d = hypot(x - cx, y - cy); return d < radius && d > radius * 0.55 }, ink)
        case 5: paint({ x, y in inBox(x, y) && (y + phase).truncatingRemainder(dividingBy: period) < period / 2 }, ink)
        case 6: paint({ x, y in inBox(x, y) && (x + phase).truncatingRemainder(dividingBy: period) < period / 2 }, ink)
        case 7: paint({ x, y in inBox(x, y) && ((x + y) / 1.4 + phase).truncatingRemainder(dividingBy: period) < period / 2 }, ink)
        case 8:
            let cell = period * 0.8
            paint({ x, y in inBox(x, y) && (Int(floor((x - cx) / cell)) + Int(floor((y - cy) / cell))) & 1 == 0 }, ink)
        default:
            let offset = radius * 0.55, dot = radius * 0.4
            let (dx, dy) = (cos(angle) * offset, sin(angle) * offset)
            paint({ x, y in hypot(x - cx - dx, y - cy - dy) < dot || hypot(x - cx + dx, y - cy + dy) < dot }, ink)
        }
        for index in 0..<canvas.count {
            let value = canvas[index] + random.gaussian(sigma: 12)
            out[index] = UInt8(max(0, min(255, value.rounded())))
        }
    }
}
