//! The JWT key set's SSM parameter: read at a cold start (with patient retries), read again as
//! the set rotates, written by `ums-aws jwt-key rotate`.

use std::time::Duration;

use anyhow::{Context, bail};
use aws_types::SdkConfig;
use shared::credentials::jwt::KeySetSource;

/// Attempts at reading the signing key from SSM at a cold start (more than [`SDK_ATTEMPTS`]).
pub const SSM_KEY_ATTEMPTS: u32 = 6;

/// The JWT key set from an SSM SecureString parameter, at a cold start: many instances starting
/// at once share SSM's 40 reads/s (standard throughput), so this one call gets more, slower
/// retries than the others, within Lambda's 10 s for a cold start (docs/scale.md).
pub async fn read_signing_key(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let retries = aws_smithy_types::retry::RetryConfig::standard()
        .with_max_attempts(SSM_KEY_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(250));
    let client = aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::config::Builder::from(sdk).retry_config(retries).build());
    KeySetParameter { client, name: name.to_string() }.read_versioned().await.map(|(text, _)| text)
}

/// The key set's SSM parameter, read again by a running function as the set rotates (with the
/// SDK's usual retries, within `JwtKeys`' one second for a reload) and written by
/// `ums-aws jwt-key rotate`.
pub struct KeySetParameter {
    pub client: aws_sdk_ssm::Client,
    pub name: String,
}

impl KeySetParameter {
    /// The parameter's value and version.
    pub async fn read_versioned(&self) -> anyhow::Result<(String, i64)> {
        let output = self
            .client
            .get_parameter()
            .name(&self.name)
            .with_decryption(true)
            .send()
            .await
            .with_context(|| format!("reading the JWT key set from SSM parameter {}", self.name))?;
        let parameter = output.parameter.context("the SSM parameter has no value")?;
        Ok((parameter.value.context("the SSM parameter has no value")?, parameter.version))
    }

    /// Writes `text` over the version read (`read`); refused when another writer came between.
    /// SSM has no conditional write: a writer between our read and write is seen after the
    /// fact, by the version numbers.
    pub async fn write_over(&self, text: &str, read: i64) -> anyhow::Result<()> {
        let output = self
            .client
            .put_parameter()
            .name(&self.name)
            .value(text)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .with_context(|| format!("writing the JWT key set to SSM parameter {}", self.name))?;
        if output.version != read + 1 {
            bail!(
                "SSM parameter {} went from version {read} to {} while this rotation ran: another writer changed it; check it with `ums-aws jwt-key show`",
                self.name,
                output.version
            );
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl KeySetSource for KeySetParameter {
    async fn read(&self) -> anyhow::Result<String> {
        Ok(self.read_versioned().await?.0)
    }
}

/// The sign-in providers' settings in an SSM SecureString parameter (client secrets never in
/// the template or a log), read at the first sign-in and again every `UMS_JWT_KEYS_RELOAD_SECS`.
pub struct SignInProvidersParameter {
    pub client: aws_sdk_ssm::Client,
    pub name: String,
}

#[async_trait::async_trait]
impl shared::federation::SettingsSource for SignInProvidersParameter {
    async fn read(&self) -> anyhow::Result<Option<String>> {
        let output = self.client.get_parameter().name(&self.name).with_decryption(true).send().await;
        match output {
            Ok(output) => Ok(output.parameter.and_then(|p| p.value)),
            // Not written yet: no provider, until the operator writes it.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_parameter_not_found()) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading SSM parameter {}", self.name))),
        }
    }
}
