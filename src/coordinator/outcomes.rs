//! How recent jobs ended, kept for the callers that waited on them.

use std::collections::VecDeque;

use super::JobId;
use crate::error::Error;

/// How many recent outcomes are kept: more than callers can fall behind by.
const KEPT: usize = 64;

/// The outcomes of the latest jobs.
#[derive(Debug, Default)]
pub(super) struct Outcomes(VecDeque<(JobId, Result<(), Error>)>);

impl Outcomes {
    pub(super) fn record(&mut self, job: JobId, result: Result<(), Error>) {
        if self.0.len() == KEPT {
            self.0.pop_front();
        }
        self.0.push_back((job, result));
    }

    /// How job `job` ended, if it ended recently with an outcome.
    pub(super) fn get(&self, job: JobId) -> Option<&Result<(), Error>> {
        self.0
            .iter()
            .rev()
            .find(|(done, _)| *done == job)
            .map(|(_, outcome)| outcome)
    }
}
