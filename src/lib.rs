//! escalate: a workflow and deadline engine for child-safeguarding escalation disputes.
//!
//! The pure core ([`calendar`]) takes `now` and data and returns data; the shell ([`cli`],
//! [`config`]) reads files, the environment and the clock.

pub mod access;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod directory;
pub mod engine;
mod error;
pub mod http;
pub mod ics;
pub mod ids;
pub mod notify;
mod pdf;
pub mod report;
pub mod schedule;
pub mod store;
pub mod text;
pub mod web;
pub mod workflow;

pub use error::{Error, Result};
