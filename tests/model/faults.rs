//! A connector wrapper that counts what its target commits and injects
//! faults: a target that fails after N changes, a read that fails after N
//! batches, a stop asked for mid-read, and a process that dies while
//! applying or right after committing (the run's future is dropped there,
//! as a kill would end it: no rollback, no store commit).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt;
use tandem_core::engine::{Endpoint, StopSignal};
use tandem_core::{
    Applied, BatchStream, Capabilities, Change, Cursor, DayCount, EntitySchema, Error, Key,
    ReadRequest, Record, Result, Source, Target, Transaction,
};
use tokio::sync::Notify;

/// What to inject into the next run; cleared between runs.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub fail_after: Option<usize>,
    pub read_error_after: Option<usize>,
    pub stop_after: Option<(usize, StopSignal)>,
    pub kill_in_apply: bool,
    pub kill_after_commit: bool,
}

/// Changes the target committed (upserts, deletes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    pub upserts: u64,
    pub deletes: u64,
}

#[derive(Default)]
struct Shared {
    plan: Plan,
    committed: Committed,
}

/// Wraps one side's connector.
#[derive(Clone)]
pub struct Faulty {
    name: String,
    source: Arc<dyn Source>,
    target: Arc<dyn Target>,
    shared: Arc<Mutex<Shared>>,
    /// Told when the process "dies".
    pub killed: Arc<Notify>,
}

impl Faulty {
    pub fn new(end: &Endpoint, killed: Arc<Notify>) -> Self {
        Faulty {
            name: end.name.clone(),
            source: end.source.clone(),
            target: end.target.clone().expect("a writable endpoint"),
            shared: Arc::default(),
            killed,
        }
    }

    pub fn endpoint(&self) -> Endpoint {
        let me = Arc::new(self.clone());
        Endpoint {
            name: self.name.clone(),
            source: me.clone(),
            target: Some(me),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_plan(&self, plan: Plan) {
        self.lock().plan = plan;
    }

    pub fn committed(&self) -> Committed {
        self.lock().committed
    }
}

#[async_trait]
impl Source for Faulty {
    fn capabilities(&self) -> Capabilities {
        self.source.capabilities()
    }

    async fn entities(&self) -> Result<Vec<EntitySchema>> {
        self.source.entities().await
    }

    async fn after_write(
        &self,
        entity: &str,
        cursor: Cursor,
        written: Option<&[Key]>,
    ) -> Result<Option<Cursor>> {
        self.source.after_write(entity, cursor, written).await
    }

    async fn pending(&self, entity: &str, cursor: Option<&Cursor>) -> Result<Vec<DayCount>> {
        self.source.pending(entity, cursor).await
    }

    async fn horizon(&self, entity: &str) -> Result<Option<jiff::civil::Date>> {
        self.source.horizon(entity).await
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let stream = self.source.read(request).await?;
        let (error_after, stop) = {
            let s = self.lock();
            (s.plan.read_error_after, s.plan.stop_after.clone())
        };
        let name = self.name.clone();
        let mut seen = 0usize;
        Ok(Box::pin(stream.map(move |batch| {
            if error_after == Some(seen) {
                return Err(Error::other(
                    &name,
                    format!("injected read error after {seen} batches"),
                ));
            }
            if let Some((n, signal)) = &stop
                && *n == seen
            {
                signal.stop();
            }
            seen += 1;
            batch
        })))
    }
}

#[async_trait]
impl Target for Faulty {
    fn capabilities(&self) -> Capabilities {
        self.target.capabilities()
    }

    async fn begin(&self, entity: &str) -> Result<Box<dyn Transaction>> {
        let inner = self.target.begin(entity).await?;
        Ok(Box::new(FaultyTx {
            owner: self.clone(),
            inner: Some(inner),
            staged: Committed::default(),
        }))
    }

    async fn fetch(&self, entity: &str, keys: &[Key]) -> Result<Vec<Record>> {
        self.target.fetch(entity, keys).await
    }
}

struct FaultyTx {
    owner: Faulty,
    /// `None` once the process "died": its transaction went with it.
    inner: Option<Box<dyn Transaction>>,
    staged: Committed,
}

impl FaultyTx {
    fn inner(&mut self) -> Result<&mut Box<dyn Transaction>> {
        let name = &self.owner.name;
        self.inner
            .as_mut()
            .ok_or_else(|| Error::other(name, "the transaction died with its process"))
    }
}

#[async_trait]
impl Transaction for FaultyTx {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<Vec<Applied>> {
        let kill = self.owner.lock().plan.kill_in_apply;
        if kill {
            // A dead process holds no transaction (and no lock) any more.
            drop(self.inner.take());
            self.owner.killed.notify_one();
            std::future::pending::<()>().await;
        }
        {
            let mut s = self.owner.lock();
            if let Some(left) = s.plan.fail_after.as_mut() {
                if changes.len() > *left {
                    *left = 0;
                    return Err(Error::other(
                        &self.owner.name,
                        "injected failure: the target fails after n changes",
                    ));
                }
                *left -= changes.len();
            }
        }
        for c in &changes {
            match c {
                Change::Upsert(_) => self.staged.upserts += 1,
                Change::Delete { .. } => self.staged.deletes += 1,
            }
        }
        self.inner()?.apply(changes).await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let FaultyTx {
            owner,
            inner,
            staged,
        } = *self;
        let Some(inner) = inner else {
            return Err(Error::other(
                &owner.name,
                "the transaction died with its process",
            ));
        };
        inner.commit().await?;
        let kill = {
            let mut s = owner.lock();
            s.committed.upserts += staged.upserts;
            s.committed.deletes += staged.deletes;
            s.plan.kill_after_commit
        };
        if kill {
            owner.killed.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        match self.inner {
            Some(inner) => inner.rollback().await,
            None => Ok(()),
        }
    }
}
