//! Counts the operations an SDK client sends, by name: DynamoDB calls are what a route costs
//! on AWS, and tests keep `docs/dynamodb.md` true with these counts.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{Intercept, context::BeforeSerializationInterceptorContextRef},
        orchestrator::Metadata,
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Clone, Debug, Default)]
pub struct CallCounter(Arc<Mutex<BTreeMap<String, u32>>>);

impl CallCounter {
    /// The calls made since the last `take`, by operation name.
    pub fn take(&self) -> BTreeMap<String, u32> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    // Once per operation, whatever its retries; the operation's metadata is in the bag by now
    // (it is not yet at `read_before_execution`).
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(metadata.name().to_string()).or_default() += 1;
        }
        Ok(())
    }
}
