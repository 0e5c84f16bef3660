//! Text whose charset the mail does not declare (8-bit bytes under no or
//! a US-ASCII label): mail-parser then yields U+FFFD for every Cyrillic
//! letter. Such bytes are decoded with the charset `chardetng` (Firefox's
//! detector) guesses, hinted at Russian, so windows-1251, KOI8-R, IBM866 and
//! ISO-8859-5 come out readable instead of as `?`.

use mail_parser::{Message, MessagePart, MimeHeaders as _};

/// The bytes as text: UTF-8 when they are valid UTF-8, else the guessed charset.
pub fn decode_guessed(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.to_owned();
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    let encoding = detector.guess(Some(b"ru"), chardetng::Utf8Detection::Allow);
    encoding.decode_without_bom_handling(bytes).0.into_owned()
}

/// True when the part declares no charset other than US-ASCII and is sent
/// without a transfer encoding (so its raw bytes are its content).
fn undeclared_8bit(part: &MessagePart<'_>) -> bool {
    let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
    let unlabelled = charset.is_none_or(|c| c.eq_ignore_ascii_case("us-ascii"));
    let encoding = part
        .content_transfer_encoding()
        .map(str::to_ascii_lowercase);
    let identity = encoding
        .as_deref()
        .is_none_or(|e| matches!(e, "7bit" | "8bit" | "binary"));
    unlabelled && identity
}

/// The first text part re-decoded from `raw` when mail-parser could not
/// read it (it holds U+FFFD and declares no charset); None otherwise.
pub fn repaired_body(message: &Message<'_>, raw: &[u8], decoded: &str) -> Option<String> {
    if !decoded.contains('\u{fffd}') {
        return None;
    }
    let part = message.text_part(0)?;
    if !part.is_text() || part.is_text_html() || !undeclared_8bit(part) {
        return None;
    }
    let start = part.raw_body_offset() as usize;
    let end = (part.raw_end_offset() as usize).min(raw.len());
    let bytes = raw.get(start..end)?;
    Some(decode_guessed(bytes))
}

/// A header value re-decoded from its raw bytes when mail-parser yielded
/// U+FFFD and the header holds no encoded words (raw 8-bit text).
pub fn repaired_header(
    message: &Message<'_>,
    raw: &[u8],
    name: &str,
    decoded: &str,
) -> Option<String> {
    if !decoded.contains('\u{fffd}') {
        return None;
    }
    let header = message
        .headers()
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))?;
    let bytes = raw.get(header.offset_start() as usize..header.offset_end() as usize)?;
    if bytes.windows(2).any(|w| w == b"=?") {
        return None;
    }
    let text = decode_guessed(bytes);
    Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::decode_guessed;

    #[test]
    fn legacy_cyrillic_charsets_are_guessed() {
        let text = "Здравствуйте! Мой заказ не пришёл, подскажите, пожалуйста, что случилось.";
        for name in ["windows-1251", "KOI8-R", "IBM866"] {
            let encoding = encoding_rs::Encoding::for_label(name.as_bytes()).unwrap();
            let (bytes, _, _) = encoding.encode(text);
            assert_eq!(decode_guessed(&bytes), text, "{name}");
        }
        assert_eq!(decode_guessed(text.as_bytes()), text);
    }
}
