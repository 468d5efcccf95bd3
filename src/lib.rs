//! samverkan: runs the collaboration-meeting routine of Swedish municipal social services by
//! e-mail and calendar. See ARCHITECTURE.md for the map.

pub mod admin;
pub mod answers;
pub mod app;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod core;
pub mod daemon;
pub mod deviation;
pub mod followup;
pub mod intake;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod net;
pub mod oauth;
pub mod outgoing;
pub mod person;
pub mod preview;
pub mod report;
pub mod scheduler;
pub mod sender;
pub mod smtp;
pub mod store;
pub mod templates;
