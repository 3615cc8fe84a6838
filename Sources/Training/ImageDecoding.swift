import CImageCodecs
import Foundation

/// A decoded image: 8-bit RGB, row-major, upright (its EXIF orientation applied).
public struct DecodedImage: Sendable {
    public var pixels: [UInt8]
    public var height: Int
    public var width: Int

    public init(pixels: [UInt8], height: Int, width: Int) {
        precondition(pixels.count == height * width * 3, "\(pixels.count) bytes for a \(height) x \(width) RGB image")
        self.pixels = pixels
        self.height = height
        self.width = width
    }
}

/// JPEG (libjpeg-turbo) and PNG (libpng) files to RGB; the format is read from the file's first bytes, not its name.
public enum ImageDecoder {
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    public static func decode(file: String) throws -> DecodedImage {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: file), options: .mappedIfSafe) } catch {
            throw DatasetError(source: file, message: "cannot read: \(error.localizedDescription)")
        }
        return try decode(data, source: file)
    }

    public static func decode(_ data: Data, source: String) throws -> DecodedImage {
        let isJPEG = data.starts(with: [0xFF, 0xD8])
        let isPNG = data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        guard isJPEG || isPNG else {
            throw DatasetError(source: source, message: data.isEmpty ? "empty file; expected a JPEG or PNG image"
                                                                      : "not a JPEG or PNG image (unknown leading bytes)")
        }
        var image = efs_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int32 in
            let bytes = raw.bindMemory(to: UInt8.self).baseAddress!
            return isJPEG ? efs_decode_jpeg(bytes, raw.count, &image, &message, message.count)
                          : efs_decode_png(bytes, raw.count, &image, &message, message.count)
        }
        guard status == 0, let pixels = image.pixels else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw DatasetError(source: source, message: "corrupt or truncated \(isJPEG ? "JPEG" : "PNG") image: \(text)")
        }
        defer { efs_image_free(&image) }
        let height = Int(image.height), width = Int(image.width)
        let decoded = DecodedImage(pixels: Array(UnsafeBufferPointer(start: pixels, count: height * width * 3)), height: height, width: width)
        return oriented(decoded, exif: Int(image.orientation))
    }

    /// Applies an EXIF orientation (1-8) as PIL's `ImageOps.exif_transpose` does.
    public static func oriented(_ image: DecodedImage, exif orientation: Int) -> DecodedImage {
        guard (2...8).contains(orientation) else { return image }
        let (h, w) = (image.height, image.width)
        let swaps = orientation >= 5
        let (outHeight, outWidth) = swaps ? (w, h) : (h, w)
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        for row in 0..<outHeight {
            for column in 0..<outWidth {
                // The source pixel (y, x) shown at (row, column).
                let (y, x): (Int, Int)
                switch orientation {
                case 2: (y, x) = (row, w - 1 - column)            // mirrored left to right
                case 3: (y, x) = (h - 1 - row, w - 1 - column)    // rotated 180 degrees
                case 4: (y, x) = (h - 1 - row, column)            // mirrored top to bottom
                case 5: (y, x) = (column, row)                    // transposed
                case 6: (y, x) = (h - 1 - column, row)            // turned 90 degrees clockwise to show upright
                case 7: (y, x) = (h - 1 - column, w - 1 - row)    // transversed
                default: (y, x) = (column, w - 1 - row)           // 8: turned 90 degrees counter-clockwise
                }
                for c in 0..<3 { out[(row * outWidth + column) * 3 + c] = image.pixels[(y * w + x) * 3 + c] }
            }
        }
        return DecodedImage(pixels: out, height: outHeight, width: outWidth)
    }

    /// Writes 8-bit RGB as JPEG (`quality`) or PNG, chosen by the file name's extension.
    public static func write(_ image: DecodedImage, to file: String, quality: Int = 95) throws {
        var message = [CChar](repeating: 0, count: 256)
        let lower = file.lowercased()
        let status = image.pixels.withUnsafeBufferPointer { pixels -> Int32 in
            if lower.hasSuffix(".png") {
                return efs_write_png(file, pixels.baseAddress, Int32(image.width), Int32(image.height), 3, &message, message.count)
            }
            return efs_write_jpeg(file, pixels.baseAddress, Int32(image.width), Int32(image.height), Int32(quality), &message, message.count)
        }
        guard status == 0 else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw DatasetError(source: file, message: "cannot write: \(text)")
        }
    }
}
