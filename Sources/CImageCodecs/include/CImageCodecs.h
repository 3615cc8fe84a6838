#ifndef EFSEARCH_IMAGE_CODECS_H
#define EFSEARCH_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

/// A decoded image: 8-bit RGB, row-major, `height * width * 3` bytes owned by the caller after a successful
/// call (free it with efs_image_free). `orientation` is the EXIF orientation tag (1-8; 1 when absent), not applied.
typedef struct {
    uint8_t *pixels;
    int width;
    int height;
    int orientation;
} efs_image;

/// Decodes a JPEG (grey, YCbCr, RGB, CMYK or YCCK; Adobe-inverted CMYK recognised) to RGB with libjpeg-turbo.
/// Returns 0 on success; otherwise writes libjpeg's message to `error` (any warning, such as a truncated file,
/// counts as an error) and returns -1.
int efs_decode_jpeg(const uint8_t *data, size_t size, efs_image *out, char *error, size_t error_size);

/// Decodes a PNG (grey, palette, 16-bit, with or without alpha) to 8-bit RGB with libpng's simplified API;
/// alpha is dropped, as PIL's convert("RGB") does. Returns 0 on success, -1 with a message otherwise.
int efs_decode_png(const uint8_t *data, size_t size, efs_image *out, char *error, size_t error_size);

void efs_image_free(efs_image *image);

/// Writes a JPEG (RGB, `quality` 1-100) or an 8-bit PNG (1 to 4 channels) file; for tests and exports. 0 on success.
int efs_write_jpeg(const char *path, const uint8_t *rgb, int width, int height, int quality, char *error, size_t error_size);
int efs_write_png(const char *path, const uint8_t *pixels, int width, int height, int channels, char *error, size_t error_size);

#endif
