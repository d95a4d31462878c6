//! What carrying out a plan did, resource by resource: done, skipped (AWS said there was
//! nothing to do, or it may not be done), failed, or not started (a cap or the time budget
//! held it back for the next run). Every function's apply returns this (or wraps it), and the report
//! is built from it, so a report never says more than was done.

use std::fmt;

use serde_json::Value;

use crate::error::AwsError;

/// One resource acted on, and what AWS gave back (ids made, before and after values).
#[derive(Debug, Clone, PartialEq)]
pub struct Done<A> {
    pub target: String,
    pub action: A,
    pub detail: Option<Value>,
}

/// One resource whose call failed.
#[derive(Debug, Clone)]
pub struct Failed<A> {
    pub target: String,
    pub action: A,
    pub error: AwsError,
}

/// One resource the apply left alone after all, and why (already gone, in use).
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped<A> {
    pub target: String,
    pub action: A,
    pub reason: String,
}

/// The result of one place's apply.
#[derive(Debug, Clone)]
pub struct Applied<A> {
    pub done: Vec<Done<A>>,
    pub skipped: Vec<Skipped<A>>,
    pub failed: Vec<Failed<A>>,
    /// Planned but not started: the time budget ran out (or a cap held it back); the next
    /// run goes on.
    pub not_started: Vec<String>,
}

impl<A> Default for Applied<A> {
    fn default() -> Self {
        Applied {
            done: Vec::new(),
            skipped: Vec::new(),
            failed: Vec::new(),
            not_started: Vec::new(),
        }
    }
}

impl<A: fmt::Display> Applied<A> {
    pub fn done(&mut self, target: impl Into<String>, action: A, detail: Option<Value>) {
        self.done.push(Done {
            target: target.into(),
            action,
            detail,
        });
    }

    pub fn skipped(&mut self, target: impl Into<String>, action: A, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            target: target.into(),
            action,
            reason: reason.into(),
        });
    }

    pub fn failed(&mut self, target: impl Into<String>, action: A, error: AwsError) {
        self.failed.push(Failed {
            target: target.into(),
            action,
            error,
        });
    }

    /// Records one call's result.
    pub fn record(
        &mut self,
        target: impl Into<String>,
        action: A,
        result: Result<Option<Value>, AwsError>,
    ) {
        match result {
            Ok(detail) => self.done(target, action, detail),
            Err(error) => self.failed(target, action, error),
        }
    }

    pub fn not_started(&mut self, target: impl Into<String>) {
        self.not_started.push(target.into());
    }
}
