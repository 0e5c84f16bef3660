//! `intake run`: builds the components a role needs from the configuration,
//! runs them until the shutdown signal, then drains with a deadline.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use intake_bus::{Bus, BusOptions, EmbeddedOptions, KafkaOptions, Topics};
use intake_channel::cursor::DeferredCursors;
use intake_channel::{ChannelContext, PullRunner, PullRunnerOptions};
use intake_config::{BusBackend, Config, StoreConfig, TicketPriority, ZendeskAuth};
use intake_gateway::{Health, RequestLimits};
use intake_router::{ChannelRoute, LivePolicies, Router, RouterOptions};
use intake_store::{SqliteStore, StateStore};
use secrecy::ExposeSecret;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Which components a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Gateway and router in one process.
    All,
    /// The HTTP gateway with the channel adapters.
    Gateway,
    /// The router (it opens only the ops listener: `/metrics` and the health routes).
    Router,
}

impl Role {
    pub fn runs_gateway(self) -> bool {
        matches!(self, Role::All | Role::Gateway)
    }
    pub fn runs_router(self) -> bool {
        matches!(self, Role::All | Role::Router)
    }

    /// What the configuration must provide for this role.
    pub fn needs(self) -> intake_config::Needs {
        intake_config::Needs {
            router: self.runs_router(),
            gateway: self.runs_gateway(),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::All => "all",
            Role::Gateway => "gateway",
            Role::Router => "router",
        })
    }
}

/// `intake run`: load, check, start, wait for SIGTERM/SIGINT, drain.
pub async fn run(config_path: Option<&Path>, role: Role) -> anyhow::Result<ExitCode> {
    let config = match crate::load_config(config_path, role.needs()) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    intake_telemetry::init_logging(config.log.format, &config.log.level)?;
    intake_telemetry::clock::warn_if_shifted();
    let shutdown = intake_telemetry::shutdown_signal();
    let service = match Service::start(config, role, shutdown.clone()).await {
        Ok(service) => service,
        // Asked to stop while still starting (e.g. waiting for the bus): a clean exit.
        Err(error) if shutdown.is_cancelled() => {
            tracing::info!(error = %format!("{error:#}"), "stopped before start-up finished");
            return Ok(ExitCode::SUCCESS);
        }
        Err(error) => return Err(error),
    };
    service.wait().await?;
    Ok(ExitCode::SUCCESS)
}

/// The running components of one process.
pub struct Service {
    http_addr: Option<SocketAddr>,
    ops_addr: SocketAddr,
    tasks: JoinSet<(&'static str, anyhow::Result<()>)>,
    shutdown: CancellationToken,
    drain_deadline: Duration,
    /// Closed after the components have drained.
    bus: Arc<dyn Bus>,
}

type Tasks = JoinSet<(&'static str, anyhow::Result<()>)>;
type AppSlot = Arc<std::sync::RwLock<axum::Router>>;

impl Service {
    /// Connects the bus (retrying while it is unavailable, until `shutdown`),
    /// opens the stores and starts the role's components.
    pub async fn start(
        config: Config,
        role: Role,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Service> {
        let metrics = intake_telemetry::metrics();
        intake_channel::events::describe_metrics();
        intake_gateway::describe_metrics();
        let render: intake_gateway::MetricsRender = Arc::new(move || metrics.render());

        // The listeners open first, so /healthz answers (and /readyz says
        // "starting") while the bus is still being reached.
        let mut tasks = JoinSet::new();
        let http_token = shutdown.child_token();
        let drain_deadline = config.service.shutdown_deadline;
        let serve = |tasks: &mut Tasks, name, listener, slot: &AppSlot| {
            let app = swappable(Arc::clone(slot));
            let token = http_token.clone();
            tasks.spawn(async move {
                let served =
                    intake_gateway::serve_with_deadline(listener, app, token, drain_deadline).await;
                (name, served.map_err(anyhow::Error::from))
            });
        };
        let ops_listener = bind(config.ops.listen, "ops.listen").await?;
        let ops_addr = ops_listener.local_addr()?;
        let ops_slot: AppSlot = Arc::new(std::sync::RwLock::new(intake_gateway::starting_ops_app(
            Arc::clone(&render),
        )));
        serve(&mut tasks, "ops listener", ops_listener, &ops_slot);
        let mut data = None;
        if role.runs_gateway() {
            let listener = match bind(config.http.listen, "http.listen").await {
                Ok(listener) => listener,
                Err(error) => {
                    stop(http_token, tasks).await;
                    return Err(error);
                }
            };
            let addr = listener.local_addr()?;
            let slot: AppSlot = Arc::new(std::sync::RwLock::new(intake_gateway::starting_app()));
            serve(&mut tasks, "http listener", listener, &slot);
            data = Some((addr, slot));
        }

        match build(&config, role, &shutdown, &mut tasks, render).await {
            Ok(built) => {
                install(&ops_slot, built.ops);
                if let (Some((_, slot)), Some(app)) = (&data, built.data) {
                    install(slot, app);
                }
                let http_addr = data.map(|(addr, _)| addr);
                match http_addr {
                    Some(http_addr) => {
                        tracing::info!(%role, %http_addr, %ops_addr, bus = built.bus.backend(), "intake started")
                    }
                    None => {
                        tracing::info!(%role, %ops_addr, bus = built.bus.backend(), "intake started")
                    }
                }
                Ok(Service {
                    http_addr,
                    ops_addr,
                    tasks,
                    shutdown,
                    drain_deadline,
                    bus: built.bus,
                })
            }
            Err(error) => {
                stop(http_token, tasks).await;
                Err(error)
            }
        }
    }

    /// The address the data listener (channel webhooks) is bound to; `None`
    /// for the router role, which has none.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The address the ops listener (`/metrics`, `/healthz`, `/readyz`) is bound to.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops_addr
    }

    /// Runs until the shutdown signal or until a component stops by itself
    /// (which is a failure), then drains every component with the deadline.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let early_exit = tokio::select! {
            biased;
            () = self.shutdown.cancelled() => None,
            Some(joined) = self.tasks.join_next() => Some(joined),
        };
        // A component that ended because shutdown was requested is not a failure.
        let requested = self.shutdown.is_cancelled();
        self.shutdown.cancel();
        let failure = match early_exit {
            None => None,
            Some(Ok((_, Ok(())))) if requested => None,
            Some(Ok((name, Ok(())))) => Some(anyhow::anyhow!("{name} stopped unexpectedly")),
            Some(Ok((name, Err(error)))) => Some(error.context(format!("{name} failed"))),
            Some(Err(join_error)) => Some(anyhow::anyhow!("a component crashed: {join_error}")),
        };
        if let Some(error) = &failure {
            tracing::error!(error = %format!("{error:#}"), "shutting down after a component failure");
        }
        let mut errors = Vec::new();
        intake_telemetry::drain_with(self.tasks, self.drain_deadline, |(name, outcome)| {
            if let Err(error) = outcome {
                errors.push(error.context(format!("{name} failed while stopping")));
            }
        })
        .await;
        for error in &errors {
            tracing::error!(error = %format!("{error:#}"), "component error during shutdown");
        }
        // Last: the embedded bus commits what is queued and releases its file.
        match tokio::time::timeout(self.drain_deadline, self.bus.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(error = %error, "closing the bus failed"),
            Err(_) => tracing::error!("the bus did not close within the drain deadline"),
        }
        tracing::info!("intake stopped");
        match failure {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

async fn bind(address: SocketAddr, key: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} ({key})"))
}

/// Stops the listeners of a start-up that failed.
async fn stop(http_token: CancellationToken, mut tasks: Tasks) {
    http_token.cancel();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

fn install(slot: &AppSlot, app: axum::Router) {
    *slot
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = app;
}

/// What [`build`] made: the apps for both listeners.
struct Built {
    /// The channel routes; `None` when the role runs no gateway.
    data: Option<axum::Router>,
    ops: axum::Router,
    /// Closed by [`Service::wait`] after the components have drained.
    bus: Arc<dyn Bus>,
}

/// Connects the bus, opens the stores, spawns the role's components into
/// `tasks` and returns the full HTTP apps and the bus.
async fn build(
    config: &Config,
    role: Role,
    shutdown: &CancellationToken,
    tasks: &mut Tasks,
    render: intake_gateway::MetricsRender,
) -> anyhow::Result<Built> {
    let topics = Topics::new(config.bus.topic_prefix.clone());
    let bus = connect_bus(config, shutdown).await?;
    let mut all_topics: Vec<String> = config
        .router_channels()
        .iter()
        .map(|channel| topics.events(channel))
        .collect();
    all_topics.push(topics.dlq());
    all_topics.push(topics.outcomes());
    bus.ensure_topics(&all_topics)
        .await
        .context("cannot create the bus topics")?;

    let blobs = crate::blob_retention::open(&config.blob)?;
    if let Some(retention) = config.blob.retention {
        let store = Arc::clone(&blobs);
        let token = shutdown.clone();
        tasks.spawn(async move {
            (
                "blob retention",
                crate::blob_retention::run(store, retention, token).await,
            )
        });
    }
    let ctx = ChannelContext {
        publisher: bus.publisher(),
        topics: topics.clone(),
        blobs: Arc::clone(&blobs),
    };
    let mut health = Health::new().with_check("bus", {
        let bus = Arc::clone(&bus);
        move || {
            let bus = Arc::clone(&bus);
            async move { bus.check_ready().await }
        }
    });
    health = health.with_check("blob", {
        let blobs = Arc::clone(&blobs);
        move || {
            let blobs = Arc::clone(&blobs);
            async move { blobs.check_ready().await }
        }
    });

    // Deadlines (router) and acknowledgements (gateway) read the same
    // calendars, refreshed from their iCalendar feeds.
    let live = LivePolicies::new(config.working_time.sla.clone());
    crate::way_back::spawn_ical_feeds(config, &live, shutdown, tasks)?;
    let acks = role.runs_gateway() && config.acknowledgements.enabled;
    let replies = role.runs_gateway() && config.zendesk_webhook.enabled;
    let mut store = match role.runs_router() || acks || replies {
        true => Some(open_store(config).await?),
        false => None,
    };
    let mut data = None;
    if role.runs_gateway() {
        // Pull channels keep their source position in the state store, which
        // a gateway opens only when one of its channels pulls.
        let cursors = Arc::new(DeferredCursors::default());
        let adapters = crate::channels::adapters(config, cursors.clone())?;
        if !adapters.pull.is_empty() {
            let opened = match &store {
                Some(store) => Arc::clone(store),
                None => open_store(config).await?,
            };
            cursors.set_store(Arc::clone(&opened));
            store.get_or_insert(opened);
        }
        let mut channels = adapters.http;
        if let (true, Some(store)) = (replies, &store) {
            // Without a Zendesk account the failure note is only logged.
            let zendesk = zendesk_client(config).ok();
            let route = crate::way_back::spawn_agent_replies(
                config,
                Arc::clone(store),
                zendesk,
                shutdown,
                tasks,
            )?;
            channels.push(route);
        }
        let mut runner = PullRunner::new(PullRunnerOptions::default());
        for channel in adapters.pull {
            runner.add(channel);
        }
        if !runner.is_empty() {
            health = spawn_pull_runner(runner, ctx.clone(), shutdown, tasks, health);
        }
        data = Some(intake_gateway::app(ctx, channels, request_limits(config)));
    }
    if let (true, Some(store)) = (acks, &store) {
        let (bus, store) = (Arc::clone(&bus), Arc::clone(store));
        crate::way_back::spawn_acknowledgements(
            config,
            &topics,
            bus,
            store,
            live.clone(),
            shutdown,
            tasks,
        )?;
    }
    if let (true, Some(store)) = (role.runs_router(), store) {
        health = health.with_check("store", {
            let store = Arc::clone(&store);
            move || {
                let store = Arc::clone(&store);
                async move { store.check_ready().await }
            }
        });
        let zendesk = zendesk_client(config)?;
        crate::sla_watch::spawn(
            config,
            &topics,
            Arc::clone(&bus),
            Arc::clone(&store),
            zendesk.clone(),
            live.clone(),
            shutdown,
            tasks,
        )?;
        let mut options = router_options(config, &topics, live);
        options.rulebook = crate::rulebook::for_router(config, &zendesk, &options.sla);
        crate::rulebook::spawn_absence_feed(config, shutdown, tasks);
        let router = Router::new(
            Arc::clone(&bus),
            store,
            Arc::clone(&blobs),
            zendesk,
            options,
        )
        .context("cannot build the router")?;
        let token = shutdown.clone();
        tasks.spawn(async move {
            (
                "router",
                router.run(token).await.map_err(anyhow::Error::from),
            )
        });
    }
    Ok(Built {
        data,
        ops: intake_gateway::ops_app(health, render),
        bus,
    })
}

/// The data listener's limits from `[http]`.
fn request_limits(config: &Config) -> RequestLimits {
    let http = &config.http;
    RequestLimits {
        timeout: http.request_timeout,
        max_in_flight: http.max_in_flight,
        max_unauthenticated_in_flight: http.max_unauthenticated_in_flight,
        max_unauthenticated_buffer_bytes: http.max_unauthenticated_buffer_bytes,
        unauthenticated_allowance_bytes: intake_config::UNAUTHENTICATED_BODY_ALLOWANCE_BYTES,
        body_read_timeout: http.body_read_timeout,
        min_body_bytes_per_sec: http.min_body_bytes_per_sec,
        min_rate_grace: intake_gateway::MIN_RATE_GRACE,
    }
}

/// A service that forwards each request to the app currently in `slot`, so
/// the started app replaces the starting one on the same listener.
fn swappable(slot: AppSlot) -> axum::Router {
    let forward = tower::service_fn(move |request: axum::extract::Request| {
        // The guard is dropped before anything is awaited.
        let app = slot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        async move {
            use tower::ServiceExt as _;
            app.oneshot(request).await
        }
    });
    axum::Router::new().fallback_service(forward)
}

/// Connects the configured bus, retrying with backoff while it is
/// unavailable (broker still starting), until `shutdown`.
pub(crate) async fn connect_bus(
    config: &Config,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<dyn Bus>> {
    let options = match &config.bus.backend {
        BusBackend::Embedded(embedded) => {
            if let Some(parent) = embedded.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("cannot create {} (bus.embedded.path)", parent.display())
                })?;
            }
            BusOptions::Embedded(EmbeddedOptions {
                retention_hours: embedded.retention_hours,
                ..EmbeddedOptions::new(embedded.path.clone())
            })
        }
        BusBackend::Kafka(kafka) => {
            let mut properties = kafka.properties.clone();
            if let Some(password) = &kafka.sasl_password {
                properties.insert(
                    "sasl.password".to_owned(),
                    password.expose_secret().to_owned(),
                );
            }
            for (name, value) in &kafka.secret_properties {
                properties.insert(name.clone(), value.expose_secret().to_owned());
            }
            BusOptions::Kafka(KafkaOptions {
                properties,
                create_topics: kafka.create_topics,
                partitions: kafka.partitions,
                replication_factor: i32::from(kafka.replication_factor),
                min_insync_replicas: kafka.min_insync_replicas.map(i32::from),
                client_id: kafka.client_id.clone(),
                ..KafkaOptions::new(kafka.bootstrap_servers())
            })
        }
    };
    let mut wait = Duration::from_millis(500);
    loop {
        match intake_bus::connect(options.clone()).await {
            Ok(bus) => return Ok(bus),
            Err(error) if error.is_retryable() => {
                tracing::warn!(error = %error, retry_in_ms = wait.as_millis() as u64, "bus unavailable; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => anyhow::bail!("stopped while waiting for the bus: {error}"),
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(15));
            }
            Err(error) => return Err(anyhow::Error::from(error).context("cannot open the bus")),
        }
    }
}

/// Spawns the pull runner as the component `pull channels` (a channel's
/// configuration error ends it, and so the process) and adds its readiness
/// as an advisory check: a mailbox or messenger API being unreachable is
/// reported, but does not take the webhooks of this process out of service
/// (decision 50; alerts `IntakePullChannelDisconnected`/`…Stalled`).
fn spawn_pull_runner(
    runner: PullRunner,
    ctx: ChannelContext,
    shutdown: &CancellationToken,
    tasks: &mut Tasks,
    health: Health,
) -> Health {
    let readiness = runner.readiness();
    let token = shutdown.clone();
    tasks.spawn(async move {
        (
            "pull channels",
            runner.run(ctx, token).await.map_err(anyhow::Error::from),
        )
    });
    health.with_advisory_check("pull_channels", move || {
        let readiness = readiness.clone();
        async move { readiness.check() }
    })
}

pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn StateStore>> {
    match &config.store {
        StoreConfig::Sqlite { path } => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("cannot create {} (store.sqlite_path)", parent.display())
                })?;
            }
            let store = SqliteStore::open(path.clone())
                .await
                .with_context(|| format!("cannot open the state store {}", path.display()))?;
            Ok(Arc::new(store))
        }
        StoreConfig::Postgres { url } => {
            // The error names no URL: the URL holds the password.
            let store =
                intake_store::PostgresStore::connect(url, intake_store::PostgresOptions::default())
                    .await
                    .context("cannot open the postgres state store (store.postgres_url)")?;
            Ok(Arc::new(store))
        }
    }
}

pub(crate) fn zendesk_client(config: &Config) -> anyhow::Result<intake_zendesk::Client> {
    let account = config
        .zendesk
        .account
        .as_ref()
        .context("zendesk: no account configured")?;
    let auth = match &account.auth {
        ZendeskAuth::ApiToken { email, token } => intake_zendesk::Auth::ApiToken {
            email: email.clone(),
            token: token.clone(),
        },
        ZendeskAuth::OAuth { token } => intake_zendesk::Auth::OAuth {
            token: token.clone(),
        },
    };
    let options = intake_zendesk::ClientOptions {
        base_url: account.base_url.clone(),
        auth,
        requests_per_minute: config.zendesk.requests_per_minute.get(),
        request_timeout: config.zendesk.request_timeout,
        max_attempts: config.zendesk.max_attempts.get(),
    };
    let client = intake_zendesk::Client::new(options).context("cannot build the Zendesk client")?;
    // Each of the replicas paces by its share of the account's remainder;
    // the endpoint limits give no remainder in their answers, so each
    // replica takes an equal part of them.
    let replicas = config.zendesk.replicas.get();
    client.set_budget_replicas(replicas);
    client.set_endpoint_limits(intake_zendesk::EndpointLimitOptions {
        update_ticket_per_minute: Some(
            (config.zendesk.update_ticket_per_minute.get() / replicas).max(1),
        ),
        user_creates_per_minute: Some(
            (config.zendesk.user_creates_per_minute.get() / replicas).max(1),
        ),
    });
    Ok(client)
}

fn router_options(config: &Config, topics: &Topics, sla: LivePolicies) -> RouterOptions {
    let channels = config
        .router_channels()
        .iter()
        .map(|name| {
            let mut route = ChannelRoute::new(name.clone());
            if let Some(routing) = config.channels.routing(name) {
                route.priority = Some(priority(routing.priority));
                route.group_id = routing.group_id;
                route.tags = routing.tags;
            }
            route
        })
        .collect();
    RouterOptions {
        consumer_group: config.router.consumer_group.clone(),
        subject_max_chars: config.router.subject_max_chars.get(),
        retry_initial_backoff: config.router.retry_initial_backoff,
        retry_max_backoff: config.router.retry_max_backoff,
        max_priority_wait: config.router.max_priority_wait,
        sla,
        deadline_field_id: config.router.deadline_field_id,
        // Unset: the slots that keep the budget full plus those held back.
        max_in_flight: config.router.max_in_flight.map_or_else(
            || {
                intake_router::in_flight_for(config.zendesk.requests_per_minute.get())
                    + config.router.reserved_in_flight
            },
            std::num::NonZeroUsize::get,
        ),
        reserved_in_flight: config.router.reserved_in_flight,
        max_held_events: config.router.max_held_events.get(),
        retry_max_attempts: config.router.retry_max_attempts.get(),
        retry_max_age: config.router.retry_max_age,
        claim_ttl: config.router.claim_ttl,
        automatic_messages: match config.router.automatic_messages {
            intake_config::AutomaticMessages::InternalNote => {
                intake_router::AutomaticMessages::InternalNote
            }
            intake_config::AutomaticMessages::Drop => intake_router::AutomaticMessages::Drop,
        },
        cross_channel: cross_channel(&config.router.cross_channel),
        ..RouterOptions::new(topics.clone(), channels)
    }
}

fn cross_channel(
    config: &intake_config::CrossChannelConfig,
) -> Option<intake_router::CrossChannelOptions> {
    config
        .enabled
        .then_some(intake_router::CrossChannelOptions {
            window: config.window,
            min_similarity: config.min_similarity,
            min_words: config.min_words,
        })
}

fn priority(priority: TicketPriority) -> intake_zendesk::Priority {
    match priority {
        TicketPriority::Urgent => intake_zendesk::Priority::Urgent,
        TicketPriority::High => intake_zendesk::Priority::High,
        TicketPriority::Normal => intake_zendesk::Priority::Normal,
        TicketPriority::Low => intake_zendesk::Priority::Low,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intake_channel::{ChannelError, PullChannel, PullStatus};

    /// A pull channel whose credentials are refused.
    struct Misconfigured;

    #[async_trait::async_trait]
    impl PullChannel for Misconfigured {
        fn name(&self) -> &'static str {
            "mail"
        }

        async fn run(
            &mut self,
            _ctx: ChannelContext,
            _status: PullStatus,
            _shutdown: CancellationToken,
        ) -> Result<(), ChannelError> {
            Err(ChannelError::Config {
                channel: "mail",
                message: "login refused; check channels.mail.password_env".to_owned(),
            })
        }
    }

    #[tokio::test]
    async fn a_pull_channels_config_error_stops_the_service_with_its_message() {
        let ctx = ChannelContext {
            publisher: intake_channel::testing::RecordingPublisher::new(),
            topics: Topics::new("intake"),
            blobs: Arc::new(intake_blob::LocalDirBlobStore::new(std::env::temp_dir())),
        };
        let mut runner = PullRunner::new(PullRunnerOptions::default());
        runner.add(Box::new(Misconfigured));
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let health = spawn_pull_runner(runner, ctx, &shutdown, &mut tasks, Health::new());
        let checks = health.check_all().await;
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].name, "pull_channels");
        assert!(!checks[0].required, "a pull channel never fails readiness");

        let dir = tempfile::tempdir().unwrap();
        let bus =
            intake_bus::EmbeddedBus::open(EmbeddedOptions::new(dir.path().join("bus.sqlite")))
                .await
                .unwrap();
        let service = Service {
            http_addr: None,
            ops_addr: SocketAddr::from(([127, 0, 0, 1], 9090)),
            tasks,
            shutdown: shutdown.clone(),
            drain_deadline: Duration::from_secs(30),
            bus: Arc::new(bus),
        };
        let error = service.wait().await.unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains("pull channels failed")
                && message.contains("login refused; check channels.mail.password_env"),
            "{message}"
        );
        assert!(shutdown.is_cancelled(), "the other components are stopped");
    }
}
