//! SDK clients made at their first use.

use std::{
    ops::Deref,
    sync::{Arc, LazyLock},
};

type Make<T> = Box<dyn FnOnce() -> T + Send>;

/// A value made the first time it is used, then shared by every clone. A function builds
/// its SDK clients this way: making one costs about a third of a millisecond (it parses the
/// SDK's endpoint rules and builds its TLS connector), and a cold start should pay only for
/// the clients its first request calls (a JWKS request none, a login only DynamoDB's).
pub struct Lazy<T>(Arc<LazyLock<T, Make<T>>>);

impl<T> Lazy<T> {
    pub fn new(make: impl FnOnce() -> T + Send + 'static) -> Self {
        Self(Arc::new(LazyLock::new(Box::new(make) as Make<T>)))
    }
}

impl<T: Send + 'static> From<T> for Lazy<T> {
    /// A value already made (the tests' clients).
    fn from(value: T) -> Self {
        Self::new(move || value)
    }
}

impl<T> Clone for Lazy<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Deref for Lazy<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_lazy_value_is_made_once_at_its_first_use_and_shared_by_clones() {
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let lazy = Lazy::new(|| {
            MADE.fetch_add(1, Ordering::SeqCst);
            String::from("client")
        });
        let clone = lazy.clone();
        assert_eq!(MADE.load(Ordering::SeqCst), 0, "made before it was used");
        assert_eq!(&*clone, "client");
        assert_eq!(lazy.len(), 6);
        assert_eq!(MADE.load(Ordering::SeqCst), 1);
    }
}
