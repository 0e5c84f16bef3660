//! `[rulebook.original_agent.absence_ical]`: the planned-absence calendar
//! as iCalendar, at a URL or in an `.ics` file (decision 56;
//! `intake_rulebook::ical`).

use std::path::PathBuf;
use std::time::Duration;

use intake_rulebook::{IcalLocation, IcalOptions};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::secret::{Ctx, SecretRef};

/// `[rulebook.original_agent.absence_ical]` as written: exactly one of
/// `url_env`, `url_file` (the URL is a secret: it often carries a token) and
/// `file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAbsenceIcal {
    /// Environment variable holding the calendar's URL (https; http only to
    /// a loopback address).
    #[serde(default)]
    url_env: Option<String>,
    /// File holding the calendar's URL.
    #[serde(default)]
    url_file: Option<PathBuf>,
    /// An `.ics` file instead of a URL.
    #[serde(default)]
    file: Option<PathBuf>,
    /// Seconds between reads; a failed read keeps the last good copy.
    #[serde(default = "intake_rulebook::ical::default_refresh_secs")]
    refresh_secs: u64,
    /// Seconds one read may take.
    #[serde(default = "intake_rulebook::ical::default_fetch_timeout_secs")]
    fetch_timeout_secs: u64,
    /// Largest document accepted, in bytes.
    #[serde(default = "intake_rulebook::ical::default_max_bytes")]
    max_bytes: usize,
    /// Event property holding the agent's Zendesk user id; without it the
    /// first ATTENDEE, else the ORGANIZER (mailto) is matched by e-mail.
    #[serde(default = "intake_rulebook::ical::default_agent_property")]
    agent_property: String,
    /// Event property holding the substitute's Zendesk user id.
    #[serde(default = "intake_rulebook::ical::default_substitute_property")]
    substitute_property: String,
    /// IANA time zone of all-day dates and floating times.
    #[serde(default = "default_ical_time_zone")]
    time_zone: String,
}

fn default_ical_time_zone() -> String {
    "UTC".to_owned()
}

impl RawAbsenceIcal {
    pub(crate) fn validate(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<IcalOptions> {
        let given = [
            self.url_env.is_some(),
            self.url_file.is_some(),
            self.file.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            ctx.problem(key, "give exactly one of url_env, url_file and file");
            return None;
        }
        let mut ok = true;
        for (name, value) in [
            ("refresh_secs", self.refresh_secs),
            ("fetch_timeout_secs", self.fetch_timeout_secs),
            ("max_bytes", self.max_bytes as u64),
        ] {
            if value == 0 {
                ctx.problem(format!("{key}.{name}"), "must be at least 1");
                ok = false;
            }
        }
        let time_zone = match self.time_zone.trim().parse::<chrono_tz::Tz>() {
            Ok(zone) => Some(zone),
            Err(_) => {
                ctx.problem(
                    format!("{key}.time_zone"),
                    "must be an IANA time zone name (e.g. Europe/Berlin)",
                );
                None
            }
        };
        let property = |ctx: &mut Ctx<'_>, name: &str, value: &str| {
            let value = value.trim().to_ascii_uppercase();
            let valid =
                !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid {
                ctx.problem(
                    format!("{key}.{name}"),
                    "must be an iCalendar property name (letters, digits, `-`)",
                );
            }
            valid.then_some(value)
        };
        let agent_property = property(ctx, "agent_property", &self.agent_property);
        let substitute_property = property(ctx, "substitute_property", &self.substitute_property);
        let location = match &self.file {
            Some(path) => Some(IcalLocation::File(path.clone())),
            None => {
                let url_key = format!("{key}.url");
                let given = if self.url_env.is_some() {
                    format!("{url_key}_env")
                } else {
                    format!("{url_key}_file")
                };
                let secret = SecretRef::new(&self.url_env, &self.url_file).resolve(ctx, &url_key);
                secret.and_then(|url| ical_url(ctx, &given, url.expose_secret()))
            }
        };
        Some(IcalOptions {
            location: location?,
            refresh: Duration::from_secs(self.refresh_secs),
            fetch_timeout: Duration::from_secs(self.fetch_timeout_secs),
            max_bytes: self.max_bytes,
            agent_property: agent_property?,
            substitute_property: substitute_property?,
            time_zone: time_zone?,
        })
        .filter(|_| ok)
    }
}

/// An https URL, or http to a loopback address; problems never show the
/// URL (it may carry a token).
fn ical_url(ctx: &mut Ctx<'_>, key: &str, text: &str) -> Option<IcalLocation> {
    let Ok(url) = url::Url::parse(text.trim()) else {
        ctx.problem(key, "is not a URL");
        return None;
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Some(IcalLocation::Url(url)),
        "http" if loopback => Some(IcalLocation::Url(url)),
        "http" => {
            ctx.problem(key, "must be https (http only to a loopback address)");
            None
        }
        _ => {
            ctx.problem(key, "must be an https URL");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_ical_absence_source_parses_with_its_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("absence-url");
        std::fs::write(
            &url_file,
            "https://cal.example.test/private-s3cr3t/basic.ics\n",
        )
        .unwrap();
        let text = format!(
            "[rulebook.original_agent]\nenabled = true\n\
             [rulebook.original_agent.absence_ical]\nurl_file = {url_file:?}\n"
        );
        let config = crate::load_from(Some(&text), &[], &[]).unwrap();
        let feed = config.rulebook.original_agent.absences.feed().unwrap();
        let options = feed.options();
        assert_eq!(options.refresh.as_secs(), 300);
        assert_eq!(options.fetch_timeout.as_secs(), 30);
        assert_eq!(options.max_bytes, 5 * 1024 * 1024);
        assert_eq!(options.agent_property, "X-INTAKE-AGENT-ID");
        assert_eq!(options.substitute_property, "X-INTAKE-SUBSTITUTE-ID");
        assert_eq!(options.time_zone, chrono_tz::UTC);
        match &options.location {
            intake_rulebook::IcalLocation::Url(url) => {
                assert_eq!(url.path(), "/private-s3cr3t/basic.ics");
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{config:?}").contains("s3cr3t"), "never in Debug");

        let file = "[rulebook.original_agent.absence_ical]\nfile = \"team.ics\"\nrefresh_secs = 60\n\
             agent_property = \"x-agent\"\ntime_zone = \"Europe/Moscow\"\n";
        let config = crate::load_from(Some(file), &[], &[]).unwrap();
        let options = config
            .rulebook
            .original_agent
            .absences
            .feed()
            .unwrap()
            .options();
        assert_eq!(options.agent_property, "X-AGENT");
        assert_eq!(options.time_zone, chrono_tz::Europe::Moscow);
        assert_eq!(options.refresh.as_secs(), 60);
    }

    #[test]
    fn ical_source_problems_have_their_key_path_and_never_the_url() {
        const KEY: &str = "rulebook.original_agent.absence_ical";
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, url: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, url).unwrap();
            path
        };
        let plain = write("plain", "http://cal.example.test/s3cr3t.ics");
        let text = format!(
            "[rulebook.original_agent.absence_ical]\nurl_file = {plain:?}\nrefresh_secs = 0\n\
             max_bytes = 0\ntime_zone = \"Mars/Olympus\"\nagent_property = \"X AGENT\"\n"
        );
        let errors = crate::load_from(Some(&text), &[], &[]).unwrap_err();
        for key in [
            format!("{KEY}.url_file"),
            format!("{KEY}.refresh_secs"),
            format!("{KEY}.max_bytes"),
            format!("{KEY}.time_zone"),
            format!("{KEY}.agent_property"),
        ] {
            assert!(errors.for_key(&key).is_some(), "{key}: {errors}");
        }
        assert!(!errors.to_string().contains("s3cr3t"), "{errors}");
        // http to a loopback address is allowed (tests); an ftp URL is not.
        let loopback = write("loopback", "http://127.0.0.1:8080/team.ics");
        let text = format!("[rulebook.original_agent.absence_ical]\nurl_file = {loopback:?}\n");
        assert!(crate::load_from(Some(&text), &[], &[]).is_ok());
        let ftp = write("ftp", "ftp://cal.example.test/team.ics");
        let text = format!("[rulebook.original_agent.absence_ical]\nurl_file = {ftp:?}\n");
        let errors = crate::load_from(Some(&text), &[], &[]).unwrap_err();
        assert!(
            errors.for_key(&format!("{KEY}.url_file")).is_some(),
            "{errors}"
        );
        // Exactly one source.
        let both = format!(
            "[rulebook.original_agent.absence_ical]\nurl_file = {ftp:?}\nfile = \"team.ics\"\n"
        );
        let errors = crate::load_from(Some(&both), &[], &[]).unwrap_err();
        assert!(errors.for_key(KEY).is_some(), "{errors}");
    }
}
