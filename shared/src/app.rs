//! The whole service on one machine: every route group over the embedded adapters (SQLite,
//! the durable local queue, the outbox), and every worker in the same process.

use std::sync::Arc;

use crate::{
    adapters::{DiskPhotos, LocalFiles, OutboxMailer, SqliteDb, files_router},
    auth::{self, AuthState},
    clock::{Clock, SystemClock},
    config::Config,
    console::{self, ConsoleState},
    credentials::{JwtKeys, PasswordHasher},
    docs::{self, DocsState},
    federation::{Federation, SettingsFile},
    http,
    jobs::{EmailWorker, LinkIssuer, NotifyWorker, PhotoWorker, Workers},
    moderation::{self, ModerationState},
    providers::{self, ProvidersState},
    social::{self, SocialState},
    users::{self, UsersState},
    wiring::Ports,
};

pub struct LocalApp {
    pub config: Arc<Config>,
    pub auth: AuthState,
    pub users: UsersState,
    pub moderation: ModerationState,
    pub social: SocialState,
    pub docs: DocsState,
    pub providers: ProvidersState,
    /// The laptop's stand-ins for S3 and CloudFront: the upload target and the photo files.
    pub files: LocalFiles,
    pub db: SqliteDb,
    pub workers: Arc<Workers>,
}

pub const DATABASE_FILE: &str = "ums.sqlite3";
pub const OUTBOX_DIR: &str = "outbox";
/// Photos and uploads, as `files/photos/...` and `files/uploads/...`.
pub const FILES_DIR: &str = "files";

impl LocalApp {
    pub fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock))
    }

    pub fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = SqliteDb::open(&config.data_dir.join(DATABASE_FILE))?;
        let keys = Arc::new(JwtKeys::load(&config.jwt, &config.data_dir)?);
        let mailer = OutboxMailer::new(config.data_dir.join(OUTBOX_DIR))?;
        let config = Arc::new(config);
        let store = Arc::new(db.clone());
        let links = LinkIssuer {
            accounts: store.clone(),
            sessions: store.clone(),
            tokens: store.clone(),
            clock: clock.clone(),
            config: config.clone(),
        };
        let photos = DiskPhotos::new(config.data_dir.join(FILES_DIR), &config.public_url, keys.clone());
        let workers = Workers {
            email: EmailWorker { mailer: Arc::new(mailer), links, deliveries: store.clone() },
            photo: PhotoWorker {
                accounts: store.clone(),
                sessions: store.clone(),
                photos: Arc::new(photos.clone()),
                clock: clock.clone(),
            },
            notify: NotifyWorker {
                accounts: store.clone(),
                social: store.clone(),
                notifications: store.clone(),
                tokens: store.clone(),
                activity: store.clone(),
                jobs: store.clone(),
                keys: keys.clone(),
                config: config.clone(),
                clock: clock.clone(),
            },
        };
        let files =
            LocalFiles { photos: photos.clone(), accounts: store.clone(), jobs: store.clone(), clock: clock.clone() };
        // One hasher for both groups: the bound on concurrent hashing is the process's.
        let hasher =
            PasswordHasher::new(config.argon2, config.limits.hashing_concurrency, config.limits.hashing_queue)?;
        let ranges = Arc::new(crate::credentials::breached::ReqwestRanges::default());
        let ports = Ports { config: config.clone(), store: store.clone(), jobs: store, keys, clock, ranges };
        let auth = ports.identity(hasher);
        let users = ports.users(auth.clone(), Arc::new(photos));
        let (moderation, social) = (ports.moderation(), ports.social());
        let settings = SettingsFile(config.sign_in_providers_file.clone());
        let federation = Arc::new(Federation::reading(Box::new(settings), config.jwt.keys_reload));
        let providers = ProvidersState { identity: auth.clone(), federation };
        let workers = Arc::new(workers);
        Ok(Self { config, auth, users, moderation, social, docs: DocsState::new(), providers, files, db, workers })
    }

    /// The staff console's state: the groups whose actions it offers.
    pub fn console(&self) -> ConsoleState {
        ConsoleState { users: self.users.clone(), moderation: self.moderation.clone() }
    }

    /// Every group's routes in one app, with the shared layers.
    pub fn router(&self) -> axum::Router {
        let routes = auth::router(self.auth.clone())
            .merge(users::router(self.users.clone()))
            .merge(moderation::router(self.moderation.clone()))
            .merge(social::router(self.social.clone()))
            .merge(providers::router(self.providers.clone()))
            .merge(console::router(self.console()))
            .merge(docs::router(self.docs.clone()))
            .merge(files_router(self.files.clone()));
        http::finish(routes, self.config.limits.max_body_bytes, &http::KnownRoutes::default())
    }

    /// Serves every route group on `listener` and runs the workers in this process, until
    /// `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let worker =
            tokio::spawn(crate::adapters::local::queue::run_local_worker(self.db.clone(), self.workers.clone()));
        let events = tokio::spawn(crate::adapters::local::events::run_event_delivery(
            self.db.clone(),
            self.config.webhooks.clone(),
        ));
        // The peer address is each request's source, which limits count per.
        let app = self.router().into_make_service_with_connect_info::<std::net::SocketAddr>();
        let result = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
        worker.abort();
        events.abort();
        Ok(result?)
    }
}
