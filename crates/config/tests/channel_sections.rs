//! The loader's side of channel sections, with a section defined here (the
//! config crate knows none): the generic keys are parsed once and never
//! reach the channel, the channel's keys are reported under
//! `channels.<name>.`, options of a section with problems are dropped, an
//! unknown section names the registered ones, and environment overrides
//! reach channel keys.

mod common;

use common::env;
use intake_config::{
    ChannelSection, Needs, Section, SectionContext, TicketPriority, load_from, load_text,
};
use serde::Deserialize;

/// A channel section as a channel crate writes it.
struct Probe;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    /// A limit, in bytes.
    #[serde(default = "default_limit_bytes")]
    limit_bytes: u64,
    /// The probe's secret, from a variable.
    token_env: Option<String>,
    /// The probe's secret, from a file.
    token_file: Option<std::path::PathBuf>,
}

fn default_limit_bytes() -> u64 {
    100
}

#[derive(Debug)]
struct ProbeOptions {
    limit_bytes: usize,
    token: secrecy::SecretString,
}

impl ChannelSection for Probe {
    const NAME: &'static str = "probe";
    type Raw = RawProbe;
    type Options = ProbeOptions;

    fn validate(raw: RawProbe, ctx: &mut SectionContext<'_, '_>) -> Option<ProbeOptions> {
        let limit_bytes = ctx.positive_usize("limit_bytes", raw.limit_bytes);
        let token = ctx.required_secret("token", &raw.token_env, &raw.token_file)?;
        Some(ProbeOptions { limit_bytes, token })
    }
}

fn sections() -> Vec<Section> {
    vec![Section::of::<Probe>()]
}

#[test]
fn the_generic_keys_are_parsed_by_the_loader_and_the_rest_by_the_channel() {
    let text = r#"
[channels.probe]
enabled = true
priority = "urgent"
group_id = 7
tags = ["a", "b", "a"]
limit_bytes = 5
token_env = "PROBE_TOKEN"
"#;
    let config = load_from(Some(text), &env(&[("PROBE_TOKEN", "t0ken")]), &sections()).unwrap();
    assert_eq!(config.channels.enabled(), ["probe"]);
    assert_eq!(config.router_channels(), ["probe"], "enabled is routed");
    let routing = config.channels.routing("probe").unwrap();
    assert_eq!(routing.priority, TicketPriority::Urgent);
    assert_eq!(routing.group_id, Some(7));
    assert_eq!(routing.tags, ["a", "b"]);
    let options = config.channels.options::<Probe>().unwrap();
    assert_eq!(options.limit_bytes, 5);
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&options.token),
        "t0ken"
    );
    assert!(!format!("{config:?}").contains("t0ken"), "secret in Debug");

    // The same from the environment, the list key as a comma-separated value.
    let config = load_from(
        None,
        &env(&[
            ("INTAKE__CHANNELS__PROBE__ENABLED", "true"),
            ("INTAKE__CHANNELS__PROBE__TAGS", "x, y"),
            ("INTAKE__CHANNELS__PROBE__LIMIT_BYTES", "9"),
            ("INTAKE__CHANNELS__PROBE__TOKEN_ENV", "PROBE_TOKEN"),
            ("PROBE_TOKEN", "t0ken"),
        ]),
        &sections(),
    )
    .unwrap();
    assert_eq!(config.channels.routing("probe").unwrap().tags, ["x", "y"]);
    assert_eq!(config.channels.options::<Probe>().unwrap().limit_bytes, 9);
}

#[test]
fn an_absent_section_off_by_default_is_disabled_and_unrouted() {
    let config = load_from(None, &[], &sections()).unwrap();
    assert!(!config.channels.is_enabled("probe"));
    assert!(config.router_channels().is_empty());
    assert!(config.channels.options::<Probe>().is_none());
    let needs = Needs {
        router: false,
        gateway: true,
    };
    assert!(
        load_text(None, &[], needs, &sections()).is_ok(),
        "nothing to require"
    );
}

#[test]
fn problems_carry_the_section_path_and_drop_the_options() {
    let text = r#"
[channels.probe]
enabled = [1]
priority = "extreme"
tags = ["two words"]
limit_bytes = 0
token = "inline"
colour = "red"

[channels.fax]
enabled = true
"#;
    let errors = load_from(Some(text), &[], &sections()).unwrap_err();
    let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "channels.fax",
            "channels.probe.colour",
            "channels.probe.enabled",
            "channels.probe.limit_bytes",
            "channels.probe.priority",
            "channels.probe.tags[0]",
            "channels.probe.token",
        ],
        "{errors}"
    );
    let fax = errors.for_key("channels.fax").unwrap();
    assert!(fax.message.contains("(registered: probe)"), "{fax}");
    let inline = errors.for_key("channels.probe.token").unwrap();
    assert!(
        inline.message.contains("channels.probe.token_env"),
        "{inline}"
    );
    assert!(!errors.to_string().contains("inline\""), "{errors}");

    // A section with a problem gives no options, even with its secret.
    let text = "[channels.probe]\nenabled = true\nlimit_bytes = 0\ntoken_env = \"T\"\n";
    let needs = Needs {
        router: false,
        gateway: true,
    };
    let errors = load_text(Some(text), &env(&[("T", "x")]), needs, &sections()).unwrap_err();
    assert_eq!(errors.problems.len(), 1, "{errors}");
    let config = load_from(Some("[channels.probe]\nenabled = true\n"), &[], &sections()).unwrap();
    assert!(
        config.channels.options::<Probe>().is_none(),
        "no secret, no options"
    );
    let errors = load_text(
        Some("[channels.probe]\nenabled = true\n"),
        &[],
        needs,
        &sections(),
    )
    .unwrap_err();
    let missing = errors
        .for_key("channels.probe.token_env")
        .expect("required for the gateway");
    assert!(
        missing
            .message
            .contains("required while channels.probe.enabled is true"),
        "{missing}"
    );
}
