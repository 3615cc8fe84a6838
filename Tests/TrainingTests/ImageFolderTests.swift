import Engine
import Foundation
import XCTest
import Training
import Statistics

/// Image decoding against Pillow's (fixtures and expectations from scripts/make_image_fixtures.py), the image
/// folder layout, its errors, and the decode-once cache.
final class ImageFolderTests: XCTestCase {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("images")

    struct Expected: Decodable {
        var height: Int
        var width: Int
        var rgb: [Int]
    }

    static let expected: [String: Expected] = {
        let data = try! Data(contentsOf: fixtures.appendingPathComponent("expected.json"))
        return try! JSONDecoder().decode([String: Expected].self, from: data)
    }()

    /// Decodes `name` and compares it with Pillow's pixels: exactly for PNG, within `tolerance` for JPEG
    /// (Pillow's libjpeg-turbo build and Debian's may round the inverse DCT differently).
    func check(_ name: String, tolerance: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let image = try ImageDecoder.decode(file: Self.fixtures.appendingPathComponent(name).path)
        let expected = try XCTUnwrap(Self.expected[name], file: file, line: line)
        XCTAssertEqual(image.height, expected.height, "\(name) height", file: file, line: line)
        XCTAssertEqual(image.width, expected.width, "\(name) width", file: file, line: line)
        guard image.pixels.count == expected.rgb.count else { return XCTFail("\(name): \(image.pixels.count) values", file: file, line: line) }
        let worst = zip(image.pixels, expected.rgb).map { abs(Int($0) - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance, "\(name): largest difference from Pillow \(worst)", file: file, line: line)
    }

    func testPNGKindsDecodeAsPillowConvertsThem() throws {
        for name in ["grey.png", "palette.png", "rgba.png", "grey_alpha.png", "grey16.png"] { try check(name, tolerance: 0) }
    }

    func testJPEGKindsDecodeAsPillowDoes() throws {
        for name in ["rgb.jpg", "grey.jpg", "cmyk.jpg"] { try check(name, tolerance: 2) }
    }

    func testEXIFOrientationIsApplied() throws {
        for name in ["exif3.jpg", "exif6.jpg", "exif8.jpg"] { try check(name, tolerance: 2) }
        let turned = try ImageDecoder.decode(file: Self.fixtures.appendingPathComponent("exif6.jpg").path)
        XCTAssertEqual([turned.height, turned.width], [13, 9], "orientation 6 turns a 13 x 9 picture upright to 9 x 13")
    }

    func testBadFilesNameTheFile() {
        for name in ["truncated.jpg", "truncated.png", "not_an_image.png"] {
            let path = Self.fixtures.appendingPathComponent(name).path
            XCTAssertThrowsError(try ImageDecoder.decode(file: path)) { error in
                let error = error as? DatasetError
                XCTAssertEqual(error?.source, path)
                XCTAssertTrue(error?.message.contains(name.hasSuffix("png") && name != "not_an_image.png" ? "PNG" : name == "truncated.jpg" ? "JPEG" : "not a JPEG or PNG") ?? false,
                              "\(error?.message ?? "no error")")
            }
        }
    }

    /// Resize-then-centre-crop in one resampling equals Pillow's resize followed by the crop.
    func testResizeAndCentreCropMatchPillow() throws {
        let image = try ImageDecoder.decode(file: Self.fixtures.appendingPathComponent("resize.png").path)
        for filter in Interpolation.allCases {
            let box = Resampler.resizeThenCentreCrop(height: image.height, width: image.width, size: 37, crop: 32)
            var out = [UInt8](repeating: 0, count: 32 * 32 * 3)
            image.pixels.withUnsafeBufferPointer { source in
                out.withUnsafeMutableBufferPointer { target in
                    Resampler.resampleBytes(source.baseAddress!, height: image.height, width: image.width, channels: 3, box: box,
                                            to: target.baseAddress!, height: 32, width: 32, filter: filter)
                }
            }
            let expected = try XCTUnwrap(Self.expected["resize.png:\(filter.rawValue)"])
            let differences = zip(out, expected.rgb).map { abs(Int($0) - $1) }
            XCTAssertLessThanOrEqual(differences.max() ?? 99, 1, "\(filter): largest difference from Pillow")
            XCTAssertLessThan(Double(differences.filter { $0 > 0 }.count) / Double(differences.count), 0.02, "\(filter): share of pixels off by one")
        }
    }

    // MARK: Folders

    var root: URL!
    var cache: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("efsearch-folder-\(UUID().uuidString)")
        cache = root.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    /// Writes `count` images per class: class k is a square of brightness 40 * (k + 1) on black.
    func makeFolder(_ name: String = "data", classes: [String] = ["cat", "dog", "emu"], count: Int = 4, split: String = "train",
                    format: String = "png") throws -> URL {
        let folder = root.appendingPathComponent(name)
        for (label, className) in classes.enumerated() {
            let directory = folder.appendingPathComponent(split).appendingPathComponent(className)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for index in 0..<count {
                var pixels = [UInt8](repeating: 0, count: 20 * 24 * 3)
                for y in 4..<16 { for x in (4 + index)..<(16 + index) { for c in 0..<3 { pixels[(y * 24 + x) * 3 + c] = UInt8(40 * (label + 1)) } } }
                try ImageDecoder.write(DecodedImage(pixels: pixels, height: 20, width: 24),
                                       to: directory.appendingPathComponent("\(index).\(format)").path)
            }
        }
        return folder
    }

    func spec(_ folder: URL) -> DatasetSpec {
        var spec = DatasetSpec(kind: .folder, directory: folder.path)
        spec.cacheDirectory = cache
        spec.validationFraction = 0.25
        return spec
    }

    func testFolderLoadsWithSortedClassesAndAHeldOutSplit() throws {
        let folder = try makeFolder(classes: ["b", "a", "C"])
        let dataset = try spec(folder).load(resolution: 16)
        XCTAssertEqual(dataset.classNames, ["C", "a", "b"], "sorted by code point, as Python's sorted()")
        XCTAssertEqual(dataset.classes, 3)
        XCTAssertEqual(dataset.train.count + dataset.validation.count, 12)
        XCTAssertEqual(dataset.validation.count, 3, "a quarter of each class held out")
        XCTAssertEqual(dataset.test.count, 0)
        XCTAssertEqual(dataset.resolution, 18, "cached at round(16 / 0.875)")
        XCTAssertEqual(dataset.mean, ImageNetStatistics.mean)
        XCTAssertTrue(dataset.decodedNow)
        // Class "b" (label 2) was written with brightness 40 * 1 (it came first in the written list).
        let index = try XCTUnwrap(dataset.train.labels.firstIndex(of: 2))
        let image = dataset.train.image(index)
        XCTAssertEqual(Int(image[(9 * 18 + 9) * 3]), 40, accuracy: 2)
    }

    func testValAndTestFoldersAreUsed() throws {
        let folder = try makeFolder()
        _ = try makeFolder(count: 2, split: "val")
        _ = try makeFolder(classes: ["cat", "dog"], count: 1, split: "test")
        let dataset = try spec(folder).load(resolution: 16)
        XCTAssertEqual(dataset.train.count, 12, "nothing held out when DIR/val exists")
        XCTAssertEqual(dataset.validation.count, 6)
        XCTAssertEqual(dataset.test.count, 2)
        XCTAssertEqual(Set(dataset.test.labels), [0, 1])
    }

    func testCacheIsReusedAndRebuiltWhenAFileChanges() throws {
        let folder = try makeFolder()
        let first = try spec(folder).load(resolution: 16)
        XCTAssertTrue(first.decodedNow)
        let second = try spec(folder).load(resolution: 16)
        XCTAssertFalse(second.decodedNow, "the second load maps the cache")
        XCTAssertEqual(first.train.pixels, second.train.pixels)
        // Overwrite one image with a white one: the cache key changes and the new pixels are read.
        let file = folder.appendingPathComponent("train/cat/0.png")
        try ImageDecoder.write(DecodedImage(pixels: [UInt8](repeating: 255, count: 20 * 24 * 3), height: 20, width: 24), to: file.path)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(5)], ofItemAtPath: file.path)
        var unsplit = spec(folder)
        unsplit.validationFraction = 0
        let third = try unsplit.load(resolution: 16)
        XCTAssertTrue(third.decodedNow, "a changed file invalidates the cache")
        XCTAssertEqual(third.train.image(0)[0], 255)
        // Another resolution needs another cache.
        XCTAssertTrue(try spec(folder).load(resolution: 24).decodedNow)
    }

    func testBadInputsStopWithTheirName() throws {
        let folder = try makeFolder()
        // A truncated image: named, unless skipped (and then counted).
        let bad = folder.appendingPathComponent("train/dog/9.jpg")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent("truncated.jpg"), to: bad)
        XCTAssertThrowsError(try spec(folder).load(resolution: 16)) { error in
            XCTAssertEqual((error as? DatasetError)?.source, bad.path)
        }
        var skipping = spec(folder)
        skipping.skipBadImages = true
        let dataset = try skipping.load(resolution: 16)
        XCTAssertEqual(dataset.skipped.map(\.file), ["train/dog/9.jpg"])
        XCTAssertEqual(dataset.train.count + dataset.validation.count, 12)
        // The cache remembers the bad file: without --skip-bad-images the load still refuses.
        XCTAssertThrowsError(try spec(folder).load(resolution: 16)) { error in
            XCTAssertEqual((error as? DatasetError)?.source, bad.path)
        }
        try FileManager.default.removeItem(at: bad)

        // An empty class folder.
        let empty = folder.appendingPathComponent("train/fox")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try spec(folder).load(resolution: 16)) { error in
            XCTAssertEqual((error as? DatasetError)?.source, empty.path)
        }
        try FileManager.default.removeItem(at: empty)

        // No classes; no train folder; not a folder at all; a val class train does not have.
        let bare = root.appendingPathComponent("bare")
        try FileManager.default.createDirectory(at: bare.appendingPathComponent("train"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try spec(bare).load(resolution: 16)) { error in
            XCTAssertTrue((error as? DatasetError)?.message.contains("no class folders") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try spec(root.appendingPathComponent("cache-less")).load(resolution: 16)) { error in
            XCTAssertTrue(error is DatasetError)
        }
        XCTAssertThrowsError(try spec(folder.appendingPathComponent("train/cat/1.png")).load(resolution: 16)) { error in
            XCTAssertEqual((error as? DatasetError)?.message, "no such directory")
        }
        _ = try makeFolder(classes: ["yak"], count: 1, split: "val")
        XCTAssertThrowsError(try spec(folder).load(resolution: 16)) { error in
            XCTAssertTrue((error as? DatasetError)?.message.contains("not among train's") ?? false, "\(error)")
        }
    }

    func testJPEGAndPNGFoldersAgree() throws {
        let png = try makeFolder("png")
        let jpeg = try makeFolder("jpeg", format: "jpg")
        let a = try spec(png).load(resolution: 16), b = try spec(jpeg).load(resolution: 16)
        XCTAssertEqual(a.train.labels, b.train.labels)
        let worst = zip(a.train.pixels, b.train.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 99
        XCTAssertLessThan(worst, 40, "quality-95 JPEG stays close to the PNG")
    }

    func testTrainingCropsAndEvaluationCentre() throws {
        let folder = try makeFolder()
        let dataset = try spec(folder).load(resolution: 16)
        let maker = BatchMaker(dataset: dataset)
        // Evaluation at the cached resolution is an exact centre crop: no resampling.
        var tensor: Tensor?
        let (x, _) = maker.make(dataset.train, indices: [0], resolution: 16, augment: nil, into: &tensor)
        let image = dataset.train.image(0)
        for (y, xx) in [(0, 0), (7, 9), (15, 15)] {
            let source = Float(image[((y + 1) * 18 + xx + 1) * 3]) / 255
            XCTAssertEqual(x[(y * 16 + xx) * 3], (source - dataset.mean[0]) / dataset.std[0], accuracy: 1e-5)
        }
        // RandomResizedCrop boxes lie inside the image with areas in the crop scale and ratios in [3/4, 4/3].
        let random = RandomGenerator(seed: 7)
        let plans = maker.plans(count: 200, height: 18, width: 18, resolution: 16, random: random)
        var flips = 0
        for plan in plans {
            guard case .box(let box, let flip) = plan else { return XCTFail("expected crop boxes") }
            if flip { flips += 1 }
            XCTAssertTrue(box.left >= 0 && box.top >= 0 && box.right <= 18 && box.bottom <= 18, "\(box)")
            let area = (box.right - box.left) * (box.bottom - box.top) / (18 * 18)
            XCTAssertTrue(area >= 0.05 && area <= 1.0001, "area \(area)")
        }
        XCTAssertTrue(flips > 60 && flips < 140, "about half flipped: \(flips)")
    }

    /// The built-in sets' crops are torchvision's RandomCrop(resolution, padding) of the resized image, then the
    /// flip: output (y, x) reads resized (y + dy, (flipped x) + dx), zero (black) outside.
    func testShiftsAreRandomCropsOfTheResizedImage() throws {
        let set = ImageSet(pixels: (0..<(6 * 6)).map { UInt8(7 * $0) }, labels: [0], height: 6, width: 6, channels: 1)
        var maker = BatchMaker(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        maker.allowsFlip = true
        var scratch: Tensor?, shifted: Tensor?
        let resolution = 8
        let (resized, _) = maker.make(set, indices: [0], resolution: resolution, plans: nil, into: &scratch)
        let black: Float = (0 - 0.5) / 0.25
        for (dy, dx, flip) in [(1, -2, true), (-1, 1, false), (0, 0, true)] {
            let (x, _) = maker.make(set, indices: [0], resolution: resolution, plans: [.shift(dy: dy, dx: dx, flip: flip)], into: &shifted)
            for oy in 0..<resolution {
                for ox in 0..<resolution {
                    let ry = oy + dy, rx = (flip ? resolution - 1 - ox : ox) + dx
                    let inside = ry >= 0 && ry < resolution && rx >= 0 && rx < resolution
                    let expected = inside ? resized[(ry * resolution + rx) * 3] : black
                    XCTAssertEqual(x[(oy * resolution + ox) * 3], expected, accuracy: 1e-6, "(\(dy), \(dx), \(flip)) at (\(oy), \(ox))")
                }
            }
        }
        // Padding of an eighth of the resolution: offsets within [-1, 1] at 8 px, all of them drawn.
        let plans = maker.plans(count: 300, height: 6, width: 6, resolution: resolution, random: RandomGenerator(seed: 3))
        var offsets = Set<Int>()
        for case .shift(let dy, let dx, _) in plans { offsets.insert(dy); offsets.insert(dx) }
        XCTAssertEqual(offsets, [-1, 0, 1])
    }
}
