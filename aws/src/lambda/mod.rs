//! Lambda glue, by what it does: where the resources are (`settings`), the SDK configuration
//! every client is made from (`sdk`) and its HTTPS client (`https`), the signing key set's parameter (`keys`), what each
//! function is made of (`functions`), and its process (`serve`: logs, the HTTP adapter).

mod functions;
mod https;
mod keys;
mod sdk;
mod serve;
mod settings;

pub use functions::Aws;
pub use https::http1_client;
pub use keys::{KeySetParameter, SSM_KEY_ATTEMPTS, SignInProvidersParameter, read_signing_key};
pub(crate) use sdk::lazy_client;
pub use sdk::{
    SDK_ATTEMPT_TIMEOUT, SDK_ATTEMPTS, SDK_CONNECT_TIMEOUT, SDK_FIRST_BACKOFF, SDK_OPERATION_TIMEOUT, dynamo_client,
    http_client, operator_sdk_config, sdk_config, sdk_config_with, ses_client,
};
pub use serve::{from_api_gateway, init_tracing, serve_group, strip_stage};
pub use settings::{AwsSettings, JwtKeySource};
