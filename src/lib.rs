//! samverkan: runs the collaboration-meeting routine of Swedish municipal social services by
//! e-mail and calendar. See ARCHITECTURE.md for the map.

pub mod config;
pub mod core;
pub mod mail;
pub mod store;
pub mod templates;
