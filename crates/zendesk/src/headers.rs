//! Reading the rate-limit, `Retry-After` and request-id headers of a response.
//!
//! Zendesk spells its rate-limit headers several ways: `X-Rate-Limit` and
//! `X-Rate-Limit-Remaining` on every response, `ratelimit-limit`,
//! `ratelimit-remaining`, `ratelimit-reset` on ticketing endpoints, and
//! recorded traffic also shows `rate-limit`, `rate-limit-remaining`,
//! `rate-limit-reset`. Names are matched after lower-casing and dropping an
//! `x-` prefix, dashes and underscores, so every spelling lands in one place.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

/// What a response said about the account's request budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests allowed per window (per minute for Zendesk's account limit).
    pub limit: Option<u32>,
    /// Requests left in the current window.
    pub remaining: Option<u32>,
    /// Time until the window resets.
    pub reset: Option<Duration>,
}

impl RateLimitInfo {
    /// Reads every spelling of the rate-limit headers. When several headers give
    /// a limit (or a remaining count), the lowest wins: it is the binding one.
    pub fn from_headers(headers: &HeaderMap) -> RateLimitInfo {
        let mut info = RateLimitInfo::default();
        for (name, value) in headers {
            let Ok(value) = value.to_str() else {
                continue;
            };
            let key: String = name
                .as_str()
                .trim_start_matches("x-")
                .chars()
                .filter(|c| *c != '-' && *c != '_')
                .collect();
            match key.as_str() {
                "ratelimit" if value.contains('=') => info.merge_structured(value),
                "ratelimit" | "ratelimitlimit" => merge_min(&mut info.limit, leading_u32(value)),
                "ratelimitremaining" => merge_min(&mut info.remaining, leading_u32(value)),
                "ratelimitreset" => merge_reset(&mut info.reset, leading_u32(value)),
                _ => {}
            }
        }
        info
    }

    /// The structured form `limit=100, remaining=50, reset=5` (also `r=`/`t=`).
    fn merge_structured(&mut self, value: &str) {
        for item in value.split([',', ';']) {
            let Some((key, number)) = item.split_once('=') else {
                continue;
            };
            let number = leading_u32(number);
            match key.trim() {
                "limit" => merge_min(&mut self.limit, number),
                "remaining" | "r" => merge_min(&mut self.remaining, number),
                "reset" | "t" => merge_reset(&mut self.reset, number),
                _ => {}
            }
        }
    }
}

fn merge_min(slot: &mut Option<u32>, value: Option<u32>) {
    if let Some(value) = value {
        *slot = Some(slot.map_or(value, |old| old.min(value)));
    }
}

fn merge_reset(slot: &mut Option<Duration>, seconds: Option<u32>) {
    if let Some(seconds) = seconds {
        let reset = Duration::from_secs(u64::from(seconds));
        *slot = Some(slot.map_or(reset, |old| old.max(reset)));
    }
}

/// The first integer in a header value: `"700"`, `" 700"`, `"700, 700;w=60"`.
fn leading_u32(value: &str) -> Option<u32> {
    let digits: String = value
        .trim()
        .trim_matches('"')
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Longest `Retry-After` honoured; a larger value is treated as this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After` as seconds (integer or fractional) or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let wait = if let Ok(seconds) = value.parse::<f64>() {
        if !seconds.is_finite() || seconds < 0.0 {
            return None;
        }
        Duration::from_secs_f64(seconds.min(MAX_RETRY_AFTER.as_secs_f64()))
    } else {
        let at = DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc);
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// `X-Zendesk-Request-Id`, quoted in logs and errors of failed calls.
/// Older responses carry `X-Zendesk-Request-Id`; recent recorded traffic
/// carries only `X-Request-Id`. Either is quoted in logs of failed calls.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-zendesk-request-id", "x-request-id"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(str::to_owned)
}

/// Whether Zendesk answered a create from its idempotency store.
pub fn idempotency_hit(headers: &HeaderMap) -> bool {
    headers
        .get("x-idempotency-lookup")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("hit"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn request_id_in_either_spelling() {
        assert_eq!(
            request_id(&headers(&[("X-Zendesk-Request-Id", "old")])).as_deref(),
            Some("old")
        );
        assert_eq!(
            request_id(&headers(&[("x-request-id", "new")])).as_deref(),
            Some("new")
        );
        assert_eq!(request_id(&headers(&[])), None);
    }

    #[test]
    fn reads_every_spelling() {
        let cases: &[(&[(&str, &str)], RateLimitInfo)] = &[
            (
                &[("X-Rate-Limit", "700"), ("X-Rate-Limit-Remaining", "699")],
                RateLimitInfo {
                    limit: Some(700),
                    remaining: Some(699),
                    reset: None,
                },
            ),
            (
                &[
                    ("ratelimit-limit", "400"),
                    ("ratelimit-remaining", "12"),
                    ("ratelimit-reset", "31"),
                ],
                RateLimitInfo {
                    limit: Some(400),
                    remaining: Some(12),
                    reset: Some(Duration::from_secs(31)),
                },
            ),
            (
                &[
                    ("Rate-Limit", "200"),
                    ("Rate-Limit-Remaining", "0"),
                    ("Rate-Limit-Reset", "7"),
                ],
                RateLimitInfo {
                    limit: Some(200),
                    remaining: Some(0),
                    reset: Some(Duration::from_secs(7)),
                },
            ),
            (
                &[("RateLimit", "limit=100, remaining=50, reset=5")],
                RateLimitInfo {
                    limit: Some(100),
                    remaining: Some(50),
                    reset: Some(Duration::from_secs(5)),
                },
            ),
            (
                &[("x-ratelimit-limit", "700, 700;w=60")],
                RateLimitInfo {
                    limit: Some(700),
                    remaining: None,
                    reset: None,
                },
            ),
            (
                &[("content-type", "application/json")],
                RateLimitInfo::default(),
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(
                RateLimitInfo::from_headers(&headers(pairs)),
                *expected,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn lowest_limit_wins_when_spellings_disagree() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("x-rate-limit", "700"),
            ("x-rate-limit-remaining", "650"),
            ("ratelimit-limit", "100"),
            ("ratelimit-remaining", "3"),
        ]));
        assert_eq!(info.limit, Some(100));
        assert_eq!(info.remaining, Some(3));
    }

    #[test]
    fn garbage_values_are_ignored() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("x-rate-limit", "lots"),
            ("x-rate-limit-remaining", "-1"),
        ]));
        assert_eq!(info, RateLimitInfo::default());
    }

    #[test]
    fn retry_after_forms() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let get = |v: &str| retry_after(&headers(&[("Retry-After", v)]), now);
        assert_eq!(get("10"), Some(Duration::from_secs(10)));
        assert_eq!(get("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(
            get("Wed, 21 Oct 2015 07:28:30 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(get("Wed, 21 Oct 2015 07:27:00 GMT"), Some(Duration::ZERO));
        assert_eq!(get("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(get("-3"), None);
        assert_eq!(get("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn idempotency_and_request_id() {
        let map = headers(&[
            ("X-Idempotency-Lookup", "hit"),
            ("X-Zendesk-Request-Id", "8a1d"),
        ]);
        assert!(idempotency_hit(&map));
        assert_eq!(request_id(&map).as_deref(), Some("8a1d"));
        assert!(!idempotency_hit(&headers(&[(
            "x-idempotency-lookup",
            "miss"
        )])));
    }
}
