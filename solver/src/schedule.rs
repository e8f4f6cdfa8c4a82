//! The scheduler: runs each vertex a target needs exactly once, as soon as
//! its inputs are ready, at most `jobs` at a time, and stops starting new
//! work after the first failure.
//!
//! It knows nothing of what vertices do: a [`Worker`] computes keys, looks
//! up the cache and runs ops. One shared future per vertex makes "runs
//! once" hold by construction; blocking work goes to tokio's blocking pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::op::{Dag, VertexId};

/// What a vertex resolved to: its cache key and its result.
#[derive(Debug)]
pub struct Resolved<O> {
    /// The cache key.
    pub key: kiln_cache::Digest,
    /// The result.
    pub output: O,
}

/// Does the work of vertices.
pub trait Worker: Send + Sync + 'static {
    /// A vertex's result.
    type Output: Send + Sync + 'static;

    /// Resolves one vertex whose inputs are resolved: compute its key,
    /// answer from the cache or run it. Called once per vertex, on a
    /// blocking thread; it should return [`Error::Canceled`] soon after
    /// `cancel` fires.
    fn resolve(
        &self,
        dag: &Dag,
        id: VertexId,
        inputs: &[Arc<Resolved<Self::Output>>],
        cancel: &CancellationToken,
    ) -> Result<Resolved<Self::Output>, Error>;
}

type VertexFuture<O> =
    Shared<BoxFuture<'static, Result<Arc<Resolved<O>>, Arc<Mutex<Option<Error>>>>>>;

/// Solves `target`: resolves it and everything it needs. With several
/// failures, the first one that is not a cancellation is returned.
pub async fn solve<W: Worker>(
    dag: Arc<Dag>,
    worker: Arc<W>,
    target: VertexId,
    jobs: usize,
    cancel: CancellationToken,
) -> Result<Arc<Resolved<W::Output>>, Error> {
    let sem = Arc::new(Semaphore::new(jobs.max(1)));
    let first_error: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
    let mut futures: HashMap<VertexId, VertexFuture<W::Output>> = HashMap::new();
    for id in dag.ancestors_in_order(target) {
        let inputs: Vec<VertexFuture<W::Output>> = dag
            .vertex(id)
            .inputs
            .iter()
            .filter_map(|i| futures.get(i).cloned())
            .collect();
        let (dag, worker, sem, cancel, first_error) = (
            dag.clone(),
            worker.clone(),
            sem.clone(),
            cancel.clone(),
            first_error.clone(),
        );
        let fut = async move {
            let resolved_inputs = futures::future::try_join_all(inputs).await?;
            if cancel.is_cancelled() {
                return Err(first_error);
            }
            let Ok(_permit) = sem.acquire_owned().await else {
                return Err(first_error);
            };
            if cancel.is_cancelled() {
                return Err(first_error);
            }
            let c = cancel.clone();
            let joined =
                tokio::task::spawn_blocking(move || worker.resolve(&dag, id, &resolved_inputs, &c))
                    .await;
            let result = match joined {
                Ok(r) => r,
                Err(e) => Err(Error::Usage(format!(
                    "internal error: a build task panicked: {e}"
                ))),
            };
            match result {
                Ok(r) => Ok(Arc::new(r)),
                Err(e) => {
                    cancel.cancel();
                    let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                    let replace = match &*slot {
                        None => true,
                        Some(Error::Canceled) => !matches!(e, Error::Canceled),
                        Some(_) => false,
                    };
                    if replace {
                        *slot = Some(e);
                    }
                    drop(slot);
                    Err(first_error)
                }
            }
        }
        .boxed()
        .shared();
        futures.insert(id, fut);
    }
    let Some(top) = futures.get(&target).cloned() else {
        return Err(Error::Usage("internal error: nothing to build".into()));
    };
    match top.await {
        Ok(r) => Ok(r),
        Err(slot) => Err(slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or(Error::Canceled)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::op::{ExecOp, NetworkMode, Op, VertexMeta};

    /// A worker whose ops sleep and count their runs.
    struct Counting {
        runs: Mutex<HashMap<VertexId, usize>>,
        running: AtomicUsize,
        max_running: AtomicUsize,
        fail: Option<String>,
    }

    impl Counting {
        fn new(fail: Option<&str>) -> Counting {
            Counting {
                runs: Mutex::new(HashMap::new()),
                running: AtomicUsize::new(0),
                max_running: AtomicUsize::new(0),
                fail: fail.map(str::to_string),
            }
        }
    }

    impl Worker for Counting {
        type Output = ();

        fn resolve(
            &self,
            dag: &Dag,
            id: VertexId,
            _inputs: &[Arc<Resolved<()>>],
            cancel: &CancellationToken,
        ) -> Result<Resolved<()>, Error> {
            *self.runs.lock().unwrap().entry(id).or_default() += 1;
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            let name = &dag.vertex(id).meta.name;
            let mut failed = false;
            for _ in 0..20 {
                if cancel.is_cancelled() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.fail.as_deref() == Some(name.as_str()) {
                failed = true;
            }
            self.running.fetch_sub(1, Ordering::SeqCst);
            if failed {
                return Err(Error::Usage(format!("{name} failed")));
            }
            if cancel.is_cancelled() {
                return Err(Error::Canceled);
            }
            Ok(Resolved {
                key: dag.vertex(id).digest,
                output: (),
            })
        }
    }

    fn exec(name: &str) -> (Op, VertexMeta) {
        (
            Op::Exec(ExecOp {
                files: vec![],
                proxy_env: vec![],
                args: vec![name.into()],
                env: vec![],
                cwd: "/".into(),
                user: String::new(),
                network: NetworkMode::None,
                hostname: "h".into(),
                mounts: vec![],
            }),
            VertexMeta {
                name: name.into(),
                ..VertexMeta::default()
            },
        )
    }

    /// base -> {a, b, c, d} -> top
    fn diamond() -> (Arc<Dag>, VertexId) {
        let mut dag = Dag::new();
        let base = dag.add(Op::Scratch, vec![], VertexMeta::default());
        let mids: Vec<VertexId> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| {
                let (op, meta) = exec(n);
                dag.add(op, vec![base], meta)
            })
            .collect();
        let (op, meta) = exec("top");
        let top = dag.add(op, mids, meta);
        (Arc::new(dag), top)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_each_vertex_once_and_in_parallel() {
        let (dag, top) = diamond();
        let w = Arc::new(Counting::new(None));
        let start = Instant::now();
        solve(dag.clone(), w.clone(), top, 8, CancellationToken::new())
            .await
            .unwrap();
        let runs = w.runs.lock().unwrap();
        assert_eq!(runs.len(), 6);
        assert!(runs.values().all(|&n| n == 1));
        assert_eq!(w.max_running.load(Ordering::SeqCst), 4);
        // Four 200 ms middles in parallel, not 800 ms in a row.
        assert!(
            start.elapsed() < Duration::from_millis(700),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_bounds_parallelism() {
        let (dag, top) = diamond();
        let w = Arc::new(Counting::new(None));
        solve(dag, w.clone(), top, 2, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(w.max_running.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_failure_wins_and_stops_the_rest() {
        let (dag, top) = diamond();
        let w = Arc::new(Counting::new(Some("b")));
        let err = solve(dag, w.clone(), top, 8, CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "b failed");
        let runs = w.runs.lock().unwrap();
        assert!(!runs.keys().any(|k| k.index() == 5), "top must not run");
    }
}
