//! Email: templates, the outbox dispatcher, transports and the monitoring form.

pub mod form;
