//! QR images of a check-in code, as inline SVG for pages and PNG for mail
//! and download.

use crate::domain::CheckinCode;
use image::{ImageEncoder, Luma};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    #[error("cannot encode the QR code: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("cannot write the PNG: {0}")]
    Png(#[from] image::ImageError),
}

/// Quartile error correction: a badge can be creased or scuffed and still scan.
fn encode(code: &CheckinCode) -> Result<QrCode, QrError> {
    Ok(QrCode::with_error_correction_level(
        code.as_str().as_bytes(),
        EcLevel::Q,
    )?)
}

/// A standalone SVG document (for `/r/{token}/qr.svg`).
pub fn svg_document(code: &CheckinCode) -> Result<String, QrError> {
    let qr = encode(code)?;
    Ok(qr
        .render::<svg::Color>()
        .min_dimensions(256, 256)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

/// The same SVG for inlining in a page: no XML declaration, and no fixed
/// size, so CSS sizes it through its viewBox.
pub fn svg_inline(code: &CheckinCode) -> Result<String, QrError> {
    let document = svg_document(code)?;
    let svg = document
        .find("<svg")
        .map_or(document.as_str(), |at| &document[at..]);
    let Some(size_at) = svg.find(" width=\"") else {
        return Ok(svg.to_string());
    };
    let size_end = svg[size_at..]
        .find(" viewBox")
        .map_or(size_at, |n| size_at + n);
    Ok(format!(
        "{} role=\"img\" aria-label=\"QR check-in code\"{}",
        &svg[..size_at],
        &svg[size_end..]
    ))
}

/// A PNG of `module_px` pixels per module, with the quiet zone.
pub fn png(code: &CheckinCode, module_px: u32) -> Result<Vec<u8>, QrError> {
    let qr = encode(code)?;
    let image = qr
        .render::<Luma<u8>>()
        .module_dimensions(module_px, module_px)
        .build();
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out).write_image(
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::L8,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_svg_is_scalable_and_labelled() {
        let svg = svg_inline(&CheckinCode::generate()).unwrap();
        let open_tag = &svg[..svg.find('>').unwrap()];
        assert!(svg.starts_with("<svg"));
        assert!(open_tag.contains("viewBox=\"0 0 "));
        assert!(open_tag.contains("aria-label"));
        assert!(!open_tag.contains(" width=\""));
    }

    #[test]
    fn png_starts_with_the_png_signature() {
        let png = png(&CheckinCode::generate(), 8).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
