//! A loaded pipeline, numbered, and what loads one.

use std::sync::Arc;

use pipectl_run::{Host, Pipeline, RunPlan, StageFailure};

/// The pipeline as one reload loaded it.
pub struct Generation {
    /// 1 for the first, then one more per successful reload.
    pub id: u64,
    /// The plan it was loaded from (for a composed component: how to name
    /// the stage a failure came from).
    pub plan: RunPlan,
    /// The host its stages run in.
    pub host: Arc<Host>,
    /// Its stages, loaded.
    pub pipeline: Pipeline,
}

impl Generation {
    /// Names the stage of a composed component's failure (a stage of a
    /// manifest is named already).
    pub fn attribute(&self, input: &str, failure: StageFailure) -> StageFailure {
        let mut results = [Some(Err(failure))];
        let _ = self.plan.attribute(&self.host, &[input], &mut results);
        match results {
            [Some(Err(f))] => f,
            _ => unreachable!("attribute keeps the one result an error"),
        }
    }
}

/// Loads the pipeline anew (files read again, stages compiled and checked
/// by the host): the first generation, and every reload. `Err` says why,
/// and the server keeps the generation it has.
pub type Loader = Arc<dyn Fn() -> Result<(RunPlan, Arc<Host>, Pipeline), String> + Send + Sync>;
