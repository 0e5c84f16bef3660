//! Cutting the quoted history and the signature off a reply, so the ticket
//! comment shows what the customer wrote now (the full text is kept too).
//! Recognised: `>` quotes, the "-- " signature separator, Outlook's
//! "-----Original Message-----" and header blocks ("From:", "От:",
//! "Отправлено:", "Sent:"), and the "On … wrote:" / "… пишет:" lines of
//! Gmail, Apple Mail and Thunderbird.

/// The new part of `text`: everything above the first quote marker, with
/// trailing blank lines removed. Falls back to the whole text when the cut
/// would leave nothing (a message that is only a quote).
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines
        .iter()
        .enumerate()
        .position(|(i, line)| starts_history(line, lines.get(i + 1).copied()))
        .unwrap_or(lines.len());
    let kept = lines[..cut].join("\n");
    let kept = kept.trim_end();
    if kept.trim().is_empty() {
        text.trim_end().to_owned()
    } else {
        kept.to_owned()
    }
}

fn starts_history(line: &str, next: Option<&str>) -> bool {
    let trimmed = line.trim();
    if line == "-- " || trimmed == "--" {
        return true;
    }
    if trimmed.starts_with('>') {
        return true;
    }
    let lower = trimmed.to_lowercase();
    if lower.starts_with("-----original message-----")
        || lower.starts_with("----- original message -----")
        || lower.starts_with("-----исходное сообщение-----")
        || lower.starts_with("-------- пересылаемое сообщение")
        || lower.starts_with("-------- forwarded message")
        || lower.starts_with("________________________________")
    {
        return true;
    }
    // "On Mon, 1 Dec 2026 at 10:00, Ann <ann@x> wrote:" (possibly wrapped
    // over two lines) and "1 дек. 2026 г., в 10:00, Анна <ann@x> пишет:".
    let joined = match next {
        Some(next) if !lower.ends_with(':') => format!("{lower} {}", next.trim().to_lowercase()),
        _ => lower.clone(),
    };
    for candidate in [&lower, &joined] {
        if candidate.ends_with("wrote:") && candidate.starts_with("on ") {
            return true;
        }
        if candidate.ends_with("пишет:") || candidate.ends_with("написал:") {
            return true;
        }
        if candidate.ends_with("написала:") || candidate.ends_with("написал(а):") {
            return true;
        }
    }
    // Gmail in Russian: "вт, 1 дек. 2026 г. в 10:05, Поддержка <help@x>:".
    if lower.ends_with(">:") && lower.contains('@') && lower.contains(',') {
        return true;
    }
    // An Outlook header block: "From: …" followed by "Sent:"/"Отправлено:".
    let header_start = lower.starts_with("from:") || lower.starts_with("от:");
    if header_start && let Some(next) = next {
        let next = next.trim().to_lowercase();
        return ["sent:", "date:", "отправлено:", "дата:", "to:", "кому:"]
            .iter()
            .any(|p| next.starts_with(p));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::strip_quoted;

    #[test]
    fn history_markers_of_common_clients_are_cut() {
        let cases = [
            (
                "Thanks!\n\nOn Mon, 1 Dec 2026 at 10:00, Help <help@x> wrote:\n> old",
                "Thanks!",
            ),
            (
                "Спасибо!\n\n1 дек. 2026 г., в 10:00, Поддержка <help@x> пишет:\n> старое",
                "Спасибо!",
            ),
            (
                "Fixed.\n-----Original Message-----\nFrom: a\nSent: b",
                "Fixed.",
            ),
            (
                "Готово.\n\nОт: Поддержка <help@x>\nОтправлено: 1 декабря\nold",
                "Готово.",
            ),
            ("Hi\n-- \nAnn, ACME", "Hi"),
            (
                "Жду.\n\nвт, 1 дек. 2026 г. в 10:05, Поддержка <help@x>:\n> старое",
                "Жду.",
            ),
            ("line one\nline two", "line one\nline two"),
            ("> only a quote", "> only a quote"),
        ];
        for (input, expected) in cases {
            assert_eq!(strip_quoted(input), expected, "{input:?}");
        }
    }
}
