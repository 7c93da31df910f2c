//! Wiring: the state every route shares, and the local (embedded) composition of it.

use std::sync::Arc;

use crate::{
    adapters::{OutboxMailer, SqliteDb},
    auth::{JwtKeys, PasswordHasher},
    clock::{Clock, SystemClock},
    config::Config,
    jobs::{self, WorkerDeps},
    ports::{JobQueue, Store},
};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub jobs: Arc<dyn JobQueue>,
    pub keys: Arc<JwtKeys>,
    pub hasher: PasswordHasher,
    pub clock: Arc<dyn Clock>,
}

/// The whole service on one machine: SQLite, the durable local queue, the outbox.
pub struct LocalApp {
    pub state: AppState,
    pub db: SqliteDb,
    pub worker: WorkerDeps,
}

pub const DATABASE_FILE: &str = "ums.sqlite3";
pub const OUTBOX_DIR: &str = "outbox";

impl LocalApp {
    pub fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock))
    }

    pub fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = SqliteDb::open(&config.data_dir.join(DATABASE_FILE))?;
        let keys = JwtKeys::load(&config.jwt, &config.data_dir)?;
        let mailer = OutboxMailer::new(config.data_dir.join(OUTBOX_DIR))?;
        let worker = WorkerDeps { mailer: Arc::new(mailer), email_from: config.email_from.clone() };
        let state = AppState {
            hasher: PasswordHasher::new(config.argon2)?,
            config: Arc::new(config),
            store: Arc::new(db.clone()),
            jobs: Arc::new(db.clone()),
            keys: Arc::new(keys),
            clock,
        };
        Ok(Self { state, db, worker })
    }

    pub fn router(&self) -> axum::Router {
        crate::routes::local_router(self.state.clone())
    }

    /// Serves every route group on `listener` and runs the workers in this process, until
    /// `shutdown` resolves.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let worker = tokio::spawn(jobs::run_local_worker(self.db.clone(), self.worker.clone()));
        let result = axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await;
        worker.abort();
        Ok(result?)
    }
}
