//! Workflow definitions (`workflows/*.yaml`): loading, checking, and the pure state machine.
//!
//! Nothing here reads the clock or touches a database: `now`, the case and the calendar come in,
//! a [`Transition`] (the new state and the effects to carry out) comes out.

mod data;
mod definition;
pub mod describe;
mod load;
mod machine;
mod simulate;
mod source;

pub use data::{EMAIL_MAX, data_value, is_inside, parse_data, parse_date, parse_email};
pub use definition::*;
pub use load::{Catalog, Problem, Problems, Workflows, parse, parse_stored};
pub use machine::*;
pub use simulate::{Step, simulate, track};
