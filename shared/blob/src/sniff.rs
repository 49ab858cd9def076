//! What magic bytes can prove: the content type the leading bytes of an upload show.
//!
//! The browser's declared `Content-Type` is only a claim; once the object is in S3, `complete`
//! fetches its first [`SNIFF_BYTES`] and [`matches()`] checks the claim against them. The promise
//! is narrow on purpose: *the declared type matches the file's magic bytes*. A file that starts
//! with a real PNG signature is a PNG even if HTML or script follows later in it (a polyglot);
//! that is acceptable as long as downloads are served with the verified type, `nosniff` and
//! `attachment` (the download path's job), never rendered as whatever sits after the header.
//! What is refused is a file whose leading bytes are *not* the declared type (an HTML page
//! declared as `image/png`).
//!
//! The type is found with [`infer::get`]. For the types accepted by default, infer 0.19's
//! matchers are shorter than the real signatures (PNG: 4 of 8 bytes; GIF: `GIF` without the
//! version; WebP: only `WEBP` at offset 8, so `<html>  WEBP…` is "WebP"), so [`sniff`] also
//! demands the full signature of those types before it vouches for them.

/// The content types uploads accept by default: what magic bytes can prove.
pub const DEFAULT_ALLOWED: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "application/pdf",
];

/// How many leading bytes `complete` fetches (ranged GET) to sniff.
///
/// The full signatures of [`DEFAULT_ALLOWED`] need at most 16 bytes (WebP: `RIFF`, size,
/// `WEBP`, `VP8?`). 512 bytes also covers every fixed-offset matcher of infer 0.19 (the deepest
/// reads `ustar` at 257..262 for tar), so [`infer::get`] gives the same answer on this prefix
/// as on the whole file for anything it checks before our types, and one 512-byte ranged GET
/// costs no more than a 16-byte one. (Only infer's zip-based office and ISO matchers look
/// further; their files start with `PK`/zeros, never with one of our signatures.)
pub const SNIFF_BYTES: usize = 512;

/// Types infer knows but [`SNIFF_BYTES`] leading bytes cannot prove: its text matchers guess
/// from content (HTML, XML, shell scripts are what a forged "image" is), the Office formats are
/// told apart inside a zip or OLE container further into the file, and an ISO image's
/// signature sits at byte 32 769.
const UNPROVABLE: &[&str] = &[
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/x-iso9660-image",
];

/// Whether [`matches()`] can ever accept a file declared as `mime` (lowercase, no parameters):
/// a type infer recognises by magic bytes within [`SNIFF_BYTES`], and not a text type.
/// Configuration uses it to refuse an allow-list entry no upload could ever satisfy.
#[must_use]
pub fn provable(mime: &str) -> bool {
    infer::is_mime_supported(mime) && !mime.starts_with("text/") && !UNPROVABLE.contains(&mime)
}

/// The MIME type the leading bytes `head` prove, or `None` if they prove nothing.
///
/// `head` is the start of the file (ideally [`SNIFF_BYTES`] long; shorter files are fine). For
/// the types of [`DEFAULT_ALLOWED`] the full signature must be present; other types are
/// infer's answer as is.
#[must_use]
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let mime = infer::get(head)?.mime_type();
    full_signature_holds(mime, head).then_some(mime)
}

/// Whether the magic bytes of `head` prove exactly the `declared` content type.
///
/// `declared` is compared without case and without parameters (`image/PNG; charset=x` is
/// `image/png`). An empty or unrecognised `head` never matches.
#[must_use]
pub fn matches(declared: &str, head: &[u8]) -> bool {
    let essence = declared.split(';').next().unwrap_or_default().trim();
    sniff(head).is_some_and(|proven| proven.eq_ignore_ascii_case(essence))
}

/// For the default types, whether `head` carries the whole signature (infer checks a prefix of
/// it); other types are left to infer.
fn full_signature_holds(mime: &str, head: &[u8]) -> bool {
    match mime {
        // SOI, then the first marker (APP0 JFIF, APP1 Exif, DQT, SOF, ...).
        "image/jpeg" => head.len() >= 4 && head[..3] == [0xFF, 0xD8, 0xFF] && head[3] >= 0xC0,
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/gif" => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        // RIFF container, WEBP form, then a VP8 (lossy), VP8L (lossless) or VP8X (extended) chunk.
        "image/webp" => {
            head.len() >= 16
                && head.starts_with(b"RIFF")
                && &head[8..15] == b"WEBPVP8"
                && matches!(head[15], b' ' | b'L' | b'X')
        }
        // Readers tolerate junk before `%PDF-`; we don't: the header must come first.
        "application/pdf" => head.starts_with(b"%PDF-"),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00";
    const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00";
    const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00";
    const WEBP: &[u8] = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00";
    const PDF: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n";
    const HTML: &[u8] = b"<!DOCTYPE html>\n<html><script>alert(document.cookie)</script></html>";

    #[test]
    fn each_allowed_type_is_recognised_from_a_minimal_real_header() {
        let samples = [
            ("image/png", PNG),
            ("image/jpeg", JPEG),
            ("image/gif", GIF),
            ("image/webp", WEBP),
            ("application/pdf", PDF),
        ];
        for (mime, head) in samples {
            assert_eq!(sniff(head), Some(mime), "{mime}");
            assert!(matches(mime, head), "{mime}");
        }
        let covered: Vec<&str> = samples.iter().map(|(mime, _)| *mime).collect();
        for allowed in DEFAULT_ALLOWED {
            assert!(covered.contains(allowed), "{allowed} has no sample");
        }
    }

    #[test]
    fn the_gif87a_and_lossless_webp_variants_are_recognised_too() {
        assert_eq!(sniff(b"GIF87a\x01\x00\x01\x00"), Some("image/gif"));
        assert_eq!(
            sniff(b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"),
            Some("image/webp")
        );
    }

    #[test]
    fn the_default_types_are_provable_and_text_office_and_unknown_types_are_not() {
        for allowed in DEFAULT_ALLOWED {
            assert!(provable(allowed), "{allowed}");
        }
        assert!(provable("image/avif"));
        for mime in [
            "text/html",
            "text/xml",
            "text/x-shellscript",
            "application/msword",
            "application/x-iso9660-image",
            "application/x-unknown",
            "image/PNG",
        ] {
            assert!(!provable(mime), "{mime}");
        }
    }

    #[test]
    fn an_html_page_declared_as_png_is_refused() {
        assert!(!matches("image/png", HTML));
        assert_ne!(sniff(HTML), Some("image/png"));
    }

    #[test]
    fn an_html_page_declared_as_each_allowed_type_is_refused() {
        for allowed in DEFAULT_ALLOWED {
            assert!(!matches(allowed, HTML), "{allowed}");
        }
    }

    #[test]
    fn html_with_webp_at_offset_8_is_not_webp() {
        // infer 0.19 alone calls this image/webp: it only looks at bytes 8..12.
        let polyglot = b"<html>  WEBPVP8 <script>alert(1)</script></html>";
        assert_eq!(
            infer::get(polyglot).map(|t| t.mime_type()),
            Some("image/webp")
        );
        assert_eq!(sniff(polyglot), None);
        assert!(!matches("image/webp", polyglot));
    }

    #[test]
    fn a_truncated_png_signature_is_not_a_png() {
        assert_eq!(sniff(b"\x89PNG<html>"), None);
        assert!(!matches("image/png", b"\x89PNG<html>"));
    }

    #[test]
    fn a_png_declared_as_jpeg_is_refused() {
        assert!(!matches("image/jpeg", PNG));
    }

    #[test]
    fn a_png_followed_by_html_is_still_a_png() {
        // The documented limit: we prove the magic bytes, not the absence of a polyglot.
        let mut head = PNG.to_vec();
        head.extend_from_slice(HTML);
        assert!(matches("image/png", &head));
    }

    #[test]
    fn empty_input_is_refused() {
        assert_eq!(sniff(b""), None);
        for allowed in DEFAULT_ALLOWED {
            assert!(!matches(allowed, b""), "{allowed}");
        }
    }

    #[test]
    fn every_prefix_of_a_header_is_handled_without_panicking() {
        for head in [PNG, JPEG, GIF, WEBP, PDF, HTML] {
            for len in 0..=head.len() {
                let _ = sniff(&head[..len]);
            }
        }
    }

    #[test]
    fn a_declared_type_with_other_case_or_parameters_still_matches() {
        assert!(matches("image/PNG; charset=x", PNG));
        assert!(matches("  Image/Png  ", PNG));
        assert!(matches("APPLICATION/PDF;q=1", PDF));
    }

    #[test]
    fn an_empty_or_garbled_declared_type_never_matches() {
        assert!(!matches("", PNG));
        assert!(!matches(";image/png", PNG));
        assert!(!matches("image/png/x", PNG));
        assert!(!matches("image/*", PNG));
    }
}
