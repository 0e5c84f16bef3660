//! Contact keys: one normalised string per customer identity, used as the bus
//! partition key and as the state store's contact id.

use std::fmt;

/// A normalised contact key: `email:alice@example.com`, `phone:+79991234567`,
/// `telegram:123456789`, `chat:visitor-42`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactKey(String);

/// Why a value cannot become a contact key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactKeyError {
    #[error("e-mail address is empty")]
    EmptyEmail,
    #[error("e-mail address {0:?} has no single '@' with text on both sides")]
    InvalidEmail(String),
    #[error("phone number {0:?} is not a valid international number")]
    InvalidPhone(String),
    #[error("channel name {0:?} must be lower-case letters, digits, '-' or '_'")]
    InvalidChannel(String),
    #[error("channel user id is empty")]
    EmptyUserId,
}

impl ContactKey {
    /// `email:<address>`, trimmed and lower-cased.
    pub fn email(address: &str) -> Result<Self, ContactKeyError> {
        Ok(Self(format!("email:{}", normalise_email(address)?)))
    }

    /// `phone:<E.164>`; numbers without a leading `+` are read as international.
    pub fn phone(number: &str) -> Result<Self, ContactKeyError> {
        Ok(Self(format!("phone:{}", normalise_phone(number)?)))
    }

    /// `<channel>:<user id>` for channel-scoped ids (Telegram, Slack, chat visitors).
    pub fn channel_user(channel: &str, user_id: &str) -> Result<Self, ContactKeyError> {
        if !is_valid_channel_name(channel) {
            return Err(ContactKeyError::InvalidChannel(channel.to_owned()));
        }
        let user_id = user_id.trim();
        if user_id.is_empty() {
            return Err(ContactKeyError::EmptyUserId);
        }
        Ok(Self(format!("{channel}:{user_id}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ContactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A channel name: lower-case ASCII letters, digits, `-` or `_`, not empty
/// (it appears in topic names, contact keys and metric labels).
pub fn is_valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Trims and lower-cases an address; rejects anything without exactly one `@`
/// with text on both sides.
pub fn normalise_email(address: &str) -> Result<String, ContactKeyError> {
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(ContactKeyError::EmptyEmail);
    }
    let lowered = trimmed.to_lowercase();
    let mut parts = lowered.split('@');
    let (local, domain) = (parts.next(), parts.next());
    let valid = matches!((local, domain, parts.next()), (Some(l), Some(d), None)
        if !l.is_empty() && !d.is_empty() && !lowered.chars().any(char::is_whitespace));
    if !valid {
        return Err(ContactKeyError::InvalidEmail(trimmed.to_owned()));
    }
    Ok(lowered)
}

/// Parses a phone number into E.164. A number without a leading `+` or `00`
/// is read as international (`79991234567` is `+79991234567`).
pub fn normalise_phone(number: &str) -> Result<String, ContactKeyError> {
    normalise_phone_in(number, None)
}

/// Like [`normalise_phone`], and when the number is not valid read as
/// international, reads it as a national number of `region` (ISO 3166-1
/// alpha-2 such as `RU`): `8 999 123-45-67` in `RU` is `+79991234567`.
/// An unknown region is ignored.
pub fn normalise_phone_in(number: &str, region: Option<&str>) -> Result<String, ContactKeyError> {
    let international = parse_international(number);
    if international.is_ok() {
        return international;
    }
    let Some(region) = region.and_then(|r| r.trim().to_ascii_uppercase().parse().ok()) else {
        return international;
    };
    let trimmed = number.trim();
    match phonenumber::parse(Some(region), trimmed) {
        Ok(parsed) if phonenumber::is_valid(&parsed) => {
            Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
        }
        _ => Err(ContactKeyError::InvalidPhone(trimmed.to_owned())),
    }
}

/// True when `region` is an ISO 3166-1 alpha-2 code the phone parser knows.
pub fn is_phone_region(region: &str) -> bool {
    region
        .trim()
        .to_ascii_uppercase()
        .parse::<phonenumber::country::Id>()
        .is_ok()
}

fn parse_international(number: &str) -> Result<String, ContactKeyError> {
    let trimmed = number.trim();
    let international = if let Some(rest) = trimmed.strip_prefix("00") {
        format!("+{rest}")
    } else if trimmed.starts_with('+') {
        trimmed.to_owned()
    } else {
        format!("+{trimmed}")
    };
    let parsed = phonenumber::parse(None, &international)
        .map_err(|_| ContactKeyError::InvalidPhone(trimmed.to_owned()))?;
    if !phonenumber::is_valid(&parsed) {
        return Err(ContactKeyError::InvalidPhone(trimmed.to_owned()));
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_keys_are_trimmed_and_lower_cased() {
        let cases = [
            ("alice@example.com", "email:alice@example.com"),
            ("  Alice@Example.COM \n", "email:alice@example.com"),
            ("ОЛЬГА@пример.рф", "email:ольга@пример.рф"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                ContactKey::email(input).unwrap().as_str(),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn bad_emails_are_rejected() {
        assert_eq!(ContactKey::email("   "), Err(ContactKeyError::EmptyEmail));
        for bad in [
            "alice",
            "@example.com",
            "alice@",
            "a@b@c",
            "al ice@example.com",
        ] {
            assert!(
                matches!(
                    ContactKey::email(bad),
                    Err(ContactKeyError::InvalidEmail(_))
                ),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn phones_become_e164() {
        let cases = [
            ("+7 (999) 123-45-67", "phone:+79991234567"),
            ("79991234567", "phone:+79991234567"),
            ("0044 20 7946 0958", "phone:+442079460958"),
            ("+1-202-555-0143", "phone:+12025550143"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                ContactKey::phone(input).unwrap().as_str(),
                expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn national_numbers_need_a_region() {
        assert!(normalise_phone("8 999 123-45-67").is_err());
        assert_eq!(
            normalise_phone_in("8 999 123-45-67", Some("ru")).unwrap(),
            "+79991234567"
        );
        assert_eq!(
            normalise_phone_in("+44 20 7946 0958", Some("RU")).unwrap(),
            "+442079460958",
            "an international number ignores the region"
        );
        assert!(normalise_phone_in("8 999 123-45-67", Some("XX")).is_err());
        assert!(normalise_phone_in("12", Some("RU")).is_err());
        assert!(is_phone_region("ru") && is_phone_region("GB"));
        assert!(!is_phone_region("XX") && !is_phone_region(""));
    }

    #[test]
    fn bad_phones_are_rejected() {
        for bad in ["", "abc", "+1", "+7 999"] {
            assert!(
                ContactKey::phone(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn channel_user_keys() {
        assert_eq!(
            ContactKey::channel_user("telegram", " 123456789 ")
                .unwrap()
                .as_str(),
            "telegram:123456789"
        );
        assert_eq!(
            ContactKey::channel_user("chat", ""),
            Err(ContactKeyError::EmptyUserId)
        );
        assert!(ContactKey::channel_user("Tele gram", "1").is_err());
    }
}
