//! `Retried`: the retry policy, error classifier, jitter and name of a `try_*` operator.

use std::sync::Arc;

use kstreams_core::failure::{
    DefaultErrorClassifier, ErrorClassifier, JitterSource, RetryPolicy, SplitMixJitter,
};

/// Makes the jitter source of one task (tests pin it; the default is seeded per task).
pub type JitterFactory = Arc<dyn Fn() -> Box<dyn JitterSource> + Send + Sync>;

/// How a `try_*` operator retries: a [`RetryPolicy`], an [`ErrorClassifier`] (the user hook;
/// [`DefaultErrorClassifier`] unless set), the jitter source and the operator's name (which
/// names its retry topic `<application.id>-<name>-retry` and its scheduler store
/// `<name>-retry-store`; set it so they stay stable when the topology changes).
#[derive(Clone)]
pub struct Retried {
    pub(crate) policy: RetryPolicy,
    pub(crate) classifier: Arc<dyn ErrorClassifier>,
    pub(crate) jitter: JitterFactory,
    pub(crate) name: Option<String>,
}

impl Default for Retried {
    fn default() -> Self {
        Retried::with_policy(RetryPolicy::default())
    }
}

impl Retried {
    /// Retries by `policy`, with the default classifier and per-task random jitter.
    pub fn with_policy(policy: RetryPolicy) -> Self {
        Retried {
            policy,
            classifier: Arc::new(DefaultErrorClassifier),
            jitter: Arc::new(|| Box::new(SplitMixJitter::from_entropy())),
            name: None,
        }
    }

    /// Classifies errors with `classifier` instead of the default.
    pub fn with_classifier(mut self, classifier: impl ErrorClassifier) -> Self {
        self.classifier = Arc::new(classifier);
        self
    }

    /// Uses the jitter sources `factory` makes (one per task).
    pub fn with_jitter(
        mut self,
        factory: impl Fn() -> Box<dyn JitterSource> + Send + Sync + 'static,
    ) -> Self {
        self.jitter = Arc::new(factory);
        self
    }

    /// Names the operator (and so its retry topic and store).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

impl std::fmt::Debug for Retried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retried")
            .field("policy", &self.policy)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
