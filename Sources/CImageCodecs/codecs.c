#include "CImageCodecs.h"

#include <stdio.h>
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// MARK: JPEG

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char *message;
    size_t message_size;
} efs_jpeg_error;

static void efs_jpeg_fail(j_common_ptr info) {
    efs_jpeg_error *error = (efs_jpeg_error *)info->err;
    if (error->message && error->message_size) {
        char text[JMSG_LENGTH_MAX];
        (*info->err->format_message)(info, text);
        snprintf(error->message, error->message_size, "%s", text);
    }
    longjmp(error->escape, 1);
}

/// libjpeg reports a truncated or damaged stream as a warning (level -1) and goes on with grey fill:
/// efsearch refuses such an image instead of training on it.
static void efs_jpeg_message(j_common_ptr info, int level) {
    if (level < 0) efs_jpeg_fail(info);
}

/// libjpeg's standard error manager with efsearch's error handler: an error writes the message to `message`
/// and jumps back to the caller's setjmp.
static struct jpeg_error_mgr *efs_jpeg_errors(efs_jpeg_error *error, char *message, size_t message_size) {
    struct jpeg_error_mgr *manager = jpeg_std_error(&error->base);
    manager->error_exit = efs_jpeg_fail;
    error->message = message;
    error->message_size = message_size;
    return manager;
}

/// The orientation tag (0x0112) of an APP1 "Exif" marker, or 1.
static int efs_exif_orientation(const uint8_t *data, unsigned length) {
    if (length < 14 || memcmp(data, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *tiff = data + 6;
    unsigned size = length - 6;
    int little = tiff[0] == 'I' && tiff[1] == 'I';
    if (!little && !(tiff[0] == 'M' && tiff[1] == 'M')) return 1;
#define U16(p) (little ? (unsigned)((p)[0] | (p)[1] << 8) : (unsigned)((p)[0] << 8 | (p)[1]))
#define U32(p) (little ? ((uint32_t)(p)[0] | (uint32_t)(p)[1] << 8 | (uint32_t)(p)[2] << 16 | (uint32_t)(p)[3] << 24) \
                       : ((uint32_t)(p)[0] << 24 | (uint32_t)(p)[1] << 16 | (uint32_t)(p)[2] << 8 | (uint32_t)(p)[3]))
    if (U16(tiff + 2) != 42) return 1;
    uint32_t ifd = U32(tiff + 4);
    if (ifd > size - 2) return 1;
    unsigned entries = U16(tiff + ifd);
    for (unsigned i = 0; i < entries; i++) {
        uint32_t entry = ifd + 2 + 12 * i;
        if (entry + 12 > size) return 1;
        if (U16(tiff + entry) == 0x0112) {
            unsigned value = U16(tiff + entry + 8);
            return value >= 1 && value <= 8 ? (int)value : 1;
        }
    }
    return 1;
#undef U16
#undef U32
}

int efs_decode_jpeg(const uint8_t *data, size_t size, efs_image *out, char *message, size_t message_size) {
    struct jpeg_decompress_struct info;
    efs_jpeg_error error;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;
    memset(out, 0, sizeof(*out));
    info.err = efs_jpeg_errors(&error, message, message_size);
    info.err->emit_message = efs_jpeg_message;  // decoding: a warning (truncated data) fails too
    if (setjmp(error.escape)) {
        jpeg_destroy_decompress(&info);
        free(pixels);
        free(row);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_save_markers(&info, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&info, TRUE);
    int orientation = 1;
    for (jpeg_saved_marker_ptr marker = info.marker_list; marker; marker = marker->next) {
        if (marker->marker == JPEG_APP0 + 1) {
            orientation = efs_exif_orientation(marker->data, marker->data_length);
            if (orientation != 1) break;
        }
    }
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&info);
    size_t width = info.output_width, height = info.output_height;
    pixels = malloc(width * height * 3);
    row = malloc(width * (size_t)info.output_components);
    if (!pixels || !row) {
        snprintf(message, message_size, "out of memory for a %zux%zu image", width, height);
        jpeg_destroy_decompress(&info);
        free(pixels);
        free(row);
        return -1;
    }
    // Adobe's CMYK JPEGs store inverted ink values; PIL and libjpeg's own djpeg read them the same way.
    int inverted = info.saw_Adobe_marker;
    while (info.output_scanline < info.output_height) {
        size_t y = info.output_scanline;
        JSAMPROW target = cmyk ? row : pixels + y * width * 3;
        jpeg_read_scanlines(&info, &target, 1);
        if (cmyk) {
            uint8_t *rgb = pixels + y * width * 3;
            for (size_t x = 0; x < width; x++) {
                unsigned c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
                if (!inverted) { c = 255 - c; m = 255 - m; yy = 255 - yy; k = 255 - k; }
                // Stored values are 255 - ink: red = (255 - C)(255 - K) / 255, rounded.
                rgb[3 * x] = (uint8_t)((c * k + 127) / 255);
                rgb[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
                rgb[3 * x + 2] = (uint8_t)((yy * k + 127) / 255);
            }
        }
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    free(row);
    out->pixels = pixels;
    out->width = (int)width;
    out->height = (int)height;
    out->orientation = orientation;
    return 0;
}

// MARK: PNG

int efs_decode_png(const uint8_t *data, size_t size, efs_image *out, char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof(image));
    memset(out, 0, sizeof(*out));
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(message, message_size, "%s", image.message);
        return -1;
    }
    // 16-bit files without gAMA or sRGB chunks are taken as sRGB-encoded (as PIL and browsers read them), not linear.
    image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    // RGBA keeps the colour values as stored (no compositing onto a background); alpha is dropped below.
    image.format = PNG_FORMAT_RGBA;
    size_t width = image.width, height = image.height;
    uint8_t *rgba = malloc(PNG_IMAGE_SIZE(image));
    uint8_t *rgb = malloc(width * height * 3);
    if (!rgba || !rgb) {
        snprintf(message, message_size, "out of memory for a %zux%zu image", width, height);
        png_image_free(&image);
        free(rgba);
        free(rgb);
        return -1;
    }
    if (!png_image_finish_read(&image, NULL, rgba, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message);
        png_image_free(&image);
        free(rgba);
        free(rgb);
        return -1;
    }
    for (size_t i = 0; i < width * height; i++) {
        rgb[3 * i] = rgba[4 * i];
        rgb[3 * i + 1] = rgba[4 * i + 1];
        rgb[3 * i + 2] = rgba[4 * i + 2];
    }
    free(rgba);
    out->pixels = rgb;
    out->width = (int)width;
    out->height = (int)height;
    out->orientation = 1;
    return 0;
}

void efs_image_free(efs_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}

// MARK: Writers

int efs_write_jpeg(const char *path, const uint8_t *rgb, int width, int height, int quality, char *message, size_t message_size) {
    struct jpeg_compress_struct info;
    efs_jpeg_error error;
    FILE *volatile file = fopen(path, "wb");
    if (!file) {
        snprintf(message, message_size, "cannot create %s", path);
        return -1;
    }
    info.err = efs_jpeg_errors(&error, message, message_size);
    if (setjmp(error.escape)) {
        jpeg_destroy_compress(&info);
        fclose(file);
        return -1;
    }
    jpeg_create_compress(&info);
    jpeg_stdio_dest(&info, file);
    info.image_width = (JDIMENSION)width;
    info.image_height = (JDIMENSION)height;
    info.input_components = 3;
    info.in_color_space = JCS_RGB;
    jpeg_set_defaults(&info);
    jpeg_set_quality(&info, quality, TRUE);
    jpeg_start_compress(&info, TRUE);
    while (info.next_scanline < info.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)info.next_scanline * (size_t)width * 3);
        jpeg_write_scanlines(&info, &row, 1);
    }
    jpeg_finish_compress(&info);
    jpeg_destroy_compress(&info);
    return fclose(file) == 0 ? 0 : -1;
}

int efs_write_png(const char *path, const uint8_t *pixels, int width, int height, int channels, char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = channels == 1 ? PNG_FORMAT_GRAY : channels == 2 ? PNG_FORMAT_GA : channels == 4 ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&image, path, 0, pixels, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message);
        return -1;
    }
    return 0;
}
