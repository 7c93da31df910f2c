//! Where the AWS resources are: what the SAM template puts in each function's environment.

use std::collections::BTreeMap;

use anyhow::Context;
use shared::ports::Queue;

/// Where the AWS resources are, from the environment the SAM template sets.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// `UMS_TABLE_NAME`
    pub table: String,
    /// The queues this function may send to, from their `UMS_<QUEUE>_QUEUE_URL` variables.
    pub queue_urls: BTreeMap<Queue, String>,
    /// `UMS_PHOTO_BUCKET`: uploads and photos.
    pub photo_bucket: Option<String>,
    pub jwt_key: Option<JwtKeySource>,
    /// `UMS_SES_SEND_RATE`: the account's emails a second, instead of SES `GetAccount`'s.
    pub ses_send_rate: Option<f64>,
    /// `UMS_SES_SENDERS`: the email worker instances that may send at once (2).
    pub ses_senders: u32,
    /// `UMS_SES_QUOTA_HOLD_SECS`: how long a notification's copy waits while the day's quota is
    /// kept for transactional email (an hour).
    pub ses_quota_hold: std::time::Duration,
    /// `UMS_SIGN_IN_PROVIDERS_PARAMETER`: the name of an SSM SecureString holding the sign-in
    /// providers' settings (none: no provider).
    pub sign_in_providers: Option<String>,
}

#[derive(Clone, Debug)]
pub enum JwtKeySource {
    /// `UMS_JWT_PRIVATE_KEY`: the PEM itself.
    Pem(String),
    /// `UMS_JWT_KEY_PARAMETER`: the name of an SSM SecureString holding the PEM.
    SsmParameter(String),
}

impl AwsSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let table = var("UMS_TABLE_NAME").context("UMS_TABLE_NAME is not set")?;
        let jwt_key = match (var("UMS_JWT_PRIVATE_KEY"), var("UMS_JWT_KEY_PARAMETER")) {
            (Some(pem), _) => Some(JwtKeySource::Pem(pem)),
            (None, Some(name)) => Some(JwtKeySource::SsmParameter(name)),
            (None, None) => None,
        };
        let queue_urls = Queue::ALL.into_iter().filter_map(|q| Some((q, var(q.url_variable())?))).collect();
        let ses_send_rate = match var("UMS_SES_SEND_RATE") {
            Some(rate) => {
                Some(rate.parse::<f64>().ok().filter(|r| *r > 0.0).context("UMS_SES_SEND_RATE is not a rate")?)
            }
            None => None,
        };
        let ses_senders = match var("UMS_SES_SENDERS") {
            Some(n) => n.parse::<u32>().ok().filter(|n| *n > 0).context("UMS_SES_SENDERS is not a count")?,
            None => 2,
        };
        let ses_quota_hold = match var("UMS_SES_QUOTA_HOLD_SECS") {
            Some(n) => std::time::Duration::from_secs(
                n.parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .context("UMS_SES_QUOTA_HOLD_SECS is not a count of seconds")?,
            ),
            None => crate::ses::QUOTA_HOLD,
        };
        Ok(Self {
            table,
            queue_urls,
            photo_bucket: var("UMS_PHOTO_BUCKET"),
            jwt_key,
            ses_send_rate,
            ses_senders,
            ses_quota_hold,
            sign_in_providers: var("UMS_SIGN_IN_PROVIDERS_PARAMETER"),
        })
    }
}
