//! The pure core: every decision the daemon makes, as functions of state, configuration and
//! `now`. Nothing in here reads the clock, the network, the disk or the database.

pub mod classify;
pub mod decision;
pub mod deviation;
pub mod followup;
pub mod handover;
pub mod heading;
pub mod ical;
pub mod inspect;
pub mod intake;
pub mod obligation;
pub mod outbox;
pub mod person;
pub mod plan;
pub mod reply;
pub mod report;
pub mod retention;
pub mod rsvp;
pub mod schedule;
pub mod submission;
pub mod time;
pub mod vtimezone;
pub mod workdays;

#[cfg(test)]
pub(crate) mod testing;
