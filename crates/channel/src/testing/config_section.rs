//! Testing a channel's `[channels.<name>]` section through the real loader.

use intake_config::{ChannelSection, ConfigErrors, Needs, Problem, Section};

/// Loads the configuration text `toml` with `env` (its `INTAKE__…`
/// overrides and the variables `*_env` keys name) as the gateway would, with
/// channel `C` the only registered one, and gives `C`'s validated options or
/// every problem of the file (with key paths such as
/// `channels.<name>.secret_env`).
pub fn load_channel_options<C: ChannelSection>(
    toml: &str,
    env: &[(&str, &str)],
) -> Result<C::Options, ConfigErrors>
where
    C::Options: Clone,
{
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let needs = Needs {
        router: false,
        gateway: true,
    };
    let config = intake_config::load_text(Some(toml), &env, needs, &[Section::of::<C>()])?;
    config
        .channels
        .options::<C>()
        .cloned()
        .ok_or_else(|| ConfigErrors {
            problems: vec![Problem::new(
                format!("channels.{}.enabled", C::NAME),
                "the channel is not enabled, so the gateway builds no options for it",
            )],
        })
}
