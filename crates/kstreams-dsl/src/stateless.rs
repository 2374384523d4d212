//! The processor behind every stateless operator: a shared function of the context and the
//! record.

use std::marker::PhantomData;
use std::sync::Arc;

use kstreams_core::{Processor, ProcessorContext, Record, Result};

/// Runs `f` for each record; `f` decides what to forward.
pub(crate) struct Stateless<F, KO, VO> {
    f: Arc<F>,
    _out: PhantomData<fn() -> (KO, VO)>,
}

impl<F, KO, VO> Stateless<F, KO, VO> {
    /// A supplier of processors sharing `f`.
    pub(crate) fn supplier(f: F) -> impl Fn() -> Self + Send + Sync + 'static
    where
        F: Send + Sync + 'static,
        KO: 'static,
        VO: 'static,
    {
        let f = Arc::new(f);
        move || Stateless {
            f: f.clone(),
            _out: PhantomData,
        }
    }
}

impl<K, V, KO, VO, F> Processor<K, V, KO, VO> for Stateless<F, KO, VO>
where
    F: Fn(&mut ProcessorContext<'_, KO, VO>, Record<K, V>) -> Result<()> + Send + Sync + 'static,
    KO: 'static,
    VO: 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KO, VO>,
        record: Record<K, V>,
    ) -> Result<()> {
        (self.f)(ctx, record)
    }
}
