//! Closed-loop load: each client runs one operation at a time, back to back, until a time limit
//! or an operation count is reached. Invariant: every loop is bounded by both.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::stats::Samples;

/// How long a closed loop may run: whichever comes first.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    pub duration: Duration,
    pub ops_per_client: u64,
}

impl Limit {
    pub fn for_secs(secs: f64) -> Limit {
        Limit {
            duration: Duration::from_secs_f64(secs),
            ops_per_client: u64::MAX,
        }
    }
}

/// What a closed loop measured.
#[derive(Debug)]
pub struct Run {
    pub samples: Samples,
    pub ops: u64,
    pub elapsed: Duration,
}

impl Run {
    pub fn per_sec(&self) -> f64 {
        crate::stats::rate(self.ops, self.elapsed)
    }
}

/// Runs `op(client, client_index, op_index)` from every client concurrently.
pub async fn closed_loop<C, F, Fut>(clients: Vec<C>, limit: Limit, op: F) -> anyhow::Result<Run>
where
    C: Send + Sync + 'static,
    F: Fn(Arc<C>, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let deadline = start + limit.duration;
    let mut tasks = Vec::new();
    for (ci, c) in clients.into_iter().enumerate() {
        let c = Arc::new(c);
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::new();
            let mut i = 0u64;
            while i < limit.ops_per_client && Instant::now() < deadline {
                let t = Instant::now();
                op(c.clone(), ci, i).await?;
                samples.record(t.elapsed());
                i += 1;
            }
            Ok::<_, anyhow::Error>(samples)
        }));
    }
    let mut samples = Samples::new();
    for t in tasks {
        samples.extend(t.await??);
    }
    let elapsed = start.elapsed();
    Ok(Run {
        ops: samples.len() as u64,
        samples,
        elapsed,
    })
}
